//! Telemetry: the Prometheus exposition at `/metrics`, the per-request metrics and request id
//! every API call gets, and the process's build info and uptime.
//!
//! Every metric is recorded through the `metrics` facade into one process-wide Prometheus
//! recorder, installed by the first daemon a process starts. Durations (`*_seconds`) are
//! histograms with fixed buckets, so Prometheus can aggregate quantiles across daemons. Labels
//! are bounded: route templates, never raw paths; account and connector names from config; never
//! ids or card data.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::connectors::health::Circuit;
use crate::connectors::meters::Kinds;
use crate::merchants::Directory;
use crate::snapshot::Live;

/// The header a request id travels in, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Buckets for every `*_seconds` histogram but the webhooks' lag: 100 µs to 10 s.
const BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets for the webhooks' delivery lag: 10 ms to a day, since retries behind a failing endpoint
/// wait up to `retry_max_ms` (an hour by default) each.
const LAG_BUCKETS: [f64; 16] =
    [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0];
const LAG: &str = "switchyard_webhook_delivery_lag_seconds";

struct Exporter {
    handle: PrometheusHandle,
    started: Instant,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// The process's exporter, installed on first use. If another recorder was installed first (a
/// test harness's), `/metrics` still answers, with only what this exporter saw.
fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LAG.into()), &LAG_BUCKETS))
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed before switchyard's; /metrics shows nothing");
        }
        describe();
        metrics::gauge!("switchyard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        // Histograms keep their samples until upkeep folds them in.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("a thread for metrics upkeep");
        Exporter { handle, started: Instant::now() }
    })
}

/// Every metric switchyard records, with its help text: the catalogue operators read.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("switchyard_build_info", "The running version, as a label; always 1.");
    describe_gauge!("switchyard_uptime_seconds", Unit::Seconds, "Time since the process started serving.");
    describe_counter!("switchyard_http_requests_total", "API requests by route template, method and status.");
    describe_gauge!("switchyard_http_connections", "Client connections open, by listener (api, metrics).");
    describe_histogram!(
        "switchyard_http_request_duration_seconds",
        Unit::Seconds,
        "API request time by route template and method."
    );
    describe_counter!(
        "switchyard_payments_total",
        "Payments reaching a status, by profile, account, connector, payment method and decline code."
    );
    describe_counter!("switchyard_refunds_total", "Refunds reaching a status, by profile, account and connector.");
    describe_counter!(
        "switchyard_connector_requests_total",
        "Calls to connectors by profile, account, connector, flow and outcome."
    );
    describe_histogram!(
        "switchyard_connector_request_duration_seconds",
        Unit::Seconds,
        "Connector call time by profile, account, connector, flow and outcome."
    );
    describe_gauge!(
        "switchyard_connector_healthy",
        "Whether routing sees a connector account as healthy (1) or not (0)."
    );
    describe_gauge!(
        "switchyard_connector_success_ratio",
        "Recent share of a connector account's payments that got an answer."
    );
    describe_gauge!(
        "switchyard_connector_circuit_state",
        "A connector account's circuit: 0 closed, 1 half-open, 2 open."
    );
    describe_counter!(
        "switchyard_routing_decisions_total",
        "Routing decisions by profile and the account put first (account)."
    );
    describe_counter!(
        "switchyard_routing_outcomes_total",
        "Payments routed, by profile and reason: script (the script chose), fallback (the fallback list, after a \
         script error), no_account (nothing left to try)."
    );
    describe_counter!(
        "switchyard_failovers_total",
        "Accounts a payment fell through or skipped, by profile, account and cause (circuit_open, quota_exhausted, \
         unavailable, not_supported)."
    );
    describe_histogram!(
        "switchyard_routing_script_duration_seconds",
        Unit::Seconds,
        "Routing script run time by script."
    );
    describe_counter!(
        "switchyard_script_errors_total",
        "Routing script failures that fell back to the static order, by script."
    );
    describe_counter!("switchyard_script_reloads_total", "Script and plugin reloads by kind and result.");
    describe_counter!(
        "switchyard_config_reloads_total",
        "Configuration reloads by result: applied (a new version serves), unchanged, refused (the old one serves)."
    );
    describe_gauge!(
        "switchyard_config_info",
        "1 for the configuration version serving now (label version), 0 for versions it replaced."
    );
    describe_gauge!(
        "switchyard_script_info",
        "1 for the routing script each profile uses now (labels profile, script, hash), 0 for those it replaced."
    );
    describe_gauge!(
        "switchyard_plugin_info",
        "1 for the connector plugin version serving now (labels connector, hash), 0 for those it replaced."
    );
    describe_gauge!(
        "switchyard_config_restart_pending",
        "1 while the configuration file holds a change to a setting that applies only at a restart."
    );
    describe_histogram!(
        "switchyard_plugin_call_duration_seconds",
        Unit::Seconds,
        "Connector plugin function run time by plugin, flow and step."
    );
    describe_counter!(
        "switchyard_plugin_errors_total",
        "Connector plugin functions that failed, by plugin, flow, step and kind (error, status)."
    );
    describe_counter!(
        "switchyard_session_tokens_total",
        "Wallet session tokens asked for, by wallet and whether one was given."
    );
    describe_counter!(
        "switchyard_webhook_deliveries_total",
        "Tries at delivering events to merchants, by outcome and cause (none, timeout, connect, status_4xx, \
         status_5xx, other)."
    );
    describe_histogram!(LAG, Unit::Seconds, "Time from an event being written to its delivery to the merchant.");
    describe_histogram!(
        "switchyard_webhook_delivery_duration_seconds",
        Unit::Seconds,
        "How long merchants' endpoints took to answer a webhook."
    );
    describe_gauge!("switchyard_webhook_events_pending", "Events waiting to be delivered to merchants.");
    describe_counter!(
        "switchyard_shared_state_calls_total",
        "Calls to the shared state in Redis, by part (limits, health, codes) and outcome (ok, timeout, error; \
         resting: not asked, after a failure)."
    );
    describe_gauge!(
        "switchyard_shared_state_up",
        "Whether the shared state in Redis answers (1), or this daemon works alone (0). Absent without [shared]."
    );
    describe_gauge!("switchyard_payments_processing", "Payments standing processing, by profile.");
    describe_gauge!(
        "switchyard_payments_processing_oldest_seconds",
        Unit::Seconds,
        "How long the payment processing longest has stood unchanged, by profile."
    );
    describe_gauge!("switchyard_refunds_pending", "Refunds standing pending, by profile.");
    describe_gauge!(
        "switchyard_refunds_pending_oldest_seconds",
        Unit::Seconds,
        "How long the refund pending longest has stood unchanged, by profile."
    );
    describe_gauge!("switchyard_reconciler_backlog", "Payments and refunds due for a check by the reconciler.");
    describe_counter!(
        "switchyard_reconciler_checks_total",
        "Unsettled payments and refunds the reconciler asked a provider about, by kind and outcome."
    );
    describe_counter!(
        "switchyard_rate_limited_total",
        "Requests and connector calls refused by a rate limit, by scope."
    );
    describe_gauge!(
        "switchyard_accounts_out_of_service",
        "Connector accounts out of service because their plugin did not load."
    );
    describe_counter!(
        "switchyard_discrepancies_total",
        "Provider notifications contradicting a settled record, by connector, kind and action (applied, raised)."
    );
}

/// Installs the exporter, if this process has none yet.
pub fn install() {
    exporter();
}

/// The Prometheus text exposition of every metric, with the uptime as of now.
pub fn render() -> String {
    let exporter = exporter();
    metrics::gauge!("switchyard_uptime_seconds").set(exporter.started.elapsed().as_secs_f64());
    exporter.handle.render()
}

/// Answers `GET /metrics`, with each connector account's health as of now.
pub fn metrics_endpoint(directory: &Directory) -> Response {
    for profile in directory.profiles() {
        for account in &profile.accounts {
            let health = account.health.snapshot();
            let labels = [("profile", profile.id.clone()), ("account", account.name.clone())];
            metrics::gauge!("switchyard_connector_healthy", &labels).set(if health.is_healthy() { 1.0 } else { 0.0 });
            metrics::gauge!("switchyard_connector_success_ratio", &labels).set(health.success_rate);
            let circuit = match health.circuit {
                Circuit::Closed => 0.0,
                Circuit::HalfOpen => 1.0,
                Circuit::Open => 2.0,
            };
            metrics::gauge!("switchyard_connector_circuit_state", &labels).set(circuit);
        }
    }
    Response::builder()
        .header("content-type", "text/plain; version=0.0.4")
        .body(Body::from(render()))
        .expect("a static header")
}

/// `GET /metrics`, for the API listener or an admin listener of its own.
pub fn metrics_router<S: Clone + Send + Sync + 'static>(live: Live) -> axum::Router<S> {
    let endpoint = move || std::future::ready(metrics_endpoint(&live.load().directory));
    axum::Router::new().route("/metrics", axum::routing::get(endpoint))
}

/// A request id: the caller's, when it sent a sane one, else a fresh one.
fn request_id(request: &Request) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|v| {
        let bytes = v.as_bytes();
        !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    });
    match given {
        Some(id) => id.clone(),
        None => {
            let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
            HeaderValue::from_str(id).expect("a uuid is a header value")
        }
    }
}

/// One API request under observation: its id (in the logs and the answer), and the request
/// counted and timed by route template, method and status once answered.
pub struct Observed {
    started: Instant,
    id: HeaderValue,
    route: Option<MatchedPath>,
    method: Method,
    /// The span every line logged for the request is in.
    pub span: tracing::Span,
}

impl Observed {
    pub fn start(request: &Request) -> Self {
        let id = request_id(request);
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let span = tracing::info_span!(
            "request",
            request_id = %id.to_str().unwrap_or_default(),
            %method,
            route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        );
        Self { started: Instant::now(), id, route, method, span }
    }

    /// Counts and times the answer in `meters`, and names the request id in it.
    pub fn finish(self, response: &mut Response, meters: &HttpMeters) {
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        meters.record(route, &self.method, response.status(), self.started.elapsed());
        response.headers_mut().insert(REQUEST_ID, self.id);
    }
}

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The metrics of the requests of one kind: route, method and status.
struct HttpMeter {
    route: Box<str>,
    method: Method,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
}

/// The HTTP metrics (`switchyard_http_requests_total`, `switchyard_http_request_duration_seconds`)
/// of the kinds of request a part of the API has answered so far. Kept by the part (one per
/// route, in practice one method and a few statuses each): a request counts itself without
/// building, hashing and looking up its labels.
#[derive(Default)]
pub struct HttpMeters(Kinds<HttpMeter>);

impl HttpMeters {
    fn record(&self, route: &str, method: &Method, status: StatusCode, took: Duration) {
        self.0.with(
            |m| m.status == status && m.method == method && *m.route == *route,
            || {
                let (route_label, method_label) = (route.to_string(), method.as_str().to_string());
                let status_label = status.as_str().to_string();
                let requests = metrics::counter!("switchyard_http_requests_total", "route" => route_label.clone(), "method" => method_label.clone(), "status" => status_label);
                let duration = metrics::histogram!("switchyard_http_request_duration_seconds", "route" => route_label, "method" => method_label);
                HttpMeter { route: route.into(), method: method.clone(), status, requests, duration }
            },
            |meter| {
                meter.requests.increment(1);
                meter.duration.record(took.as_secs_f64());
            },
        );
    }
}

#[cfg(test)]
mod tests {
    /// Prometheus wants help text for every metric (promtool refuses one without): each name the
    /// code records has its `describe_*` here.
    #[test]
    fn every_metric_the_code_records_is_described() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let described = std::fs::read_to_string(src.join("telemetry.rs")).unwrap();
        let mut folders = vec![src];
        let mut recorded = Vec::new();
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                    for (at, _) in text.match_indices(&format!("metrics::{macro_name}\"")) {
                        let name = text[at + macro_name.len() + 10..].split('"').next().unwrap().to_string();
                        recorded.push((name, path.display().to_string()));
                    }
                }
            }
        }
        assert!(recorded.len() > 10, "the search found {} metrics", recorded.len());
        for (name, path) in recorded {
            assert!(described.contains(&format!("\"{name}\"")), "{name} (recorded in {path}) has no help text");
        }
    }
}
