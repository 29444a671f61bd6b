//! Refunds: each one reserves its amount on the payment (`refunded_amount`) in the same
//! transaction that records it, so refunds never add up past what was paid.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub refund_no: String,
    pub payment_no: String,
    pub merchant_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    /// `merchant`, `late_payment`, `double_payment`.
    pub kind: String,
    /// `pending`, `succeeded`, `failed`.
    pub state: String,
    pub provider_refund_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "refund_no, payment_no, merchant_id, amount, currency, reason, kind, state, provider_refund_id, last_error, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<RefundRecord, StoreError> {
    Ok(RefundRecord {
        refund_no: r.try_get("refund_no")?,
        payment_no: r.try_get("payment_no")?,
        merchant_id: r.try_get("merchant_id")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        reason: r.try_get("reason")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        provider_refund_id: r.try_get("provider_refund_id")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A refund to record.
pub struct NewRefund<'a> {
    pub refund_no: &'a str,
    pub payment_no: &'a str,
    pub merchant_id: &'a str,
    /// `None`: everything not yet refunded.
    pub amount: Option<i64>,
    pub reason: Option<&'a str>,
    pub kind: &'a str,
}

/// Records a pending refund and reserves its amount. `None` if the payment is not paid or
/// the amount exceeds what is left to refund.
pub async fn create(db: &Db, r: &NewRefund<'_>) -> Result<Option<RefundRecord>, StoreError> {
    let now = now_ms();
    let row = sqlx::query(
        "SELECT paid_amount, refunded_amount, currency FROM payments WHERE payment_no = $1",
    )
    .bind(r.payment_no)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let paid: Option<i64> = row.try_get("paid_amount")?;
    let refunded: i64 = row.try_get("refunded_amount")?;
    let currency: String = row.try_get("currency")?;
    let amount = r.amount.unwrap_or(paid.unwrap_or(0) - refunded);
    if amount <= 0 {
        return Ok(None);
    }
    let mut tx = db.pool.begin().await?;
    // The conditional update is the rule (and locks the payment row): concurrent refunds
    // cannot both pass it past the paid amount.
    let reserved = sqlx::query(
        "UPDATE payments SET refunded_amount = refunded_amount + $1, version = version + 1, updated_at = $2
         WHERE payment_no = $3 AND state IN ('paid', 'refunded') AND paid_amount IS NOT NULL
         AND refunded_amount + $1 <= paid_amount",
    )
    .bind(amount)
    .bind(now)
    .bind(r.payment_no)
    .execute(&mut *tx)
    .await?;
    if reserved.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO refunds (refund_no, payment_no, merchant_id, amount, currency, reason, kind, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
    )
    .bind(r.refund_no)
    .bind(r.payment_no)
    .bind(r.merchant_id)
    .bind(amount)
    .bind(&currency)
    .bind(r.reason)
    .bind(r.kind)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(db, r.refund_no).await
}

pub async fn get(db: &Db, refund_no: &str) -> Result<Option<RefundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE refund_no = $1");
    let row = sqlx::query(&sql)
        .bind(refund_no)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn of_payment(db: &Db, payment_no: &str) -> Result<Vec<RefundRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE payment_no = $1 ORDER BY created_at, refund_no"
    );
    let rows = sqlx::query(&sql)
        .bind(payment_no)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Records the provider's final answer. A failed refund gives its amount back to the
/// payment; a payment refunded in full becomes `refunded` (and, for a merchant's refund,
/// so do the orders it paid). One transaction; a pending refund only.
pub async fn finish(
    db: &Db,
    refund_no: &str,
    succeeded: bool,
    provider_refund_id: Option<&str>,
    error: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE refunds SET state = $1, provider_refund_id = COALESCE($2, provider_refund_id), last_error = $3, updated_at = $4
         WHERE refund_no = $5 AND state = 'pending'",
    )
    .bind(if succeeded { "succeeded" } else { "failed" })
    .bind(provider_refund_id)
    .bind(error)
    .bind(now)
    .bind(refund_no)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let mut events = Vec::new();
    let row = sqlx::query("SELECT payment_no, amount, kind FROM refunds WHERE refund_no = $1")
        .bind(refund_no)
        .fetch_one(&mut *tx)
        .await?;
    let payment_no: String = row.try_get("payment_no")?;
    let amount: i64 = row.try_get("amount")?;
    let kind: String = row.try_get("kind")?;
    if !succeeded {
        sqlx::query("UPDATE payments SET refunded_amount = refunded_amount - $1, version = version + 1, updated_at = $2 WHERE payment_no = $3")
            .bind(amount)
            .bind(now)
            .bind(&payment_no)
            .execute(&mut *tx)
            .await?;
    } else {
        let full = sqlx::query(
            "UPDATE payments SET state = 'refunded', version = version + 1, updated_at = $1
             WHERE payment_no = $2 AND state = 'paid' AND refunded_amount = paid_amount
             AND NOT EXISTS (SELECT 1 FROM refunds WHERE payment_no = $2 AND state = 'pending')",
        )
        .bind(now)
        .bind(&payment_no)
        .execute(&mut *tx)
        .await?;
        if full.rows_affected() == 1 && kind == "merchant" {
            let orders: Vec<String> = sqlx::query(
                "SELECT id FROM orders WHERE paid_by = $1 AND state = 'paid' ORDER BY id",
            )
            .bind(&payment_no)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
            sqlx::query("UPDATE orders SET state = 'refunded', version = version + 1, updated_at = $1 WHERE paid_by = $2 AND state = 'paid'")
                .bind(now)
                .bind(&payment_no)
                .execute(&mut *tx)
                .await?;
            events = super::events::record(&mut tx, &orders, "order.refunded").await?;
        }
    }
    tx.commit().await?;
    Ok(events)
}

/// Pending refunds, for retries at start: (merchant id, refund no).
pub async fn pending(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query("SELECT merchant_id, refund_no FROM refunds WHERE state = 'pending'")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("refund_no")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
