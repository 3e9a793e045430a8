//! Where two JSON documents differ, path by path: what a reload names as changed settings, and
//! what a plugin fixture shows when a plugin's request or answer is not the one expected.

use std::collections::BTreeSet;

use serde_json::Value;

/// The paths under `at` (dotted, arrays' items as `[i]`) where `old` and `new` differ, each
/// once, deepest first where they nest.
pub fn differences(at: &str, old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(at, old, new, &mut out);
    out
}

fn walk(at: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let join = |key: &str| if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                walk(&join(key), a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{at}[{i}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(at.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_differing_leaf_is_named_by_its_path() {
        let old = json!({ "a": 1, "b": { "c": [1, 2], "d": "x" }, "gone": true });
        let new = json!({ "a": 1, "b": { "c": [1, 3], "d": "y" }, "new": null, "e": [1] });
        assert_eq!(differences("", &old, &new), ["b.c[1]", "b.d", "e", "gone"]);
        assert_eq!(differences("server", &json!({ "x": 1 }), &json!({ "x": 2 })), ["server.x"]);
        assert!(differences("", &old, &old).is_empty());
    }
}
