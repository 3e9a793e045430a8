//! Graceful shutdown of the real binary on SIGTERM: no new connections, requests under way finish
//! within `[server] shutdown_grace_secs`, what they stored is in the database once the process
//! has exited 0; past the grace it stops anyway.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mock::slow_stripe;
use common::*;

struct Daemon {
    child: Child,
    base: String,
}

impl Daemon {
    async fn start(dir: &Path, stripe: &str, grace_secs: u64) -> Self {
        let profile = format!(
            "[merchants.acme.profiles.web]\nfallback = [\"slow\"]\n\n[[merchants.acme.profiles.web.connector_accounts]]\n\
             name = \"slow\"\nconnector = \"stripe\"\nbase_url = \"{stripe}\"\ncredentials = {{ api_key = \"sk_test_slow\" }}\n"
        );
        let file = config_file(dir, HASH_SECRET, &dir.join("routing"), &profile);
        let port = common::binary::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--config", &file, "serve"])
            .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHYARD__SERVER__SHUTDOWN_GRACE_SECS", grace_secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the daemon starts");
        let daemon = Self { child, base: format!("http://127.0.0.1:{port}") };
        daemon.wait_healthy().await;
        daemon
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{}/health", self.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the daemon did not become healthy");
    }

    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; its exit code and how long it took.
    async fn exited(&mut self, within: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("the daemon did not exit within {within:?}");
    }
}

async fn pay_in_background(base: &str) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let request = reqwest::Client::new()
        .post(format!("{base}/v2/payments"))
        .header("api-key", ACME_KEY)
        .header("X-Profile-Id", "web")
        .json(&payment("4242424242424242"));
    let task = tokio::spawn(request.send());
    // Let it reach the slow provider.
    tokio::time::sleep(Duration::from_millis(300)).await;
    task
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_under_way_finishes_and_no_new_one_is_taken() {
    let stripe = slow_stripe(Duration::from_millis(1500), Duration::ZERO).await;
    let dir = tempfile::TempDir::new().unwrap();
    let mut daemon = Daemon::start(dir.path(), &stripe.url, 10).await;
    let under_way = pay_in_background(&daemon.base).await;
    daemon.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connections once the signal is in.
    let refused = reqwest::Client::new().get(format!("{}/health", daemon.base)).send().await;
    assert!(refused.is_err(), "a new request was taken after SIGTERM: {refused:?}");

    let res = under_way.await.unwrap().expect("the payment under way is answered");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "succeeded", "{body}");
    let (code, _) = daemon.exited(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    // What it answered is in the database the stopped daemon left.
    let mut db = common::database::open(&database_url(dir.path())).await;
    let status: String = sqlx::query_scalar("SELECT status FROM payment_intents WHERE id = $1")
        .bind(body["id"].as_str().unwrap())
        .fetch_one(&mut db)
        .await
        .expect("the payment is stored");
    assert_eq!(status, "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn past_the_grace_the_daemon_stops_anyway() {
    let stripe = slow_stripe(Duration::from_secs(30), Duration::ZERO).await;
    let dir = tempfile::TempDir::new().unwrap();
    let mut daemon = Daemon::start(dir.path(), &stripe.url, 1).await;
    let under_way = pay_in_background(&daemon.base).await;
    daemon.terminate();
    let (code, took) = daemon.exited(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "it waited {took:?} for a grace of 1 s");
    assert!(under_way.await.unwrap().is_err(), "the cut request is not answered");
}

/// A stop is bounded even while every worker is held: payments whose routing script runs for
/// its whole (long) budget keep the runtime busy, and SIGTERM still ends the process within the
/// grace and the few seconds it may take to close the store.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_is_bounded_even_when_every_worker_is_busy() {
    let stripe = slow_stripe(Duration::ZERO, Duration::ZERO).await;
    let dir = tempfile::TempDir::new().unwrap();
    let routing = dir.path().join("routing");
    std::fs::create_dir_all(&routing).unwrap();
    // Busy only for the payments below, not for the views the script is tried on when it loads.
    let script =
        "return function(p, ctx) if p.metadata and p.metadata.busy then while true do end end return { 'slow' } end";
    std::fs::write(routing.join("busy.lua"), script).unwrap();
    let profile = format!(
        "[merchants.acme.profiles.web]\nrouting = \"busy\"\nfallback = [\"slow\"]\n\n\
         [[merchants.acme.profiles.web.connector_accounts]]\n\
         name = \"slow\"\nconnector = \"stripe\"\nbase_url = \"{}\"\ncredentials = {{ api_key = \"sk_test_slow\" }}\n",
        stripe.url
    );
    let file = config_file(dir.path(), HASH_SECRET, &routing, &profile);
    let port = common::binary::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config", &file, "serve"])
        .env("SWITCHYARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHYARD__SERVER__SHUTDOWN_GRACE_SECS", "1")
        // Each payment's script runs for a minute: far longer than the test waits (and the
        // reconciler waits past the longest a call could take).
        .env("SWITCHYARD__LUA__TIME_BUDGET_MS", "60000")
        .env("SWITCHYARD__RECONCILER__AFTER_MS", "600000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let mut daemon = Daemon { child, base: format!("http://127.0.0.1:{port}") };
    daemon.wait_healthy().await;
    // More payments than any machine the suite runs on has workers.
    let mut busy = Vec::new();
    for _ in 0..32 {
        let request = reqwest::Client::new()
            .post(format!("{}/v2/payments", daemon.base))
            .header("api-key", ACME_KEY)
            .header("X-Profile-Id", "web")
            .json(&with(payment("4242424242424242"), serde_json::json!({ "metadata": { "busy": true } })));
        busy.push(tokio::spawn(request.send()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    daemon.terminate();
    let (code, _) = daemon.exited(Duration::from_secs(30)).await;
    assert!(code.is_some(), "the daemon was ended by a signal rather than exiting");
}
