//! Connectors: what turns a payment into a provider's API and back.
//!
//! Every connector — native Rust or, later, a Lua plugin — implements one `Connector` trait, so
//! the payment flows never know which kind they run. A connector is shared by every account that
//! names it; each call gets the `Account` (credentials, address, metadata) it runs for. A flow a
//! connector does not offer answers `NotSupported`, which the API shows as `IR_20`.

pub mod health;
pub mod http;
pub mod meters;
pub mod plugin;
mod registry;
pub mod sandbox;
pub mod scrub;
pub mod session;
pub mod stripe;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::ConnectorAccountConfig;
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment::Address;
use crate::domain::payment_method::{CardDetails, PaymentMethod, ProviderToken};
use crate::domain::status::{AuthenticationType, CaptureMethod};
use crate::money::{Amount, Currency};
use crate::secret::Secret;

pub use registry::{Refused, Registry};
use session::{SessionToken, SessionTokenRequest};

/// One connector account of a profile, its secrets resolved.
#[derive(Debug, Clone)]
pub struct Account {
    /// The profile the account belongs to: accounts of the same name in two profiles are two
    /// accounts, in metrics and logs too.
    pub profile: String,
    pub name: String,
    pub connector: String,
    pub enabled: bool,
    pub base_url: Option<BaseUrl>,
    pub credentials: BTreeMap<String, Secret<String>>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub health: Arc<health::Health>,
    pub meters: Arc<meters::Meters>,
}

impl Account {
    /// Resolves an account's credentials; a missing one is left out (`switchyard check` reports it).
    pub fn from_config(profile: &str, config: &ConnectorAccountConfig) -> Self {
        Self {
            profile: profile.to_string(),
            name: config.name.clone(),
            connector: config.connector.clone(),
            enabled: config.enabled,
            base_url: config.base_url.as_deref().map(BaseUrl::new),
            credentials: config
                .credentials
                .iter()
                .filter_map(|(k, v)| v.resolve().ok().map(|s| (k.clone(), s)))
                .collect(),
            metadata: config.metadata.clone(),
            health: Arc::default(),
            meters: Arc::default(),
        }
    }
}

/// An account's `base_url`: the text configured, and the address it is, read once per
/// configuration version rather than on every call.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    text: String,
    parsed: Result<reqwest::Url, String>,
}

impl BaseUrl {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_string(), parsed: reqwest::Url::parse(text).map_err(|e| e.to_string()) }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address, or why the text is none (`switchyard check` refuses such a configuration).
    pub fn url(&self) -> Result<&reqwest::Url, &str> {
        self.parsed.as_ref().map_err(String::as_str)
    }
}

impl Account {
    /// Records a call's outcome in the account's health, logging a change of its circuit.
    pub async fn record(&self, ok: bool, took: std::time::Duration) {
        if let Some(circuit) = self.health.record(ok, took).await {
            self.circuit_changed(circuit);
        }
    }

    /// Whether the account's circuit lets a call through now.
    pub async fn allow(&self) -> bool {
        let (allowed, changed) = self.health.allow().await;
        if let Some(circuit) = changed {
            self.circuit_changed(circuit);
        }
        allowed
    }

    /// Reads the account's shared health again (what other daemons moved), logging a change of
    /// its circuit.
    pub async fn refresh(&self) {
        if let Some(circuit) = self.health.refresh().await {
            self.circuit_changed(circuit);
        }
    }

    fn circuit_changed(&self, circuit: health::Circuit) {
        tracing::info!(profile = %self.profile, account = %self.name, connector = %self.connector,
            circuit = %circuit.as_str(), "circuit changed");
    }
}

#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    pub payment_id: &'a str,
    pub attempt_id: &'a str,
    pub amount: Amount,
    pub currency: Currency,
    pub capture_method: CaptureMethod,
    pub authentication_type: AuthenticationType,
    pub payment_method: &'a PaymentMethod,
    pub return_url: Option<&'a str>,
    pub description: Option<&'a str>,
    pub billing: Option<&'a Address>,
}

/// Where a payer comes back to after a provider's page, at the daemon reached at `public_url`
/// (`api::redirection` serves it).
pub fn return_url(public_url: &str, payment_id: &str) -> String {
    format!("{public_url}/v2/payments/{payment_id}/return")
}

/// The customer came back from the page a connector sent them to, carrying its parameters.
#[derive(Debug)]
pub struct CompleteAuthorizeRequest<'a> {
    pub payment_id: &'a str,
    pub attempt_id: &'a str,
    pub connector_payment_id: Option<&'a str>,
    pub capture_method: CaptureMethod,
    pub params: &'a BTreeMap<String, String>,
}

/// Asks the provider where a payment stands.
#[derive(Debug)]
pub struct SyncRequest<'a> {
    pub attempt_id: &'a str,
    pub connector_payment_id: Option<&'a str>,
    pub amount: i64,
    /// When the attempt's calls can have reached the provider, when known: a connector that
    /// looks the attempt up by its own id may conclude it never arrived once this is over.
    pub window: Option<CallWindow>,
}

/// From when until when the calls made for an attempt or refund can have reached the provider:
/// from its creation until its last call's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallWindow {
    pub from: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
}

impl CallWindow {
    /// The window of calls made from `from` on, none lasting beyond `lasting_ms` after it.
    pub fn new(from: chrono::DateTime<chrono::Utc>, lasting_ms: u64) -> Self {
        let lasting = chrono::Duration::milliseconds(i64::try_from(lasting_ms).unwrap_or(i64::MAX));
        Self { from, until: from.checked_add_signed(lasting).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC) }
    }
}

#[derive(Debug)]
pub struct CaptureRequest<'a> {
    pub attempt_id: &'a str,
    pub connector_payment_id: Option<&'a str>,
    pub amount_authorized: i64,
    pub amount_to_capture: i64,
    pub currency: Currency,
}

#[derive(Debug)]
pub struct VoidRequest<'a> {
    pub attempt_id: &'a str,
    pub connector_payment_id: Option<&'a str>,
    pub cancellation_reason: Option<&'a str>,
}

/// A card to be made a payment method of the provider's own, for a saved payment method.
#[derive(Debug)]
pub struct TokenizeRequest<'a> {
    /// The saved payment method: the idempotency of the call.
    pub payment_method_id: &'a str,
    pub card: &'a CardDetails,
    /// For many payments, not just the next one: the provider may need a customer to hold it.
    pub reusable: bool,
}

#[derive(Debug)]
pub struct RefundRequest<'a> {
    pub refund_id: &'a str,
    pub connector_payment_id: Option<&'a str>,
    pub amount: Amount,
    pub currency: Currency,
    pub reason: Option<&'a str>,
}

#[derive(Debug)]
pub struct RefundSyncRequest<'a> {
    pub refund_id: &'a str,
    pub connector_refund_id: Option<&'a str>,
    /// The provider's id of the payment refunded, among whose refunds it can be looked for.
    pub connector_payment_id: Option<&'a str>,
    /// When the refund's call can have reached the provider.
    pub window: Option<CallWindow>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("connector `{connector}` does not support {what}")]
    NotSupported { connector: String, what: String },
    /// The provider did not take the call (refused the connection, rate limited it, or said it
    /// may be retried): nothing was charged, so the next routed account may try.
    #[error("connector `{connector}` is unavailable: {reason}")]
    Unavailable { connector: String, reason: String },
    /// The provider refused the operation and changed nothing (a capture of more than it holds,
    /// a void of a payment already captured).
    #[error("connector `{connector}` refused: {reason}")]
    Refused { connector: String, reason: String },
    /// The call may or may not have been acted on (no answer in time, a server error, an answer
    /// that could not be read): only asking the provider later can tell.
    #[error("connector `{connector}` gave no clear answer: {reason}")]
    Ambiguous { connector: String, reason: String, unclear: Unclear },
}

/// Why a call's outcome is unclear, which says whether making the call again can tell more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclear {
    /// No whole answer came (none in time, a connection cut, a server error): a provider that
    /// deduplicates the call answers a repeat with what became of the first.
    NoAnswer,
    /// The provider answered, and the answer could not be read: a repeat gets the same answer.
    Unreadable,
}

pub type ConnectorResult<T> = Result<T, ConnectorError>;

impl ConnectorError {
    /// How a call ended, as metrics label it.
    pub fn outcome(&self) -> &'static str {
        match self {
            ConnectorError::NotSupported { .. } => "not_supported",
            ConnectorError::Unavailable { .. } => "unavailable",
            ConnectorError::Refused { .. } => "refused",
            ConnectorError::Ambiguous { .. } => "ambiguous",
        }
    }
}

/// Runs one call to `account`'s connector, counted and timed by profile, account, connector, flow
/// and outcome (`switchyard_connector_requests_total`, `switchyard_connector_request_duration_seconds`).
/// Every connector's answer passes here on its way to be stored, logged or answered, so here its
/// texts lose the account's credentials and anything that looks like a card number.
pub async fn metered<T: scrub::Scrub>(
    account: &Account,
    flow: &'static str,
    call: impl std::future::Future<Output = ConnectorResult<T>>,
) -> ConnectorResult<T> {
    metered_with_card(account, flow, None, call).await
}

/// `metered` for a call that carries a card: its texts lose that card's number and security
/// code too (a provider may echo them in an error).
pub async fn metered_with_card<T: scrub::Scrub>(
    account: &Account,
    flow: &'static str,
    card: Option<&CardDetails>,
    call: impl std::future::Future<Output = ConnectorResult<T>>,
) -> ConnectorResult<T> {
    let started = std::time::Instant::now();
    let result = call.await;
    let outcome = result.as_ref().map_or_else(ConnectorError::outcome, |_| "ok");
    account.meters.record(account, flow, outcome, started.elapsed());
    if !scrub::Scrub::has_text(&result) {
        return result;
    }
    scrub::Scrub::scrub(result, &scrub::Scrubber::for_account(account).card(card))
}

/// A provider's notification as it arrived: headers (lowercase names) and the exact body.
#[derive(Debug)]
pub struct WebhookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What a verified notification says.
#[derive(Debug)]
pub enum WebhookEvent {
    Payment {
        connector_payment_id: String,
        /// The attempt id the provider was given, when the notification carries it back: it finds
        /// an attempt whose answer, and so the provider's id for it, was lost.
        attempt_id: Option<String>,
        outcome: PaymentOutcome,
    },
    Refund {
        connector_refund_id: String,
        /// The refund id the provider was given, when the notification carries it back: it finds
        /// a refund whose answer, and so the provider's id for it, was lost.
        refund_id: Option<String>,
        outcome: RefundOutcome,
    },
    /// Verified, but about nothing switchyard tracks.
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("connector `{0}` does not take webhooks")]
    NotSupported(String),
    #[error("the notification's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the notification cannot be read: {0}")]
    Unreadable(String),
}

#[async_trait]
pub trait Connector: Send + Sync {
    fn name(&self) -> &'static str;

    /// The credentials every account of this connector must have.
    fn required_credentials(&self) -> Vec<&str>;

    /// Whether it takes payments by `method` in `currency`; routing passes over accounts whose
    /// connector does not, so such a payment never fails for want of support.
    fn takes(&self, method: &PaymentMethod, _currency: Currency) -> bool {
        matches!(method, PaymentMethod::Card(_))
    }

    /// The token its other calls carry (an OAuth access token), fetched or reused from the cache;
    /// none for a connector whose calls carry only credentials.
    async fn access_token(&self, _account: &Account) -> ConnectorResult<Option<String>> {
        Ok(None)
    }

    /// Whether it takes payments in `currency` at all, for clients to offer its methods.
    fn takes_currency(&self, _currency: Currency) -> bool {
        true
    }

    /// The payment methods it takes, as (type, subtype), for clients to offer.
    fn payment_methods(&self) -> Vec<(String, String)> {
        vec![("card".into(), "credit".into()), ("card".into(), "debit".into())]
    }

    /// The wallets it builds session tokens for (`google_pay`, `apple_pay`, …).
    fn session_wallets(&self) -> Vec<String> {
        Vec::new()
    }

    async fn session_token(&self, _account: &Account, _req: &SessionTokenRequest<'_>) -> ConnectorResult<SessionToken> {
        Err(self.not_supported("session tokens"))
    }

    async fn authorize(&self, account: &Account, req: &AuthorizeRequest<'_>) -> ConnectorResult<PaymentOutcome>;

    /// Whether an authorize repeated for the same attempt can never charge twice: the provider
    /// deduplicates by the attempt's idempotency key and answers the first call's outcome. Such a
    /// connector is asked again when a call got no clear answer.
    fn repeats_safely(&self) -> bool {
        false
    }

    /// Makes a card a payment method of the provider's own and answers its id, which later
    /// payments through the same account charge instead of the card.
    async fn tokenize(&self, _account: &Account, _req: &TokenizeRequest<'_>) -> ConnectorResult<ProviderToken> {
        Err(self.not_supported("tokenizing cards"))
    }

    async fn complete_authorize(
        &self,
        _account: &Account,
        _req: &CompleteAuthorizeRequest<'_>,
    ) -> ConnectorResult<PaymentOutcome> {
        Err(self.not_supported("completing an authentication"))
    }

    async fn sync(&self, _account: &Account, _req: &SyncRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        Err(self.not_supported("sync"))
    }

    async fn capture(&self, _account: &Account, _req: &CaptureRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        Err(self.not_supported("capture"))
    }

    async fn void(&self, _account: &Account, _req: &VoidRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        Err(self.not_supported("void"))
    }

    async fn refund(&self, _account: &Account, _req: &RefundRequest<'_>) -> ConnectorResult<RefundOutcome> {
        Err(self.not_supported("refunds"))
    }

    async fn refund_sync(&self, _account: &Account, _req: &RefundSyncRequest<'_>) -> ConnectorResult<RefundOutcome> {
        Err(self.not_supported("refund sync"))
    }

    /// Verifies a notification from the provider and says what it reports.
    async fn webhook(&self, _account: &Account, _req: &WebhookRequest<'_>) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::NotSupported(self.name().to_string()))
    }

    fn not_supported(&self, what: &str) -> ConnectorError {
        ConnectorError::NotSupported { connector: self.name().to_string(), what: what.to_string() }
    }
}
