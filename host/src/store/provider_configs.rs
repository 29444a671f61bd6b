//! A merchant's configuration per provider: settings in clear, secrets sealed by the vault.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{now_ms, Db, StoreError};

/// One sealed secret and the kind it was validated as.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedSecret {
    pub kind: String,
    pub sealed: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub merchant_id: String,
    pub provider: String,
    pub settings: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SealedSecret>,
    pub updated_at: i64,
}

pub async fn upsert(db: &Db, cfg: &ProviderConfig) -> Result<(), StoreError> {
    let settings =
        serde_json::to_string(&cfg.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let secrets =
        serde_json::to_string(&cfg.secrets).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO provider_configs (merchant_id, provider, settings, secrets, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (merchant_id, provider) DO UPDATE SET settings = EXCLUDED.settings, secrets = EXCLUDED.secrets,
         updated_at = EXCLUDED.updated_at",
    )
    .bind(&cfg.merchant_id)
    .bind(&cfg.provider)
    .bind(settings)
    .bind(secrets)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn get(
    db: &Db,
    merchant_id: &str,
    provider: &str,
) -> Result<Option<ProviderConfig>, StoreError> {
    let row = sqlx::query("SELECT settings, secrets, updated_at FROM provider_configs WHERE merchant_id = $1 AND provider = $2")
        .bind(merchant_id)
        .bind(provider)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let settings: String = row.try_get("settings")?;
    let secrets: String = row.try_get("secrets")?;
    Ok(Some(ProviderConfig {
        merchant_id: merchant_id.to_owned(),
        provider: provider.to_owned(),
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("provider_configs.settings: {e}")))?,
        secrets: serde_json::from_str(&secrets)
            .map_err(|e| StoreError::Corrupt(format!("provider_configs.secrets: {e}")))?,
        updated_at: row.try_get("updated_at")?,
    }))
}

/// The providers configured for each of `merchant_ids` (a page of merchants, at most a few
/// hundred), as (merchant id, provider) pairs ordered by both: one statement for the page.
pub async fn providers_of(
    db: &Db,
    merchant_ids: &[&str],
) -> Result<Vec<(String, String)>, StoreError> {
    if merchant_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT merchant_id, provider FROM provider_configs WHERE merchant_id IN ({})
         ORDER BY merchant_id, provider",
        super::batch::placeholders(1, merchant_ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in merchant_ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("provider")?)))
        .collect()
}
