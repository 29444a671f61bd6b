//! Idempotency keys: the first response to a (merchant, key) is stored with a fingerprint
//! of the request, in the same transaction as the work it answers.

use sqlx::{Any, Row, Transaction};

use super::{now_ms, StoreError};

/// A response saved under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedResponse {
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// Claims `key` inside `tx`. `false` if another request holds it already (the caller rolls
/// back and replays that one's response with [`saved`]).
pub async fn claim(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    key: &str,
    fingerprint: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (merchant_id, idempotency_key, fingerprint, status, body, created_at)
         VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (merchant_id, idempotency_key) DO NOTHING",
    )
    .bind(merchant_id)
    .bind(key)
    .bind(fingerprint)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the response of a claimed key, in the same transaction as the work.
pub async fn save(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE merchant_id = $3 AND idempotency_key = $4")
        .bind(i32::from(status))
        .bind(body)
        .bind(merchant_id)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn saved(
    db: &super::Db,
    merchant_id: &str,
    key: &str,
) -> Result<Option<SavedResponse>, StoreError> {
    let row = sqlx::query("SELECT fingerprint, status, body FROM idempotency_keys WHERE merchant_id = $1 AND idempotency_key = $2")
        .bind(merchant_id)
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        let status: i32 = r.try_get("status")?;
        Ok(SavedResponse {
            fingerprint: r.try_get("fingerprint")?,
            status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt("idempotency_keys.status".into()))?,
            body: r.try_get("body")?,
        })
    })
    .transpose()
}
