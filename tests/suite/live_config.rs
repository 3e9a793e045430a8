//! Every operator change goes live: merchants, keys, profiles, connector accounts, limits,
//! routing scripts and plugin files, read from the configuration file and its folders, built
//! into a new version and swapped in whole while payments stream in. A broken change of each
//! kind is refused, the version serving goes on; an account holding unfinished payments cannot
//! be removed; readiness tells the truth; only what the daemon loads sets off a reload.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::binary::{free_port, start};
use common::mock::MockServer;
use common::*;
use serde_json::{json, Value};
use switchyard::app::reload::Outcome;
use switchyard::config::Config;
use tempfile::TempDir;

/// A daemon on a configuration file in a folder of its own, with its routing and plugin folders.
struct Setup {
    dir: TempDir,
    base: String,
}

impl Setup {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        for folder in ["routing", "plugins"] {
            std::fs::create_dir(dir.path().join(folder)).unwrap();
        }
        let base = std::fs::read_to_string(config_file(dir.path(), HASH_SECRET, &dir.path().join("routing"), ""))
            .unwrap()
            .replace("plugins = \"plugins\"", &format!("plugins = \"{}\"", dir.path().join("plugins").display()));
        Self { dir, base }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("switchyard.toml")
    }

    /// Writes the configuration: the base and `merchants` (TOML).
    fn write(&self, merchants: &str) {
        self.write_edited(merchants, ("", ""));
    }

    /// `write`, with one text of the base replaced by another.
    fn write_edited(&self, merchants: &str, (from, to): (&str, &str)) {
        let base = if from.is_empty() { self.base.clone() } else { self.base.replace(from, to) };
        std::fs::write(self.file(), format!("{base}\n{merchants}")).unwrap();
    }

    fn folder(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn start(&self) -> TestApp {
        let mut config = Config::load(Some(&self.file())).expect("the file loads");
        config.server.listen = "127.0.0.1:0".into();
        TestApp::start_with(TempDir::new().unwrap(), config).await
    }
}

/// acme/web with two sandbox accounts, `a` first; `more` is added as it is.
fn acme(fallback: &str, more: &str) -> String {
    format!(
        r#"
[merchants.acme.profiles.web]
fallback = [{fallback}]
[[merchants.acme.profiles.web.connector_accounts]]
name = "a"
connector = "sandbox"
[[merchants.acme.profiles.web.connector_accounts]]
name = "b"
connector = "sandbox"
{more}
"#
    )
}

/// Waits until `/health` shows a version other than `was`; answers it.
async fn next_version(app: &TestApp, was: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = app.client.get(format!("{}/health", app.base)).send().await.unwrap().json().await.unwrap();
        let now = health["config_version"].as_str().expect("a version in /health").to_string();
        if now != was {
            return now;
        }
        assert!(Instant::now() < deadline, "no new version replaced {was}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes a change that must be taken, and reloads: the file watcher may have taken it first,
/// then this reload finds nothing new.
async fn applies(app: &TestApp, change: impl FnOnce()) {
    let was = app.version();
    change();
    let outcome = app.reload().await;
    assert!(matches!(outcome, Outcome::Applied | Outcome::Unchanged), "{outcome:?}");
    assert_ne!(app.version(), was, "the change was not taken");
}

/// A payment as `key` for `profile`: its status, the version its answer names, and its body.
async fn pay(app: &TestApp, key: &str, profile: &str) -> (StatusCode, Option<String>, Value) {
    let res = app
        .client
        .post(format!("{}/v2/payments", app.base))
        .header("api-key", key)
        .header("X-Profile-Id", profile)
        .json(&payment("4242424242424242"))
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let version = res.headers().get("x-config-version").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, version, res.json().await.unwrap_or(Value::Null))
}

fn account_of(body: &Value) -> &str {
    body["merchant_connector_id"].as_str().unwrap_or_default()
}

/// A provider for `echo`: payments go through; refunds fail with a 500, so whether they
/// happened is unknown and they stay pending.
async fn provider() -> MockServer {
    let app = Router::new()
        .route("/pay", post(|| async { Json(json!({ "id": "p1" })) }))
        .route("/refund", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "unavailable") }));
    MockServer::serve(app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_change_goes_live_under_a_stream_of_payments() {
    let setup = Setup::new();
    setup.write(&acme("\"a\", \"b\"", ""));
    let app = Arc::new(setup.start().await);
    let provider = provider().await;

    // Two clients pay as acme/web all along.
    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<_> = (0..2)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(pay(&app, ACME_KEY, "web").await);
                }
                answers
            })
        })
        .collect();
    let mut versions = vec![app.version()];
    let change = |merchants: String| {
        setup.write(&merchants);
        merchants
    };

    // An account's place in the fallback list.
    change(acme("\"b\", \"a\"", ""));
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(account_of(&pay(&app, ACME_KEY, "web").await.2), "b");

    // An account disabled.
    let b_off = acme("\"a\"", "")
        .replace("name = \"b\"\nconnector = \"sandbox\"", "name = \"b\"\nconnector = \"sandbox\"\nenabled = false");
    change(b_off.clone());
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(account_of(&pay(&app, ACME_KEY, "web").await.2), "a");

    // A new merchant with its key, a profile, and an account with a quota of one call.
    let globex = format!(
        "[merchants.globex]\napi_keys = [{{ name = \"main\", hash = \"{}\" }}]\n[merchants.globex.profiles.web]\n\
         [[merchants.globex.profiles.web.connector_accounts]]\nname = \"s\"\nconnector = \"sandbox\"\n\
         rate_limit = {{ per_second = 1, burst = 1 }}\n",
        switchyard::keys::key_hash(HASH_SECRET.as_bytes(), GLOBEX_KEY)
    );
    assert_eq!(pay(&app, GLOBEX_KEY, "web").await.0, StatusCode::UNAUTHORIZED);
    change(format!("{b_off}\n{globex}"));
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(pay(&app, GLOBEX_KEY, "web").await.0, StatusCode::OK);
    assert_eq!(pay(&app, GLOBEX_KEY, "web").await.0, StatusCode::TOO_MANY_REQUESTS, "the account's quota is live");

    // Its key taken away.
    change(format!(
        "{b_off}\n{}",
        globex.replace(
            &switchyard::keys::key_hash(HASH_SECRET.as_bytes(), GLOBEX_KEY),
            "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000000"
        )
    ));
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(pay(&app, GLOBEX_KEY, "web").await.0, StatusCode::UNAUTHORIZED);

    // A routing script, and the profile routed by it.
    std::fs::write(
        setup.folder("routing").join("live.lua"),
        "return function(p, ctx) return { \"a\" }, \"live v1\" end\n",
    )
    .unwrap();
    let scripted = b_off.replace("fallback = [\"a\"]", "fallback = [\"a\"]\nrouting = \"live\"");
    change(scripted.clone());
    versions.push(next_version(&app, versions.last().unwrap()).await);
    let (_, _, body) = pay(&app, ACME_KEY, "web").await;
    assert_eq!(attempts(&body)[0]["routing"]["reason"], "live v1", "{body}");
    std::fs::write(
        setup.folder("routing").join("live.lua"),
        "return function(p, ctx) return { \"a\" }, \"live v2\" end\n",
    )
    .unwrap();
    versions.push(next_version(&app, versions.last().unwrap()).await);
    let (_, _, body) = pay(&app, ACME_KEY, "web").await;
    assert_eq!(attempts(&body)[0]["routing"]["reason"], "live v2", "{body}");

    // A new plugin file and a new profile with an account on it, in one change.
    std::fs::write(setup.folder("plugins").join("echo.lua"), echo_plugin("v1")).unwrap();
    let shop = format!(
        "[merchants.acme.profiles.shop]\n[[merchants.acme.profiles.shop.connector_accounts]]\nname = \"echo\"\n\
         connector = \"echo\"\nbase_url = \"{}\"\n",
        provider.url
    );
    change(format!("{scripted}\n{shop}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = pay(&app, ACME_KEY, "shop").await;
        if status == StatusCode::OK {
            assert_eq!(body["connector_transaction_id"], "v1-p1", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the new plugin never served: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    versions.push(app.version());
    // Its new version.
    std::fs::write(setup.folder("plugins").join("echo.lua"), echo_plugin("v2")).unwrap();
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(pay(&app, ACME_KEY, "shop").await.2["connector_transaction_id"], "v2-p1");
    // The file deleted with the profile that used it.
    std::fs::remove_file(setup.folder("plugins").join("echo.lua")).unwrap();
    change(scripted.clone());
    versions.push(next_version(&app, versions.last().unwrap()).await);
    assert_eq!(pay(&app, ACME_KEY, "shop").await.0, StatusCode::UNAUTHORIZED);

    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for stream in streams {
        answers.extend(stream.await.unwrap());
    }
    assert!(answers.len() >= 20, "only {} payments streamed", answers.len());
    let known: BTreeSet<&String> = versions.iter().collect();
    let mut seen = BTreeSet::new();
    for (status, version, body) in &answers {
        assert_eq!((*status, body["status"].as_str()), (StatusCode::OK, Some("succeeded")), "{body}");
        let version = version.as_ref().expect("every answer names its version");
        // Routed by the version the request started on, which its answer names.
        assert_eq!(attempts(body)[0]["routing"]["config_version"].as_str(), Some(version.as_str()), "{body}");
        assert!(known.contains(version), "{version} is not a version that served");
        seen.insert(version.clone());
    }
    assert!(seen.len() >= 3, "the stream saw only versions {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_change_of_each_kind_is_refused_and_the_old_version_serves() {
    let setup = Setup::new();
    std::fs::write(setup.folder("routing").join("live.lua"), "return function(p, ctx) return { \"a\" }, \"v1\" end\n")
        .unwrap();
    let good =
        acme("\"a\", \"b\"", "").replace("fallback = [\"a\", \"b\"]", "fallback = [\"a\", \"b\"]\nrouting = \"live\"");
    setup.write(&good);
    let app = setup.start().await;
    let serving = app.version();
    let still_serving = |app: &TestApp| {
        assert_eq!(app.version(), serving);
    };

    let refused = |outcome: Outcome| match outcome {
        Outcome::Refused(problems) => problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("not refused: {other:?}"),
    };
    // A file that is not TOML.
    setup.write(&format!("{good}\n[merchants.acme"));
    let problems = refused(app.reload().await);
    assert!(!problems.is_empty());
    still_serving(&app);
    // An account on a connector that does not exist, and a bad key hash: both named.
    let broken = good.replace("name = \"b\"\nconnector = \"sandbox\"", "name = \"b\"\nconnector = \"nowhere\"");
    setup.write(&format!("{broken}\n[merchants.globex]\napi_keys = [{{ name = \"k\", hash = \"sha1:x\" }}]\n"));
    let problems = refused(app.reload().await);
    let at = "merchants.acme.profiles.web.connector_accounts[1].connector: unknown connector `nowhere`";
    assert!(problems.iter().any(|p| p.starts_with(at)), "{problems:#?}");
    assert!(problems.iter().any(|p| p.starts_with("merchants.globex.api_keys[0].hash")), "{problems:#?}");
    still_serving(&app);
    // A setting that needs a restart, set to what a start would refuse.
    setup.write_edited(&good, ("max_body_bytes = 65536", "max_body_bytes = 0"));
    assert_eq!(refused(app.reload().await), ["server.max_body_bytes: must be at least 1"]);
    still_serving(&app);
    setup.write(&good);

    // A script that does not compile: the version serving keeps its script.
    std::fs::write(setup.folder("routing").join("live.lua"), "return function(").unwrap();
    assert_eq!(app.reload().await, Outcome::Unchanged);
    let (status, _, body) = pay(&app, ACME_KEY, "web").await;
    assert_eq!((status, attempts(&body)[0]["routing"]["reason"].as_str()), (StatusCode::OK, Some("v1")), "{body}");
    still_serving(&app);

    // A plugin that does not compile, next to one that serves; then one that needs a
    // credential its account lacks.
    let provider = provider().await;
    std::fs::write(setup.folder("plugins").join("echo.lua"), echo_plugin("v1")).unwrap();
    let shop = format!(
        "{good}\n[merchants.acme.profiles.shop]\n[[merchants.acme.profiles.shop.connector_accounts]]\nname = \"echo\"\n\
         connector = \"echo\"\nbase_url = \"{}\"\n",
        provider.url
    );
    applies(&app, || setup.write(&shop)).await;
    let serving = app.version();
    std::fs::write(setup.folder("plugins").join("echo.lua"), "return { name = ").unwrap();
    assert_eq!(app.reload().await, Outcome::Unchanged);
    assert_eq!(app.version(), serving);
    assert_eq!(pay(&app, ACME_KEY, "shop").await.2["connector_transaction_id"], "v1-p1");
    let needs_key = echo_plugin("v9").replace("supports =", r#"credentials = { "api_key" }, supports ="#);
    std::fs::write(setup.folder("plugins").join("echo.lua"), needs_key).unwrap();
    let problems = refused(app.reload().await);
    assert_eq!(problems[0], "merchants.acme.profiles.shop.connector_accounts[0].credentials.api_key: missing");
    // The script still on disk broken is named as well: every problem, in one go.
    assert!(problems[1].starts_with("routing script `live`: "), "{problems:#?}");
    assert_eq!(app.version(), serving);
    assert_eq!(pay(&app, ACME_KEY, "shop").await.2["connector_transaction_id"], "v1-p1");
    // The plugin file deleted while an account uses it.
    std::fs::remove_file(setup.folder("plugins").join("echo.lua")).unwrap();
    let problems = refused(app.reload().await);
    assert!(problems[0].contains("unknown connector `echo`"), "{problems:#?}");
    assert_eq!(pay(&app, ACME_KEY, "shop").await.2["connector_transaction_id"], "v1-p1");

    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_config_reloads_total{result=\"refused\"}"), "{metrics}");
    assert!(metrics.contains(&format!("switchyard_config_info{{version=\"{serving}\"}} 1")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_holding_unfinished_money_can_be_disabled_not_removed() {
    let setup = Setup::new();
    let provider = provider().await;
    std::fs::write(setup.folder("plugins").join("echo.lua"), echo_plugin("v1")).unwrap();
    let echo = format!("name = \"echo\"\nconnector = \"echo\"\nbase_url = \"{}\"\n", provider.url);
    let with_echo = |extra: &str| {
        format!(
            "[merchants.acme.profiles.web]\nfallback = [\"echo\"]\n[[merchants.acme.profiles.web.connector_accounts]]\n\
             {echo}{extra}\n[[merchants.acme.profiles.web.connector_accounts]]\nname = \"a\"\nconnector = \"sandbox\"\n"
        )
    };
    setup.write(&with_echo(""));
    let app = setup.start().await;
    // A payment on echo, and a refund of it whose outcome is unknown: pending.
    let (status, _, paid) = pay(&app, ACME_KEY, "web").await;
    assert_eq!((status, account_of(&paid)), (StatusCode::OK, "echo"), "{paid}");
    let refund = json!({ "payment_id": paid["id"], "merchant_reference_id": "r1", "amount": 100 });
    let (status, refund) = app.post("/v2/refunds", refund).await;
    assert_eq!((status, refund["status"].as_str()), (StatusCode::OK, Some("pending")), "{refund}");

    // Removing the account is refused, naming it.
    let without = "[merchants.acme.profiles.web]\n[[merchants.acme.profiles.web.connector_accounts]]\nname = \"a\"\n\
                   connector = \"sandbox\"\n";
    setup.write(without);
    let Outcome::Refused(problems) = app.reload().await else { panic!("the removal was taken") };
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        ["merchants.acme.profiles.web.connector_accounts: account `echo` (echo) holds 0 unfinished payment(s) and 1 \
          pending refund(s): keep it, disabled (enabled = false), until they settle"]
    );
    // Disabling it is taken: new payments go elsewhere, the refund can still be asked about.
    applies(&app, || setup.write(&with_echo("enabled = false").replace("fallback = [\"echo\"]\n", ""))).await;
    assert_eq!(account_of(&pay(&app, ACME_KEY, "web").await.2), "a");
    let (status, synced) = app.get(&format!("/v2/refunds/{}", refund["id"].as_str().unwrap())).await;
    assert_eq!((status, synced["status"].as_str()), (StatusCode::OK, Some("pending")), "{synced}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_says_what_is_missing_and_liveness_stays_up() {
    let ready = |app: &TestApp| {
        let url = format!("{}/health/ready", app.base);
        let client = app.client.clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let app = TestApp::start().await;
    let (status, body) = ready(&app).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")), "{body}");
    assert_eq!(body["config_version"].as_str(), Some(app.version().as_str()));
    app.stop().await;

    let setup = Setup::new();
    setup.write("");
    let app = setup.start().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["problems"], json!(["no merchant has a profile configured"]));
    assert_eq!(app.client.get(format!("{}/health", app.base)).send().await.unwrap().status(), StatusCode::OK);
    app.stop().await;

    let setup = Setup::new();
    setup.write(&acme("\"a\"", "").replace("fallback = [\"a\"]", "fallback = [\"a\"]\nrouting = \"absent\""));
    let app = setup.start().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let problem = body["problems"][0].as_str().unwrap_or_default();
    assert!(problem.starts_with("merchants.acme.profiles.web.routing: no script "), "{body}");
    app.stop().await;
}

/// The real binary with its configuration file, its log and its database in one folder.
#[tokio::test(flavor = "multi_thread")]
async fn only_what_the_daemon_loads_sets_off_a_reload_and_restart_settings_are_named() {
    let setup = Setup::new();
    setup.write(&acme("\"a\"", ""));
    let port = free_port();
    let _daemon = start(setup.dir.path(), port, &[]).await;
    let client = reqwest::Client::new();
    let metric = |name: &'static str| {
        let client = client.clone();
        async move {
            let text =
                client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        }
    };
    // The daemon writes its log and database here all along; something else writes a file too.
    for i in 0..10 {
        std::fs::write(setup.dir.path().join("notes.txt"), format!("{i}")).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metric("switchyard_config_reloads_total").await, 0.0, "a reload was set off");

    // A restart-only setting changed with a live one: the live one applies, the other is named.
    setup.write_edited(&acme("\"a\", \"b\"", ""), ("max_body_bytes = 65536", "max_body_bytes = 1024"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric("switchyard_config_reloads_total{result=\"applied\"}").await < 1.0 {
        assert!(Instant::now() < deadline, "the change never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric("switchyard_config_restart_pending").await, 1.0);
    let log = std::fs::read_to_string(setup.dir.path().join("daemon.log")).unwrap();
    let named = log.lines().find(|l| l.contains("apply at the next restart")).unwrap_or_default();
    assert!(named.contains("server.max_body_bytes"), "{log}");
}

/// Started from a folder that lacks the routing and plugin folders its configuration names
/// (relative to where it starts), the daemon refuses to start rather than serve nothing.
#[test]
fn a_start_from_another_working_directory_is_refused() {
    let elsewhere = TempDir::new().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    for args in [vec!["--config", config.to_str().unwrap(), "serve"], vec!["check"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .current_dir(elsewhere.path())
            .args(&args)
            .env("SWITCHYARD__SERVER__LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let cwd = std::fs::canonicalize(elsewhere.path()).unwrap();
        let at = |path: &str| said.contains(path) && said.contains(&cwd.display().to_string());
        assert!(at("paths.routing: no folder routing in the working directory"), "{said}");
        assert!(at("paths.plugins: no folder plugins in the working directory"), "{said}");
    }
}

/// Writes `routing/<name>.lua` and its golden cases, which pass whatever the rest of the script does.
fn script_with_cases(setup: &Setup, name: &str, body: &str) {
    let source = format!("return function(p, ctx)\n{body}\n  return {{ \"a\" }}, \"plain\"\nend\n");
    std::fs::write(setup.folder("routing").join(format!("{name}.lua")), source).unwrap();
    let cases = json!([{ "name": "a small USD card payment", "expect": ["a"], "reason": "plain" }]);
    std::fs::write(setup.folder("routing").join(format!("{name}.cases.json")), cases.to_string()).unwrap();
}

#[test]
fn check_finds_what_no_golden_case_covers() {
    let setup = Setup::new();
    setup.write(&acme("\"a\"", "").replace("fallback = [\"a\"]", "fallback = [\"a\"]\nrouting = \"swept\""));
    let check = || {
        let file = setup.file().display().to_string();
        let out = switchyard(&["--config", &file, "check"], &[("SWITCHYARD__LUA__TIME_BUDGET_MS", "50")]);
        (out.status.code(), text(&out.stdout))
    };
    script_with_cases(&setup, "swept", "");
    assert_eq!(check(), (Some(0), "configuration is valid\n".to_string()));
    let faults = [
        // A misspelled account on a path the cases do not take.
        ("  if p.currency == \"EUR\" and p.amount >= 100000 then return { \"adyne\" } end", "`adyne`"),
        // An endless loop there.
        ("  if p.currency == \"JPY\" then while true do end end", "time budget"),
        // A nil index on a customer's payment without metadata.
        ("  if p.customer_id and p.metadata.tier == \"gold\" then return { \"b\" } end", "runtime error"),
    ];
    for (body, expected) in faults {
        script_with_cases(&setup, "swept", body);
        let (code, stdout) = check();
        assert_eq!(code, Some(1), "{stdout}");
        let line = stdout.lines().next().unwrap_or_default();
        assert!(line.starts_with("routing script `swept`: "), "{stdout}");
        assert!(line.contains("for profile `web`, the payment {") && line.contains(expected), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_or_a_change_that_breaks_a_path_is_refused_and_the_old_version_serves() {
    let setup = Setup::new();
    let routed =
        acme("\"a\", \"b\"", "").replace("fallback = [\"a\", \"b\"]", "fallback = [\"a\", \"b\"]\nrouting = \"swept\"");
    script_with_cases(&setup, "swept", "  if p.currency == \"EUR\" then return { \"b\" }, \"euro\" end");
    setup.write(&routed);
    let app = setup.start().await;
    let serving = app.version();

    // A new version of the script that fails on a path its case does not take: refused, the
    // old version serves.
    script_with_cases(&setup, "swept", "  if p.currency == \"EUR\" then return { \"bb\" }, \"euro\" end");
    assert_eq!(app.reload().await, Outcome::Unchanged);
    assert_eq!(app.version(), serving);
    let eur =
        with(payment("4242424242424242"), json!({ "amount_details": { "currency": "EUR", "order_amount": 100 } }));
    let (status, body) = app.post("/v2/payments", eur.clone()).await;
    assert_eq!((status, attempts(&body)[0]["routing"]["reason"].as_str()), (StatusCode::OK, Some("euro")), "{body}");

    // The script as it was, and the account it names on that path renamed: the change is refused.
    script_with_cases(&setup, "swept", "  if p.currency == \"EUR\" then return { \"b\" }, \"euro\" end");
    setup.write(&routed.replace("name = \"b\"", "name = \"b2\"").replace("\"a\", \"b\"]", "\"a\", \"b2\"]"));
    let Outcome::Refused(problems) = app.reload().await else { panic!("the rename was taken") };
    let problem = problems[0].to_string();
    assert!(
        problem.starts_with("merchants.acme.profiles.web.routing: script `swept` fails for profile `web`"),
        "{problem}"
    );
    assert!(problem.contains("`b`"), "{problem}");
    assert_eq!(app.version(), serving);
    let (_, body) = app.post("/v2/payments", eur).await;
    assert_eq!(body["merchant_connector_id"], "b", "{body}");
}

/// Who took a payment as acme/shop, by the provider's id its plugin reports.
async fn paid_by(app: &TestApp) -> Option<String> {
    pay(app, ACME_KEY, "shop").await.2["connector_transaction_id"].as_str().map(str::to_string)
}

/// Fixtures for `echo_plugin(version)`: a payment named after `version`.
fn echo_fixtures(version: &str) -> String {
    json!([{
        "name": "a payment",
        "flow": "authorize",
        "args": { "amount": 100 },
        "response": { "status": 200, "body": { "id": "p1" } },
        "expect": { "status": "charged", "connector_payment_id": format!("{version}-p1") }
    }])
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_version_whose_fixtures_fail_never_serves() {
    let setup = Setup::new();
    let provider = provider().await;
    let plugins = setup.folder("plugins");
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v1")).unwrap();
    std::fs::write(plugins.join("echo.fixtures.json"), echo_fixtures("v1")).unwrap();
    let shop = format!(
        "{}\n[merchants.acme.profiles.shop]\n[[merchants.acme.profiles.shop.connector_accounts]]\nname = \"echo\"\n\
         connector = \"echo\"\nbase_url = \"{}\"\n",
        acme("\"a\"", ""),
        provider.url
    );
    setup.write(&shop);
    let app = setup.start().await;
    assert_eq!(paid_by(&app).await.as_deref(), Some("v1-p1"));
    let serving = app.version();

    // A new version its fixtures do not hold for: refused, v1 serves.
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v2")).unwrap();
    assert_eq!(app.reload().await, Outcome::Unchanged);
    assert_eq!((app.version(), paid_by(&app).await.as_deref()), (serving.clone(), Some("v1-p1")));

    // Fixtures that no longer hold for the version serving: it serves on, named as refused.
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v1")).unwrap();
    std::fs::write(plugins.join("echo.fixtures.json"), echo_fixtures("v0")).unwrap();
    assert_eq!(app.reload().await, Outcome::Unchanged);
    assert_eq!(paid_by(&app).await.as_deref(), Some("v1-p1"));
    let file = setup.file().display().to_string();
    let out = switchyard(&["--config", &file, "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(text(&out.stdout).contains("connector plugin `echo`: "), "{}", show(&out));

    // Fixtures and version agreeing again: v2 serves.
    std::fs::write(plugins.join("echo.fixtures.json"), echo_fixtures("v2")).unwrap();
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v2")).unwrap();
    let was = app.version();
    let _ = app.reload().await;
    assert_ne!(app.version(), was);
    assert_eq!(paid_by(&app).await.as_deref(), Some("v2-p1"));
}
