//! Merchants: their sealed webhook secrets and merchant-wide webhook endpoints. Their API
//! keys are in `api_keys`; a merchant is created with its first one, in one transaction.

use sqlx::Row;

use super::api_keys::NewApiKey;
use super::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Where the events of its orders that name no `notify_url` go; `None`: nowhere.
    pub notify_url: Option<String>,
}

const COLUMNS: &str = "id, name, created_at, notify_url";

/// Stores a merchant whose only key has SHA-256 `api_key_hash` (the key's row gets the id
/// `key_<merchant id>` and the prefix `pk_`, as keys from before prefixes were kept).
pub async fn insert(
    db: &Db,
    id: &str,
    name: &str,
    api_key_hash: &str,
    sealed_webhook_secret: &str,
    notify_url: Option<&str>,
) -> Result<Merchant, StoreError> {
    let key_id = format!("key_{id}");
    let key = NewApiKey {
        id: &key_id,
        prefix: "pk_",
        hash: api_key_hash,
        label: Some("created with the merchant"),
    };
    insert_with_key(db, id, name, &key, sealed_webhook_secret, notify_url).await
}

/// Stores a merchant and its first API key, in one transaction. The key's hash also goes
/// to the legacy `merchants.api_key_hash` column (NOT NULL; read by nothing).
pub async fn insert_with_key(
    db: &Db,
    id: &str,
    name: &str,
    key: &NewApiKey<'_>,
    sealed_webhook_secret: &str,
    notify_url: Option<&str>,
) -> Result<Merchant, StoreError> {
    let created_at = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO merchants (id, name, api_key_hash, webhook_secret, created_at, notify_url) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(name)
        .bind(key.hash)
        .bind(sealed_webhook_secret)
        .bind(created_at)
        .bind(notify_url)
        .execute(&mut *tx)
        .await?;
    super::api_keys::insert_query(id, key, created_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Merchant {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at,
        notify_url: notify_url.map(str::to_owned),
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        notify_url: r.try_get("notify_url")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Merchant>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM merchants WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The merchants named exactly `name`, oldest first (names are not unique), at most `limit`.
pub async fn by_name(db: &Db, name: &str, limit: u32) -> Result<Vec<Merchant>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM merchants WHERE name = $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Up to `limit` merchants, newest first (ids are UUIDv7: they sort by creation time), with
/// ids below `before` when given; only those named `name` when given.
pub async fn page(
    db: &Db,
    before: Option<&str>,
    name: Option<&str>,
    limit: u32,
) -> Result<Vec<Merchant>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM merchants WHERE ($1 IS NULL OR id < $1) AND ($2 IS NULL OR name = $2)
         ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(before)
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Sets (or, with `None`, removes) the merchant's webhook endpoint; whether the merchant
/// exists.
pub async fn set_notify_url(
    db: &Db,
    id: &str,
    notify_url: Option<&str>,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE merchants SET notify_url = $1 WHERE id = $2")
        .bind(notify_url)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM merchants")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?)
}

/// Where and how the merchant's webhooks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The webhook secret, sealed by the vault.
    pub sealed_secret: String,
    /// The merchant-wide endpoint, for orders without their own.
    pub notify_url: Option<String>,
}

/// The merchant's sealed webhook secret and its webhook endpoint.
pub async fn webhook(db: &Db, id: &str) -> Result<Webhook, StoreError> {
    let row = sqlx::query("SELECT webhook_secret, notify_url FROM merchants WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(Webhook {
        sealed_secret: row.try_get("webhook_secret")?,
        notify_url: row.try_get("notify_url")?,
    })
}
