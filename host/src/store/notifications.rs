//! The record of every provider notification paygate received, verified or refused: what
//! a provider said is evidence.

use super::batch::{self, Write};
use super::{Db, StoreError};

/// A notification as received, and what became of it.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub provider: &'a str,
    pub merchant_id: &'a str,
    pub payment_no: Option<&'a str>,
    /// The adapter verified its signature.
    pub verified: bool,
    /// For people: `paid`, `unchanged`, `refused: bad signature`...
    pub outcome: String,
}

/// The write recording `n` (for the transaction that applies it).
pub fn record(n: &Received<'_>, now: i64) -> Write {
    Write::new(
        "INSERT INTO provider_notifications (id, provider, merchant_id, payment_no, verified, outcome, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        Some(1),
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(n.provider)
    .bind(n.merchant_id)
    .bind(n.payment_no)
    .bind(i64::from(n.verified))
    .bind(n.outcome.clone())
    .bind(now)
}

/// Records `n` on its own.
pub async fn save(db: &Db, n: &Received<'_>, now: i64) -> Result<(), StoreError> {
    batch::run(db, &record(n, now)).await?;
    Ok(())
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub provider: String,
    pub verified: bool,
    pub outcome: String,
    /// Milliseconds since the epoch.
    pub received_at: i64,
}

/// The notifications received about `payment_no`, oldest first, at most 200.
pub async fn of_payment(db: &Db, payment_no: &str) -> Result<Vec<NotificationRecord>, StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT provider, verified, outcome, received_at FROM provider_notifications
         WHERE payment_no = $1 ORDER BY received_at, id LIMIT 200",
    )
    .bind(payment_no)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(NotificationRecord {
                provider: r.try_get("provider")?,
                verified: r.try_get::<i32, _>("verified")? != 0,
                outcome: r.try_get("outcome")?,
                received_at: r.try_get("received_at")?,
            })
        })
        .collect()
}
