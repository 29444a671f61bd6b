//! The use cases: what a merchant, an operator or a provider asks of paygate, carried out
//! over the domain rules, the store, the delay queue and the wasm runtime. HTTP lives in
//! `api` and the queue's workers in `jobs`; both call only this.
//!
//! Payments are three concepts, one file each: starting one (`pay`), talking to the
//! provider about a trade (`trade`), and applying a provider's report (`settlement`, the one
//! owner of what a settlement means).

pub mod activity;
pub mod adapters;
pub mod audit;
pub mod bills;
pub mod calls;
pub mod deadlines;
pub mod destinations;
pub mod directory;
mod error;
pub mod flags;
pub mod lists;
pub mod master_key;
pub mod merchants;
pub mod notifications;
pub mod operators;
pub mod orders;
pub mod pay;
pub mod provider_test;
mod reads;
pub mod recovery;
pub mod refunds;
pub mod sessions;
pub mod settlement;
pub mod story;
pub mod timers;
pub mod trade;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::{not_found_code, ErrorCode, ServiceError};
pub use timers::Timers;

use crate::clock::Clock;
use crate::runtime::contract::{self, SecretKind};
use crate::runtime::{Allowlist, Grants, KeyRing, Runtime};
use crate::store::provider_configs::{self, ProviderConfig};
use crate::store::Db;
use crate::vault::Vault;

/// How long a merchant's provider configuration and API key are taken from memory before
/// they are read again: a change made by another paygate process (or the CLI) is seen
/// within this time; one made through this process at once.
const CACHE_TTL: Duration = Duration::from_secs(2);

/// Call contexts by (merchant, provider).
type ContextCache = HashMap<(String, String), Cached<Arc<CallContext>>>;

/// A value read from the database at `at`.
struct Cached<T> {
    at: Instant,
    value: T,
}

/// Everything a use case needs. One per process, shared by all requests; `api` and `jobs`
/// reach the parts only through its use cases.
pub struct Gateway {
    /// The record: orders, payments, refunds, events.
    db: Db,
    /// The adapters, one active version per provider.
    runtime: Arc<Runtime>,
    /// Opens the secrets sealed at rest.
    vault: Vault,
    /// Base URL providers reach paygate at (notify URLs are built from it).
    public_url: String,
    /// The pay and deadline rules' settings (the provider's grace is in `timers`).
    rules: PayRules,
    /// Deadlines, status queries, refunds and webhooks on the delay queue.
    timers: Timers,
    /// The time every rule reads.
    clock: Clock,
    /// Merchants' call contexts by (merchant, provider): parsing keys is not free, and a
    /// pay or a notification should not read the configuration every time.
    contexts: Mutex<ContextCache>,
    /// Counts configuration changes made through this process: a context read before the
    /// latest one is not cached (it may hold what the change replaced).
    changes: AtomicU64,
    /// Merchants by API key hash, and when each key's last use was written.
    keys: merchants::KeyCache,
    /// When each operator token's last use was written (ms), by operator id.
    operator_uses: Mutex<HashMap<String, i64>>,
    /// Delivers webhooks: connects only to addresses the destination rule passed.
    http: reqwest::Client,
    /// The destination rule and resolver for merchants' webhook URLs.
    destinations: destinations::Destinations,
    /// Records the adapter calls made about trades, off the request path.
    calls: calls::CallLog,
}

/// The settings of the pay and deadline rules, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PayRules {
    /// A pay call is refused when less than this remains before the deadline (ms).
    pub repay_cutoff_ms: i64,
    /// A stored action is reused only while this much of its own lifetime remains (ms).
    pub action_margin_ms: i64,
    /// Refused status queries at the deadline before the payment is flagged.
    pub flag_after_refusals: u32,
}

/// A merchant's configuration for one provider, ready for an adapter call.
pub struct CallContext {
    pub config: contract::Config,
    pub grants: Grants,
    /// The adapter version it was built for: its allowlist comes from that version's
    /// base-URL settings, so another version active now needs a context of its own.
    pub adapter_sha256: String,
}

impl Gateway {
    #[allow(clippy::too_many_arguments)] // the parts a gateway is made of, each once
    pub fn new(
        db: Db,
        runtime: Arc<Runtime>,
        vault: Vault,
        public_url: String,
        rules: PayRules,
        timers: Timers,
        clock: Clock,
        destinations: destinations::Destinations,
    ) -> Gateway {
        Gateway {
            calls: calls::CallLog::start(db.clone()),
            db,
            runtime,
            vault,
            public_url,
            rules,
            timers,
            clock,
            contexts: Mutex::new(HashMap::new()),
            changes: AtomicU64::new(0),
            keys: merchants::KeyCache::default(),
            operator_uses: Mutex::new(HashMap::new()),
            // No redirects, and every connection checked by the destination rule.
            http: destinations.client(),
            destinations,
        }
    }

    /// Checks a webhook URL (an order's `notify_url`, a merchant's endpoint) against the
    /// destination rule: 422 `invalid_notify_url` saying why ("resolves to 10.0.0.7, a
    /// private address").
    pub async fn check_destination(&self, url: &str) -> Result<(), ServiceError> {
        self.destinations.check_url(url).await.map_err(|e| {
            ServiceError::invalid(
                ErrorCode::InvalidNotifyUrl,
                format!("notify_url is refused: {e}"),
            )
        })
    }

    /// The shortest `ttl_seconds` an order may have here: past the pay cut-off.
    pub fn min_order_ttl_seconds(&self) -> i64 {
        crate::domain::order::min_ttl_seconds(self.rules.repay_cutoff_ms)
    }

    /// The base URL providers and browsers reach paygate at (`PAYGATE_PUBLIC_URL`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The time the rules read (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Hands new outbox events to the webhook dispatcher. A failure to schedule only delays
    /// them: the start-up reconciliation finds every undelivered event.
    async fn dispatch(&self, events: &[String]) {
        for event in events {
            if let Err(e) = self.timers.schedule_webhook(event, 0, self.now_ms()).await {
                tracing::error!(event, error = %e, "could not schedule the webhook; it is sent after the next start");
            }
        }
    }

    /// The URL a provider sends notifications for this merchant's payments to.
    fn notify_url(&self, provider: &str, merchant_id: &str) -> String {
        format!("{}/v1/notify/{provider}/{merchant_id}", self.public_url)
    }

    /// The merchant's configuration for `provider` as the adapter's config, keys and
    /// allowlist; from memory while fresh (see [`CACHE_TTL`]).
    async fn call_context(
        &self,
        merchant_id: &str,
        provider: &str,
    ) -> Result<Arc<CallContext>, ServiceError> {
        let key = (merchant_id.to_owned(), provider.to_owned());
        let adapter = self
            .runtime
            .adapter(provider)
            .ok_or_else(|| ServiceError::unknown_provider(provider))?;
        if let Some(c) = lock(&self.contexts).get(&key) {
            if c.at.elapsed() < CACHE_TTL && c.value.adapter_sha256 == adapter.sha256 {
                return Ok(c.value.clone());
            }
        }
        let changes_seen = self.changes.load(Ordering::SeqCst);
        let cfg = provider_configs::get(&self.db, merchant_id, provider)
            .await?
            .ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::ProviderNotConfigured,
                    format!("provider `{provider}` is not configured for this merchant"),
                )
            })?;
        let keys = self.keyring(&cfg)?;
        let settings = effective_settings(&adapter.info, &cfg.settings);
        let mut allowlist = Allowlist::default();
        for spec in adapter.info.settings.iter().filter(|s| s.is_base_url) {
            if let Some(url) = settings.get(&spec.name) {
                allowlist.allow_base_url(url).map_err(|e| {
                    ServiceError::misconfigured(
                        ErrorCode::ProviderSettingsUnusable,
                        format!(
                            "the stored `{provider}` setting `{}` of merchant {merchant_id} is \
                             not usable ({e}); store the provider's configuration again",
                            spec.name
                        ),
                    )
                })?;
            }
        }
        let ctx = Arc::new(CallContext {
            config: contract::Config {
                merchant_id: merchant_id.to_owned(),
                settings: settings.into_iter().collect(),
            },
            grants: Grants { keys, allowlist },
            adapter_sha256: adapter.sha256.clone(),
        });
        let mut cache = lock(&self.contexts);
        if self.changes.load(Ordering::SeqCst) == changes_seen {
            cache.insert(
                key,
                Cached {
                    at: Instant::now(),
                    value: ctx.clone(),
                },
            );
        }
        Ok(ctx)
    }

    /// Forgets the cached configuration of (merchant, provider): it just changed.
    fn forget_context(&self, merchant_id: &str, provider: &str) {
        let mut cache = lock(&self.contexts);
        self.changes.fetch_add(1, Ordering::SeqCst);
        cache.remove(&(merchant_id.to_owned(), provider.to_owned()));
    }

    /// The keys of a stored configuration, opened. A secret that does not open (another
    /// master key) or no longer parses is `provider_secrets_unreadable`: no request can
    /// succeed until an operator acts, and the message says what to do.
    fn keyring(&self, cfg: &ProviderConfig) -> Result<Arc<KeyRing>, ServiceError> {
        let unreadable = |name: &str, why: String| {
            ServiceError::misconfigured(
                ErrorCode::ProviderSecretsUnreadable,
                format!(
                    "the stored `{}` secret `{name}` of merchant {} {why}",
                    cfg.provider, cfg.merchant_id
                ),
            )
        };
        let mut ring = KeyRing::default();
        for (name, secret) in &cfg.secrets {
            let kind = crate::runtime::parse_kind(&secret.kind).ok_or_else(|| {
                unreadable(
                    name,
                    format!(
                        "has unknown kind `{}`; store the provider's configuration again",
                        secret.kind
                    ),
                )
            })?;
            let value = self.vault.open(&secret.sealed).map_err(|_| {
                unreadable(
                    name,
                    "does not open with the master key in force: it was sealed with another \
                     PAYGATE_MASTER_KEY; restart paygate with that key, or store the \
                     provider's secrets again"
                        .to_owned(),
                )
            })?;
            ring.insert(name, kind, &value).map_err(|e| {
                unreadable(
                    name,
                    format!("no longer reads as its kind ({e}); store it again"),
                )
            })?;
        }
        Ok(Arc::new(ring))
    }
}

/// A cache's lock; a panic elsewhere while holding it leaves nothing half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Secret kinds by their WIT names, for configuration checks.
pub(crate) fn secret_kind_name(kind: SecretKind) -> &'static str {
    crate::runtime::kind_name(kind)
}

/// A stored configuration's settings as an adapter call sees them: the stored values, and
/// the default of each setting the active version declares with one and the configuration
/// lacks. A configuration is stored with the defaults of the version it was stored under; a
/// later version may add a setting with a default (the Alipay adapter's
/// `bill_download_base`), and the contract promises the adapter always receives it.
pub(crate) fn effective_settings(
    info: &contract::AdapterInfo,
    stored: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    let mut settings = stored.clone();
    for spec in &info.settings {
        if let Some(default) = &spec.default_value {
            settings
                .entry(spec.name.clone())
                .or_insert_with(|| default.clone());
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::contract::{AdapterInfo, SettingSpec};

    fn setting(name: &str, default: Option<&str>) -> SettingSpec {
        SettingSpec {
            name: name.into(),
            required: false,
            description: String::new(),
            is_base_url: true,
            default_value: default.map(str::to_owned),
        }
    }

    #[test]
    fn a_setting_a_later_version_adds_with_a_default_reaches_the_adapter() {
        let info = AdapterInfo {
            name: "alipay".into(),
            version: "0.2.0".into(),
            contract_version: "2.0.0".into(),
            channels: Vec::new(),
            settings: vec![
                setting("gateway", Some("https://openapi.alipay.com/gateway.do")),
                setting(
                    "bill_download_base",
                    Some("https://dwbillcenter.alipay.com"),
                ),
                setting("notify_base", None),
            ],
            secrets: Vec::new(),
        };
        let stored = [(
            "gateway".to_owned(),
            "http://127.0.0.1:9000/gateway.do".to_owned(),
        )]
        .into_iter()
        .collect();
        let settings = effective_settings(&info, &stored);
        assert_eq!(
            settings.get("gateway").map(String::as_str),
            Some("http://127.0.0.1:9000/gateway.do"),
            "a stored value wins over the default"
        );
        assert_eq!(
            settings.get("bill_download_base").map(String::as_str),
            Some("https://dwbillcenter.alipay.com")
        );
        assert_eq!(settings.get("notify_base"), None);
    }
}
