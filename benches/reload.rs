//! How long an operator's change takes to serve: from the write of the configuration file to
//! `/health` naming the new version, on the shipped configuration with the shipped routing
//! scripts (their golden cases run at each load) and plugins. The daemon runs in this process;
//! the file watcher sees the write, as in production. Run with `cargo bench --bench reload`;
//! `ROUNDS` sets how many changes (20).

use std::time::{Duration, Instant};

use switchyard::config::Config;

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let mut took = runtime.block_on(measure(rounds));
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    println!(
        "write → serving, {rounds} changes: median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

async fn measure(rounds: usize) -> Vec<Duration> {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::TempDir::new().expect("a folder");
    let file = dir.path().join("switchyard.toml");
    let shipped = std::fs::read_to_string(repo.join("config/switchyard.toml")).expect("the shipped configuration");
    let shipped = shipped
        .replace("routing = \"routing\"", &format!("routing = \"{}\"", repo.join("routing").display()))
        .replace("plugins = \"plugins\"", &format!("plugins = \"{}\"", repo.join("plugins").display()))
        .replace("sqlite://data/switchyard.db", &format!("sqlite://{}", dir.path().join("bench.db").display()))
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    // Each round sets another burst: a live change, and so a new version.
    let write = |round: usize| {
        let text = shipped.replace("burst = 10000 }", &format!("burst = {} }}", 10_000 + round));
        std::fs::write(&file, text).expect("the file is written");
    };
    write(0);
    let config = Config::load(Some(&file)).expect("the configuration loads");
    let running = switchyard::app::start(config).await.expect("the daemon starts");
    let health = format!("http://{}/health", running.addr);
    let client = reqwest::Client::new();
    let version = || async {
        let body: serde_json::Value = client.get(&health).send().await.unwrap().json().await.unwrap();
        body["config_version"].as_str().unwrap_or_default().to_string()
    };
    let mut took = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let was = version().await;
        let written = Instant::now();
        write(round);
        while version().await == was {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(written.elapsed());
        // Lets the watcher settle, so each round is one change.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    running.stop().await;
    took
}
