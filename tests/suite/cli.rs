//! The `switchyard` command line: `check` and `keys new`.

use crate::common;

use std::path::Path;

use common::*;
use reqwest::Method;
use serde_json::json;
use switchyard::keys::key_hash;

const DEMO_SECRET: &str = "demo-only-9dVeeqxhkp0IXdA3aaRalOUU";

/// A configuration with one merchant, whose profile is given as TOML.
fn config_with(dir: &Path, secret: &str, profile: &str) -> String {
    config_file(dir, secret, Path::new("routing"), profile)
}

/// `switchyard check` of a configuration with one merchant, whose profile is given as TOML.
fn check(dir: &Path, profile: &str) -> std::process::Output {
    let path = config_with(dir, DEMO_SECRET, profile);
    switchyard(&["--config", &path, "check"], &[])
}

#[test]
fn check_accepts_the_default_configuration() {
    let out = switchyard(&["--config", "config/switchyard.toml", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "configuration is valid");
}

#[test]
fn check_accepts_a_sound_configuration_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let profile = r#"
[merchants.acme.profiles.web]
fallback = ["sandbox"]

[[merchants.acme.profiles.web.connector_accounts]]
name = "sandbox"
connector = "sandbox"
"#;
    let path = config_with(dir.path(), DEMO_SECRET, profile);
    let out = switchyard(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn check_lists_every_problem_with_its_path() {
    let dir = tempfile::TempDir::new().unwrap();
    let profile = r#"
[merchants.acme.profiles.web]
fallback = ["missing"]

[[merchants.acme.profiles.web.connector_accounts]]
name = "main"
connector = "nosuchpay"
"#;
    let out = check(dir.path(), profile);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0]
            .starts_with("merchants.acme.profiles.web.connector_accounts[0].connector: unknown connector `nosuchpay`"),
        "{stdout}"
    );
    assert!(lines[0].contains("sandbox"), "the known connectors are listed: {stdout}");
    assert_eq!(lines[1], "merchants.acme.profiles.web.fallback[0]: no connector account is named `missing`");
    assert!(!stdout.contains("configuration is valid"));
}

#[test]
fn check_refuses_a_plugin_that_does_not_say_which_currencies_it_takes() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("echo.lua"), echo_plugin("v1").replace(r#"currencies = "any","#, "")).unwrap();
    let profile = r#"
[merchants.acme.profiles.web]
fallback = ["echo"]

[[merchants.acme.profiles.web.connector_accounts]]
name = "echo"
connector = "echo"
"#;
    let path = config_with(dir.path(), DEMO_SECRET, profile);
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        toml.replace(r#"plugins = "plugins""#, &format!("plugins = {:?}", plugins.display().to_string())),
    )
    .unwrap();
    let out = switchyard(&["--config", &path, "check"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("echo.lua: currencies is required"), "{stdout}");
}

#[test]
fn check_refuses_a_reconciler_that_would_overtake_a_call_under_way() {
    let dir = tempfile::TempDir::new().unwrap();
    let profile = r#"
[http]
request_timeout_ms = 40000

[reconciler]
after_ms = 60000

[merchants.acme.profiles.web]
[[merchants.acme.profiles.web.connector_accounts]]
name = "sandbox"
connector = "sandbox"
"#;
    let out = check(dir.path(), profile);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let line = stdout.lines().find(|l| l.starts_with("reconciler.after_ms: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("http.request_timeout_ms"), "{line}");
    let out = check(dir.path(), &profile.replace("60000", "90000"));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn check_reports_values_that_do_not_parse() {
    let dir = tempfile::TempDir::new().unwrap();
    // A misspelt key.
    let path = config_with(dir.path(), DEMO_SECRET, "[merchants.acme.profiles.web]\nfalback = []\n");
    let out = switchyard(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("falback"), "{stderr}");

    // A secret that is too short, and a profile with no connector account.
    let path = config_with(dir.path(), "short", "[merchants.acme.profiles.web]\n");
    let out = switchyard(&["--config", &path, "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("security.api_key_hash_secret: ")), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "merchants.acme.profiles.web.connector_accounts: no enabled connector account"),
        "{stdout}"
    );
}

#[test]
fn check_reports_every_value_that_does_not_parse_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let profile = r#"
[merchants.acme.profiles.web]
falback = []

[[merchants.acme.profiles.web.connector_accounts]]
name = "main"
connector = "sandbox"

[[merchants.acme.profiles.web.connector_accounts]]
name = "spare"
connector = "sandbox"
enbled = false
"#;
    let path = config_with(dir.path(), DEMO_SECRET, profile);
    // A misspelt key in a section the harness writes.
    let toml = std::fs::read_to_string(&path).unwrap().replace("listen =", "lisen =");
    std::fs::write(&path, toml).unwrap();
    let out = switchyard(&["--config", &path, "check"], &[("SWITCHYARD__PAYMENTS__BUDGET_MS", "long")]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = text(&out.stderr);
    let paths: Vec<&str> = stderr.lines().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "server.lisen",
            "payments.budget_ms",
            "merchants.acme.profiles.web.falback",
            "merchants.acme.profiles.web.connector_accounts[1].enbled",
        ],
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_log_level_the_daemon_would_not_log_at() {
    let dir = tempfile::TempDir::new().unwrap();
    let profile = r#"
[merchants.acme.profiles.web]
[[merchants.acme.profiles.web.connector_accounts]]
name = "sandbox"
connector = "sandbox"
"#;
    let path = config_with(dir.path(), DEMO_SECRET, profile);
    let check = |level: &str| switchyard(&["--config", &path, "check"], &[("SWITCHYARD__LOG__LEVEL", level)]);
    for level in ["verbose", "info,foo=loud"] {
        let out = check(level);
        assert_eq!(out.status.code(), Some(1), "{level}: {}", show(&out));
        let stdout = text(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with("log.level: ")).unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains("trace, debug, info, warn, error, off"), "{line}");
    }
    let out = check("WARN,switchyard=debug");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn a_missing_config_file_is_an_error() {
    let out = switchyard(&["--config", "config/does-not-exist.toml", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("config/does-not-exist.toml: file not found"), "{}", text(&out.stderr));
}

/// The key and the hash `keys new` printed.
fn parse_new_key(stdout: &str) -> (String, String) {
    let key = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sy_sk_"))
        .unwrap_or_else(|| panic!("no sy_sk_ key in {stdout}"))
        .to_string();
    let hash_line = stdout.lines().find(|l| l.contains("hash = \"hmac-sha256:")).unwrap_or_else(|| panic!("{stdout}"));
    let hash = hash_line.split("hash = \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (key, hash)
}

#[test]
fn keys_new_prints_a_key_and_its_hash() {
    let out = switchyard(&["--config", "config/switchyard.toml", "keys", "new"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let (key, hash) = parse_new_key(&stdout);
    let random = key.strip_prefix("sy_sk_").unwrap();
    assert_eq!(random.len(), 32, "{key}");
    assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert_eq!(hash, key_hash(DEMO_SECRET.as_bytes(), &key));
    assert!(stdout.contains("name = \"default\""), "{stdout}");

    let out = switchyard(&["--config", "config/switchyard.toml", "keys", "new", "--name", "ops"], &[]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("name = \"ops\""), "{stdout}");
    let (other, other_hash) = parse_new_key(&stdout);
    assert_ne!(other, key, "two keys are never the same");
    assert_eq!(other_hash, key_hash(DEMO_SECRET.as_bytes(), &other));
}

#[test]
fn keys_new_refuses_a_hash_secret_the_daemon_would_refuse() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = config_with(dir.path(), "fifteen-chars..", "");
    let out = switchyard(&["--config", &path, "keys", "new"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(text(&out.stderr), "security.api_key_hash_secret: must be at least 16 characters\n");
    assert!(!text(&out.stdout).contains("sy_sk_"), "no key is made under it: {}", show(&out));

    let path = config_with(dir.path(), "sixteen-chars...", "");
    let out = switchyard(&["--config", &path, "keys", "new"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[tokio::test]
async fn a_key_from_keys_new_opens_the_api() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = config_with(dir.path(), HASH_SECRET, "");
    let out = switchyard(&["--config", &path, "keys", "new"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (key, hash) = parse_new_key(&text(&out.stdout));

    let app_dir = tempfile::TempDir::new().unwrap();
    let mut config = common::config(app_dir.path());
    let merchant = config.merchants.get_mut("acme").unwrap();
    merchant.api_keys.push(switchyard::config::ApiKeyConfig { name: "new".into(), hash });
    let app = TestApp::start_with(app_dir, config).await;
    let (status, body) =
        app.call(Method::POST, "/v2/payments", Some(&key), Some("web"), Some(&payment("4242424242424242"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_vault_key_from_keys_new_seals_saved_cards() {
    let out = switchyard(&["--config", "config/switchyard.toml", "keys", "new", "--vault"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let key = stdout
        .split(|c: char| c.is_whitespace() || c == '=')
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no 64-hex-digit key in {stdout}"))
        .to_string();
    assert!(stdout.contains("key = { env = \"SWITCHYARD_VAULT_KEY\" }"), "{stdout}");
    let again = text(&switchyard(&["--config", "config/switchyard.toml", "keys", "new", "--vault"], &[]).stdout);
    assert!(!again.contains(&key), "two keys are never the same");

    // The daemon seals cards with it.
    let dir = tempfile::TempDir::new().unwrap();
    let mut config = common::config(dir.path());
    config.vault.key = Some(switchyard::config::SecretValue::Literal(key));
    let app = TestApp::start_with(dir, config).await;
    let customer = json!({ "name": "Jo", "email": "jo@example.com" });
    let (_, customer) = app.call(Method::POST, "/v2/customers", Some(ACME_KEY), Some("web"), Some(&customer)).await;
    let card = json!({ "customer_id": customer["id"], "payment_method_type": "card", "storage_type": "persistent",
        "payment_method_data": { "card": { "card_number": "4242424242424242", "card_exp_month": "10",
        "card_exp_year": "2035", "card_holder_name": "Jo" } } });
    let (status, saved) = app.call(Method::POST, "/v2/payment-methods", Some(ACME_KEY), Some("web"), Some(&card)).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(app.count("vault").await, 1);
    app.stop().await;
}
