//! Operators' resolutions of payment flags (migration 0017): the flag taken off the payment
//! and the resolution (who, when, why) written in one transaction.

use sqlx::Row;

use super::{Db, StoreError};
use crate::domain::PaymentFlag;

/// One resolved flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagResolution {
    /// `fr_` and a UUIDv7 (32 hex digits): sorts by time.
    pub id: String,
    pub payment_no: String,
    pub merchant_id: String,
    /// The flag the payment carried.
    pub flag: PaymentFlag,
    /// Why the operator resolved it.
    pub note: String,
    /// The operator's name.
    pub resolved_by: String,
    /// Milliseconds since the epoch.
    pub resolved_at: i64,
}

/// Takes `r.flag` off its payment, only if the payment still carries it, and keeps `r`.
/// `false` (nothing written) when the payment carries another flag or none by now: the
/// caller lost a race with a new event about the payment's money.
pub async fn resolve(db: &Db, r: &FlagResolution) -> Result<bool, StoreError> {
    let mut tx = db.pool.begin().await?;
    let taken = sqlx::query(
        "UPDATE payments SET flag = NULL, updated_at = $1 WHERE payment_no = $2 AND flag = $3",
    )
    .bind(r.resolved_at)
    .bind(&r.payment_no)
    .bind(r.flag.as_str())
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO flag_resolutions (id, payment_no, merchant_id, flag, note, resolved_by,
         resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.id)
    .bind(&r.payment_no)
    .bind(&r.merchant_id)
    .bind(r.flag.as_str())
    .bind(&r.note)
    .bind(&r.resolved_by)
    .bind(r.resolved_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The latest resolutions, newest first, at most `limit`.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<FlagResolution>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, payment_no, merchant_id, flag, note, resolved_by, resolved_at
         FROM flag_resolutions ORDER BY resolved_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(resolution).collect()
}

/// The resolutions of `payment_no`'s flags, oldest first.
pub async fn of_payment(db: &Db, payment_no: &str) -> Result<Vec<FlagResolution>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, payment_no, merchant_id, flag, note, resolved_by, resolved_at
         FROM flag_resolutions WHERE payment_no = $1 ORDER BY resolved_at, id",
    )
    .bind(payment_no)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(resolution).collect()
}

fn resolution(r: &sqlx::any::AnyRow) -> Result<FlagResolution, StoreError> {
    let flag: String = r.try_get("flag")?;
    Ok(FlagResolution {
        id: r.try_get("id")?,
        payment_no: r.try_get("payment_no")?,
        merchant_id: r.try_get("merchant_id")?,
        flag: PaymentFlag::parse(&flag)
            .ok_or_else(|| StoreError::Corrupt(format!("resolved flag `{flag}`")))?,
        note: r.try_get("note")?,
        resolved_by: r.try_get("resolved_by")?,
        resolved_at: r.try_get("resolved_at")?,
    })
}
