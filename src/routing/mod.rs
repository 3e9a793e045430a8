//! Routing: which connector accounts a payment tries, in order.
//!
//! A profile lists its accounts in `fallback`; without one, every enabled account in the order
//! configured. Disabled accounts are never tried.

use crate::connectors::Account;
use crate::merchants::Profile;

pub fn candidates(profile: &Profile) -> Vec<&Account> {
    let enabled = |a: &&Account| a.enabled;
    if profile.fallback.is_empty() {
        profile.accounts.iter().filter(enabled).collect()
    } else {
        profile.fallback.iter().filter_map(|name| profile.account(name)).filter(enabled).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, enabled: bool) -> Account {
        Account {
            name: name.into(),
            connector: "sandbox".into(),
            enabled,
            base_url: None,
            credentials: Default::default(),
            metadata: Default::default(),
        }
    }

    fn profile(fallback: &[&str]) -> Profile {
        Profile {
            id: "p".into(),
            merchant_id: "m".into(),
            accounts: vec![account("a", true), account("b", false), account("c", true)],
            fallback: fallback.iter().map(|s| s.to_string()).collect(),
            reject_expired_cards: true,
            session_expiry_secs: 900,
        }
    }

    fn names(p: &Profile) -> Vec<&str> {
        candidates(p).iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn fallback_order_wins_and_disabled_accounts_are_skipped() {
        assert_eq!(names(&profile(&[])), ["a", "c"]);
        assert_eq!(names(&profile(&["c", "b", "a"])), ["c", "a"]);
    }
}
