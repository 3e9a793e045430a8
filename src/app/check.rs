//! What a configuration must be to serve, checked in one place for a start, a reload and
//! `switchyard check` alike: every setting on its own and together, the folders it names, and
//! each connector account against the connectors this build and its plugin folder offer. A
//! change that fails here never serves.

use std::collections::BTreeMap;

use crate::config::{Config, ConnectorAccountConfig, Problem, SecretValue, MAX_JSON_DEPTH, MIN_HEADER_BYTES};
use crate::connectors::{BaseUrl, Registry};
use crate::routing::scripts::ScriptSet;

/// The profiles whose routing script is not in `scripts`: they route by their fallback list.
/// Each is named with why: its file is missing, or it is among `refused`, files that did not
/// load (and so are reported already).
pub fn missing_scripts(config: &Config, scripts: &ScriptSet, refused: &[&str]) -> (Vec<Problem>, Vec<Problem>) {
    let (mut missing, mut not_loaded) = (Vec::new(), Vec::new());
    for (merchant_id, merchant) in &config.merchants {
        for (profile_id, profile) in &merchant.profiles {
            let Some(script) = profile.routing.as_deref().filter(|s| scripts.get(s).is_none()) else { continue };
            let path = format!("merchants.{merchant_id}.profiles.{profile_id}.routing");
            match refused.contains(&script) {
                true => not_loaded.push(Problem {
                    path,
                    message: format!("script `{script}` did not load: the profile routes by its fallback list"),
                }),
                false => missing.push(Problem {
                    path,
                    message: format!("no script {}", config.paths.routing.join(format!("{script}.lua")).display()),
                }),
            }
        }
    }
    (missing, not_loaded)
}

/// `config` with the accounts `out` names (by their `connector` path) disabled, so routing
/// passes them over.
pub fn without(config: &Config, out: &[Problem]) -> Config {
    let mut config = config.clone();
    for (merchant_id, merchant) in &mut config.merchants {
        for (profile_id, profile) in &mut merchant.profiles {
            for (i, account) in profile.connector_accounts.iter_mut().enumerate() {
                let path = format!("merchants.{merchant_id}.profiles.{profile_id}.connector_accounts[{i}].connector");
                if out.iter().any(|p| p.path == path) {
                    account.enabled = false;
                }
            }
        }
    }
    config
}

/// What a start and a reload check: the problems that refuse the configuration, and those that
/// put only some connector accounts out of service (their connector is a plugin whose file did
/// not load, with no earlier version to serve) while the rest is served.
pub fn configuration(config: &Config, registry: &Registry) -> (Vec<Problem>, Vec<Problem>) {
    let mut out_of_service = Vec::new();
    let mut problems = Vec::new();
    let mut report = |path: String, message: String| problems.push(Problem { path, message });

    if let Err(e) = config.listen_addr() {
        report("server.listen".into(), e);
    }
    let public = config.public_url();
    if !(public.starts_with("http://") || public.starts_with("https://")) {
        report("server.public_url".into(), "must start with http:// or https://".into());
    }
    server(config, &mut report);
    // A relative folder is looked for in the working directory: one that lacks it is the wrong
    // place to start from, not an empty folder.
    for (path, folder) in [("paths.routing", &config.paths.routing), ("paths.plugins", &config.paths.plugins)] {
        if folder.is_relative() && !folder.is_dir() {
            let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            report(path.into(), format!("no folder {} in the working directory {cwd}", folder.display()));
        }
    }
    if !["sqlite:", "postgres:", "postgresql:"].iter().any(|s| config.database.url.starts_with(s)) {
        report("database.url".into(), "must be a sqlite: or postgres: URL".into());
    }
    if config.database.max_connections == 0 {
        report("database.max_connections".into(), "must be at least 1".into());
    }
    if let Err(e) = config.security.hash_secret() {
        report("security.api_key_hash_secret".into(), e);
    }
    let cell = &config.payments.cell_id;
    if cell.is_empty() || cell.len() > 8 || !cell.bytes().all(|b| b.is_ascii_alphanumeric()) {
        report("payments.cell_id".into(), "must be 1 to 8 letters or digits".into());
    }

    if config.http.connect_timeout_ms == 0 || config.http.request_timeout_ms == 0 {
        report("http".into(), "timeouts must be at least 1 ms".into());
    }
    let reconciler = &config.reconciler;
    let (longest, bound) = config.longest_call();
    if reconciler.after_ms <= longest {
        report(
            "reconciler.after_ms".into(),
            format!(
                "must be longer than {bound}: a connector call may still be under way that long, and the \
                 reconciler would overtake it"
            ),
        );
    }
    if reconciler.every_ms == 0 || reconciler.batch == 0 {
        report("reconciler".into(), "every_ms and batch must be at least 1".into());
    }
    let webhooks = &config.outgoing_webhooks;
    if [webhooks.every_ms, webhooks.timeout_ms, webhooks.retry_base_ms].contains(&0)
        || webhooks.max_attempts == 0
        || webhooks.batch == 0
    {
        report(
            "outgoing_webhooks".into(),
            "every_ms, timeout_ms, retry_base_ms, max_attempts and batch must be at least 1".into(),
        );
    }
    if let Err(e) = crate::shared::check(&config.shared) {
        report("shared".into(), e);
    }
    if config.lua.time_budget_ms == 0 {
        report("lua.time_budget_ms".into(), "must be at least 1".into());
    }
    if config.lua.memory_limit_mb == 0 {
        report("lua.memory_limit_mb".into(), "must be at least 1".into());
    }
    if let Err(e) = config.log.check_level() {
        report("log.level".into(), e);
    }
    if let Some(Err(e)) =
        config.vault.key.as_ref().map(|k| k.resolve().and_then(|k| crate::vault::parse_key(k.expose())))
    {
        report("vault.key".into(), e);
    }

    let mut publishable = BTreeMap::new();
    for (merchant_id, merchant) in &config.merchants {
        let at = format!("merchants.{merchant_id}");
        for (i, key) in merchant.api_keys.iter().enumerate() {
            if crate::keys::parse_key_hash(&key.hash).is_none() {
                report(format!("{at}.api_keys[{i}].hash"), "must be `hmac-sha256:` and 64 hex digits".into());
            }
        }
        if let Some(pk) = &merchant.publishable_key {
            if let Some(other) = publishable.insert(pk.clone(), merchant_id.clone()) {
                report(format!("{at}.publishable_key"), format!("is also merchant {other}'s"));
            }
        }
        for (profile_id, profile) in &merchant.profiles {
            let at = format!("{at}.profiles.{profile_id}");
            if let Some(url) = &profile.webhook_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    report(format!("{at}.webhook_url"), "must start with http:// or https://".into());
                }
                match profile.payment_response_hash_key.as_ref().map(SecretValue::resolve) {
                    None => report(
                        format!("{at}.payment_response_hash_key"),
                        "is needed to sign the webhooks sent to webhook_url".into(),
                    ),
                    Some(Err(e)) => report(format!("{at}.payment_response_hash_key"), e),
                    Some(Ok(_)) => {}
                }
            }
            let mut names = BTreeMap::new();
            for (i, account) in profile.connector_accounts.iter().enumerate() {
                let at = format!("{at}.connector_accounts[{i}]");
                if account.name.is_empty() {
                    report(format!("{at}.name"), "missing".into());
                } else if names.insert(account.name.as_str(), i).is_some() {
                    report(format!("{at}.name"), format!("`{}` is used by another account", account.name));
                }
                let Some(connector) = registry.get(&account.connector) else {
                    if registry.is_broken(&account.connector) {
                        out_of_service.push(Problem {
                            path: format!("{at}.connector"),
                            message: format!(
                                "connector plugin `{}` did not load: this account is out of service",
                                account.connector
                            ),
                        });
                        continue;
                    }
                    report(
                        format!("{at}.connector"),
                        format!("unknown connector `{}` (known: {})", account.connector, registry.names().join(", ")),
                    );
                    continue;
                };
                for (name, value) in &account.credentials {
                    if let Err(e) = value.resolve() {
                        report(format!("{at}.credentials.{name}"), e);
                    }
                }
                for required in missing_credentials(account, connector.required_credentials()) {
                    report(format!("{at}.credentials.{required}"), "missing".into());
                }
                if let Some(url) = &account.base_url {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        report(format!("{at}.base_url"), "must start with http:// or https://".into());
                    } else if let Err(e) = BaseUrl::new(url).url() {
                        report(format!("{at}.base_url"), format!("is not a URL: {e}"));
                    }
                }
            }
            for (i, name) in profile.fallback.iter().enumerate() {
                match profile.connector_accounts.iter().find(|a| &a.name == name) {
                    None => report(format!("{at}.fallback[{i}]"), format!("no connector account is named `{name}`")),
                    Some(a) if !a.enabled => report(format!("{at}.fallback[{i}]"), format!("`{name}` is disabled")),
                    Some(_) => {}
                }
            }
            if !profile.connector_accounts.iter().any(|a| a.enabled) {
                report(format!("{at}.connector_accounts"), "no enabled connector account".into());
            }
        }
    }
    (problems, out_of_service)
}

/// Problems with the limits on requests, which must fit together: a body is read within the
/// request's time, and a payment's connector calls within it too.
fn server(config: &Config, report: &mut impl FnMut(String, String)) {
    let server = &config.server;
    if server.max_body_bytes == 0 {
        report("server.max_body_bytes".into(), "must be at least 1".into());
    }
    if server.max_header_bytes < MIN_HEADER_BYTES {
        report("server.max_header_bytes".into(), format!("must be at least {MIN_HEADER_BYTES}"));
    }
    if !(1..=MAX_JSON_DEPTH).contains(&server.max_json_depth) {
        report("server.max_json_depth".into(), format!("must be 1 to {MAX_JSON_DEPTH}"));
    }
    if server.max_connections == 0 {
        report("server.max_connections".into(), "must be at least 1".into());
    }
    if server.header_timeout_ms == 0 || server.body_timeout_ms == 0 {
        report("server".into(), "header_timeout_ms and body_timeout_ms must be at least 1 ms".into());
    }
    if server.body_timeout_ms >= server.request_timeout_ms {
        report(
            "server.body_timeout_ms".into(),
            format!("must be less than server.request_timeout_ms ({} ms)", server.request_timeout_ms),
        );
    }
    if server.request_timeout_ms <= config.payments.budget_ms {
        report(
            "server.request_timeout_ms".into(),
            format!(
                "must be more than payments.budget_ms ({} ms): a payment's connector calls may take all of it",
                config.payments.budget_ms
            ),
        );
    }
}

/// The credentials among `required` an account does not have.
fn missing_credentials<'a>(
    account: &ConnectorAccountConfig,
    required: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    required.into_iter().filter(|name| !account.credentials.contains_key(*name)).collect()
}

#[cfg(test)]
// figment's `Jail` fixes its closures' error type, a large one.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn problems_of(toml: &str) -> Vec<String> {
        let mut out = Vec::new();
        figment::Jail::expect_with(|jail| {
            for folder in ["config", "routing", "plugins"] {
                std::fs::create_dir(folder).map_err(|e| e.to_string())?;
            }
            jail.create_file("config/switchyard.toml", toml)?;
            jail.set_env("SWITCHYARD_API_KEY_HASH_SECRET", "a-test-secret-of-some-length");
            let config = Config::load(None).map_err(|p| format!("{p:?}"))?;
            let (problems, out_of_service) =
                configuration(&config, &Registry::builtin("http://127.0.0.1:8080", reqwest::Client::new()));
            out = problems.iter().chain(&out_of_service).map(ToString::to_string).collect();
            Ok(())
        });
        out
    }

    #[test]
    fn the_shipped_configuration_is_sound() {
        let shipped = include_str!("../../config/switchyard.toml");
        assert_eq!(problems_of(shipped), Vec::<String>::new());
    }

    #[test]
    fn request_limits_must_fit_together() {
        let problems = problems_of(
            r#"
            [server]
            max_header_bytes = 512
            max_json_depth = 129
            body_timeout_ms = 45000
            request_timeout_ms = 45000
            "#,
        );
        assert_eq!(
            problems,
            [
                "server.max_header_bytes: must be at least 1024",
                "server.max_json_depth: must be 1 to 128",
                "server.body_timeout_ms: must be less than server.request_timeout_ms (45000 ms)",
                "server.request_timeout_ms: must be more than payments.budget_ms (45000 ms): a payment's connector \
                 calls may take all of it",
            ]
        );
        let sound = "[server]\nrequest_timeout_ms = 45001\nbody_timeout_ms = 45000\n[payments]\nbudget_ms = 45000\n";
        assert_eq!(problems_of(sound), Vec::<String>::new());
    }

    #[test]
    fn the_reconciler_waits_longer_than_any_call_may_take() {
        let overtaken = |toml: &str| {
            problems_of(toml).into_iter().filter(|p| p.starts_with("reconciler.after_ms")).collect::<Vec<_>>()
        };
        // A capture is bounded only by the HTTP client's timeout: twice it, for a plugin that
        // fetches its access token first.
        let problems = overtaken("[http]\nrequest_timeout_ms = 40000\n[reconciler]\nafter_ms = 60000\n");
        assert_eq!(
            problems,
            ["reconciler.after_ms: must be longer than twice http.request_timeout_ms and lua.time_budget_ms for a \
              build and a parse (80020 ms: a plugin's access-token request, then its call): a connector call may \
              still be under way that long, and the reconciler would overtake it"]
        );
        let problems = overtaken("[payments]\nattempt_timeout_ms = 70000\nbudget_ms = 50000\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("payments.attempt_timeout_ms (70000 ms)"), "{problems:?}");
        let problems = overtaken("[reconciler]\nafter_ms = 45000\n");
        assert!(problems[0].contains("payments.budget_ms (45000 ms)"), "{problems:?}");
        let sound = "[http]\nrequest_timeout_ms = 29000\n[lua]\ntime_budget_ms = 10\n[reconciler]\nafter_ms = 58041\n";
        assert_eq!(overtaken(sound), Vec::<String>::new());
        assert_eq!(overtaken(&sound.replace("58041", "58040")).len(), 1);
    }

    #[test]
    fn check_lists_every_problem_with_its_path() {
        let problems = problems_of(
            r#"
            [server]
            listen = "not an address"
            [merchants.acme]
            api_keys = [{ name = "k", hash = "sha1:abc" }]
            [merchants.acme.profiles.web]
            fallback = ["sandbox", "ghost", "off"]
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "sandbox"
            connector = "sandbox"
            credentials = { api_key = { env = "SWITCHYARD_TEST_UNSET_VARIABLE" } }
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "sandbox"
            connector = "adyen"
            [[merchants.acme.profiles.web.connector_accounts]]
            name = "off"
            connector = "sandbox"
            enabled = false
            "#,
        );
        let at = "merchants.acme.profiles.web";
        let expected = [
            "server.listen: ".to_string(),
            "merchants.acme.api_keys[0].hash: must be `hmac-sha256:` and 64 hex digits".to_string(),
            format!("{at}.connector_accounts[0].credentials.api_key: environment variable SWITCHYARD_TEST_UNSET_VARIABLE is not set"),
            format!("{at}.connector_accounts[1].name: `sandbox` is used by another account"),
            format!("{at}.connector_accounts[1].connector: unknown connector `adyen` (known: sandbox, stripe)"),
            format!("{at}.fallback[1]: no connector account is named `ghost`"),
            format!("{at}.fallback[2]: `off` is disabled"),
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(&expected) {
            assert!(got.starts_with(want.as_str()), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn a_base_url_must_be_an_address() {
        let account = |url: &str| {
            format!(
                "[merchants.acme.profiles.web]\n[[merchants.acme.profiles.web.connector_accounts]]\n\
                 name = \"s\"\nconnector = \"sandbox\"\nbase_url = \"{url}\"\n"
            )
        };
        assert_eq!(problems_of(&account("http://127.0.0.1:9/prefix")), Vec::<String>::new());
        let at = "merchants.acme.profiles.web.connector_accounts[0].base_url";
        assert_eq!(problems_of(&account("ftp://example")), [format!("{at}: must start with http:// or https://")]);
        let refused = problems_of(&account("http://exa mple:99999"));
        assert!(matches!(&refused[..], [one] if one.starts_with(&format!("{at}: is not a URL: "))), "{refused:?}");
    }
}
