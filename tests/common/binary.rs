//! The real `switchyard` binary on a folder's configuration (`switchyard.toml`, see
//! `config_file`), started on a given port and killed at will: what the crash and
//! fault-injection suites run, since only a process of its own can be killed with `kill -9`.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// A loopback port free a moment ago, for a server a test starts.
///
/// It is taken from below the range the kernel hands out to outgoing connections
/// (`net.ipv4.ip_local_port_range`): a port from that range, free when asked, can be taken by a
/// client socket of a test running beside before the server listens on it. Ports go out in turn
/// from an offset of this process's own, so two tests, or two test binaries, rarely ask for the
/// same one; one still taken is passed over.
pub fn free_port() -> u16 {
    const LOW: u16 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(ephemeral_ports_start().saturating_sub(LOW));
    let offset = std::process::id().wrapping_mul(7_919);
    for _ in 0..span.min(1_000) {
        let port = LOW + (offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // A machine whose outgoing range leaves nothing below it: any free port.
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Where the kernel's ports for outgoing connections start (32768 unless configured).
pub fn ephemeral_ports_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
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
