//! What happened lately, counted for the operator console's overview: orders and payments
//! by state, and per-minute series of orders created, payments paid and failed adapter
//! calls. Each is one aggregate over an index on its time column (migration 0019).

use sqlx::Row;

use super::{Db, StoreError};
use crate::domain::{DeliveryState, RefundState};

/// How many of something in one group (a state, a minute, a provider and outcome).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub key: String,
    pub n: i64,
}

/// One minute's count: `minute` is milliseconds since the epoch / 60,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCount {
    pub minute: i64,
    pub n: i64,
}

async fn tallies(db: &Db, sql: &str, since: i64) -> Result<Vec<Tally>, StoreError> {
    let rows = sqlx::query(sql).bind(since).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(Tally {
                key: r.try_get("k")?,
                n: r.try_get("n")?,
            })
        })
        .collect()
}

async fn minutes(db: &Db, sql: &str, since: i64) -> Result<Vec<MinuteCount>, StoreError> {
    let rows = sqlx::query(sql).bind(since).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(MinuteCount {
                minute: r.try_get("m")?,
                n: r.try_get("n")?,
            })
        })
        .collect()
}

/// Orders created since `since` (ms), by their state now.
pub async fn orders_by_state(db: &Db, since: i64) -> Result<Vec<Tally>, StoreError> {
    tallies(
        db,
        "SELECT state AS k, COUNT(*) AS n FROM orders WHERE created_at >= $1 GROUP BY state ORDER BY state",
        since,
    )
    .await
}

/// Payments created since `since` (ms), by their state now.
pub async fn payments_by_state(db: &Db, since: i64) -> Result<Vec<Tally>, StoreError> {
    tallies(
        db,
        "SELECT state AS k, COUNT(*) AS n FROM payments WHERE created_at >= $1 GROUP BY state ORDER BY state",
        since,
    )
    .await
}

/// Adapter calls since `since` (ms) that did not end `ok`, by `provider/outcome`.
pub async fn failed_calls(db: &Db, since: i64) -> Result<Vec<Tally>, StoreError> {
    tallies(
        db,
        "SELECT provider || '/' || outcome AS k, COUNT(*) AS n FROM provider_calls
         WHERE at >= $1 AND outcome <> 'ok' GROUP BY provider, outcome ORDER BY provider, outcome",
        since,
    )
    .await
}

/// Orders created per minute since `since` (ms); minutes with none are absent.
pub async fn orders_per_minute(db: &Db, since: i64) -> Result<Vec<MinuteCount>, StoreError> {
    minutes(
        db,
        "SELECT created_at / 60000 AS m, COUNT(*) AS n FROM orders WHERE created_at >= $1
         GROUP BY created_at / 60000",
        since,
    )
    .await
}

/// Payments paid per minute since `since` (ms), by the minute they were paid.
pub async fn paid_per_minute(db: &Db, since: i64) -> Result<Vec<MinuteCount>, StoreError> {
    minutes(
        db,
        "SELECT paid_at / 60000 AS m, COUNT(*) AS n FROM payments WHERE paid_at >= $1
         GROUP BY paid_at / 60000",
        since,
    )
    .await
}

/// Failed adapter calls per minute since `since` (ms).
pub async fn failed_calls_per_minute(db: &Db, since: i64) -> Result<Vec<MinuteCount>, StoreError> {
    minutes(
        db,
        "SELECT at / 60000 AS m, COUNT(*) AS n FROM provider_calls WHERE at >= $1 AND outcome <> 'ok'
         GROUP BY at / 60000",
        since,
    )
    .await
}

/// What waits for an operator, counted (each on its partial index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub flagged_payments: i64,
    pub failed_refunds: i64,
    pub failed_webhooks: i64,
    /// Differences with the providers' bills no operator has resolved.
    pub bill_differences: i64,
}

/// Counts what waits for an operator, in one statement.
pub async fn waiting(db: &Db) -> Result<Waiting, StoreError> {
    // The states are written into the statement (the domain's names, not input), so that
    // the partial indexes of failed refunds and deliveries (migration 0018) serve it.
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM payments WHERE flag IS NOT NULL) AS flagged,
                (SELECT COUNT(*) FROM refunds WHERE state = '{}') AS refunds,
                (SELECT COUNT(*) FROM order_events WHERE delivery = '{}') AS webhooks,
                (SELECT COUNT(*) FROM bill_differences WHERE resolved_at IS NULL) AS differences",
        RefundState::Failed.as_str(),
        DeliveryState::Failed.as_str(),
    );
    let r = sqlx::query(&sql).fetch_one(&db.pool).await?;
    Ok(Waiting {
        flagged_payments: r.try_get("flagged")?,
        failed_refunds: r.try_get("refunds")?,
        failed_webhooks: r.try_get("webhooks")?,
        bill_differences: r.try_get("differences")?,
    })
}
