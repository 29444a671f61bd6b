//! The record of the adapter calls paygate made about trades: a payment's story shows
//! them, the console's overview counts the failed ones. Written in batches, off the
//! request path (`service::calls`).

use sqlx::Row;

use super::{Db, StoreError};

/// One adapter call about a trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCall {
    pub id: String,
    /// When it ended, milliseconds since the epoch.
    pub at: i64,
    pub merchant_id: String,
    pub provider: String,
    /// `pay`, `query`, `close`, `refund`, `query-refund`.
    pub op: String,
    pub payment_no: Option<String>,
    pub refund_no: Option<String>,
    /// The runtime's `CallOutcome` label: `ok`, `rejected`, `unreachable`,
    /// `misconfigured`, `unsupported`, `failed`.
    pub outcome: String,
    /// What the provider or the runtime said, for people (at most 500 characters).
    pub message: Option<String>,
    pub elapsed_ms: i64,
}

const COLUMNS: &str =
    "id, at, merchant_id, provider, op, payment_no, refund_no, outcome, message, elapsed_ms";

/// Rows per INSERT: 10 columns each stays far below SQLite's and PostgreSQL's bind limits.
pub const MAX_BATCH: usize = 200;

/// Writes `calls` (at most [`MAX_BATCH`]) in one statement.
pub async fn insert_many(db: &Db, calls: &[ProviderCall]) -> Result<(), StoreError> {
    if calls.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..calls.len())
        .map(|i| {
            let p: Vec<String> = (1..=10).map(|c| format!("${}", i * 10 + c)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO provider_calls ({COLUMNS}) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for c in calls {
        q = q
            .bind(&c.id)
            .bind(c.at)
            .bind(&c.merchant_id)
            .bind(&c.provider)
            .bind(&c.op)
            .bind(&c.payment_no)
            .bind(&c.refund_no)
            .bind(&c.outcome)
            .bind(&c.message)
            .bind(c.elapsed_ms);
    }
    q.execute(&db.pool).await?;
    Ok(())
}

/// The calls made about `payment_no` (its refunds' included), oldest first, at most 200.
pub async fn of_payment(db: &Db, payment_no: &str) -> Result<Vec<ProviderCall>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM provider_calls WHERE payment_no = $1 ORDER BY at, id LIMIT 200"
    );
    let rows = sqlx::query(&sql)
        .bind(payment_no)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ProviderCall {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                merchant_id: r.try_get("merchant_id")?,
                provider: r.try_get("provider")?,
                op: r.try_get("op")?,
                payment_no: r.try_get("payment_no")?,
                refund_no: r.try_get("refund_no")?,
                outcome: r.try_get("outcome")?,
                message: r.try_get("message")?,
                elapsed_ms: r.try_get("elapsed_ms")?,
            })
        })
        .collect()
}
