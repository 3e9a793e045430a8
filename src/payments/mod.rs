//! Payments: the intent/attempt model, its status machine, and the flows that move a payment
//! through it (create, confirm, authenticate, capture, cancel, refund), the reconciler that settles
//! what a crash left unsettled, and the wallet session tokens a checkout page asks for first.

pub mod flow;
pub mod reconcile;
pub mod refunds;
pub mod sessions;
pub mod webhooks;
