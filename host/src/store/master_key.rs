//! The master key's verifier (one row, see migration 0009) and samples of the secrets
//! sealed before it existed.

use sqlx::Row;

use super::{now_ms, Db, StoreError};

/// The sealed verifier, if one was written.
pub async fn verifier(db: &Db) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT sealed FROM master_key_verifier WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get("sealed")).transpose()?)
}

/// Writes the verifier unless one exists (another instance starting at the same time may
/// have written its own first: the caller reads back the one that stays).
pub async fn insert_verifier(db: &Db, sealed: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO master_key_verifier (id, sealed, created_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(sealed)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Replaces verifier `old` with `sealed`, unless another instance changed it meanwhile
/// (the caller reads back the one that stays).
pub async fn replace_verifier(db: &Db, old: &str, sealed: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE master_key_verifier SET sealed = $1, created_at = $2 WHERE id = 1 AND sealed = $3",
    )
    .bind(sealed)
    .bind(now_ms())
    .bind(old)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One sealed secret of each place secrets are kept (a merchant's webhook secret, a
/// provider configuration's secret), as (where, sealed value): enough to tell whether a key
/// is the one they were sealed with.
pub async fn sealed_samples(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let mut samples = Vec::new();
    let merchant =
        sqlx::query("SELECT id, webhook_secret FROM merchants ORDER BY created_at LIMIT 1")
            .fetch_optional(&db.pool)
            .await?;
    if let Some(r) = merchant {
        let id: String = r.try_get("id")?;
        samples.push((
            format!("the webhook secret of merchant {id}"),
            r.try_get("webhook_secret")?,
        ));
    }
    let configs = sqlx::query(
        "SELECT merchant_id, provider, secrets FROM provider_configs WHERE secrets <> '{}'
         ORDER BY updated_at LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?;
    if let Some(r) = configs {
        let merchant_id: String = r.try_get("merchant_id")?;
        let provider: String = r.try_get("provider")?;
        let secrets: String = r.try_get("secrets")?;
        let secrets: std::collections::BTreeMap<String, super::provider_configs::SealedSecret> =
            serde_json::from_str(&secrets)
                .map_err(|e| StoreError::Corrupt(format!("provider_configs.secrets: {e}")))?;
        if let Some((name, secret)) = secrets.into_iter().next() {
            samples.push((
                format!("the `{provider}` secret `{name}` of merchant {merchant_id}"),
                secret.sealed,
            ));
        }
    }
    Ok(samples)
}
