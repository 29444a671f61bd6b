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

/// Writes `cfg` only if the stored configuration is still the one read before:
/// `read_at` is its `updated_at`, `None` when there was none. `Ok(false)` when another
/// write came between (nothing written), so a change made meanwhile is never undone.
/// The new `updated_at` is always later than `read_at`, so a write never matches itself.
pub async fn replace_if_unchanged(
    db: &Db,
    cfg: &ProviderConfig,
    read_at: Option<i64>,
) -> Result<bool, StoreError> {
    let (settings, secrets) = encode(cfg)?;
    let done = match read_at {
        None => sqlx::query(
            "INSERT INTO provider_configs (merchant_id, provider, settings, secrets, updated_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, provider) DO NOTHING",
        )
        .bind(&cfg.merchant_id)
        .bind(&cfg.provider)
        .bind(settings)
        .bind(secrets)
        .bind(now_ms())
        .execute(&db.pool)
        .await?,
        Some(read_at) => {
            sqlx::query(
                "UPDATE provider_configs SET settings = $3, secrets = $4, updated_at = $5
             WHERE merchant_id = $1 AND provider = $2 AND updated_at = $6",
            )
            .bind(&cfg.merchant_id)
            .bind(&cfg.provider)
            .bind(settings)
            .bind(secrets)
            .bind(now_ms().max(read_at + 1))
            .bind(read_at)
            .execute(&db.pool)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

fn encode(cfg: &ProviderConfig) -> Result<(String, String), StoreError> {
    let settings =
        serde_json::to_string(&cfg.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let secrets =
        serde_json::to_string(&cfg.secrets).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((settings, secrets))
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

/// Every (merchant id, provider) configured, ordered by both: what a day's reconciliation
/// goes through.
pub async fn all_pairs(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT merchant_id, provider FROM provider_configs ORDER BY merchant_id, provider",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("provider")?)))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(merchant_id: &str, api_base: &str, updated_at: i64) -> ProviderConfig {
        ProviderConfig {
            merchant_id: merchant_id.to_owned(),
            provider: "mock".to_owned(),
            settings: BTreeMap::from([("sandbox_url".to_owned(), api_base.to_owned())]),
            secrets: BTreeMap::new(),
            updated_at,
        }
    }

    #[tokio::test]
    async fn a_configuration_changed_since_it_was_read_is_not_overwritten() {
        let (_dir, db) = crate::store::temporary().await;
        sqlx::query(
            "INSERT INTO merchants (id, name, api_key_hash, webhook_secret, created_at) \
             VALUES ('m_1', 'Acme', 'h', 's', 0)",
        )
        .execute(&db.pool)
        .await
        .expect("merchant");
        // Two requests read "nothing stored"; the first write wins, the second is refused.
        assert!(
            replace_if_unchanged(&db, &config("m_1", "http://a", 0), None)
                .await
                .expect("write")
        );
        assert!(
            !replace_if_unchanged(&db, &config("m_1", "http://b", 0), None)
                .await
                .expect("write")
        );
        let read = get(&db, "m_1", "mock")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(read.settings["sandbox_url"], "http://a");
        // Two requests read the same version: again only the first write lands.
        let seen = read.updated_at;
        assert!(
            replace_if_unchanged(&db, &config("m_1", "http://c", 0), Some(seen))
                .await
                .expect("write")
        );
        assert!(
            !replace_if_unchanged(&db, &config("m_1", "http://d", 0), Some(seen))
                .await
                .expect("write")
        );
        let read = get(&db, "m_1", "mock")
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(read.settings["sandbox_url"], "http://c");
        assert!(read.updated_at > seen);
    }
}
