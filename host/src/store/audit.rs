//! The audit log (migration 0012): one row per state-changing admin request, refused ones
//! included, newest last; read a page at a time, newest first.

use sqlx::Row;

use super::{Db, StoreError};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// `au_` and a UUIDv7 (32 hex digits): sorts by time.
    pub id: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The operator's name; `None` when no token was accepted.
    pub operator: Option<String>,
    /// The id of the token used (`op_...`, or `bootstrap` for `PAYGATE_ADMIN_TOKEN`).
    pub token_id: Option<String>,
    pub method: String,
    /// The route template (`/admin/merchants/{id}/keys`).
    pub route: String,
    /// The route's parameters as a JSON object (`{"id":"m_..."}`).
    pub target: String,
    pub client_ip: Option<String>,
    /// The HTTP status answered.
    pub status: i32,
    /// The error code answered, if any.
    pub error_code: Option<String>,
}

pub async fn insert(db: &Db, e: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, operator, token_id, method, route, target, client_ip,
         status, error_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&e.id)
    .bind(e.at)
    .bind(&e.operator)
    .bind(&e.token_id)
    .bind(&e.method)
    .bind(&e.route)
    .bind(&e.target)
    .bind(&e.client_ip)
    .bind(e.status)
    .bind(&e.error_code)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Up to `limit` entries, newest first, with ids below `before` when given.
pub async fn page(
    db: &Db,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, operator, token_id, method, route, target, client_ip, status, error_code
         FROM audit_log WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                operator: r.try_get("operator")?,
                token_id: r.try_get("token_id")?,
                method: r.try_get("method")?,
                route: r.try_get("route")?,
                target: r.try_get("target")?,
                client_ip: r.try_get("client_ip")?,
                status: r.try_get("status")?,
                error_code: r.try_get("error_code")?,
            })
        })
        .collect()
}
