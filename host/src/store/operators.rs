//! Operators of the admin API (migration 0012): a name, a role, the SHA-256 of their token,
//! when they were created and by whom, their last use and their revocation.

use sqlx::Row;

use super::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `op_` and 32 hex digits.
    pub id: String,
    pub name: String,
    /// `read`, `operate` or `admin` (checked by the table and by `domain::operator::Role`).
    pub role: String,
    /// The token's first characters (`pgo_Ab3d`), to tell tokens apart.
    pub token_prefix: String,
    /// Milliseconds since the epoch, as every time here.
    pub created_at: i64,
    /// The operator who created it (`admin` or a name; `cli` from the command line).
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// An operator to store.
pub struct NewOperator<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub token_prefix: &'a str,
    /// SHA-256 of the token, hex.
    pub token_hash: &'a str,
    pub created_by: &'a str,
}

const COLUMNS: &str =
    "id, name, role, token_prefix, created_at, created_by, last_used_at, revoked_at";

/// The unique index that keeps one live token per name.
pub const LIVE_NAME_INDEX: &str = "operators_live_name";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        token_prefix: r.try_get("token_prefix")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// Stores `op`; a unique violation of [`LIVE_NAME_INDEX`] when a live operator has its name.
pub async fn insert(db: &Db, op: &NewOperator<'_>) -> Result<Operator, StoreError> {
    let created_at = now_ms();
    sqlx::query(
        "INSERT INTO operators (id, name, role, token_prefix, token_hash, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(op.id)
    .bind(op.name)
    .bind(op.role)
    .bind(op.token_prefix)
    .bind(op.token_hash)
    .bind(created_at)
    .bind(op.created_by)
    .execute(&db.pool)
    .await?;
    Ok(Operator {
        id: op.id.to_owned(),
        name: op.name.to_owned(),
        role: op.role.to_owned(),
        token_prefix: op.token_prefix.to_owned(),
        created_at,
        created_by: op.created_by.to_owned(),
        last_used_at: None,
        revoked_at: None,
    })
}

/// Every operator, revoked ones included, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Operator>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operators ORDER BY created_at, id");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// The live operator whose token has SHA-256 `hash`.
pub async fn by_token_hash(db: &Db, hash: &str) -> Result<Option<Operator>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM operators WHERE token_hash = $1 AND revoked_at IS NULL");
    let row = sqlx::query(&sql)
        .bind(hash)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Revokes the operator with id `id_or_name`, or the live one of that name, at `at`; the
/// operator as it is now, `None` when there is none.
pub async fn revoke(db: &Db, id_or_name: &str, at: i64) -> Result<Option<Operator>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM operators WHERE id = $1 OR (name = $1 AND revoked_at IS NULL)"
    );
    let Some(found) = sqlx::query(&sql)
        .bind(id_or_name)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let mut op = from_row(&found)?;
    let done =
        sqlx::query("UPDATE operators SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(&op.id)
            .execute(&db.pool)
            .await?;
    if done.rows_affected() == 1 {
        op.revoked_at = Some(at);
    }
    Ok(Some(op))
}

/// Records a use of operator `id`'s token at `at` (never moving it back).
pub async fn touch(db: &Db, id: &str, at: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE operators SET last_used_at = $1
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
    )
    .bind(at)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}
