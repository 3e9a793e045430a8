//! How a customer pays: the card for the length of one call, a saved method and what may be
//! shown of it, a provider's own token for it, and the session a client saves cards through.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::card::{CardNumber, CardSummary, Cvc, Expiry};
use crate::domain::payment::Address;

/// The card as it travels to a connector: in memory only, for the length of one call.
#[derive(Debug, Clone)]
pub struct CardDetails {
    pub number: CardNumber,
    /// None for a saved card whose code is no longer held: providers charge it without one.
    pub cvc: Option<Cvc>,
    pub expiry: Expiry,
    pub holder_name: Option<String>,
    /// As the merchant sent it; routing may use it.
    pub issuing_country: Option<String>,
    /// A saved card's tokens at providers, by connector account: the account charges its token
    /// instead of the card.
    pub connector_tokens: BTreeMap<String, ProviderToken>,
}

/// A card as a provider keeps it for reuse.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderToken {
    /// The provider's payment method (Stripe's `pm_…`).
    pub token: String,
    /// The provider's customer it is attached to, when reuse requires one (Stripe's `cus_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

#[derive(Debug, Clone)]
pub enum PaymentMethod {
    Card(CardDetails),
    /// Pay by bank: the payer chooses and authorises on the provider's page.
    OpenBanking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StorageType {
    /// Kept until deleted; the security code is not kept at all.
    Persistent,
    /// The security code is kept too, in memory, until `card_cvc_token_storage.expires_at`.
    Volatile,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Persistent => "persistent",
            StorageType::Volatile => "volatile",
        }
    }
}

impl FromStr for StorageType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "persistent" => Ok(StorageType::Persistent),
            "volatile" => Ok(StorageType::Volatile),
            other => Err(format!("unknown storage type `{other}`")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodStatus {
    /// Created by `create-intent`; no card yet.
    AwaitingData,
    Active,
}

impl MethodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodStatus::AwaitingData => "awaiting_data",
            MethodStatus::Active => "active",
        }
    }
}

impl FromStr for MethodStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "awaiting_data" => Ok(MethodStatus::AwaitingData),
            "active" => Ok(MethodStatus::Active),
            other => Err(format!("unknown payment method status `{other}`")),
        }
    }
}

/// What may be stored and shown of a saved card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCard {
    #[serde(flatten)]
    pub summary: CardSummary,
    pub issuer_country: Option<String>,
    pub nick_name: Option<String>,
}

/// A provider's own token for the card (a Stripe payment method), to charge it there directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorToken {
    /// The connector account that made it.
    pub account: String,
    #[serde(flatten)]
    pub token: ProviderToken,
}

#[derive(Debug, Clone)]
pub struct SavedMethod {
    pub id: String,
    pub merchant_id: String,
    pub customer_id: String,
    pub status: MethodStatus,
    pub payment_method_type: Option<String>,
    pub payment_method_subtype: Option<String>,
    pub storage_type: StorageType,
    pub card: Option<SavedCard>,
    pub billing: Option<Address>,
    pub metadata: Option<Map<String, Value>>,
    pub connector_tokens: Vec<ConnectorToken>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenizationType {
    SingleUse,
    MultiUse,
}

/// Where a session's cards are also tokenized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PspTokenization {
    pub tokenization_type: TokenizationType,
    /// The connector account, by name.
    pub connector_id: String,
}

#[derive(Debug, Clone)]
pub struct MethodSession {
    pub id: String,
    pub merchant_id: String,
    pub profile_id: String,
    pub customer_id: String,
    pub client_secret: String,
    pub expires_at: DateTime<Utc>,
    pub storage_type: StorageType,
    pub billing: Option<Address>,
    pub return_url: Option<String>,
    pub psp_tokenization: Option<PspTokenization>,
    pub keep_alive: bool,
    /// The methods saved through the session.
    pub payment_method_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl MethodSession {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}
