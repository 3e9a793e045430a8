//! Prometheus's own programs for the tests that need them (`prometheus`, `promtool`, from
//! Debian's package: see `debian`), and a real Prometheus on loopback scraping a daemon, asked
//! through its query API.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Where `name` (`prometheus` or `promtool`) is, installing Debian's `prometheus` if needed.
pub fn tool(name: &str) -> String {
    super::debian::program(name, "prometheus")
}

pub struct Prometheus {
    pub url: String,
    child: Child,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// A Prometheus on loopback scraping `target` (`host:port`) every second.
    pub async fn scraping(target: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: switchyard\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = super::binary::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Self { url: format!("http://127.0.0.1:{port}"), child, _dir: dir };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client.get(format!("{}/-/ready", prometheus.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus was not ready in 30 s");
    }

    /// The instant vector `query` evaluates to, as (labels, value) pairs, or Prometheus's error.
    pub async fn try_query(&self, query: &str) -> Result<Vec<(Value, f64)>, String> {
        let res: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        if res["status"] != "success" {
            return Err(format!("{}: {}", res["errorType"], res["error"]));
        }
        Ok(res["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("not an instant vector: {res}"))?
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect())
    }

    /// The instant vector `query` evaluates to, as (labels, value) pairs.
    pub async fn query(&self, query: &str) -> Vec<(Value, f64)> {
        self.try_query(query).await.unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Waits for `query` to evaluate to `want` ((label value, value) pairs, by `label`).
    pub async fn until(&self, query: &str, label: &str, want: &[(&str, f64)]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            got = self
                .query(query)
                .await
                .into_iter()
                .map(|(m, v)| (m[label].as_str().unwrap_or("").to_string(), v))
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            if got.iter().map(|(l, v)| (l.as_str(), *v)).eq(want.iter().copied()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{query}: wanted {want:?}, Prometheus has {got:?}");
    }
}
