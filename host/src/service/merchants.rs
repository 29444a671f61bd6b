//! Merchants: creation with a one-time API key, their API keys (more than one, each
//! revocable; authentication with a 2 s cache), and their provider configurations checked
//! against what the adapter declares it needs, then tested with the provider
//! (`provider_test`) before they are stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::provider_test::{self, TestFirst, TestReport};
use super::{lock, secret_kind_name, Cached, ErrorCode, Gateway, ServiceError, CACHE_TTL};
use crate::domain::merchant::webhook_url;
use crate::domain::operator::record_use;
use crate::runtime::{KeyRing, Runtime};
use crate::store::api_keys::{self, ApiKey, NewApiKey};
use crate::store::merchants::{self, Merchant};
use crate::store::provider_configs::{self, ProviderConfig, SealedSecret};
use crate::store::Db;
use crate::vault::Vault;

/// API keys look like `pk_` + 40 random alphanumerics (about 238 bits).
const API_KEY_PREFIX: &str = "pk_";

/// `len` random alphanumerics from the OS's generator: API keys, session ids, CSRF tokens.
pub(super) fn random_token(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 of an API key, the form it is stored and looked up in.
pub fn api_key_hash(api_key: &str) -> String {
    hex::encode(Sha256::digest(api_key.as_bytes()))
}

/// How many characters of a key are kept in clear to tell keys apart: `pk_` and 4 of its
/// 40 random ones (about 24 of its 238 bits).
const SHOWN_PREFIX_CHARS: usize = 7;

/// A fresh API key and the row that stores it (its id, prefix and hash).
struct FreshKey {
    api_key: String,
    id: String,
    prefix: String,
    hash: String,
}

impl FreshKey {
    fn new() -> FreshKey {
        let api_key = format!("{API_KEY_PREFIX}{}", random_token(40));
        FreshKey {
            id: format!("key_{}", uuid::Uuid::now_v7().simple()),
            prefix: api_key.chars().take(SHOWN_PREFIX_CHARS).collect(),
            hash: api_key_hash(&api_key),
            api_key,
        }
    }

    fn row<'a>(&'a self, label: Option<&'a str>) -> NewApiKey<'a> {
        NewApiKey {
            id: &self.id,
            prefix: &self.prefix,
            hash: &self.hash,
            label,
        }
    }
}

/// A key just created, and the key itself (shown this once).
pub struct CreatedKey {
    pub key: ApiKey,
    pub api_key: String,
}

/// Checks a key's label: at most 64 printable characters; blank is none.
fn check_label(label: Option<&str>) -> Result<Option<&str>, ServiceError> {
    match label.map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) if l.chars().count() > 64 || l.chars().any(char::is_control) => {
            Err(ServiceError::invalid(
                ErrorCode::InvalidLabel,
                "a key's label is at most 64 printable characters",
            ))
        }
        other => Ok(other),
    }
}

async fn existing_merchant(db: &Db, merchant_id: &str) -> Result<Merchant, ServiceError> {
    merchants::get(db, merchant_id)
        .await?
        .ok_or(ServiceError::NotFound("merchant"))
}

/// Creates another API key for the merchant (clients move to it while the old one keeps
/// working; then the old one is revoked). 404 `merchant_not_found`, 422 `invalid_label`.
pub async fn create_api_key(
    db: &Db,
    merchant_id: &str,
    label: Option<&str>,
) -> Result<CreatedKey, ServiceError> {
    let label = check_label(label)?;
    existing_merchant(db, merchant_id).await?;
    let fresh = FreshKey::new();
    let key = api_keys::insert(db, merchant_id, &fresh.row(label)).await?;
    tracing::info!(merchant_id, key_id = %key.id, prefix = %key.prefix, "API key created");
    Ok(CreatedKey {
        key,
        api_key: fresh.api_key,
    })
}

/// The merchant's keys, revoked ones included, oldest first; never a key or its hash.
pub async fn list_api_keys(db: &Db, merchant_id: &str) -> Result<Vec<ApiKey>, ServiceError> {
    existing_merchant(db, merchant_id).await?;
    Ok(api_keys::list(db, merchant_id).await?)
}

/// Revokes one of the merchant's keys (again: no change). Refused at once by the process
/// that revokes it, within [`CACHE_TTL`] by the others. 404 `merchant_not_found`, or
/// `not_found` for a key the merchant does not have.
pub async fn revoke_api_key(
    db: &Db,
    merchant_id: &str,
    key_id: &str,
    now_ms: i64,
) -> Result<ApiKey, ServiceError> {
    existing_merchant(db, merchant_id).await?;
    let key = api_keys::revoke(db, merchant_id, key_id, now_ms)
        .await?
        .ok_or(ServiceError::NotFound("API key"))?;
    tracing::info!(merchant_id, key_id, "API key revoked");
    Ok(key)
}

/// The keys authenticated lately, and when each key's use was last written.
#[derive(Default)]
pub(super) struct KeyCache {
    /// Merchant and key id by the key's hash, read at [`Cached::at`].
    by_hash: Mutex<HashMap<String, Cached<(Merchant, String)>>>,
    /// When this process last wrote each key's `last_used_at` (ms), by key id.
    uses: Mutex<HashMap<String, i64>>,
}

impl KeyCache {
    /// Whether to write a use of `key_id` at `now_ms` (see `domain::operator::record_use`);
    /// counts it as written when so.
    pub(super) fn take_use(&self, key_id: &str, now_ms: i64) -> bool {
        let mut uses = lock(&self.uses);
        let due = record_use(uses.get(key_id).copied(), now_ms);
        if due {
            uses.insert(key_id.to_owned(), now_ms);
        }
        due
    }
}

/// A new merchant and the API key it gets once.
pub struct CreatedMerchant {
    pub merchant: Merchant,
    pub api_key: String,
    /// Signs the merchant's webhooks; shown once, like the API key.
    pub webhook_secret: String,
}

/// Creates a merchant with a fresh API key and webhook secret, and optionally its
/// merchant-wide webhook endpoint (checked as an order's `notify_url`: 422
/// `invalid_notify_url`). Needs only the database and the vault, so `paygate merchants
/// create` works beside a running server.
pub async fn new_merchant(
    db: &Db,
    vault: &Vault,
    name: &str,
    notify_url: Option<&str>,
) -> Result<CreatedMerchant, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidName,
            "name must be 1 to 128 printable characters",
        ));
    }
    let notify_url = webhook_url(notify_url)
        .map_err(|e| ServiceError::invalid(ErrorCode::InvalidNotifyUrl, e.to_string()))?;
    let id = format!("m_{}", uuid::Uuid::now_v7().simple());
    let key = FreshKey::new();
    let webhook_secret = format!("whsec_{}", random_token(40));
    let merchant = merchants::insert_with_key(
        db,
        &id,
        name,
        &key.row(Some("created with the merchant")),
        &vault.seal(&webhook_secret),
        notify_url.as_deref(),
    )
    .await?;
    let api_key = key.api_key;
    tracing::info!(merchant_id = %merchant.id, name = %merchant.name, "merchant created");
    Ok(CreatedMerchant {
        merchant,
        api_key,
        webhook_secret,
    })
}

/// Stores a merchant's configuration for `provider` after checking it against the active
/// adapter's declared settings and secrets: unknown names, missing required values, base
/// URLs the allowlist refuses and secrets that do not parse as their declared kind are
/// refused here, with a message naming them, not at the first payment. Settings left out
/// get the adapter's default; secrets left out keep their stored value, and a secret given
/// as `None` is removed (switching key modes: WeChat from public key to certificates, Alipay
/// from public key to certificates). Secrets are sealed.
///
/// With [`TestFirst::Yes`] the configuration as it would be stored (the settings and
/// secrets given, with the stored secrets it keeps) is tested first (see `provider_test`),
/// and a failed test stores nothing: 422 `provider_test_failed` with the provider's words.
/// Testing before storing, rather than storing and rolling back, means no payment ever
/// runs on an untested configuration. The write happens only if the stored configuration
/// is still the one read at the start (a test can take seconds): a change made meanwhile
/// is never undone, and this one answers 409 `configuration_changed` instead.
/// Needs the database, the vault and the adapters only, so `paygate providers configure`
/// works beside a running server.
// The CLI calls this without a `Gateway`, so it takes the parts one by one.
#[allow(clippy::too_many_arguments)]
pub async fn configure_provider(
    db: &Db,
    vault: &Vault,
    runtime: &Runtime,
    merchant_id: &str,
    provider: &str,
    mut settings: BTreeMap<String, String>,
    secrets: BTreeMap<String, Option<String>>,
    test: TestFirst,
) -> Result<Configured, ServiceError> {
    merchants::get(db, merchant_id)
        .await?
        .ok_or(ServiceError::NotFound("merchant"))?;
    let adapter = runtime
        .adapter(provider)
        .ok_or_else(|| ServiceError::unknown_provider(provider))?;
    let info = &adapter.info;
    for name in settings.keys() {
        if !info.settings.iter().any(|s| &s.name == name) {
            return Err(ServiceError::invalid(
                ErrorCode::UnknownSetting,
                format!("provider `{provider}` has no setting `{name}`"),
            ));
        }
    }
    for spec in &info.settings {
        if let (false, Some(default)) = (settings.contains_key(&spec.name), &spec.default_value) {
            // Stored, so the adapter always gets it and a default base URL is allowlisted.
            settings.insert(spec.name.clone(), default.clone());
        }
        match settings.get(&spec.name).filter(|v| !v.trim().is_empty()) {
            None if spec.required => {
                return Err(ServiceError::invalid(
                    ErrorCode::MissingSetting,
                    format!("setting `{}` is required: {}", spec.name, spec.description),
                ))
            }
            Some(v) if spec.is_base_url => {
                crate::runtime::Allowlist::default()
                    .allow_base_url(v)
                    .map_err(|e| {
                        ServiceError::invalid(
                            ErrorCode::InvalidSetting,
                            format!("setting `{}`: {e}", spec.name),
                        )
                    })?;
            }
            _ => {}
        }
    }
    let mut sealed = BTreeMap::new();
    let mut removed = std::collections::BTreeSet::new();
    for (name, value) in &secrets {
        let spec = info
            .secrets
            .iter()
            .find(|s| &s.name == name)
            .ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::UnknownSecret,
                    format!("provider `{provider}` has no secret `{name}`"),
                )
            })?;
        let Some(value) = value else {
            removed.insert(name.clone());
            continue;
        };
        // Parse now, so a bad key is refused here and not at the first payment.
        KeyRing::default()
            .insert(name, spec.kind, value)
            .map_err(|e| ServiceError::invalid(ErrorCode::InvalidSecret, e.to_string()))?;
        sealed.insert(
            name.clone(),
            SealedSecret {
                kind: secret_kind_name(spec.kind).to_owned(),
                sealed: vault.seal(value),
            },
        );
    }
    // Secrets are write-only: an operator changing a setting cannot send the stored
    // secrets back, so a declared secret left out keeps its stored value.
    let stored = provider_configs::get(db, merchant_id, provider).await?;
    let read_at = stored.as_ref().map(|s| s.updated_at);
    if let Some(stored) = stored {
        for (name, secret) in stored.secrets {
            if info.secrets.iter().any(|s| s.name == name) && !removed.contains(&name) {
                sealed.entry(name).or_insert(secret);
            }
        }
    }
    for spec in info.secrets.iter().filter(|s| s.required) {
        if !sealed.contains_key(&spec.name) {
            return Err(ServiceError::invalid(
                ErrorCode::MissingSecret,
                format!("secret `{}` is required: {}", spec.name, spec.description),
            ));
        }
    }
    let cfg = ProviderConfig {
        merchant_id: merchant_id.to_owned(),
        provider: provider.to_owned(),
        settings,
        secrets: sealed,
        updated_at: 0,
    };
    let test = match test {
        TestFirst::Yes => {
            let report = provider_test::test_config(runtime, vault, &cfg).await?;
            if let Some(refused) = provider_test::refusal(&report) {
                return Err(refused);
            }
            Some(report)
        }
        TestFirst::No => None,
    };
    if !provider_configs::replace_if_unchanged(db, &cfg, read_at).await? {
        return Err(ServiceError::conflict(
            ErrorCode::ConfigurationChanged,
            format!(
                "the configuration of {provider} for merchant {merchant_id} was changed by \
                 another request while this one was being tested; nothing was stored: read it \
                 again (GET) and send your change again"
            ),
        ));
    }
    tracing::info!(merchant_id, provider, secrets = ?cfg.secrets.keys().collect::<Vec<_>>(), tested = test.is_some(), "provider configured");
    let config = provider_configs::get(db, merchant_id, provider)
        .await?
        .ok_or_else(|| {
            ServiceError::internal(
                "reading a configuration back",
                anyhow::anyhow!("it vanished after its write"),
            )
        })?;
    Ok(Configured { config, test })
}

/// A stored configuration, and the test it passed (`None`: stored untested).
pub struct Configured {
    pub config: ProviderConfig,
    pub test: Option<TestReport>,
}

impl Gateway {
    pub async fn create_merchant(
        &self,
        name: &str,
        notify_url: Option<&str>,
    ) -> Result<CreatedMerchant, ServiceError> {
        // The syntax first (its message is the clearer one), then the destination rule.
        let checked = webhook_url(notify_url)
            .map_err(|e| ServiceError::invalid(ErrorCode::InvalidNotifyUrl, e.to_string()))?;
        if let Some(url) = &checked {
            self.check_destination(url).await?;
        }
        new_merchant(&self.db, &self.vault, name, notify_url).await
    }

    /// The merchant holding `api_key`, a live key: from memory for [`CACHE_TTL`] after it was
    /// read (no statement), else one statement. The key's `last_used_at` is written at most
    /// once a minute per process, after the answer (never on the request's path).
    pub async fn authenticate(&self, api_key: &str) -> Result<Merchant, ServiceError> {
        if !api_key.starts_with(API_KEY_PREFIX) {
            return Err(ServiceError::Unauthorized("invalid API key"));
        }
        let hash = api_key_hash(api_key);
        if let Some(c) = lock(&self.keys.by_hash).get(&hash) {
            if c.at.elapsed() < CACHE_TTL {
                return Ok(c.value.0.clone());
            }
        }
        let changes_seen = self.changes.load(std::sync::atomic::Ordering::SeqCst);
        let (merchant, key_id) = api_keys::authenticate(&self.db, &hash)
            .await?
            .ok_or(ServiceError::Unauthorized("invalid API key"))?;
        let now = self.now_ms();
        if self.keys.take_use(&key_id, now) {
            let (db, key_id) = (self.db.clone(), key_id.clone());
            tokio::spawn(async move {
                if let Err(e) = api_keys::touch(&db, &key_id, now).await {
                    tracing::warn!(key_id, error = %e, "cannot record the API key's last use");
                }
            });
        }
        let mut cache = lock(&self.keys.by_hash);
        // A key revoked through this process while it was being read is not cached.
        if self.changes.load(std::sync::atomic::Ordering::SeqCst) == changes_seen {
            cache.insert(
                hash,
                Cached {
                    at: std::time::Instant::now(),
                    value: (merchant.clone(), key_id),
                },
            );
        }
        Ok(merchant)
    }

    pub async fn create_api_key(
        &self,
        merchant_id: &str,
        label: Option<&str>,
    ) -> Result<CreatedKey, ServiceError> {
        create_api_key(&self.db, merchant_id, label).await
    }

    pub async fn list_api_keys(&self, merchant_id: &str) -> Result<Vec<ApiKey>, ServiceError> {
        list_api_keys(&self.db, merchant_id).await
    }

    /// Revokes the key, and forgets it here at once: this process refuses it from now on.
    pub async fn revoke_api_key(
        &self,
        merchant_id: &str,
        key_id: &str,
    ) -> Result<ApiKey, ServiceError> {
        let key = revoke_api_key(&self.db, merchant_id, key_id, self.now_ms()).await?;
        let mut cache = lock(&self.keys.by_hash);
        // Under the cache's lock: a read of the key that started before the revocation is
        // not cached after it (see `authenticate`).
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        cache.retain(|_, c| c.value.1 != key_id);
        Ok(key)
    }

    pub async fn configure_provider(
        &self,
        merchant_id: &str,
        provider: &str,
        settings: BTreeMap<String, String>,
        secrets: BTreeMap<String, Option<String>>,
        test: TestFirst,
    ) -> Result<Configured, ServiceError> {
        let stored = configure_provider(
            &self.db,
            &self.vault,
            &self.runtime,
            merchant_id,
            provider,
            settings,
            secrets,
            test,
        )
        .await?;
        self.forget_context(merchant_id, provider);
        Ok(stored)
    }

    pub async fn provider_config(
        &self,
        merchant_id: &str,
        provider: &str,
    ) -> Result<ProviderConfig, ServiceError> {
        merchants::get(&self.db, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound("merchant"))?;
        provider_configs::get(&self.db, merchant_id, provider)
            .await?
            .ok_or(ServiceError::NotFound("provider configuration"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_long_random_and_hashed_for_storage() {
        let a = random_token(40);
        assert_eq!(a.len(), 40);
        assert_ne!(a, random_token(40));
        assert_eq!(api_key_hash("pk_x").len(), 64);
        assert_ne!(api_key_hash("pk_x"), api_key_hash("pk_y"));
    }

    #[test]
    fn a_new_key_shows_only_its_first_characters() {
        let key = FreshKey::new();
        assert!(key.api_key.starts_with(&key.prefix));
        assert_eq!(key.prefix.len(), 7);
        assert!(key.prefix.starts_with("pk_"));
        assert_eq!(key.hash, api_key_hash(&key.api_key));
        assert!(key.id.starts_with("key_"));
    }

    #[test]
    fn a_label_is_short_and_printable_and_blank_is_none() {
        assert_eq!(check_label(None).ok(), Some(None));
        assert_eq!(check_label(Some("  ")).ok(), Some(None));
        assert_eq!(check_label(Some(" ci ")).ok(), Some(Some("ci")));
        assert!(check_label(Some(&"x".repeat(65))).is_err());
        assert!(check_label(Some("a\nb")).is_err());
    }

    #[test]
    fn a_key_use_is_written_once_a_minute_per_key() {
        let cache = KeyCache::default();
        assert!(cache.take_use("k1", 0));
        assert!(!cache.take_use("k1", 59_999));
        assert!(cache.take_use("k2", 59_999));
        assert!(cache.take_use("k1", 60_000));
    }
}
