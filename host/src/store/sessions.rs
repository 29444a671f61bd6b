//! Operator console sessions: a random id in the browser's cookie, its SHA-256 here with
//! the SHA-256 of the token the operator signed in with, and the session's CSRF token.

use sqlx::Row;

use super::{Db, StoreError};

/// A live session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the operator token (or `PAYGATE_ADMIN_TOKEN`) signed in with.
    pub token_hash: String,
    /// The operator's name as signed in.
    pub operator: String,
    /// The synchronizer token state-changing requests must carry.
    pub csrf: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// Stores a session under `id_hash`, and drops the sessions expired by `now` (sign-ins are
/// rare; this keeps the table to the live ones).
pub async fn insert(db: &Db, id_hash: &str, s: &Session, now: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, token_hash, operator, csrf, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_hash)
    .bind(&s.token_hash)
    .bind(&s.operator)
    .bind(&s.csrf)
    .bind(now)
    .bind(s.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The session `id_hash` if it has not expired by `now`.
pub async fn live(db: &Db, id_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query(
        "SELECT token_hash, operator, csrf, expires_at FROM console_sessions
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Session {
            token_hash: r.try_get("token_hash")?,
            operator: r.try_get("operator")?,
            csrf: r.try_get("csrf")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Ends the session `id_hash` (signing out); ending one already gone is not an error.
pub async fn delete(db: &Db, id_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&db.pool)
        .await?;
    Ok(())
}
