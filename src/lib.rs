//! switchyard: a payment-routing daemon with a Hyperswitch-compatible API.
//!
//! A payment flows through the modules in this order: `api` (routes, auth, wire types) →
//! `payments` (intent and attempt model, status machine, flows) → `routing` (which connector
//! accounts to try) → `connectors` (the `Connector` trait and its implementations) → `store`
//! (durable state) → `events` (what the merchant is told, by webhook). `customers` are whom payments belong to, and `payment_methods` the cards they
//! saved, sealed in the `vault`. `config` and `merchants` describe
//! who is served; `card`, `money`, `ids` and `secret` are the value types everything else is
//! built from; `telemetry` is what operators watch. `app` starts a daemon and `server` serves its
//! API over HTTP/1.

pub mod api;
pub mod app;
pub mod backoff;
pub mod card;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod customers;
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
pub mod reload;
pub mod routing;
pub mod schema;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod vault;
