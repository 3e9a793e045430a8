//! Payments: the flows that move a payment through its status machine (create, confirm,
//! authenticate, capture, cancel, refund), what a provider's notification changes, the reconciler
//! that settles what a crash or an unclear answer left unsettled, and the wallet session tokens a
//! checkout page asks for first. Called with a `Scope` and a `Context`; answers in its own
//! `Error`.

pub mod context;
pub mod error;
pub mod flow;
pub mod reconcile;
pub mod refunds;
pub mod sessions;
pub mod webhooks;

pub use context::{Context, Scope};
pub use error::{Error, Result};
