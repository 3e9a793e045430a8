//! What can go wrong in the payment core, in its own terms. The API maps each kind to
//! Hyperswitch's wire format once (`api::error`); the core never knows status codes.

use crate::connectors::ConnectorError;
use crate::limits::Refused;
use crate::store::StoreError;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    /// The request asks for something no payment could be: an amount over what is left, …
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Duplicate(String),
    /// A new object, asked for by a merchant with several profiles without naming one.
    #[error("the profile to act in was not named")]
    ProfileNotNamed,
    /// A request that is well formed but that the payment it names cannot take: an expired card
    /// on a profile that refuses them.
    #[error("{0}")]
    Precondition(String),
    /// A refund for more than the payment has left to refund.
    #[error("{0}")]
    RefundExceedsPayment(String),
    /// The object is not in a status that allows the operation.
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    NotSupported(String),
    /// A client-side call without a usable client secret: none given, or one that has expired.
    #[error("{0}")]
    ClientSecretInvalid(String),
    /// A client secret that is not the one of the object named.
    #[error("the client_secret provided does not match the client_secret associated with the {0}")]
    ClientSecretMismatch(&'static str),
    /// The provider refused an operation on a payment; nothing changed.
    #[error("{0}")]
    ConnectorRefused(String),
    /// The provider could not be reached; nothing changed, the request may be retried.
    #[error("{0}")]
    ConnectorUnavailable(String),
    /// A notification whose signature does not verify; nothing changed.
    #[error("{0}")]
    WebhookRejected(String),
    #[error("rate limit reached ({})", .0.scope)]
    RateLimited(Refused),
    /// Redis, where the daemons keep volatile methods' security codes, did not answer: a payment
    /// that may need a code is not sent without it, a code given is not kept by this daemon
    /// alone. Nothing was charged or saved.
    #[error("the security code store is unavailable; nothing was charged or saved, and the request may be retried")]
    CodesUnavailable,
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => Error::Duplicate(what),
            other => Error::Internal(Box::new(other)),
        }
    }
}

impl From<VaultError> for Error {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::NoKey => Error::NotSupported(e.to_string()),
            VaultError::Unopenable => Error::Internal(Box::new(e)),
            VaultError::CodesUnavailable(_) => Error::CodesUnavailable,
        }
    }
}

/// A connector that did not do what it was asked. Only its definite answers say so: an unclear
/// one (`Ambiguous`) is the caller's to keep as `processing`, never an error it answers with.
impl From<ConnectorError> for Error {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::NotSupported { .. } => Error::NotSupported(e.to_string()),
            ConnectorError::Refused { .. } => Error::ConnectorRefused(e.to_string()),
            ConnectorError::Unavailable { .. } | ConnectorError::Ambiguous { .. } => {
                Error::ConnectorUnavailable(e.to_string())
            }
        }
    }
}
