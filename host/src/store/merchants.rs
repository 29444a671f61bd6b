//! Merchants: their API keys (stored as SHA-256) and sealed webhook secrets.

use sqlx::Row;

use super::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

pub async fn insert(
    db: &Db,
    id: &str,
    name: &str,
    api_key_hash: &str,
    sealed_webhook_secret: &str,
) -> Result<Merchant, StoreError> {
    let created_at = now_ms();
    sqlx::query("INSERT INTO merchants (id, name, api_key_hash, webhook_secret, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(name)
        .bind(api_key_hash)
        .bind(sealed_webhook_secret)
        .bind(created_at)
        .execute(&db.pool)
        .await?;
    Ok(Merchant {
        id: id.to_owned(),
        name: name.to_owned(),
        created_at,
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn by_api_key_hash(db: &Db, hash: &str) -> Result<Option<Merchant>, StoreError> {
    let row = sqlx::query("SELECT id, name, created_at FROM merchants WHERE api_key_hash = $1")
        .bind(hash)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Merchant>, StoreError> {
    let row = sqlx::query("SELECT id, name, created_at FROM merchants WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM merchants")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?)
}

/// The merchant's sealed webhook secret.
pub async fn webhook_secret(db: &Db, id: &str) -> Result<String, StoreError> {
    let row = sqlx::query("SELECT webhook_secret FROM merchants WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("webhook_secret")?)
}
