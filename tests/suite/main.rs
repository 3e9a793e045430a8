//! The integration tests, as one test binary: each module is one subject (a file here), and all
//! of them share the harness in `tests/common`. One binary links the crate once, where a binary
//! per file linked it once per file.
//!
//! A new test goes in a module here. Only a test that needs a process of its own (one that
//! installs something process-wide, or counts what the whole process did) gets a file directly
//! under `tests/`, which makes it a binary of its own: `prometheus.rs` and `plugin_answers.rs`.
//!
//! Run one subject with its module's name as the filter: `cargo test --test suite stripe::`.

#[path = "../common/mod.rs"]
mod common;

mod adyen;
mod alert_rules;
mod auth;
mod bad_input;
mod browser_flow;
mod card_data;
mod circuit;
mod cli;
mod conformance;
mod crash;
mod customers;
mod examples;
mod faults;
mod fintecture;
mod fintecture_sdk;
mod fintecture_webhook;
mod harness;
mod in_flight;
mod input_limits;
mod layers;
mod lifecycle;
mod limits;
mod live_config;
mod lua_abuse;
mod openapi;
mod outgoing_webhooks;
mod payment_endpoints;
mod payment_links;
mod payment_method_sessions;
mod payment_methods;
mod plugin_fixtures;
mod plugin_reload;
mod reconcile;
mod refund_endpoints;
mod routing;
mod scale_out;
mod schemathesis;
mod sessions;
mod shared_codes;
mod shared_health;
mod shared_limits;
mod shared_outage;
mod shutdown;
mod storage;
mod stripe;
