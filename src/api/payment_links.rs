//! Payment links: a hosted page a payer pays an intent on, for merchants who send a link rather
//! than build a checkout. The merchant's server asks for the link (`GET
//! /v2/payments/{id}/payment-link`); the page at it shows the merchant, the amount and the ways
//! the intent can be paid, takes the card in the browser and confirms with the publishable key
//! and the intent's client secret, so the card never passes through the merchant's server.
//!
//! The link is a bearer credential for one payment, as the client secret is: its last segment is
//! a one-way digest of the client secret, so the payment id alone (which travels in return URLs
//! and logs) opens nothing, and the secret itself is never in a URL. The page is rendered from the
//! stored intent at each visit: once the payment is final it shows the outcome and can never pay
//! again; once the intent has expired it says so.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::answer::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};

use super::error::ApiError;
use super::payments::PaymentId;
use super::redirection::{back_to_merchant, escape};
use crate::api::state::{AppState, Call};
use crate::domain::payment::{NextAction, Payment, PaymentIntent};
use crate::domain::status::IntentStatus;
use crate::payments::{self, Scope};

#[derive(OpenApi)]
#[openapi(paths(payment_link))]
pub(super) struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/payments/{id}/payment-link", get(payment_link))
        .route("/payment-links/{payment_id}/{payment_link_id}", get(page))
        .route("/payment-links/assets/page.js", get(script))
        .route("/payment-links/assets/page.css", get(style))
}

/// `GET /v2/payments/{id}/payment-link` (Hyperswitch's `PaymentLinkResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentLinkResponse {
    /// The page the payer pays on, under the daemon's public URL.
    #[schema(examples("https://pay.example.com/payment-links/12345_pay_0193/plink_9f2c41d07a6e3b58c1d2e4f6a7b8c9d0"))]
    link: String,
    /// The link's own id: a digest of the intent's client secret.
    #[schema(examples("plink_9f2c41d07a6e3b58c1d2e4f6a7b8c9d0"))]
    payment_link_id: String,
    /// Never given: there is no link meant for embedding in a merchant's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    secure_link: Option<String>,
}

/// Payments - Payment Link
///
/// The hosted page the payer pays this intent on: only for an intent created with
/// `payment_link_enabled: "Enable"` (`HE_02` otherwise). The link serves until the intent
/// expires, and shows the outcome once the payment is final.
#[utoipa::path(
    get,
    path = "/v2/payments/{id}/payment-link",
    tag = "Payments",
    operation_id = "Retrieve the Payment Link of a Payment",
    params(PaymentId),
    responses((status = 200, description = "The payment's link", body = PaymentLinkResponse)),
    security(("api_key" = []))
)]
async fn payment_link(
    state: axum::extract::State<AppState>,
    call: Call,
    caller: Scope,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let intent = payments::retrieve_intent(&call.core, &caller, &id).await?;
    if !intent.details.has_payment_link() {
        return Err(ApiError::NotFound(format!("payment link of payment {id}: it was created without one")));
    }
    let payment_link_id = link_id(&intent.client_secret);
    let link = format!("{}{}", state.public_url, path(&intent));
    Ok(Json(PaymentLinkResponse { link, payment_link_id, secure_link: None }).into_response())
}

/// The link's id: what of the client secret a URL may carry.
fn link_id(client_secret: &str) -> String {
    let digest = Sha256::new().chain_update(b"switchyard payment link\0").chain_update(client_secret).finalize();
    format!("plink_{}", hex::encode(&digest[..16]))
}

/// The page's path for an intent.
pub fn path(intent: &PaymentIntent) -> String {
    format!("/payment-links/{}/{}", intent.id, link_id(&intent.client_secret))
}

/// The page: whatever the link was opened for, the payer sees where the payment stands.
async fn page(call: Call, Path((payment_id, payment_link_id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let stored = call.core.store.find_intent_by_id(&payment_id).await?;
    // A wrong digest looks exactly like a payment that does not exist.
    let Some(intent) = stored.filter(|i| {
        i.details.has_payment_link()
            && bool::from(link_id(&i.client_secret).as_bytes().ct_eq(payment_link_id.as_bytes()))
    }) else {
        return Ok(shown(StatusCode::NOT_FOUND, "Payment link", &notice("This payment link is not valid.", None)));
    };
    // Read through the core, which marks an intent whose time ran out as expired.
    let payment = payments::retrieve(&call.core, &Scope::merchant(&intent.merchant_id), &payment_id).await?;
    let face = call.core.snapshot.directory.face(&intent.merchant_id);
    let merchant = face.map_or(intent.merchant_id.as_str(), |f| f.name.as_str());
    let title = format!("Pay {merchant}");
    let head = summary(merchant, &payment.intent);
    let intent = &payment.intent;
    let (status, body) = match intent.status {
        IntentStatus::RequiresPaymentMethod => match face.and_then(|f| f.publishable_key.as_deref()) {
            Some(key) => (StatusCode::OK, checkout(&call, &payment, key)),
            None => (StatusCode::NOT_FOUND, notice("This merchant takes no payments through links.", None)),
        },
        IntentStatus::Expired => (StatusCode::GONE, notice("This payment link has expired.", None)),
        IntentStatus::Succeeded | IntentStatus::PartiallyCaptured | IntentStatus::RequiresCapture => {
            (StatusCode::OK, notice("Payment successful. Thank you.", back_to_merchant(intent)))
        }
        IntentStatus::Failed => (StatusCode::OK, notice("The payment failed.", back_to_merchant(intent))),
        IntentStatus::Cancelled => (StatusCode::OK, notice("The payment was cancelled.", back_to_merchant(intent))),
        IntentStatus::Processing | IntentStatus::RequiresCustomerAction => (StatusCode::OK, under_way(&payment)),
    };
    Ok(shown(status, &title, &format!("{head}{body}")))
}

/// The merchant and what the payer is asked for.
fn summary(merchant: &str, intent: &PaymentIntent) -> String {
    format!(
        "<header><p class=\"merchant\" id=\"merchant\">{}</p><p class=\"amount\" id=\"amount\">{}</p>\
         <p class=\"reference\">Payment <span id=\"payment-id\">{}</span></p></header>",
        escape(merchant),
        escape(&amount(intent)),
        escape(&intent.id)
    )
}

/// The amount charged, in major units: `42.00 USD`.
fn amount(intent: &PaymentIntent) -> String {
    let currency = intent.amount.currency;
    let minor = intent.amount.net_amount();
    match currency.exponent() {
        0 => format!("{minor} {}", currency.code()),
        e => {
            let unit = 10_i64.pow(e);
            format!("{}.{:0width$} {}", minor / unit, minor % unit, currency.code(), width = e as usize)
        }
    }
}

/// A status line, and the way back to the merchant when there is one.
fn notice(text: &str, back: Option<String>) -> String {
    let back = back.map_or(String::new(), |url| {
        format!("<p><a class=\"button\" id=\"return\" href=\"{}\">Return to the merchant</a></p>", escape(&url))
    });
    format!("<section class=\"outcome\"><h1 id=\"outcome\">{}</h1>{back}</section>", escape(text))
}

/// A payment the payer or the provider still has to finish: the way on, if the provider gave one.
fn under_way(payment: &Payment) -> String {
    let next = payment.active_attempt().and_then(|a| a.next_action.as_ref());
    match next {
        Some(NextAction::RedirectToUrl { redirect_to_url }) => format!(
            "<section class=\"outcome\"><h1 id=\"outcome\">The payment waits for you.</h1>\
             <p><a class=\"button\" id=\"continue\" href=\"{}\">Continue</a></p></section>",
            escape(redirect_to_url)
        ),
        _ => notice("The payment is being processed. Reload this page to see how it ended.", None),
    }
}

/// The form, with what its script needs to confirm: the payment's id, the publishable key and
/// the client secret (data, never executed). A decline earlier on the same link is shown again.
fn checkout(call: &Call, payment: &Payment, publishable_key: &str) -> String {
    let intent = &payment.intent;
    let offered = crate::payment_methods::offered(
        &call.core,
        &intent.merchant_id,
        &intent.profile_id,
        Some(intent.amount.currency),
    );
    let takes = |kind: &str| offered.iter().any(|o| o.payment_method_type == kind);
    let declined = payment.active_attempt().and_then(|a| a.error.as_ref()).map(|e| declined(&e.message));
    let data = serde_json::json!({
        "payment_id": intent.id,
        "publishable_key": publishable_key,
        "client_secret": intent.client_secret,
    });
    // `<` escaped, so no value can close the script element.
    let data = data.to_string().replace('<', "\\u003c");
    let amount = escape(&amount(intent));
    let card = match takes("card") {
        true => format!(include_str!("payment_links/card.html"), amount = amount),
        false => String::new(),
    };
    let bank = match takes("open_banking") {
        true => include_str!("payment_links/bank.html"),
        false => "",
    };
    let none = match card.is_empty() && bank.is_empty() {
        true => "<p id=\"no-methods\">This payment cannot be paid online now.</p>",
        false => "",
    };
    let (alert, hidden) = match &declined {
        Some(text) => (escape(text), ""),
        None => (String::new(), " hidden"),
    };
    format!(
        "<div id=\"status\" class=\"alert\" role=\"alert\" aria-live=\"assertive\"{hidden}>{alert}</div>\
         {card}{bank}{none}<script type=\"application/json\" id=\"payment\">{data}</script>\
         <script src=\"/payment-links/assets/page.js\"></script>"
    )
}

/// What the payer reads after a refusal: the provider's words, and that they may try again.
fn declined(message: &str) -> String {
    format!("The payment was declined: {message} You can try again with another card.")
}

/// What the page may load and call: its own script and style, the daemon's API, nothing else.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A page of the link, with the headers that keep it to itself: its policy, no sniffing, no
/// referrer (the link is a credential), no copy kept by a cache, no framing.
fn shown(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/payment-links/assets/page.css\"></head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("payment_links/page.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("payment_links/page.css"))
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, text).into_response()
}
