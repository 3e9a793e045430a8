//! The domain: what a payment switch keeps and decides, as plain data built only from the value
//! types. Payments with their attempts and refunds and the statuses they move through, how a
//! payment was routed, what a connector answered, the payment methods and customers they belong
//! to, and the events a merchant is told of. Nothing here stores, calls or renders anything.

pub mod customer;
pub mod decision;
pub mod decline;
pub mod event;
pub mod outcome;
pub mod payment;
pub mod payment_method;
pub mod status;
