//! Refunds: each one reserves its amount on the payment (`refunded_amount`) in the same
//! transaction that records it, so refunds never add up past what was paid; a finished
//! refund applies the refund state machine's change and what the domain says follows.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::refund::{PartialRefund, RefundEffect};
use crate::domain::{Change, Money, OrderEvent, PaymentState, RefundKind, RefundState};

use super::batch::{self, Write};
use super::orders::{self, money, OrderRecord};
use super::{Applied, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub refund_no: String,
    pub payment_no: String,
    pub merchant_id: String,
    pub amount: Money,
    pub reason: Option<String>,
    pub kind: RefundKind,
    pub state: RefundState,
    pub provider_refund_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(super) const COLUMNS: &str =
    "refund_no, payment_no, merchant_id, amount, currency, reason, kind, state, provider_refund_id, last_error, created_at, updated_at";

pub(super) fn from_row(r: &AnyRow) -> Result<RefundRecord, StoreError> {
    let currency: String = r.try_get("currency")?;
    let kind: String = r.try_get("kind")?;
    let state: String = r.try_get("state")?;
    Ok(RefundRecord {
        refund_no: r.try_get("refund_no")?,
        payment_no: r.try_get("payment_no")?,
        merchant_id: r.try_get("merchant_id")?,
        amount: money(r.try_get("amount")?, &currency)?,
        reason: r.try_get("reason")?,
        kind: RefundKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("refund kind `{kind}`")))?,
        state: RefundState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("refund state `{state}`")))?,
        provider_refund_id: r.try_get("provider_refund_id")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The write that reserves `refund`'s amount on its payment, while the payment is in one of
/// the states `refundable` and the amount fits in what is left to refund. The conditional
/// update is the rule (and locks the payment row): concurrent refunds cannot both pass it
/// past the paid amount.
fn reserve(refund: &RefundRecord, refundable: [PaymentState; 2], now: i64) -> Write {
    Write::new(
        "UPDATE payments SET refunded_amount = refunded_amount + $1, updated_at = $2
         WHERE payment_no = $3 AND state IN ($4, $5) AND paid_amount IS NOT NULL
         AND refunded_amount + $1 <= paid_amount",
        Some(1),
    )
    .bind(refund.amount.minor())
    .bind(now)
    .bind(refund.payment_no.as_str())
    .bind(refundable[0].as_str())
    .bind(refundable[1].as_str())
}

/// Records `refund` and reserves its amount on its payment, in one transaction, while the
/// payment is in one of the states `refundable` and the amount fits in what is left to
/// refund. `LostRace` (nothing written) otherwise.
pub async fn create(
    db: &Db,
    refund: &RefundRecord,
    refundable: [PaymentState; 2],
) -> Result<Applied<()>, StoreError> {
    let writes = [
        reserve(refund, refundable, refund.created_at),
        Write::new(
            "INSERT INTO refunds (refund_no, payment_no, merchant_id, amount, currency, reason, kind, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            Some(1),
        )
        .bind(refund.refund_no.as_str())
        .bind(refund.payment_no.as_str())
        .bind(refund.merchant_id.as_str())
        .bind(refund.amount.minor())
        .bind(refund.amount.currency().code())
        .bind(refund.reason.clone())
        .bind(refund.kind.as_str())
        .bind(refund.state.as_str())
        .bind(refund.created_at),
    ];
    batch::transaction(db, &writes, ()).await
}

/// Applies an operator's retry of a failed refund (`domain::retry_failed`) in one
/// transaction: the refund back to pending (its last error cleared), and its amount
/// reserved again on its payment while the payment is in one of the states `refundable`
/// and the amount still fits in what is left to refund. `LostRace` (nothing written)
/// otherwise.
pub async fn retry(
    db: &Db,
    refund: &RefundRecord,
    change: Change<RefundState>,
    refundable: [PaymentState; 2],
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let writes = [
        Write::new(
            "UPDATE refunds SET state = $1, last_error = NULL, updated_at = $2
             WHERE refund_no = $3 AND state = $4",
            Some(1),
        )
        .bind(change.to().as_str())
        .bind(now)
        .bind(refund.refund_no.as_str())
        .bind(change.from().as_str()),
        reserve(refund, refundable, now),
    ];
    batch::transaction(db, &writes, ()).await
}

/// The refunds in `state` (failed), newest first, at most 500. The state is written into
/// the statement so that the partial index of failed refunds (migration 0018) serves it.
pub async fn in_state(db: &Db, state: RefundState) -> Result<Vec<RefundRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE state = '{}' ORDER BY updated_at DESC LIMIT 500",
        state.as_str()
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
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

/// Whether a refund of `payment_no` other than `refund_no` is in `state` (pending).
pub async fn others_in_state(
    db: &Db,
    payment_no: &str,
    refund_no: &str,
    state: RefundState,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM refunds WHERE payment_no = $1 AND refund_no <> $2 AND state = $3",
    )
    .bind(payment_no)
    .bind(refund_no)
    .bind(state.as_str())
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// The orders `payment_no` paid that are in `state`.
pub async fn orders_paid_by(
    db: &Db,
    payment_no: &str,
    state: crate::domain::OrderState,
) -> Result<Vec<OrderRecord>, StoreError> {
    let sql = format!(
        "SELECT {} FROM orders WHERE paid_by = $1 AND state = $2 ORDER BY id",
        orders::COLUMNS
    );
    let rows = sqlx::query(&sql)
        .bind(payment_no)
        .bind(state.as_str())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(orders::from_row).collect()
}

/// The provider's final answer about a refund.
pub struct Finish<'a> {
    /// The refund's own change; `None` when only what follows is applied (a payment found
    /// refunded in full after another refund's success).
    pub change: Option<Change<RefundState>>,
    pub provider_refund_id: Option<&'a str>,
    pub error: Option<&'a str>,
    /// What follows a success (`domain::refund::after_refund_succeeded`), with the orders
    /// its order change applies to, as read.
    pub effect: RefundEffect,
    pub orders: Vec<OrderRecord>,
    /// A merchant's refund that left something to refund (`domain::refund::partial_refund`):
    /// each of `orders` (the payment's orders still paid) gets its
    /// `order.partially_refunded` event, in the same transaction.
    pub partial: Option<PartialRefund>,
}

/// Applies a refund's final answer in one transaction: its change; a failed refund gives
/// its amount back to the payment; a success applies `effect` (payment and orders refunded
/// in full, with their events). The events' ids; `LostRace` if a row moved meanwhile.
pub async fn finish(
    db: &Db,
    refund: &RefundRecord,
    f: &Finish<'_>,
    now: i64,
) -> Result<Applied<Vec<String>>, StoreError> {
    let mut writes = Vec::new();
    if let Some(change) = f.change {
        writes.push(
            Write::new(
                "UPDATE refunds SET state = $1, provider_refund_id = COALESCE($2, provider_refund_id), last_error = $3,
                 updated_at = $4 WHERE refund_no = $5 AND state = $6",
                Some(1),
            )
            .bind(change.to().as_str())
            .bind(f.provider_refund_id)
            .bind(f.error)
            .bind(now)
            .bind(refund.refund_no.as_str())
            .bind(change.from().as_str()),
        );
    }
    if f.change.is_some_and(|c| c.to() == RefundState::Failed) {
        writes.push(
            Write::new(
                "UPDATE payments SET refunded_amount = refunded_amount - $1, updated_at = $2 WHERE payment_no = $3",
                Some(1),
            )
            .bind(refund.amount.minor())
            .bind(now)
            .bind(refund.payment_no.as_str()),
        );
    }
    let mut events = Vec::new();
    if let Some(change) = f.effect.payment {
        writes.push(
            Write::new(
                "UPDATE payments SET state = $1, updated_at = $2
                 WHERE payment_no = $3 AND state = $4 AND refunded_amount = paid_amount",
                Some(1),
            )
            .bind(change.to().as_str())
            .bind(now)
            .bind(refund.payment_no.as_str())
            .bind(change.from().as_str()),
        );
    }
    if let Some(change) = f.effect.orders {
        writes.push(
            Write::new(
                "UPDATE orders SET state = $1, updated_at = $2 WHERE paid_by = $3 AND state = $4",
                Some(f.orders.len() as u64),
            )
            .bind(change.to().as_str())
            .bind(now)
            .bind(refund.payment_no.as_str())
            .bind(change.from().as_str()),
        );
        for order in &f.orders {
            let after = OrderRecord {
                state: change.to(),
                updated_at: now,
                ..order.clone()
            };
            let (id, write) = super::events::record(&after, OrderEvent::Refund.webhook_type(), now);
            events.push(id);
            writes.push(write);
        }
    }
    if let (Some(partial), None) = (f.partial, f.effect.orders) {
        let told = serde_json::json!({
            "refund_no": refund.refund_no,
            "payment_no": refund.payment_no,
            "amount": partial.amount,
            "currency": refund.amount.currency().code(),
            "refunded_amount": partial.refunded,
            "refundable_amount": partial.refundable,
        });
        for order in &f.orders {
            let (id, write) = super::events::record_with(
                order,
                PartialRefund::WEBHOOK_TYPE,
                Some(told.clone()),
                now,
            );
            events.push(id);
            writes.push(write);
        }
    }
    batch::transaction(db, &writes, events).await
}

/// One page of the refunds in `state`, by refund number after `after` (`""` first), at
/// most `limit`: (merchant id, refund number).
pub async fn page_in_state(
    db: &Db,
    state: RefundState,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let sql = format!(
        "SELECT merchant_id, refund_no FROM refunds WHERE state = '{}' AND refund_no > $1
         ORDER BY refund_no LIMIT $2",
        state.as_str()
    );
    let rows = super::page(db, &sql, after, limit).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("refund_no")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
