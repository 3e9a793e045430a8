//! The real `switchyard` binary on a folder's configuration (`switchyard.toml`, see
//! `config_file`), started on a given port and killed at will: what the crash and
//! fault-injection suites run, since only a process of its own can be killed with `kill -9`.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// The daemon's process, killed when the test ends, however it ends.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// `kill -9`, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.0.kill().expect("kill -9");
        self.0.wait().expect("the daemon is gone");
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The daemon on `dir`'s configuration and database, listening on `port`, with `env` on top;
/// what it logs is added to `dir/daemon.log`. Returns once `/health` answers.
pub async fn start(dir: &Path, port: u16, env: &[(&str, &str)]) -> KillOnDrop {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("daemon.log")).expect("a log file");
    let child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--config", &dir.join("switchyard.toml").display().to_string(), "serve"])
            .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("the daemon starts"),
    );
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("http://127.0.0.1:{port}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the daemon did not become healthy: {}",
        std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
    );
}
