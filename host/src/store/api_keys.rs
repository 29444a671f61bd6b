//! Merchants' API keys (migration 0012): several per merchant, each with a prefix people
//! can tell apart, stored as SHA-256 only, revocable, with the time of their last use.

use sqlx::Row;

use super::merchants::Merchant;
use super::{now_ms, Db, StoreError};

/// A key as operators see it: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `key_` and 32 hex digits (`key_<merchant id>` for the key a merchant was created with
    /// before keys had rows of their own).
    pub id: String,
    pub merchant_id: String,
    /// The key's first characters (`pk_Xk3a`), to tell keys apart; `pk_` for keys created
    /// before prefixes were kept.
    pub prefix: String,
    pub label: Option<String>,
    /// Milliseconds since the epoch, as every time here.
    pub created_at: i64,
    /// Written at most once a minute per process (see `domain::operator::record_use`).
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key to store.
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub prefix: &'a str,
    /// SHA-256 of the key, hex.
    pub hash: &'a str,
    pub label: Option<&'a str>,
}

const COLUMNS: &str = "id, merchant_id, prefix, label, created_at, last_used_at, revoked_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        prefix: r.try_get("prefix")?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// The statement storing `key` for `merchant_id`, for [`insert`] and the merchant's
/// creation (one transaction with it).
pub(super) fn insert_query<'q>(
    merchant_id: &'q str,
    key: &'q NewApiKey<'q>,
    created_at: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "INSERT INTO merchant_api_keys (id, merchant_id, prefix, hash, label, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.id)
    .bind(merchant_id)
    .bind(key.prefix)
    .bind(key.hash)
    .bind(key.label)
    .bind(created_at)
}

/// Stores another key of an existing merchant.
pub async fn insert(db: &Db, merchant_id: &str, key: &NewApiKey<'_>) -> Result<ApiKey, StoreError> {
    let created_at = now_ms();
    insert_query(merchant_id, key, created_at)
        .execute(&db.pool)
        .await?;
    Ok(ApiKey {
        id: key.id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        prefix: key.prefix.to_owned(),
        label: key.label.map(str::to_owned),
        created_at,
        last_used_at: None,
        revoked_at: None,
    })
}

/// The merchant's keys, revoked ones included, oldest first.
pub async fn list(db: &Db, merchant_id: &str) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM merchant_api_keys WHERE merchant_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(merchant_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The merchant holding the live (not revoked) key of SHA-256 `hash`, with the key's id:
/// one statement.
pub async fn authenticate(db: &Db, hash: &str) -> Result<Option<(Merchant, String)>, StoreError> {
    let row = sqlx::query(
        "SELECT m.id, m.name, m.created_at, m.notify_url, k.id AS key_id
         FROM merchant_api_keys k JOIN merchants m ON m.id = k.merchant_id
         WHERE k.hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok((
            Merchant {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                notify_url: r.try_get("notify_url")?,
            },
            r.try_get("key_id")?,
        ))
    })
    .transpose()
}

/// Revokes the merchant's key `key_id` at `at` (a key revoked already keeps its first
/// revocation time); the key as it is now, `None` when the merchant has no such key.
pub async fn revoke(
    db: &Db,
    merchant_id: &str,
    key_id: &str,
    at: i64,
) -> Result<Option<ApiKey>, StoreError> {
    sqlx::query(
        "UPDATE merchant_api_keys SET revoked_at = $1
         WHERE id = $2 AND merchant_id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(key_id)
    .bind(merchant_id)
    .execute(&db.pool)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM merchant_api_keys WHERE id = $1 AND merchant_id = $2");
    let row = sqlx::query(&sql)
        .bind(key_id)
        .bind(merchant_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a use of key `key_id` at `at` (never moving it back).
pub async fn touch(db: &Db, key_id: &str, at: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE merchant_api_keys SET last_used_at = $1
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
    )
    .bind(at)
    .bind(key_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
