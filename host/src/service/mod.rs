//! The use cases: what a merchant, an operator or a provider asks of paygate, carried out
//! over the domain rules, the store and the wasm runtime. HTTP lives in `api`, not here.

pub mod deadlines;
mod error;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod refunds;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use error::ServiceError;

use crate::jobs::Timers;
use crate::runtime::contract::{self, SecretKind};
use crate::runtime::{Allowlist, Grants, KeyRing, Runtime};
use crate::store::provider_configs::{self, ProviderConfig};
use crate::store::Db;
use crate::vault::Vault;

/// Parsed key rings by (merchant id, provider), with the `updated_at` they were built from.
type KeyRingCache = HashMap<(String, String), (i64, Arc<KeyRing>)>;

/// Everything a use case needs. One per process, shared by all requests.
pub struct Gateway {
    pub db: Db,
    pub runtime: Arc<Runtime>,
    pub vault: Vault,
    /// Base URL providers reach paygate at (notify URLs are built from it).
    pub public_url: String,
    /// The pay and deadline rules' settings (the provider's grace is in `timers`).
    pub rules: PayRules,
    /// Deadlines and status queries on the delay queue.
    pub timers: Timers,
    /// Parsed key rings by (merchant, provider), with the config's `updated_at` they were
    /// built from: RSA parsing is not free, and a config update invalidates the entry.
    keyrings: Mutex<KeyRingCache>,
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
}

impl Gateway {
    pub fn new(
        db: Db,
        runtime: Arc<Runtime>,
        vault: Vault,
        public_url: String,
        rules: PayRules,
        timers: Timers,
    ) -> Gateway {
        Gateway {
            db,
            runtime,
            vault,
            public_url,
            rules,
            timers,
            keyrings: Mutex::new(HashMap::new()),
        }
    }

    /// Hands new outbox events to the webhook dispatcher. A failure to schedule only delays
    /// them: the start-up reconciliation finds every undelivered event.
    pub async fn dispatch(&self, events: &[String]) {
        for event in events {
            if let Err(e) = self
                .timers
                .schedule_webhook(event, 0, crate::store::now_ms())
                .await
            {
                tracing::error!(event, error = %e, "could not schedule the webhook; it is sent after the next start");
            }
        }
    }

    /// The URL a provider sends notifications for this merchant's payments to.
    pub fn notify_url(&self, provider: &str, merchant_id: &str) -> String {
        format!("{}/v1/notify/{provider}/{merchant_id}", self.public_url)
    }

    /// Loads the merchant's configuration for `provider` and turns it into the adapter's
    /// config, keys and allowlist.
    pub async fn call_context(
        &self,
        merchant_id: &str,
        provider: &str,
    ) -> Result<CallContext, ServiceError> {
        let adapter = self
            .runtime
            .adapter(provider)
            .ok_or_else(|| ServiceError::unknown_provider(provider))?;
        let cfg = provider_configs::get(&self.db, merchant_id, provider)
            .await?
            .ok_or_else(|| {
                ServiceError::invalid(
                    "provider_not_configured",
                    format!("provider `{provider}` is not configured for this merchant"),
                )
            })?;
        let keys = self.keyring(&cfg)?;
        let mut allowlist = Allowlist::default();
        for spec in adapter.info.settings.iter().filter(|s| s.is_base_url) {
            if let Some(url) = cfg.settings.get(&spec.name) {
                allowlist.allow_base_url(url).map_err(|e| {
                    ServiceError::Internal(format!("stored setting `{}`: {e}", spec.name))
                })?;
            }
        }
        Ok(CallContext {
            config: contract::Config {
                merchant_id: merchant_id.to_owned(),
                settings: cfg
                    .settings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
            grants: Grants { keys, allowlist },
        })
    }

    fn keyring(&self, cfg: &ProviderConfig) -> Result<Arc<KeyRing>, ServiceError> {
        let cache_key = (cfg.merchant_id.clone(), cfg.provider.clone());
        let mut cache = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ring)) = cache.get(&cache_key) {
            if *at == cfg.updated_at {
                return Ok(ring.clone());
            }
        }
        let mut ring = KeyRing::default();
        for (name, secret) in &cfg.secrets {
            let kind = crate::runtime::parse_kind(&secret.kind).ok_or_else(|| {
                ServiceError::Internal(format!(
                    "stored secret `{name}` has unknown kind `{}`",
                    secret.kind
                ))
            })?;
            let value = self
                .vault
                .open(&secret.sealed)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            ring.insert(name, kind, &value)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
        }
        let ring = Arc::new(ring);
        cache.insert(cache_key, (cfg.updated_at, ring.clone()));
        Ok(ring)
    }
}

/// Secret kinds by their WIT names, for configuration checks.
pub(crate) fn secret_kind_name(kind: SecretKind) -> &'static str {
    crate::runtime::kind_name(kind)
}
