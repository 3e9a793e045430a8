//! Payments: the flows that move a payment through its status machine, in the order a payment
//! meets them — created (`intents`), routed (`routing_view`, `selection`), confirmed and
//! authorized with failover (`authorize`), its provider's answers stored (`settle`), then
//! captured, cancelled or synced (`operate`) and refunded (`refunds`) — with what a provider's
//! notification changes (`webhooks`), the reconciler that settles what a crash or an unclear
//! answer left unsettled, and the wallet session tokens a checkout page asks for first.
//!
//! Called with a `Scope` and a `Context`; answers in its own `Error`.

pub mod authorize;
pub mod context;
pub mod error;
pub mod input;
pub mod intents;
pub mod operate;
pub mod reconcile;
pub mod refunds;
pub mod routing_view;
pub mod selection;
pub mod sessions;
pub mod settle;
pub mod webhooks;

pub use authorize::{confirm, create_and_confirm};
pub use context::{Context, Core, Scope};
pub use error::{Error, Result};
pub use input::{AmountChange, Confirmation, IntentChange, NewIntent};
pub use intents::{create_intent, list, open, require, retrieve, retrieve_intent, update_intent};
pub use operate::{cancel, capture, complete_authentication, sync};

#[cfg(test)]
mod tests;
