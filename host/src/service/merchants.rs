//! Merchants: creation with a one-time API key, authentication, and their provider
//! configurations checked against what the adapter declares it needs, then tested with the
//! provider (`provider_test`) before they are stored.

use std::collections::BTreeMap;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::provider_test::{self, TestFirst, TestReport};
use super::{lock, secret_kind_name, Cached, ErrorCode, Gateway, ServiceError, CACHE_TTL};
use crate::domain::merchant::webhook_url;
use crate::runtime::{KeyRing, Runtime};
use crate::store::merchants::{self, Merchant};
use crate::store::provider_configs::{self, ProviderConfig, SealedSecret};
use crate::store::Db;
use crate::vault::Vault;

/// API keys look like `pk_` + 40 random alphanumerics (about 238 bits).
const API_KEY_PREFIX: &str = "pk_";

fn random_token(len: usize) -> String {
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
    let api_key = format!("{API_KEY_PREFIX}{}", random_token(40));
    let webhook_secret = format!("whsec_{}", random_token(40));
    let merchant = merchants::insert(
        db,
        &id,
        name,
        &api_key_hash(&api_key),
        &vault.seal(&webhook_secret),
        notify_url.as_deref(),
    )
    .await?;
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

    pub async fn authenticate(&self, api_key: &str) -> Result<Merchant, ServiceError> {
        if !api_key.starts_with(API_KEY_PREFIX) {
            return Err(ServiceError::Unauthorized("invalid API key"));
        }
        let hash = api_key_hash(api_key);
        if let Some(c) = lock(&self.merchants).get(&hash) {
            if c.at.elapsed() < CACHE_TTL {
                return Ok(c.value.clone());
            }
        }
        let merchant = merchants::by_api_key_hash(&self.db, &hash)
            .await?
            .ok_or(ServiceError::Unauthorized("invalid API key"))?;
        lock(&self.merchants).insert(
            hash,
            Cached {
                at: std::time::Instant::now(),
                value: merchant.clone(),
            },
        );
        Ok(merchant)
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
}
