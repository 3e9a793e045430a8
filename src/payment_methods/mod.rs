//! Saved payment methods: a customer's cards, kept to be charged again. A method is created as an
//! intent awaiting its data (`create-intent`), then given a card (`confirm-intent`); or created
//! with its card in one call. The card is sealed in the vault; what may be shown of it (network,
//! last four digits, expiry) is kept beside it; its security code is never stored with it: a
//! `volatile` method keeps it in the vault for a while, until a payment uses it.

pub mod sessions;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::card::{CardSummary, Cvc};
use crate::connectors::{metered_with_card, Account, TokenizeRequest};
use crate::customers;
use crate::domain::payment::Address;
use crate::domain::payment_method::{
    CardDetails, ConnectorToken, MethodStatus, ProviderToken, SavedCard, SavedMethod, StorageType,
};
use crate::money::Currency;
use crate::payments::{Context, Error};
use crate::vault::{CvcUse, VaultCard};

/// A card as a customer hands it over to be saved.
#[derive(Debug)]
pub struct NewCard {
    pub card: VaultCard,
    pub cvc: Option<Cvc>,
    /// `credit` or `debit`.
    pub subtype: String,
    pub issuer_country: Option<String>,
    pub nick_name: Option<String>,
}

/// Who a new method is for, and what the merchant says about it.
#[derive(Debug)]
pub struct MethodOwner {
    pub customer_id: String,
    pub billing: Option<Address>,
    pub metadata: Option<Map<String, Value>>,
}

/// What is known of a saved method's security code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// A persistent method keeps none.
    NotKept,
    /// A volatile method's code, held until then.
    Held(DateTime<Utc>),
    /// A volatile method without one: none was given, it expired, or a payment used it.
    Gone,
    /// Redis did not answer: whether the method holds a code cannot be told.
    Unknown,
}

/// A saved method with what is known of its code: what is shown of it.
#[derive(Debug)]
pub struct Shown {
    pub method: SavedMethod,
    pub code: CodeState,
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("payment method `{id}`"))
}

fn new_method(cx: &Context, merchant_id: &str, owner: MethodOwner, storage_type: StorageType) -> SavedMethod {
    let now = Utc::now();
    SavedMethod {
        id: cx.ids.payment_method(),
        merchant_id: merchant_id.to_string(),
        customer_id: owner.customer_id,
        status: MethodStatus::AwaitingData,
        payment_method_type: None,
        payment_method_subtype: None,
        storage_type,
        card: None,
        billing: owner.billing,
        metadata: owner.metadata,
        connector_tokens: Vec::new(),
        created_at: now,
        modified_at: now,
        last_used_at: None,
    }
}

/// Gives `method` the card: what is shown of it.
fn fill(method: &mut SavedMethod, new: &NewCard, storage_type: StorageType) {
    let card = &new.card;
    method.status = MethodStatus::Active;
    method.payment_method_type = Some("card".into());
    method.payment_method_subtype = Some(new.subtype.clone());
    method.storage_type = storage_type;
    method.card = Some(SavedCard {
        summary: CardSummary::of(&card.number, card.expiry, card.holder_name.clone()),
        issuer_country: new.issuer_country.clone(),
        nick_name: new.nick_name.clone(),
    });
    method.modified_at = Utc::now();
}

/// Keeps the code given with a card for method `id`, when the method is volatile. This comes
/// before anything else a save does: where Redis cannot keep it, the save fails and neither a
/// provider nor the database hears of the card.
async fn keep_code(cx: &Context, id: &str, storage_type: StorageType, cvc: Option<&Cvc>) -> Result<CodeState, Error> {
    match (storage_type, cvc) {
        (StorageType::Persistent, _) => Ok(CodeState::NotKept),
        (StorageType::Volatile, None) => Ok(CodeState::Gone),
        (StorageType::Volatile, Some(cvc)) => {
            Ok(cx.vault.keep_cvc(id, cvc, Utc::now()).await?.map_or(CodeState::Gone, CodeState::Held))
        }
    }
}

/// The rest of a save whose code was kept as `code`: should it fail, the code is forgotten.
async fn or_forget<T>(
    cx: &Context,
    id: &str,
    code: CodeState,
    rest: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let result = rest.await;
    if result.is_err() && matches!(code, CodeState::Held(_)) {
        forget(cx, id).await;
    }
    result
}

/// Forgets the code of method `id`, which nothing can pay with any more. Should Redis not
/// answer, the code lapses at its expiry.
async fn forget(cx: &Context, id: &str) {
    if let Err(e) = cx.vault.forget_cvc(id).await {
        tracing::warn!(payment_method_id = %id, error = %e, "a security code could not be forgotten; it lapses at its expiry");
    }
}

/// What is known of the codes of `methods`, in their order. Redis is asked once, and only
/// for volatile methods.
async fn codes(cx: &Context, methods: &[SavedMethod]) -> Vec<CodeState> {
    let volatile: Vec<&str> =
        methods.iter().filter(|m| m.storage_type == StorageType::Volatile).map(|m| m.id.as_str()).collect();
    let mut expiries = cx.vault.cvc_expiries(&volatile, Utc::now()).await.map(Vec::into_iter);
    methods
        .iter()
        .map(|m| match (m.storage_type, &mut expiries) {
            (StorageType::Persistent, _) => CodeState::NotKept,
            (StorageType::Volatile, Ok(expiries)) => expiries.next().flatten().map_or(CodeState::Gone, CodeState::Held),
            (StorageType::Volatile, Err(_)) => CodeState::Unknown,
        })
        .collect()
}

/// `methods` as shown, with what is known of their codes.
pub async fn shown(cx: &Context, methods: Vec<SavedMethod>) -> Vec<Shown> {
    let codes = codes(cx, &methods).await;
    methods.into_iter().zip(codes).map(|(method, code)| Shown { method, code }).collect()
}

/// `method` as shown, with what is known of its code.
pub async fn show(cx: &Context, method: SavedMethod) -> Shown {
    let code = codes(cx, std::slice::from_ref(&method)).await.pop().unwrap_or(CodeState::Unknown);
    Shown { method, code }
}

/// A method awaiting its card, for an existing customer of the merchant.
pub async fn create_intent(cx: &Context, merchant_id: &str, owner: MethodOwner) -> Result<Shown, Error> {
    customers::retrieve(cx, merchant_id, &owner.customer_id).await?;
    let method = new_method(cx, merchant_id, owner, StorageType::Persistent);
    cx.store.insert_payment_method(&method, None).await?;
    Ok(Shown { method, code: CodeState::NotKept })
}

/// A method with its card, in one call. With `tokenize_at` (an account, and whether the token is
/// for many payments), the card is first made a payment method of that account's provider, whose
/// token later payments through the account charge; if the provider does not take it, nothing is
/// saved.
pub async fn create(
    cx: &Context,
    merchant_id: &str,
    owner: MethodOwner,
    new: NewCard,
    storage_type: StorageType,
    tokenize_at: Option<(&Account, bool)>,
) -> Result<Shown, Error> {
    customers::retrieve(cx, merchant_id, &owner.customer_id).await?;
    let mut method = new_method(cx, merchant_id, owner, storage_type);
    let sealed = cx.vault.seal(&method.id, &new.card)?;
    let id = method.id.clone();
    let code = keep_code(cx, &id, storage_type, new.cvc.as_ref()).await?;
    or_forget(cx, &id, code, async {
        if let Some((account, reusable)) = tokenize_at {
            let token = tokenize(cx, account, &method.id, &new, reusable).await?;
            method.connector_tokens.push(ConnectorToken { account: account.name.clone(), token });
        }
        fill(&mut method, &new, storage_type);
        Ok(cx.store.insert_payment_method(&method, Some(&sealed)).await?)
    })
    .await?;
    Ok(Shown { method, code })
}

async fn tokenize(
    cx: &Context,
    account: &Account,
    id: &str,
    new: &NewCard,
    reusable: bool,
) -> Result<ProviderToken, Error> {
    let connector = cx
        .snapshot
        .registry
        .get(&account.connector)
        .ok_or_else(|| Error::Internal(format!("connector `{}` is not registered", account.connector).into()))?;
    let card = CardDetails {
        number: new.card.number.clone(),
        cvc: new.cvc.clone(),
        expiry: new.card.expiry,
        holder_name: new.card.holder_name.clone(),
        issuing_country: new.issuer_country.clone(),
        connector_tokens: Default::default(),
    };
    let request = TokenizeRequest { payment_method_id: id, card: &card, reusable };
    metered_with_card(account, "tokenize", Some(request.card), connector.tokenize(account, &request))
        .await
        .map_err(Error::from)
}

/// Gives a method created by `create_intent` its card.
pub async fn confirm_intent(
    cx: &Context,
    merchant_id: &str,
    id: &str,
    customer_id: Option<&str>,
    new: NewCard,
) -> Result<Shown, Error> {
    let mut method = retrieve(cx, merchant_id, id).await?;
    if customer_id.is_some_and(|c| c != method.customer_id) {
        return Err(Error::InvalidRequest(format!("customer_id: payment method {id} belongs to another customer")));
    }
    if method.status != MethodStatus::AwaitingData {
        return Err(Error::InvalidState(format!("payment method {id} has its data already")));
    }
    let sealed = cx.vault.seal(&method.id, &new.card)?;
    let storage_type = method.storage_type;
    let code = keep_code(cx, id, storage_type, new.cvc.as_ref()).await?;
    fill(&mut method, &new, storage_type);
    or_forget(cx, id, code, async {
        match cx.store.activate_payment_method(&method, &sealed).await? {
            true => Ok(()),
            false => Err(Error::InvalidState(format!("payment method {id} has its data already"))),
        }
    })
    .await?;
    Ok(Shown { method, code })
}

/// The merchant's payment method `id`; another merchant's is answered like one that does not exist.
pub async fn retrieve(cx: &Context, merchant_id: &str, id: &str) -> Result<SavedMethod, Error> {
    cx.store.find_payment_method(id, merchant_id).await?.ok_or_else(|| not_found(id))
}

/// What an update changes in a saved card: its holder's name, and its nick name and security code
/// when given.
#[derive(Debug)]
pub struct CardChange {
    pub holder_name: Option<String>,
    pub nick_name: Option<String>,
    pub cvc: Option<Cvc>,
}

/// Changes a saved card: the holder's name is sealed with it again, the code kept by a volatile
/// method only (first: where Redis cannot keep it, nothing changes). `customer_id` (a session's)
/// must own the method.
pub async fn update_card(
    cx: &Context,
    merchant_id: &str,
    id: &str,
    customer_id: Option<&str>,
    change: CardChange,
) -> Result<Shown, Error> {
    let mut method = retrieve(cx, merchant_id, id).await?;
    if customer_id.is_some_and(|c| c != method.customer_id) {
        return Err(not_found(id));
    }
    let Some(saved) = method.card.as_mut().filter(|_| method.status == MethodStatus::Active) else {
        return Err(Error::InvalidState(format!("payment method {id} has no card yet")));
    };
    if change.cvc.is_some() && method.storage_type == StorageType::Persistent {
        return Err(Error::InvalidRequest(format!(
            "payment_method_data.card.card_cvc: payment method {id} is persistent and keeps no security code"
        )));
    }
    let sealed = cx.store.sealed_card(id).await?.ok_or_else(|| not_found(id))?;
    let mut card = cx.vault.open(id, &sealed)?;
    card.holder_name = change.holder_name;
    let sealed = cx.vault.seal(id, &card)?;
    saved.summary = CardSummary::of(&card.number, card.expiry, card.holder_name.clone());
    if change.nick_name.is_some() {
        saved.nick_name = change.nick_name;
    }
    method.modified_at = Utc::now();
    let kept = match &change.cvc {
        Some(cvc) => Some(keep_code(cx, id, method.storage_type, Some(cvc)).await?),
        None => None,
    };
    or_forget(cx, id, kept.unwrap_or(CodeState::Gone), async {
        match cx.store.update_payment_method_card(&method, &sealed).await? {
            true => Ok(()),
            false => Err(not_found(id)),
        }
    })
    .await?;
    Ok(match kept {
        Some(code) => Shown { method, code },
        None => show(cx, method).await,
    })
}

pub async fn delete(cx: &Context, merchant_id: &str, id: &str) -> Result<(), Error> {
    if !cx.store.delete_payment_method(id, merchant_id).await? {
        return Err(not_found(id));
    }
    forget(cx, id).await;
    Ok(())
}

/// A way to pay a profile offers: a payment method type and subtype, and the connectors of the
/// accounts that take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub payment_method_type: String,
    pub payment_method_subtype: String,
    pub connectors: Vec<String>,
}

/// How a profile's payments (in `currency`, when known) may be paid, each way once, in the order
/// of its enabled accounts: what their connectors take, and as `wallet`, the wallets they give
/// session tokens for (what `/payments/session_tokens` asks them for).
pub fn offered(cx: &Context, merchant_id: &str, profile_id: &str, currency: Option<Currency>) -> Vec<Offered> {
    let mut offered: Vec<Offered> = Vec::new();
    let Some(profile) = cx.snapshot.directory.profile(merchant_id, profile_id) else { return offered };
    for account in profile.accounts.iter().filter(|a| a.enabled) {
        let Some(connector) = cx.snapshot.registry.get(&account.connector) else { continue };
        if currency.is_some_and(|c| !connector.takes_currency(c)) {
            continue;
        }
        let wallets = connector.session_wallets().into_iter().map(|w| ("wallet".to_string(), w));
        for (kind, subtype) in connector.payment_methods().into_iter().chain(wallets) {
            let way = offered.iter_mut().find(|o| o.payment_method_type == kind && o.payment_method_subtype == subtype);
            match way {
                Some(way) if way.connectors.contains(&account.connector) => {}
                Some(way) => way.connectors.push(account.connector.clone()),
                None => offered.push(Offered {
                    payment_method_type: kind,
                    payment_method_subtype: subtype,
                    connectors: vec![account.connector.clone()],
                }),
            }
        }
    }
    offered
}

/// A customer's saved methods, newest first, and which is their default.
pub async fn for_customer(
    cx: &Context,
    merchant_id: &str,
    customer_id: &str,
) -> Result<(Vec<SavedMethod>, Option<String>), Error> {
    let customer = customers::retrieve(cx, merchant_id, customer_id).await?;
    let methods = cx.store.customer_payment_methods(merchant_id, customer_id).await?;
    Ok((methods, customer.default_payment_method_id))
}

/// The card of a saved method, for a payment of `customer_id`: it must be that customer's, and
/// have its card. Its security code comes along while a volatile method still holds it, with
/// which code it is (a payment that sends it uses it up). A volatile method's payment is not
/// made when Redis cannot say whether it holds one (`CodesUnavailable`); a persistent method
/// never asks.
pub async fn card_for_payment(
    cx: &Context,
    merchant_id: &str,
    id: &str,
    customer_id: Option<&str>,
) -> Result<(SavedMethod, CardDetails, Option<CvcUse>), Error> {
    let Some(customer_id) = customer_id else {
        return Err(Error::InvalidRequest(
            "customer_id: a payment with a saved payment_method_id must name the customer it belongs to".into(),
        ));
    };
    let method = retrieve(cx, merchant_id, id).await?;
    if method.customer_id != customer_id {
        // Another customer's method is as good as none to this payment.
        return Err(not_found(id));
    }
    if method.status != MethodStatus::Active {
        return Err(Error::InvalidState(format!("payment method {id} has no card yet")));
    }
    let sealed = cx.store.sealed_card(id).await?.ok_or_else(|| not_found(id))?;
    let card = cx.vault.open(id, &sealed)?;
    let kept = match method.storage_type {
        StorageType::Persistent => None,
        StorageType::Volatile => cx.vault.cvc(id, Utc::now()).await?,
    };
    let (cvc, used) = kept.map(|k| (k.cvc, k.used)).unzip();
    let issuing_country = method.card.as_ref().and_then(|c| c.issuer_country.clone());
    let details = CardDetails {
        number: card.number,
        cvc,
        expiry: card.expiry,
        holder_name: card.holder_name,
        issuing_country,
        connector_tokens: method.connector_tokens.iter().map(|t| (t.account.clone(), t.token.clone())).collect(),
    };
    Ok((method, details, used))
}
