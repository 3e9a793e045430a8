//! Payment-method sessions: the merchant's server opens one for a customer, and client-side code
//! holding only the publishable key and the session's client secret saves a card through it,
//! until the session expires, and changes or deletes its customer's saved cards (named by the
//! tokens it hands out, the methods' ids). With `psp_tokenization`, the card also becomes a
//! payment method at the named connector account (a Stripe payment method), kept as the saved
//! method's token.

use chrono::{Duration, Utc};

use crate::connectors::Account;
use crate::domain::payment::Address;
use crate::domain::payment_method::{MethodSession, PspTokenization, StorageType, TokenizationType};
use crate::payment_methods::{CardChange, MethodOwner, NewCard, Shown};
use crate::payments::{Context, Error, Scope};
use crate::{customers, ids};

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

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("payment method session `{id}`"))
}

/// The account `psp` names in the scope's profile.
fn psp_account<'a>(
    cx: &'a Context,
    merchant_id: &str,
    profile_id: &str,
    psp: &PspTokenization,
) -> Result<&'a Account, Error> {
    cx.snapshot
        .directory
        .profile(merchant_id, profile_id)
        .and_then(|p| p.account(&psp.connector_id))
        .filter(|a| a.enabled)
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "psp_tokenization.connector_id: `{}` is no enabled connector account of this profile",
                psp.connector_id
            ))
        })
}

pub async fn create(cx: &Context, scope: &Scope, new: NewSession) -> Result<MethodSession, Error> {
    customers::retrieve(cx, &scope.merchant_id, &new.customer_id).await?;
    let profile_id = scope.profile_needed()?;
    if let Some(psp) = &new.psp_tokenization {
        psp_account(cx, &scope.merchant_id, profile_id, psp)?;
    }
    let now = Utc::now();
    let session = MethodSession {
        id: cx.ids.payment_method_session(),
        merchant_id: scope.merchant_id.clone(),
        profile_id: profile_id.to_string(),
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
    cx.store.insert_method_session(&session).await?;
    Ok(session)
}

/// The session as the merchant's server reads it (secret key, its profile).
pub async fn retrieve(cx: &Context, scope: &Scope, id: &str) -> Result<MethodSession, Error> {
    let session = cx
        .store
        .find_method_session(id, &scope.merchant_id)
        .await?
        .filter(|s| scope.covers(&s.profile_id))
        .ok_or_else(|| not_found(id))?;
    if session.is_expired(Utc::now()) {
        return Err(Error::InvalidState(format!(
            "payment method session {id} expired at {}",
            session.expires_at.to_rfc3339()
        )));
    }
    Ok(session)
}

/// The session as client-side code opens it: the merchant's publishable key and this session's
/// client secret, while it lasts.
pub async fn open(cx: &Context, merchant_id: &str, secret: &str, id: &str) -> Result<MethodSession, Error> {
    let session = cx.store.find_method_session(id, merchant_id).await?.ok_or_else(|| not_found(id))?;
    crate::payments::context::client_secret(
        Some(secret),
        &session.client_secret,
        session.expires_at,
        "payment method session",
    )?;
    Ok(session)
}

/// Saves the card for the session's customer, tokenized at its PSP when it names one. A session
/// saves one card.
pub async fn confirm(
    cx: &Context,
    merchant_id: &str,
    secret: &str,
    id: &str,
    card: NewCard,
) -> Result<(MethodSession, Shown), Error> {
    let mut session = open(cx, merchant_id, secret, id).await?;
    if !session.payment_method_ids.is_empty() {
        return Err(Error::InvalidState(format!("payment method session {id} has saved its card already")));
    }
    let psp = match &session.psp_tokenization {
        Some(psp) => Some((
            psp_account(cx, &session.merchant_id, &session.profile_id, psp)?,
            psp.tokenization_type == TokenizationType::MultiUse,
        )),
        None => None,
    };
    let owner =
        MethodOwner { customer_id: session.customer_id.clone(), billing: session.billing.clone(), metadata: None };
    let saved = super::create(cx, merchant_id, owner, card, session.storage_type, psp).await?;
    if !cx.store.add_session_method(&session.id, &saved.method.id).await? {
        // Another confirmation won: this card is not the session's, so it is not kept.
        super::delete(cx, merchant_id, &saved.method.id).await?;
        return Err(Error::InvalidState(format!("payment method session {id} has saved its card already")));
    }
    session.payment_method_ids.push(saved.method.id.clone());
    Ok((session, saved))
}

/// The method the session saved, if it has saved one, as shown.
pub async fn saved(cx: &Context, session: &MethodSession) -> Result<Option<Shown>, Error> {
    let Some(id) = session.payment_method_ids.first() else { return Ok(None) };
    match cx.store.find_payment_method(id, &session.merchant_id).await? {
        Some(method) => Ok(Some(super::show(cx, method).await)),
        None => Ok(None),
    }
}

/// Changes a saved card of the session's customer: `token` names it (a token the session handed
/// out is the method's id), the card the session saved unless given.
pub async fn update_saved(
    cx: &Context,
    merchant_id: &str,
    secret: &str,
    id: &str,
    token: Option<&str>,
    change: CardChange,
) -> Result<(MethodSession, Shown), Error> {
    let session = open(cx, merchant_id, secret, id).await?;
    let token = match token.or(session.payment_method_ids.first().map(String::as_str)) {
        Some(token) => token.to_string(),
        None => {
            return Err(Error::InvalidRequest(format!(
                "payment_method_token: payment method session {id} has saved no card; name one of its customer's"
            )))
        }
    };
    let method = super::update_card(cx, merchant_id, &token, Some(&session.customer_id), change).await?;
    Ok((session, method))
}

/// Deletes a saved method of the session's customer, named by `token`; the session stays.
pub async fn delete_saved(cx: &Context, merchant_id: &str, secret: &str, id: &str, token: &str) -> Result<(), Error> {
    let session = open(cx, merchant_id, secret, id).await?;
    let method = super::retrieve(cx, merchant_id, token).await?;
    if method.customer_id != session.customer_id {
        // Another customer's method is as good as none to this session.
        return Err(Error::NotFound(format!("payment method `{token}`")));
    }
    super::delete(cx, merchant_id, token).await
}
