//! A real Redis of a test's own (Debian's `redis-server`, installed when missing: see `debian`),
//! on a free loopback port with nothing written to disk: killed and started again mid-test at
//! will, made slow with `DEBUG SLEEP`, and read directly to see what the daemons keep there.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchyard::config::{SecretValue, SharedConfig};
use tempfile::TempDir;

pub struct Redis {
    pub url: String,
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Redis {
    pub async fn start() -> Self {
        let port = super::binary::free_port();
        let mut redis =
            Redis { url: format!("redis://127.0.0.1:{port}"), port, child: None, dir: TempDir::new().unwrap() };
        redis.run().await;
        redis
    }

    async fn run(&mut self) {
        let child = Command::new(super::debian::program("redis-server", "redis-server"))
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes", "--dir", &self.dir.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if self.connection().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// A daemon's `[shared]` for this Redis. Its timeout is long enough that no call times out on
    /// a machine busy with the rest of the suite; a test of a slow Redis stalls it for longer.
    pub fn shared(&self) -> SharedConfig {
        SharedConfig {
            url: Some(SecretValue::Literal(self.url.clone())),
            timeout_ms: 1_000,
            retry_ms: 200,
            ..SharedConfig::default()
        }
    }

    /// `kill -9`: Redis is gone, with everything it held.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh, empty Redis on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.run().await;
    }

    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url.as_str())?.get_multiplexed_async_connection().await
    }

    /// Redis answers nothing for `seconds`, as a server stalled by a slow command or a full disk.
    pub async fn stall(&self, seconds: u32) {
        let mut stalling = self.connection().await.expect("a connection to Redis");
        tokio::spawn(async move {
            let _: redis::RedisResult<()> =
                redis::cmd("DEBUG").arg("SLEEP").arg(seconds).query_async(&mut stalling).await;
        });
        // The command is under way once a second connection's call waits on it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// The keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut connection = self.connection().await.expect("a connection to Redis");
        redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.expect("KEYS")
    }

    /// How many clients are connected to Redis, leaving out the connection this call makes.
    pub async fn clients(&self) -> usize {
        let mut connection = self.connection().await.expect("a connection to Redis");
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut connection).await.expect("CLIENT LIST");
        list.lines().count().saturating_sub(1)
    }

    /// The string value of `key`.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut connection = self.connection().await.expect("a connection to Redis");
        redis::cmd("GET").arg(key).query_async(&mut connection).await.expect("GET")
    }
}
