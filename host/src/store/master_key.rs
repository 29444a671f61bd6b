//! The master key's verifier (one row, see migration 0009), samples of the secrets
//! sealed before it existed, and the walk over every sealed value a key rotation re-seals.

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
/// (the caller reads back the one that stays); whether it was replaced.
pub async fn replace_verifier(db: &Db, old: &str, sealed: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE master_key_verifier SET sealed = $1, created_at = $2 WHERE id = 1 AND sealed = $3",
    )
    .bind(sealed)
    .bind(now_ms())
    .bind(old)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
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

/// Up to `limit` merchants' sealed webhook secrets, as (merchant id, sealed), by id after
/// `after`: the rotation's walk.
pub async fn webhook_secrets(
    db: &Db,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, webhook_secret FROM merchants WHERE ($1 IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("webhook_secret")?)))
        .collect()
}

/// Replaces merchant `id`'s sealed webhook secret `old` with `new`, unless it changed
/// meanwhile; whether it was replaced.
pub async fn replace_webhook_secret(
    db: &Db,
    id: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE merchants SET webhook_secret = $1 WHERE id = $2 AND webhook_secret = $3",
    )
    .bind(new)
    .bind(id)
    .bind(old)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` provider configurations' secrets, as ((merchant id, provider), the
/// secrets' JSON as stored), by key after `after`: the rotation's walk.
pub async fn provider_secrets(
    db: &Db,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<((String, String), String)>, StoreError> {
    let (m, p) = after.unzip();
    let rows = sqlx::query(
        "SELECT merchant_id, provider, secrets FROM provider_configs
         WHERE ($1 IS NULL OR merchant_id > $1 OR (merchant_id = $1 AND provider > $2))
         ORDER BY merchant_id, provider LIMIT $3",
    )
    .bind(m)
    .bind(p)
    .bind(i64::from(limit))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("merchant_id")?, r.try_get("provider")?),
                r.try_get("secrets")?,
            ))
        })
        .collect()
}

/// Replaces a provider configuration's secrets JSON `old` with `new`, unless it changed
/// meanwhile; whether it was replaced. `updated_at` is left alone: the same secrets sealed
/// again are not a change of configuration (an operator's write racing this one is not
/// refused; a value it wrote under the old key is found by the rotation's next pass).
pub async fn replace_provider_secrets(
    db: &Db,
    merchant_id: &str,
    provider: &str,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE provider_configs SET secrets = $1
         WHERE merchant_id = $2 AND provider = $3 AND secrets = $4",
    )
    .bind(new)
    .bind(merchant_id)
    .bind(provider)
    .bind(old)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
