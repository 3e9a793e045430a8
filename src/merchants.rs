//! The merchants, profiles and connector accounts one configuration version serves, resolved from
//! it once: secrets read, key hashes decoded, lookups by id ready for the request path. An
//! account a new version keeps (same merchant, profile, name and connector) keeps its live
//! health, so an edit elsewhere never resets what routing knows about it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::config::{Config, ProfileConfig};
use crate::connectors::health::{Health, SharedWindow};
use crate::connectors::Account;
use crate::keys::Keyring;
use crate::secret::Secret;
use crate::shared::Shared;

/// A business profile: the unit payments belong to, with its own connector accounts.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Unique for the life of the process, across configuration versions too.
    pub serial: u64,
    pub id: String,
    pub merchant_id: String,
    pub accounts: Vec<Account>,
    pub fallback: Vec<String>,
    pub routing: Option<Arc<str>>,
    pub reject_expired_cards: bool,
    pub session_expiry_secs: u32,
    /// Where the merchant is told of status changes, and the key that signs what is sent.
    pub webhook: Option<WebhookTarget>,
    /// `switchyard_routing_decisions_total` for each account, registered on first use.
    pub decisions: OnceLock<Vec<metrics::Counter>>,
    /// `switchyard_routing_outcomes_total` for each outcome, registered on its first use.
    pub outcomes: [OnceLock<metrics::Counter>; RoutingOutcome::COUNT],
}

/// How routing a payment ended.
#[derive(Debug, Clone, Copy)]
pub enum RoutingOutcome {
    /// The script's choice served.
    Script,
    /// The static fallback list served: the profile has no script, or it failed.
    Fallback,
    /// No account could take the payment.
    NoAccount,
}

impl RoutingOutcome {
    const COUNT: usize = 3;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Script => "script",
            Self::Fallback => "fallback",
            Self::NoAccount => "no_account",
        }
    }
}

/// A profile's webhook endpoint and signing key.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub key: Secret<String>,
}

impl WebhookTarget {
    /// The target a sound profile configures (`Config::check` reports one without a usable key).
    fn from_config(p: &ProfileConfig) -> Option<Self> {
        let key = p.payment_response_hash_key.as_ref()?.resolve().ok()?;
        Some(Self { url: p.webhook_url.clone()?, key })
    }
}

impl Profile {
    /// Counts a decision that put `account` first.
    pub fn count_decision(&self, account: &str) {
        let counters = self.decisions.get_or_init(|| {
            self.accounts
                .iter()
                .map(|a| {
                    metrics::counter!("switchyard_routing_decisions_total", "profile" => self.id.clone(), "account" => a.name.clone())
                })
                .collect()
        });
        if let Some(i) = self.accounts.iter().position(|a| a.name == account) {
            counters[i].increment(1);
        }
    }

    /// Counts how routing ended for a payment.
    pub fn count_outcome(&self, outcome: RoutingOutcome) {
        let reason = outcome.as_str();
        self.outcomes[outcome as usize]
            .get_or_init(|| metrics::counter!("switchyard_routing_outcomes_total", "profile" => self.id.clone(), "reason" => reason))
            .increment(1);
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

pub struct Directory {
    pub keyring: Keyring,
    /// Publishable key → merchant. These keys are public by design, so a plain lookup will do.
    publishable: HashMap<String, String>,
    /// By merchant: how its payers' pages present it.
    faces: HashMap<String, Face>,
    /// By merchant, then profile: looked up by borrowed ids, with no key to build.
    profiles: BTreeMap<String, BTreeMap<String, Arc<Profile>>>,
}

/// What a payer's page shows of a merchant, and the key its script calls with.
pub struct Face {
    pub name: String,
    pub publishable_key: Option<String>,
}

static SERIALS: AtomicU64 = AtomicU64::new(0);

impl Directory {
    /// `shared`, when given, is where accounts' health is shared with other daemons.
    pub fn from_config(config: &Config, previous: Option<&Directory>, shared: Option<&Arc<Shared>>) -> Self {
        let hash_secret = config.security.api_key_hash_secret.resolve().map(|s| s.expose().clone()).unwrap_or_default();
        let mut keyring = Keyring::new(hash_secret.as_bytes());
        let mut profiles = BTreeMap::new();
        let mut publishable = HashMap::new();
        let mut faces = HashMap::new();
        for (merchant_id, merchant) in &config.merchants {
            let name = merchant.name.clone().unwrap_or_else(|| merchant_id.clone());
            faces.insert(merchant_id.clone(), Face { name, publishable_key: merchant.publishable_key.clone() });
            if let Some(key) = &merchant.publishable_key {
                publishable.insert(key.clone(), merchant_id.clone());
            }
            for key in &merchant.api_keys {
                keyring.add(&key.hash, merchant_id);
            }
            for (profile_id, p) in &merchant.profiles {
                let profile = Profile {
                    serial: SERIALS.fetch_add(1, Ordering::Relaxed),
                    id: profile_id.clone(),
                    merchant_id: merchant_id.clone(),
                    accounts: p
                        .connector_accounts
                        .iter()
                        .map(|a| {
                            let mut account = Account::from_config(profile_id, a);
                            let kept = previous.and_then(|d| d.profile(merchant_id, profile_id)?.account(&a.name));
                            account.health = match kept.filter(|k| k.connector == account.connector) {
                                Some(kept) => kept.health.clone(),
                                None => {
                                    let id = format!("{merchant_id}/{profile_id}/{}/{}", a.name, a.connector);
                                    let window = shared.map(|shared| SharedWindow::new(shared.clone(), &id));
                                    Arc::new(Health::new(window))
                                }
                            };
                            account
                        })
                        .collect(),
                    fallback: p.fallback.clone(),
                    routing: p.routing.as_deref().map(Arc::from),
                    reject_expired_cards: p.reject_expired_cards,
                    session_expiry_secs: p.session_expiry_secs.unwrap_or(config.payments.session_expiry_secs),
                    webhook: WebhookTarget::from_config(p),
                    decisions: OnceLock::new(),
                    outcomes: Default::default(),
                };
                profiles
                    .entry(merchant_id.clone())
                    .or_insert_with(BTreeMap::new)
                    .insert(profile_id.clone(), Arc::new(profile));
            }
        }
        Self { keyring, publishable, faces, profiles }
    }

    /// How a merchant's payers' pages present it.
    pub fn face(&self, merchant_id: &str) -> Option<&Face> {
        self.faces.get(merchant_id)
    }

    /// The merchant whose publishable key this is.
    pub fn publishable(&self, key: &str) -> Option<&str> {
        self.publishable.get(key).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values().flat_map(BTreeMap::values)
    }

    pub fn profile(&self, merchant_id: &str, profile_id: &str) -> Option<&Arc<Profile>> {
        self.profiles.get(merchant_id)?.get(profile_id)
    }

    /// The merchant's profile when it has exactly one.
    pub fn only_profile(&self, merchant_id: &str) -> Option<&Arc<Profile>> {
        let mut profiles = self.profiles.get(merchant_id)?.values();
        profiles.next().filter(|_| profiles.next().is_none())
    }

    /// The connector account a provider's notification is addressed to: by profile when the
    /// address names one, else the one account of the merchant with that name. A name that
    /// several profiles use is ambiguous without the profile: which account's secret verifies
    /// a notification, and whose payments it may touch, must never be a guess.
    pub fn notified_account(
        &self,
        merchant_id: &str,
        profile_id: Option<&str>,
        name: &str,
    ) -> Result<(&Arc<Profile>, &Account), AccountLookup> {
        let profiles = self.profiles.get(merchant_id).ok_or(AccountLookup::NotFound)?;
        let mut found = profiles
            .values()
            .filter(|p| profile_id.is_none_or(|id| p.id == id))
            .filter_map(|p| p.account(name).map(|a| (p, a)));
        let first = found.next().ok_or(AccountLookup::NotFound)?;
        match found.next() {
            None => Ok(first),
            Some(second) => Err(AccountLookup::Ambiguous(
                [first, second].into_iter().chain(found).map(|(p, _)| p.id.clone()).collect(),
            )),
        }
    }
}

/// Why a notification's account was not found.
#[derive(Debug, PartialEq, Eq)]
pub enum AccountLookup {
    NotFound,
    /// Several profiles have an account of that name (their ids).
    Ambiguous(Vec<String>),
}
