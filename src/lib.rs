//! switchyard: a payment-routing daemon with a Hyperswitch-compatible API.
//!
//! The modules sit in layers, each using only those below it (`tests/suite/layers.rs` holds the
//! table): the value types (`money`, `card`, `ids`, `keys`, `secret`, `text`, `schema`,
//! `backoff`, `diff`); the `domain` and the `config` as data; the parts that keep or reach things
//! (`store`, `connectors`, `routing`, `lua`, `vault`, `limits`, `merchants`, and the `snapshot`
//! that holds one live version of what operators edit); the payment core (`payments`,
//! `customers`, `payment_methods`, `events`); the edge (`api`, `telemetry`); and the program
//! (`app`, `server`, `cli`). A payment comes in through `api`, which authenticates it into a
//! `payments::Scope` and calls the core; the core asks `routing` which connector accounts to
//! try, calls them through `connectors`, and keeps what they answered in the `store`, with the
//! `events` that tell the merchant.

pub mod api;
pub mod app;
pub mod backoff;
pub mod card;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod customers;
pub mod diff;
pub mod domain;
pub mod events;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod lua;
pub mod merchants;
pub mod money;
pub mod payment_methods;
pub mod payments;
pub mod routing;
pub mod schema;
pub mod secret;
pub mod server;
pub mod shared;
pub mod snapshot;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod vault;
