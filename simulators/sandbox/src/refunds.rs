//! Refunds in `sandbox_refunds`: one refund_no is refunded once, and the refunds of a trade
//! never exceed its paid amount, both enforced by the database under concurrent calls.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use crate::error::SandboxError;
use crate::now_ms;
use crate::trades;

/// One row of `sandbox_refunds`.
#[derive(Debug, Clone)]
pub struct Refund {
    pub refund_id: String,
    pub payment_no: String,
    pub refund_no: String,
    pub amount: i64,
}

impl Refund {
    fn from_row(row: &SqliteRow) -> Result<Refund, SandboxError> {
        Ok(Refund {
            refund_id: row.try_get("refund_id")?,
            payment_no: row.try_get("payment_no")?,
            refund_no: row.try_get("refund_no")?,
            amount: row.try_get("amount")?,
        })
    }
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment_no: String,
    pub refund_no: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
}

async fn find(
    pool: &SqlitePool,
    payment_no: &str,
    refund_no: &str,
) -> Result<Option<Refund>, SandboxError> {
    let row = sqlx::query(
        "SELECT refund_id, payment_no, refund_no, amount FROM sandbox_refunds \
         WHERE payment_no = $1 AND refund_no = $2",
    )
    .bind(payment_no)
    .bind(refund_no)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(Refund::from_row).transpose()
}

/// Refunds `new.amount` of the (paid) trade, or answers the refund already made under this
/// refund_no. The caller has checked the trade exists for the account and its currency.
pub async fn refund(pool: &SqlitePool, new: &NewRefund) -> Result<Refund, SandboxError> {
    if let Some(existing) = find(pool, &new.payment_no, &new.refund_no).await? {
        return Ok(existing);
    }
    let refund = Refund {
        refund_id: format!("sbr{}", uuid::Uuid::now_v7().simple()),
        payment_no: new.payment_no.clone(),
        refund_no: new.refund_no.clone(),
        amount: new.amount,
    };
    let now = now_ms();

    // The refund row and the trade's total change together or not at all. The insert comes
    // first: a concurrent call with the same refund_no then waits on the unique key and finds
    // nothing to insert, so one refund_no moves money once.
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO sandbox_refunds (refund_id, payment_no, refund_no, amount, currency, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (payment_no, refund_no) DO NOTHING",
    )
    .bind(&refund.refund_id)
    .bind(&refund.payment_no)
    .bind(&refund.refund_no)
    .bind(refund.amount)
    .bind(&new.currency)
    .bind(new.reason.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return find(pool, &new.payment_no, &new.refund_no)
            .await?
            .ok_or_else(|| SandboxError::Corrupt("refund vanished after a conflict".into()));
    }
    // The limit is part of the condition, so two refunds racing for the last of the paid
    // amount cannot both pass.
    let applied = sqlx::query(
        "UPDATE sandbox_trades SET state = 'refunded', refunded_amount = refunded_amount + $2, updated_at = $3 \
         WHERE payment_no = $1 AND state IN ('paid', 'refunded') AND refunded_amount + $2 <= paid_amount",
    )
    .bind(&new.payment_no)
    .bind(new.amount)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if applied.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(refund);
    }
    tx.rollback().await?;
    let trade = trades::get(pool, &new.payment_no).await?;
    Err(if trade.state.is_paid() {
        SandboxError::RefundAmountExceeded
    } else {
        SandboxError::TradeNotPaid
    })
}
