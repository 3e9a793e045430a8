//! The native Stripe connector: card payments with automatic or manual capture, 3-D Secure, sync,
//! capture (partial too), void, refunds and refund sync.
//!
//! A card payment is one call: a confirmed payment intent carrying the card inline
//! (`payment_method_data`), or the Stripe payment method a saved card was made. Every POST
//! carries an `Idempotency-Key` derived from the attempt (or refund) and the step, so a call
//! repeated after a lost answer can never charge twice.
//!
//! A payment with `authentication_type = three_ds` asks Stripe for 3-D Secure. A payment with a
//! `return_url` gives Stripe the daemon's return page (`/v2/payments/{id}/return`), so the
//! authentication Stripe asks for is a redirect (`redirect_to_url`); the payer's return reads the
//! intent back. A payment without one leaves the authentication to Stripe.js in the merchant's
//! page (`invoke_sdk_client` with the intent's client secret).
//!
//! An attempt or refund whose answer was lost before Stripe named it is looked up in Stripe's
//! (strongly consistent) lists by the id switchyard put in its metadata, and taken as never
//! received only once no call for it can still arrive.
//!
//! Google Pay and Apple Pay session tokens need no call: Stripe decrypts Google Pay tokens made
//! with its publishable key (`metadata.publishable_key`), and the rest is the merchant's wallet
//! set-up in the account's metadata.

pub mod transformers;
mod webhook;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::session::{self, SessionToken, SessionTokenRequest};
use crate::connectors::Unclear::NoAnswer;
use crate::connectors::{
    http, return_url, Account, AuthorizeRequest, CallWindow, CaptureRequest, CompleteAuthorizeRequest, Connector,
    ConnectorError, ConnectorResult, RefundRequest, RefundSyncRequest, SyncRequest, TokenizeRequest, VoidRequest,
    WebhookError, WebhookEvent, WebhookRequest,
};
use crate::domain::outcome::{PaymentOutcome, RefundOutcome};
use crate::domain::payment_method::{PaymentMethod, ProviderToken};
use crate::domain::status::RefundStatus;
use transformers::{
    AttachForm, CancelForm, CaptureForm, CardForm, Charged, CustomerForm, CustomerResponse, ErrorBody, Failure, List,
    PaymentIntent, PaymentIntentForm, PaymentMethodResponse, Refund, RefundForm, StripeError,
};

const NAME: &str = "stripe";
const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// The API version the mappings in `transformers` are written against.
const API_VERSION: &str = "2024-06-20";
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");
/// What a form's text starts in: a card payment's fits, its two ids included (some 520 bytes).
const FORM_CAPACITY: usize = 1024;
/// How far Stripe's clock (which sets `created`) may be from ours, and how long after a call's
/// end Stripe may still be making what it asked for, unless the account's
/// `metadata.clock_skew_secs` says otherwise. A lookup by switchyard's ids concludes "never
/// received" only once this much has passed after the call's time ran out.
const CLOCK_SKEW_SECS: i64 = 300;
/// Objects per page of a list, Stripe's most.
const PAGE: usize = 100;
/// How many pages a lookup reads before it gives up (and says nothing).
const MAX_PAGES: usize = 200;

pub struct Stripe {
    http: Client,
    /// How payers' browsers reach this daemon: where Stripe sends them back after authenticating.
    public_url: String,
}

/// Stripe's answer to a call it understood: the object asked for, or a refusal.
enum Reply<T> {
    Done(T),
    Refused(StripeError),
}

impl Stripe {
    pub fn new(http: Client, public_url: &str) -> Self {
        Self { http, public_url: public_url.trim_end_matches('/').to_string() }
    }

    /// `path` under the account's base URL (Stripe's own without one), which keeps its path.
    fn url(account: &Account, path: &str) -> ConnectorResult<Url> {
        static DEFAULT: LazyLock<Url> = LazyLock::new(|| Url::parse(DEFAULT_BASE_URL).expect("a URL"));
        let base = match &account.base_url {
            Some(base) => base.url().map_err(|e| ConnectorError::Unavailable {
                connector: NAME.into(),
                reason: format!("account `{}` has a base_url that is not a URL: {e}", account.name),
            })?,
            None => &DEFAULT,
        };
        let mut url = base.clone();
        url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
        Ok(url)
    }

    fn authorized(&self, account: &Account, request: RequestBuilder) -> ConnectorResult<RequestBuilder> {
        let key = account.credentials.get("api_key").ok_or_else(|| ConnectorError::Unavailable {
            connector: NAME.into(),
            reason: format!("account `{}` has no api_key", account.name),
        })?;
        Ok(request
            .header(AUTHORIZATION, format!("Bearer {}", key.expose()))
            .header(STRIPE_VERSION, HeaderValue::from_static(API_VERSION)))
    }

    /// A POST of `form` as a form body. A form that cannot be encoded is a call never sent, as is
    /// a request that cannot be built (which [`http::send`] tells).
    fn post<T: Serialize + ?Sized>(
        &self,
        account: &Account,
        path: &str,
        idempotency_key: &str,
        form: &T,
    ) -> ConnectorResult<RequestBuilder> {
        let mut body = String::with_capacity(FORM_CAPACITY);
        form.serialize(serde_urlencoded::Serializer::new(&mut form_urlencoded::Serializer::new(&mut body))).map_err(
            |e| ConnectorError::Unavailable {
                connector: NAME.into(),
                reason: format!("the form cannot be encoded: {e}"),
            },
        )?;
        let request = self
            .http
            .post(Self::url(account, path)?)
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .header(CONTENT_TYPE, FORM)
            .body(body);
        self.authorized(account, request)
    }

    fn get(&self, account: &Account, path: &str) -> ConnectorResult<RequestBuilder> {
        self.authorized(account, self.http.get(Self::url(account, path)?))
    }

    /// Sends a call and reads the answer. Only a definite refusal is a `Refused` reply; rate
    /// limits and refused credentials mean Stripe did nothing; anything else that is not a
    /// readable success may hide a charge (see [`transformers::classify`]).
    async fn call<T: DeserializeOwned>(&self, request: ConnectorResult<RequestBuilder>) -> ConnectorResult<Reply<T>> {
        let response = http::send(NAME, request?).await?;
        let status = response.status().as_u16();
        let ambiguous =
            |reason: String| ConnectorError::Ambiguous { connector: NAME.into(), reason, unclear: NoAnswer };
        let body = response.bytes().await.map_err(|e| ambiguous(format!("the answer was cut off: {e}")))?;
        if (200..=299).contains(&status) {
            return serde_json::from_slice(&body)
                .map(Reply::Done)
                .map_err(|e| ambiguous(format!("unreadable answer: {e}")));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error);
        match transformers::classify(status, error) {
            Failure::Refused(error) => Ok(Reply::Refused(error)),
            Failure::NotTaken(reason) => Err(ConnectorError::Unavailable { connector: NAME.into(), reason }),
            Failure::Unclear(reason) => Err(ambiguous(reason)),
        }
    }

    /// Reads `what` at `path` (with `query`): a refusal to answer says nothing about the money.
    async fn read<T: DeserializeOwned>(
        &self,
        account: &Account,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> ConnectorResult<T> {
        match self.call::<T>(self.get(account, path).map(|r| r.query(query))).await? {
            Reply::Done(found) => Ok(found),
            Reply::Refused(error) => Err(ConnectorError::Ambiguous {
                connector: NAME.into(),
                reason: format!("could not read {what}: {}", error.to_payment_error().message),
                unclear: NoAnswer,
            }),
        }
    }

    /// Pages through the list at `path` (newest first, as Stripe lists) for the first object
    /// `wanted` picks. Stripe's lists are strongly consistent, unlike its search: an object not
    /// listed does not exist.
    async fn find<T: DeserializeOwned>(
        &self,
        account: &Account,
        path: &str,
        filters: &[(&str, String)],
        id: impl Fn(&T) -> &str,
        wanted: impl Fn(&T) -> bool,
    ) -> ConnectorResult<Option<T>> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = filters.to_vec();
            query.push(("limit", PAGE.to_string()));
            query.extend(after.take().map(|last| ("starting_after", last)));
            let page: List<T> = self.read(account, path, path, &query).await?;
            let last = page.data.last().map(|o| id(o).to_string());
            if let Some(found) = page.data.into_iter().find(&wanted) {
                return Ok(Some(found));
            }
            match (page.has_more, last) {
                (true, Some(last)) => after = Some(last),
                _ => return Ok(None),
            }
        }
        Err(ConnectorError::Ambiguous {
            connector: NAME.into(),
            reason: format!("{path} has more than {} objects to look through", MAX_PAGES * PAGE),
            unclear: NoAnswer,
        })
    }

    /// The payment intent Stripe made for an attempt whose answer was lost: one carrying its
    /// `attempt_id`, created while its calls could reach Stripe (give or take the clock skew).
    async fn intent_of_attempt(
        &self,
        account: &Account,
        attempt_id: &str,
        window: &CallWindow,
    ) -> ConnectorResult<Option<PaymentIntent>> {
        let skew = Self::clock_skew(account);
        let created = [
            ("created[gte]", (window.from - skew).timestamp().to_string()),
            ("created[lte]", (window.until + skew).timestamp().to_string()),
        ];
        let carries = |i: &PaymentIntent| transformers::carries(&i.metadata, "attempt_id", attempt_id);
        self.find(account, "/v1/payment_intents", &created, |i: &PaymentIntent| &i.id, carries).await
    }

    /// The payment intent `id` as Stripe holds it now.
    async fn intent(&self, account: &Account, id: &str) -> ConnectorResult<PaymentOutcome> {
        let path = format!("/v1/payment_intents/{id}");
        Ok(self.read::<PaymentIntent>(account, &format!("payment intent {id}"), &path, &[]).await?.outcome())
    }

    /// The account's allowance for Stripe's clock (see [`CLOCK_SKEW_SECS`]).
    fn clock_skew(account: &Account) -> chrono::Duration {
        let secs = account.metadata.get("clock_skew_secs").and_then(serde_json::Value::as_i64);
        chrono::Duration::seconds(secs.filter(|s| *s >= 0).unwrap_or(CLOCK_SKEW_SECS))
    }

    fn intent_id<'a>(&self, id: Option<&'a str>) -> ConnectorResult<&'a str> {
        id.ok_or_else(|| self.not_supported("calls on an attempt Stripe never answered"))
    }

    /// A capture or void Stripe refused: nothing changed there.
    fn refused(error: &StripeError) -> ConnectorError {
        ConnectorError::Refused { connector: NAME.into(), reason: error.to_payment_error().message }
    }
}

#[async_trait]
impl Connector for Stripe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn required_credentials(&self) -> Vec<&str> {
        vec!["api_key"]
    }

    /// Every POST carries an Idempotency-Key made from the attempt and the step.
    fn repeats_safely(&self) -> bool {
        true
    }

    fn session_wallets(&self) -> Vec<String> {
        vec!["google_pay".into(), "apple_pay".into()]
    }

    async fn session_token(&self, account: &Account, req: &SessionTokenRequest<'_>) -> ConnectorResult<SessionToken> {
        match req.wallet {
            "google_pay" => {
                let key = account.metadata.get("publishable_key").and_then(|v| v.as_str()).ok_or_else(|| {
                    session::misconfigured(account, "Google Pay needs metadata.publishable_key".into())
                })?;
                let gateway = BTreeMap::from([
                    ("gateway".to_string(), NAME.to_string()),
                    ("stripe:version".to_string(), API_VERSION.to_string()),
                    ("stripe:publishableKey".to_string(), key.to_string()),
                ]);
                session::google_pay(account, req, gateway)
            }
            "apple_pay" => session::apple_pay(account, req),
            other => Err(self.not_supported(&format!("{other} session tokens"))),
        }
    }

    async fn authorize(&self, account: &Account, req: &AuthorizeRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let PaymentMethod::Card(card) = req.payment_method else {
            return Err(self.not_supported("payments other than cards"));
        };
        // A card saved with this account's token is charged by it; any other card goes inline.
        let charged = match card.connector_tokens.get(&account.name) {
            Some(saved) => Charged::Saved { payment_method: &saved.token, customer: saved.customer.as_deref() },
            None => Charged::Card(card),
        };
        let back = req.return_url.map(|_| return_url(&self.public_url, req.payment_id));
        let form = PaymentIntentForm::new(req, charged, back.as_deref());
        let key = format!("{}:payment_intent", req.attempt_id);
        Ok(match self.call::<PaymentIntent>(self.post(account, "/v1/payment_intents", &key, &form)).await? {
            Reply::Done(intent) => intent.outcome(),
            Reply::Refused(error) => transformers::declined(&error),
        })
    }

    /// The card as a Stripe payment method; one for many payments is attached to a Stripe
    /// customer of its own, as Stripe requires for reuse.
    async fn tokenize(&self, account: &Account, req: &TokenizeRequest<'_>) -> ConnectorResult<ProviderToken> {
        let id = req.payment_method_id;
        let form = CardForm::payment_method(req.card);
        let path = "/v1/payment_methods";
        let method = match self
            .call::<PaymentMethodResponse>(self.post(account, path, &format!("{id}:payment_method"), &form))
            .await?
        {
            Reply::Done(method) => method.id,
            Reply::Refused(error) => return Err(Self::refused(&error)),
        };
        if !req.reusable {
            return Ok(ProviderToken { token: method, customer: None });
        }
        let form = CustomerForm::new(req);
        let customer = match self
            .call::<CustomerResponse>(self.post(account, "/v1/customers", &format!("{id}:customer"), &form))
            .await?
        {
            Reply::Done(customer) => customer.id,
            Reply::Refused(error) => return Err(Self::refused(&error)),
        };
        let path = format!("/v1/payment_methods/{method}/attach");
        let form = AttachForm::new(&customer);
        match self.call::<PaymentMethodResponse>(self.post(account, &path, &format!("{id}:attach"), &form)).await? {
            Reply::Done(_) => Ok(ProviderToken { token: method, customer: Some(customer) }),
            Reply::Refused(error) => Err(Self::refused(&error)),
        }
    }

    /// Reads the payment intent; one whose answer was lost before Stripe named it is looked for
    /// by the attempt id it carries, and is "never received" (failed, nothing charged) only when
    /// no intent carries it and no call for it can still arrive.
    async fn sync(&self, account: &Account, req: &SyncRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        if let Some(id) = req.connector_payment_id {
            return self.intent(account, id).await;
        }
        let window = req.window.ok_or_else(|| self.not_supported("syncing an attempt Stripe never answered"))?;
        let settled = window.until + Self::clock_skew(account);
        match self.intent_of_attempt(account, req.attempt_id, &window).await? {
            Some(intent) => Ok(intent.outcome()),
            None if Utc::now() > settled => Ok(transformers::payment_not_received()),
            None => Err(ConnectorError::Ambiguous {
                connector: NAME.into(),
                reason: format!("no payment intent found yet; its call may arrive until {settled}"),
                unclear: NoAnswer,
            }),
        }
    }

    /// The payer is back from Stripe's authentication page: the intent says how it went (what
    /// Stripe appended to the return address is not trusted for that).
    async fn complete_authorize(
        &self,
        account: &Account,
        req: &CompleteAuthorizeRequest<'_>,
    ) -> ConnectorResult<PaymentOutcome> {
        self.intent(account, self.intent_id(req.connector_payment_id)?).await
    }

    async fn capture(&self, account: &Account, req: &CaptureRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let id = self.intent_id(req.connector_payment_id)?;
        let key = format!("{}:capture:{}", req.attempt_id, req.amount_to_capture);
        let path = format!("/v1/payment_intents/{id}/capture");
        match self.call::<PaymentIntent>(self.post(account, &path, &key, &CaptureForm::new(req))).await? {
            Reply::Done(intent) => Ok(intent.outcome()),
            Reply::Refused(error) => Err(Self::refused(&error)),
        }
    }

    async fn void(&self, account: &Account, req: &VoidRequest<'_>) -> ConnectorResult<PaymentOutcome> {
        let id = self.intent_id(req.connector_payment_id)?;
        let key = format!("{}:void", req.attempt_id);
        let path = format!("/v1/payment_intents/{id}/cancel");
        match self.call::<PaymentIntent>(self.post(account, &path, &key, &CancelForm)).await? {
            Reply::Done(intent) => Ok(intent.outcome()),
            Reply::Refused(error) => Err(Self::refused(&error)),
        }
    }

    async fn refund(&self, account: &Account, req: &RefundRequest<'_>) -> ConnectorResult<RefundOutcome> {
        let id = self.intent_id(req.connector_payment_id)?;
        let form = RefundForm::new(req, id);
        Ok(match self.call::<Refund>(self.post(account, "/v1/refunds", req.refund_id, &form)).await? {
            Reply::Done(refund) => refund.outcome(),
            Reply::Refused(error) => transformers::refund_refused(&error),
        })
    }

    async fn webhook(&self, account: &Account, req: &WebhookRequest<'_>) -> Result<WebhookEvent, WebhookError> {
        let secret = account
            .credentials
            .get("webhook_secret")
            .ok_or_else(|| WebhookError::BadSignature(format!("account `{}` has no webhook_secret", account.name)))?;
        webhook::verify(secret.expose(), req, chrono::Utc::now().timestamp())?;
        webhook::event(req.body)
    }

    /// Reads the refund; one whose answer was lost is looked for among the payment's refunds by
    /// the refund id it carries, and is "never received" only when none carries it and its call
    /// can no longer arrive.
    async fn refund_sync(&self, account: &Account, req: &RefundSyncRequest<'_>) -> ConnectorResult<RefundOutcome> {
        if let Some(id) = req.connector_refund_id {
            let path = format!("/v1/refunds/{id}");
            return Ok(self.read::<Refund>(account, &format!("refund {id}"), &path, &[]).await?.outcome());
        }
        let (Some(intent), Some(window)) = (req.connector_payment_id, req.window) else {
            return Err(self.not_supported("syncing a refund Stripe never answered"));
        };
        let of_intent = [("payment_intent", intent.to_string())];
        let carries = |r: &Refund| transformers::carries(&r.metadata, "refund_id", req.refund_id);
        match self.find(account, "/v1/refunds", &of_intent, |r: &Refund| &r.id, carries).await? {
            Some(refund) => Ok(refund.outcome()),
            None if Utc::now() > window.until + Self::clock_skew(account) => Ok(transformers::refund_not_received()),
            // Its call may still arrive: pending, as it was.
            None => Ok(RefundOutcome { status: RefundStatus::Pending, connector_refund_id: None, error: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectorAccountConfig;

    fn account(base_url: Option<&str>) -> Account {
        Account::from_config(
            "p",
            &ConnectorAccountConfig {
                name: "stripe".into(),
                connector: NAME.into(),
                enabled: true,
                base_url: base_url.map(Into::into),
                credentials: Default::default(),
                metadata: Default::default(),
                rate_limit: None,
            },
        )
    }

    #[test]
    fn a_call_goes_under_the_accounts_base_url_keeping_its_path() {
        let url = |base| Stripe::url(&account(base), "/v1/payment_intents").map(String::from);
        assert_eq!(url(None).unwrap(), "https://api.stripe.com/v1/payment_intents");
        assert_eq!(url(Some("http://127.0.0.1:9")).unwrap(), "http://127.0.0.1:9/v1/payment_intents");
        assert_eq!(url(Some("http://127.0.0.1:9/stripe/")).unwrap(), "http://127.0.0.1:9/stripe/v1/payment_intents");
        // Never Stripe's own address instead: the call is refused before anything is sent.
        assert!(matches!(url(Some("http://exa mple")), Err(ConnectorError::Unavailable { .. })));
    }
}
