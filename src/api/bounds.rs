//! How big the parts of a request may be. Hyperswitch's OpenAPI document bounds some fields
//! (address lines and names, `statement_descriptor`, order items' `product_name`) and its API
//! bounds `metadata` (50 keys of at most 40 characters, values of at most 500). Text the document
//! leaves unbounded is held to `TEXT_MAX` characters, URLs to `URL_MAX`: the body limit alone
//! would let one field fill a whole row. Every refusal names the field at fault.
//!
//! The nesting depth of a JSON body is bounded too, and counted before the body is parsed, so a
//! deep body costs one scan, never a recursion.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::payment::{Address, AddressDetails, IntentDetails};

/// The longest text field the document leaves unbounded, in characters.
pub const TEXT_MAX: usize = 255;
/// The longest URL, in characters.
pub const URL_MAX: usize = 2048;
const STATEMENT_DESCRIPTOR_MAX: usize = 22;
const ORDER_ITEMS_MAX: usize = 100;
pub(crate) const METADATA_KEYS_MAX: usize = 50;
pub(crate) const METADATA_KEY_MAX: usize = 40;
const METADATA_VALUE_MAX: usize = 500;

/// Refuses `value` (the field `{at}{name}`) when it is longer than `max` characters.
pub fn text(at: &str, name: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        // A string of at most `max` bytes has at most `max` characters; only longer ones are counted.
        Some(v) if v.len() > max && v.chars().count() > max => {
            Err(ApiError::InvalidRequest(format!("{at}{name}: must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

/// Refuses a URL (the field `{at}{name}`) a browser is to be sent to unless it is `http(s)://` with
/// a host, at most `URL_MAX` characters, with no control characters or spaces: anything else
/// (`javascript:`, a header split by a line break) would be handed on to a payer as it is.
pub fn url(at: &str, name: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(url) = value else { return Ok(()) };
    text(at, name, value, URL_MAX)?;
    match crate::text::web_url_problem(url) {
        Some(why) => Err(ApiError::InvalidRequest(format!("{at}{name}: {why}"))),
        None => Ok(()),
    }
}

/// Metadata as Hyperswitch bounds it: at most 50 keys of 40 characters, values of 500 (a value
/// that is not a string counts as its JSON text).
pub fn metadata(metadata: Option<&Map<String, Value>>) -> Result<(), ApiError> {
    let Some(metadata) = metadata else { return Ok(()) };
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(ApiError::InvalidRequest(format!("metadata: at most {METADATA_KEYS_MAX} keys")));
    }
    for (key, value) in metadata {
        if key.chars().count() > METADATA_KEY_MAX {
            return Err(ApiError::InvalidRequest(format!(
                "metadata.{key}: keys are at most {METADATA_KEY_MAX} characters"
            )));
        }
        let len = match value {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        };
        if len > METADATA_VALUE_MAX {
            return Err(ApiError::InvalidRequest(format!(
                "metadata.{key}: values are at most {METADATA_VALUE_MAX} characters"
            )));
        }
    }
    Ok(())
}

/// An address with its contact details; `at` is its path with a trailing dot (`billing.`).
pub fn address(at: &str, address: Option<&Address>) -> Result<(), ApiError> {
    let Some(a) = address else { return Ok(()) };
    address_details(&format!("{at}address."), a.address.as_ref())?;
    if let Some(phone) = &a.phone {
        text(at, "phone.number", phone.number.as_deref(), TEXT_MAX)?;
        text(at, "phone.country_code", phone.country_code.as_deref(), TEXT_MAX)?;
    }
    text(at, "email", a.email.as_deref(), TEXT_MAX)
}

/// A postal address, as the document bounds its lines; `at` is its path with a trailing dot.
pub fn address_details(at: &str, details: Option<&AddressDetails>) -> Result<(), ApiError> {
    let Some(d) = details else { return Ok(()) };
    let fields = [
        ("city", &d.city, 50),
        ("line1", &d.line1, 200),
        ("line2", &d.line2, 50),
        ("line3", &d.line3, 50),
        ("zip", &d.zip, 50),
        ("state", &d.state, TEXT_MAX),
        ("first_name", &d.first_name, 255),
        ("last_name", &d.last_name, 255),
        ("origin_zip", &d.origin_zip, 50),
    ];
    fields.into_iter().try_for_each(|(name, value, max)| text(at, name, value.as_deref(), max))
}

/// What a payment intent keeps about itself besides its amounts and method.
pub fn intent_details(d: &IntentDetails) -> Result<(), ApiError> {
    text("", "description", d.description.as_deref(), TEXT_MAX)?;
    url("", "return_url", d.return_url.as_deref())?;
    text("", "statement_descriptor", d.statement_descriptor.as_deref(), STATEMENT_DESCRIPTOR_MAX)?;
    address("billing.", d.billing.as_ref())?;
    address("shipping.", d.shipping.as_ref())?;
    metadata(d.metadata.as_ref())?;
    one_of("setup_future_usage", d.setup_future_usage.as_ref(), &["off_session", "on_session"])?;
    one_of("customer_present", d.customer_present.as_ref(), &["present", "absent"])?;
    order_details(d.order_details.as_ref())
}

/// A field kept as given and shown back, which must be one of Hyperswitch's values for it.
fn one_of(field: &str, value: Option<&Value>, values: &[&str]) -> Result<(), ApiError> {
    match value {
        None => Ok(()),
        Some(Value::String(v)) if values.contains(&v.as_str()) => Ok(()),
        Some(_) => Err(ApiError::InvalidRequest(format!("{field}: must be one of {}", values.join(", ")))),
    }
}

/// `order_details`: a list of at most `ORDER_ITEMS_MAX` items, each named in at most 255
/// characters. The rest of an item is kept as given, within the body limit.
fn order_details(details: Option<&Value>) -> Result<(), ApiError> {
    let items = match details {
        None => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::InvalidRequest("order_details: must be a list of order items".into())),
    };
    if items.len() > ORDER_ITEMS_MAX {
        return Err(ApiError::InvalidRequest(format!("order_details: at most {ORDER_ITEMS_MAX} items")));
    }
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(ApiError::InvalidRequest(format!("order_details[{i}]: must be an object")));
        };
        let name = item.get("product_name").and_then(Value::as_str);
        text(&format!("order_details[{i}]."), "product_name", name, TEXT_MAX)?;
    }
    Ok(())
}

/// Whether the JSON text `bytes` opens arrays and objects more than `max` deep. Brackets inside
/// strings do not count; for malformed text the answer may be off, which the parser then refuses.
pub fn nests_deeper_than(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn depth_counts_arrays_and_objects_not_brackets_in_strings() {
        assert!(!nests_deeper_than(b"{}", 1));
        assert!(nests_deeper_than(b"{\"a\":[]}", 1));
        assert!(!nests_deeper_than(b"{\"a\":[]}", 2));
        assert!(!nests_deeper_than(br#"{"a":"[[[{{{"}"#, 1));
        // An escaped quote does not end the string.
        assert!(!nests_deeper_than(br#"{"a":"\"[[[\\"}"#, 1));
        assert!(nests_deeper_than(br#"{"a":"\\"}, [[1]]"#, 1));
        // Closing brackets of siblings bring the depth back down.
        assert!(!nests_deeper_than(b"[[1],[2],[3]]", 2));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(nests_deeper_than(deep.as_bytes(), 32));
        assert!(!nests_deeper_than(deep.as_bytes(), 100_000));
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert!(text("", "f", Some(&"é".repeat(22)), 22).is_ok());
        let e = text("billing.address.", "city", Some(&"é".repeat(51)), 50).unwrap_err();
        assert_eq!(e.to_string(), "billing.address.city: must be at most 50 characters");
        assert!(text("", "f", None, 0).is_ok());
    }

    #[test]
    fn order_details_are_a_bounded_list_of_named_items() {
        let check = |v: Value| order_details(Some(&v)).map_err(|e| e.to_string());
        assert!(check(json!([{ "product_name": "shirt", "quantity": 1, "amount": 100 }])).is_ok());
        assert_eq!(
            check(json!({ "product_name": "shirt" })).unwrap_err(),
            "order_details: must be a list of order items"
        );
        assert_eq!(check(json!([1])).unwrap_err(), "order_details[0]: must be an object");
        let long = json!([{}, { "product_name": "x".repeat(256) }]);
        assert_eq!(check(long).unwrap_err(), "order_details[1].product_name: must be at most 255 characters");
        let many = Value::Array(vec![json!({}); ORDER_ITEMS_MAX + 1]);
        assert_eq!(check(many).unwrap_err(), "order_details: at most 100 items");
    }
}
