//! How a payment was routed: the view of it a routing script is shown (a few fields, no card
//! number) and the decision made, stored with the attempt so a replay can ask a new script
//! about the same payment. Golden cases describe payments as such views.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a payment was routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The script that decided, and its version; none when the profile has no script.
    pub script: Option<Arc<str>>,
    pub script_hash: Option<Arc<str>>,
    pub candidates: Vec<String>,
    pub reason: Option<String>,
    /// Why the static fallback list decided instead of the script.
    pub fallback: Option<String>,
    pub duration_us: f64,
    pub decided_at: DateTime<Utc>,
    /// The configuration version that decided; none in decisions stored before versions were.
    #[serde(default)]
    pub config_version: Option<Arc<str>>,
    /// What the script was shown.
    pub view: RoutingView,
}

impl Decision {
    /// How long a decision took, as `duration_us` keeps it: whole nanoseconds over a thousand,
    /// which reads as its three decimals (`7.652`), where seconds times a million carries the
    /// float's rounding into the answer (`7.652000000000001`) one time in four.
    pub fn micros(took: Duration) -> f64 {
        took.as_nanos() as f64 / 1e3
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardView {
    pub network: Option<String>,
    pub bin: Option<String>,
    pub issuing_country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingView {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub payment_method_type: String,
    pub payment_method_subtype: Option<String>,
    pub card: Option<CardView>,
    pub billing_country: Option<String>,
    pub customer_id: Option<String>,
    pub profile_id: String,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub attempt: u32,
}

impl Default for RoutingView {
    /// What a golden case leaves out: a card payment of 10.00 USD, first attempt.
    fn default() -> Self {
        Self {
            id: "pay_case".into(),
            amount: 1000,
            currency: "USD".into(),
            payment_method_type: "card".into(),
            payment_method_subtype: None,
            card: None,
            billing_country: None,
            customer_id: None,
            profile_id: String::new(),
            metadata: None,
            attempt: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_reads_as_whole_nanoseconds_in_microseconds() {
        for (nanos, text) in [(7_652, "7.652"), (5_112_064, "5112.064"), (1_000, "1.0"), (1, "0.001")] {
            let micros = Decision::micros(Duration::from_nanos(nanos));
            assert_eq!(serde_json::to_string(&micros).unwrap(), text);
        }
    }
}
