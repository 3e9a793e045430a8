//! `GET /v2/payments/list`'s query string, as Hyperswitch's clients write it: a list's values
//! repeat its name (`status=succeeded&status=failed`) or are separated by commas, and created
//! times are bounded with `created.lt`, `created.gte`, ….

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use crate::card::CardNetwork;
use crate::domain::status::{AuthenticationType, IntentStatus};
use crate::money::Currency;

/// The filters, order and page a payments list asks for.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentListQuery {
    /// One payment.
    pub payment_id: Option<String>,
    /// Another of the merchant's profiles than the one in `X-Profile-Id`.
    pub profile_id: Option<String>,
    pub customer_id: Option<String>,
    /// The page after this payment, in the list's order.
    pub starting_after: Option<String>,
    /// The page before this payment, in the list's order.
    pub ending_before: Option<String>,
    /// How many to list, 10 unless given.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// How many to skip.
    #[param(minimum = 0)]
    pub offset: Option<u32>,
    /// Created at exactly this time.
    pub created: Option<DateTime<Utc>>,
    #[param(rename = "created.lt")]
    pub created_lt: Option<DateTime<Utc>>,
    #[param(rename = "created.gt")]
    pub created_gt: Option<DateTime<Utc>>,
    #[param(rename = "created.lte")]
    pub created_lte: Option<DateTime<Utc>>,
    #[param(rename = "created.gte")]
    pub created_gte: Option<DateTime<Utc>>,
    /// The least net amount.
    pub start_amount: Option<i64>,
    /// The greatest net amount.
    pub end_amount: Option<i64>,
    /// The active attempt's connector.
    pub connector: Option<Vec<String>>,
    #[param(value_type = Option<Vec<String>>)]
    pub currency: Option<Vec<Currency>>,
    pub status: Option<Vec<IntentStatus>>,
    /// The active attempt's payment method type (`card`, `open_banking`, …).
    pub payment_method_type: Option<Vec<String>>,
    pub payment_method_subtype: Option<Vec<String>>,
    pub authentication_type: Option<Vec<AuthenticationType>>,
    /// The active attempt's connector account.
    pub merchant_connector_id: Option<Vec<String>>,
    /// `created` (the default), `modified` or `amount`.
    pub order_on: Option<String>,
    /// `desc` (the default) or `asc`.
    pub order_by: Option<String>,
    /// Refused: the networks of cards are not kept in a form lists can filter on.
    pub card_network: Option<Vec<CardNetwork>>,
    pub merchant_order_reference_id: Option<String>,
}

impl PaymentListQuery {
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|e| ApiError::InvalidRequest(format!("query: {e}")))?;
        let mut q = Self::default();
        for (key, raw) in &pairs {
            let key = key.as_str();
            match key {
                "payment_id" => q.payment_id = Some(raw.clone()),
                "profile_id" => q.profile_id = Some(raw.clone()),
                "customer_id" => q.customer_id = Some(raw.clone()),
                "starting_after" => q.starting_after = Some(raw.clone()),
                "ending_before" => q.ending_before = Some(raw.clone()),
                "merchant_order_reference_id" => q.merchant_order_reference_id = Some(raw.clone()),
                "order_on" => q.order_on = Some(raw.clone()),
                "order_by" => q.order_by = Some(raw.clone()),
                "limit" => q.limit = Some(number(key, raw)?),
                "offset" => q.offset = Some(number(key, raw)?),
                "start_amount" => q.start_amount = Some(number(key, raw)?),
                "end_amount" => q.end_amount = Some(number(key, raw)?),
                "created" => q.created = Some(time(key, raw)?),
                "created.lt" => q.created_lt = Some(time(key, raw)?),
                "created.gt" => q.created_gt = Some(time(key, raw)?),
                "created.lte" => q.created_lte = Some(time(key, raw)?),
                "created.gte" => q.created_gte = Some(time(key, raw)?),
                "connector" => extend(&mut q.connector, key, raw)?,
                "currency" => extend(&mut q.currency, key, raw)?,
                "status" => extend(&mut q.status, key, raw)?,
                "payment_method_type" => extend(&mut q.payment_method_type, key, raw)?,
                "payment_method_subtype" => extend(&mut q.payment_method_subtype, key, raw)?,
                "authentication_type" => extend(&mut q.authentication_type, key, raw)?,
                "merchant_connector_id" => extend(&mut q.merchant_connector_id, key, raw)?,
                "card_network" => extend(&mut q.card_network, key, raw)?,
                other => return Err(ApiError::InvalidRequest(format!("query: unknown parameter `{other}`"))),
            }
        }
        Ok(q)
    }
}

fn number<T: std::str::FromStr>(key: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::InvalidRequest(format!("{key}: `{raw}` is not a whole number in range")))
}

fn time(key: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::InvalidRequest(format!("{key}: `{raw}` is not an RFC 3339 time")))
}

/// Adds the comma-separated values of one `key=raw` to the list.
fn extend<T: DeserializeOwned>(list: &mut Option<Vec<T>>, key: &str, raw: &str) -> Result<(), ApiError> {
    for one in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let value = serde_json::from_value(Value::String(one.to_string()))
            .map_err(|e| ApiError::InvalidRequest(format!("{key}: `{one}`: {e}")))?;
        list.get_or_insert_with(Vec::new).push(value);
    }
    Ok(())
}
