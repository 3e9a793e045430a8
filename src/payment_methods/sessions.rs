//! Payment-method sessions: the merchant's server opens one for a customer, and client-side code
//! holding only the publishable key and the session's client secret saves a card through it,
//! until the session expires. With `psp_tokenization`, the card also becomes a payment method at
//! the named connector account (a Stripe payment method), kept as the saved method's token.

use chrono::{Duration, Utc};

use crate::api::auth::{self, Caller};
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::connectors::Account;
use crate::customers;
use crate::domain::payment::Address;
use crate::domain::payment_method::MethodSession;
use crate::domain::payment_method::PspTokenization;
use crate::domain::payment_method::TokenizationType;
use crate::domain::payment_method::{SavedMethod, StorageType};
use crate::ids;
use crate::payment_methods::{MethodOwner, NewCard};

#[derive(Debug)]
pub struct NewSession {
    pub customer_id: String,
    pub billing: Option<Address>,
    pub return_url: Option<String>,
    pub expires_in_secs: u32,
    pub storage_type: StorageType,
    pub psp_tokenization: Option<PspTokenization>,
    pub keep_alive: bool,
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("payment method session `{id}`"))
}

/// The account `psp` names in the caller's profile.
fn psp_account<'a>(
    state: &'a AppState,
    merchant_id: &str,
    profile_id: &str,
    psp: &PspTokenization,
) -> Result<&'a Account, ApiError> {
    state
        .directory
        .profile(merchant_id, profile_id)
        .and_then(|p| p.account(&psp.connector_id))
        .filter(|a| a.enabled)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "psp_tokenization.connector_id: `{}` is no enabled connector account of this profile",
                psp.connector_id
            ))
        })
}

pub async fn create(state: &AppState, caller: &Caller, new: NewSession) -> Result<MethodSession, ApiError> {
    customers::retrieve(state, &caller.merchant_id, &new.customer_id).await?;
    if let Some(psp) = &new.psp_tokenization {
        psp_account(state, &caller.merchant_id, &caller.profile_id, psp)?;
    }
    let now = Utc::now();
    let session = MethodSession {
        id: state.ids.payment_method_session(),
        merchant_id: caller.merchant_id.clone(),
        profile_id: caller.profile_id.clone(),
        customer_id: new.customer_id,
        client_secret: ids::client_secret(),
        expires_at: now + Duration::seconds(i64::from(new.expires_in_secs)),
        storage_type: new.storage_type,
        billing: new.billing,
        return_url: new.return_url,
        psp_tokenization: new.psp_tokenization,
        keep_alive: new.keep_alive,
        payment_method_ids: Vec::new(),
        created_at: now,
    };
    state.store.insert_method_session(&session).await?;
    Ok(session)
}

/// The session as the merchant's server reads it (secret key, its profile).
pub async fn retrieve(state: &AppState, caller: &Caller, id: &str) -> Result<MethodSession, ApiError> {
    let session = state
        .store
        .find_method_session(id, &caller.merchant_id)
        .await?
        .filter(|s| s.profile_id == caller.profile_id)
        .ok_or_else(|| not_found(id))?;
    if session.is_expired(Utc::now()) {
        return Err(ApiError::InvalidState(format!(
            "payment method session {id} expired at {}",
            session.expires_at.to_rfc3339()
        )));
    }
    Ok(session)
}

/// The session as client-side code opens it: the merchant's publishable key and this session's
/// client secret, while it lasts.
pub async fn open(state: &AppState, merchant_id: &str, secret: &str, id: &str) -> Result<MethodSession, ApiError> {
    let session = state.store.find_method_session(id, merchant_id).await?.ok_or_else(|| not_found(id))?;
    auth::client_secret(Some(secret), &session.client_secret, session.expires_at, "payment method session")?;
    Ok(session)
}

/// Saves the card for the session's customer, tokenized at its PSP when it names one. A session
/// saves one card.
pub async fn confirm(
    state: &AppState,
    merchant_id: &str,
    secret: &str,
    id: &str,
    card: NewCard,
) -> Result<(MethodSession, SavedMethod), ApiError> {
    let mut session = open(state, merchant_id, secret, id).await?;
    if !session.payment_method_ids.is_empty() {
        return Err(ApiError::InvalidState(format!("payment method session {id} has saved its card already")));
    }
    let psp = match &session.psp_tokenization {
        Some(psp) => Some((
            psp_account(state, &session.merchant_id, &session.profile_id, psp)?,
            psp.tokenization_type == TokenizationType::MultiUse,
        )),
        None => None,
    };
    let owner =
        MethodOwner { customer_id: session.customer_id.clone(), billing: session.billing.clone(), metadata: None };
    let method = super::create(state, merchant_id, owner, card, session.storage_type, psp).await?;
    if !state.store.add_session_method(&session.id, &method.id).await? {
        // Another confirmation won: this card is not the session's, so it is not kept.
        super::delete(state, merchant_id, &method.id).await?;
        return Err(ApiError::InvalidState(format!("payment method session {id} has saved its card already")));
    }
    session.payment_method_ids.push(method.id.clone());
    Ok((session, method))
}

/// The method the session saved, if it has saved one.
pub async fn saved(state: &AppState, session: &MethodSession) -> Result<Option<SavedMethod>, ApiError> {
    match session.payment_method_ids.first() {
        Some(id) => Ok(state.store.find_payment_method(id, &session.merchant_id).await?),
        None => Ok(None),
    }
}

pub async fn delete(state: &AppState, merchant_id: &str, secret: &str, id: &str) -> Result<(), ApiError> {
    open(state, merchant_id, secret, id).await?;
    if !state.store.delete_method_session(id, merchant_id).await? {
        return Err(not_found(id));
    }
    Ok(())
}
