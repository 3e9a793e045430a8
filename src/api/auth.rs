//! Who is calling: a secret key names a merchant — in an `api-key` header, or as Hyperswitch's v2
//! clients send it, `Authorization: api-key=<key>` — and `X-Profile-Id` one of its profiles.
//! Without the header, a call acts in the merchant's only profile, or for a merchant with
//! several, in the profile of the object it names (a call that makes a new object must then name
//! one). Client-side code calls with the merchant's publishable key instead, which opens only
//! what a client secret opens too. Keys are recognised by `keys`; a secret key's call acts in the
//! payment core's `Scope` of that merchant and profile.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::api::state::{snapshot, AppState};
use crate::payments::Scope;

/// An authenticated caller: a merchant, acting for one of its profiles.
impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get("api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| authorization(parts, "api-key"))
            .ok_or(ApiError::Unauthorized)?;
        let live = snapshot(parts, state);
        let (index, merchant_id) = live.directory.keyring.find(key).ok_or(ApiError::Unauthorized)?;
        // Limited by which configured key it is: the key itself is never held.
        live.limits
            .check_api(&format!("sk:{merchant_id}:{index}"), merchant_id)
            .await
            .map_err(ApiError::RateLimited)?;
        let profile = match parts.headers.get("x-profile-id") {
            // A profile the key's merchant does not have is refused as the key would be:
            // another merchant's profile looks exactly like one that does not exist.
            Some(named) => {
                let named = named.to_str().map_err(|_| ApiError::InvalidHeader("X-Profile-Id"))?;
                Some(live.directory.profile(merchant_id, named).ok_or(ApiError::Unauthorized)?)
            }
            None => live.directory.only_profile(merchant_id),
        };
        Ok(Scope { merchant_id: merchant_id.to_string(), profile_id: profile.map(|p| p.id.clone()) })
    }
}

/// The caller of a call on one payment that client-side code may make too: the merchant's
/// server with its secret key, or a browser with the publishable key and the payment's client
/// secret.
pub enum PaymentCaller {
    Server(Scope),
    Client(ClientSecretCaller),
}

impl FromRequestParts<AppState> for PaymentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authorization(parts, "publishable-key") {
            Some(_) => ClientSecretCaller::from_request_parts(parts, state).await.map(PaymentCaller::Client),
            None => Scope::from_request_parts(parts, state).await.map(PaymentCaller::Server),
        }
    }
}

/// A call from client-side code: the `api-key` header holds a merchant's publishable key.
#[derive(Debug, Clone)]
pub struct ClientCaller {
    pub merchant_id: String,
}

impl FromRequestParts<AppState> for ClientCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts.headers.get("api-key").and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
        let live = snapshot(parts, state);
        let merchant_id = live.directory.publishable(key).ok_or(ApiError::Unauthorized)?;
        live.limits.check_api(&format!("pk:{merchant_id}"), merchant_id).await.map_err(ApiError::RateLimited)?;
        Ok(ClientCaller { merchant_id: merchant_id.to_string() })
    }
}

/// A client-side call for one object, as Hyperswitch's v2 SDK makes it:
/// `Authorization: publishable-key=<key>,client-secret=<secret>`. The secret is checked against
/// the object the call names (`client_secret`).
#[derive(Debug, Clone)]
pub struct ClientSecretCaller {
    pub merchant_id: String,
    pub client_secret: String,
}

impl FromRequestParts<AppState> for ClientSecretCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let field = |name: &str| authorization(parts, name);
        let key = field("publishable-key").ok_or(ApiError::Unauthorized)?;
        let live = snapshot(parts, state);
        let merchant_id = live.directory.publishable(key).ok_or(ApiError::Unauthorized)?;
        live.limits.check_api(&format!("pk:{merchant_id}"), merchant_id).await.map_err(ApiError::RateLimited)?;
        let client_secret = field("client-secret")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::ClientSecretInvalid("client_secret was not provided".into()))?;
        Ok(ClientSecretCaller { merchant_id: merchant_id.to_string(), client_secret: client_secret.to_string() })
    }
}

/// The field `name` of the `Authorization` header, which Hyperswitch's clients write as
/// `name=value` pairs separated by commas.
fn authorization<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    let header = parts.headers.get("authorization")?.to_str().ok()?;
    header.split(',').filter_map(|part| part.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}
