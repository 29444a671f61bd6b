//! Payments: creation (reserving its orders in the same transaction), the stored pay
//! action, and settlement — the one transaction through which a provider's report changes
//! a payment and its orders.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::domain::{settle, PaymentState, ReportedPayment, Settlement};

use super::{now_ms, Db, StoreError};

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_no: String,
    pub merchant_id: String,
    pub provider: String,
    pub channel: String,
    pub amount: i64,
    pub currency: String,
    pub state: PaymentState,
    pub provider_deadline: i64,
    /// The stored pay action, JSON as returned by the API.
    pub action: Option<String>,
    /// Until when the provider honours the stored action (ms); `None`: until
    /// `provider_deadline`.
    pub action_expires_at: Option<i64>,
    /// A fingerprint of the payer details the channel binds the action to
    /// (`domain::repay::payer_binding`), `""` when it binds none.
    pub payer_binding: String,
    pub provider_trade_id: Option<String>,
    pub flag: Option<String>,
    pub paid_amount: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
    /// Until when a request holds the payment while asking the provider to open its trade.
    pub opening_until: Option<i64>,
    /// The sum of the refunds asked for (pending or succeeded).
    pub refunded_amount: i64,
}

const COLUMNS: &str = "payment_no, merchant_id, provider, channel, amount, currency, state, provider_deadline, action, \
                       provider_trade_id, flag, paid_amount, version, created_at, updated_at, paid_at, opening_until, refunded_amount, \
                       action_expires_at, payer_binding";

fn from_row(r: &AnyRow) -> Result<PaymentRecord, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(PaymentRecord {
        payment_no: r.try_get("payment_no")?,
        merchant_id: r.try_get("merchant_id")?,
        provider: r.try_get("provider")?,
        channel: r.try_get("channel")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        state: PaymentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("payment state `{state}`")))?,
        provider_deadline: r.try_get("provider_deadline")?,
        action: r.try_get("action")?,
        action_expires_at: r.try_get("action_expires_at")?,
        payer_binding: r.try_get("payer_binding")?,
        provider_trade_id: r.try_get("provider_trade_id")?,
        flag: r.try_get("flag")?,
        paid_amount: r.try_get("paid_amount")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        paid_at: r.try_get("paid_at")?,
        opening_until: r.try_get("opening_until")?,
        refunded_amount: r.try_get("refunded_amount")?,
    })
}

/// What a new payment is made of.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub payment_no: &'a str,
    pub merchant_id: &'a str,
    pub provider: &'a str,
    pub channel: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub provider_deadline: i64,
    /// See [`PaymentRecord::payer_binding`].
    pub payer_binding: &'a str,
    pub order_ids: &'a [String],
    /// The creating request holds the payment until then while it opens the trade.
    pub opening_until: i64,
}

/// Creates an open payment and reserves its orders for it, in one transaction. `Ok(false)`
/// (and nothing written) if an order was not pending and free any more: another request
/// got there first.
pub async fn create(db: &Db, p: &NewPayment<'_>) -> Result<bool, StoreError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO payments (payment_no, merchant_id, provider, channel, amount, currency, state, provider_deadline,
         version, created_at, updated_at, opening_until, payer_binding) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, 0, $8, $8, $9, $10)",
    )
    .bind(p.payment_no)
    .bind(p.merchant_id)
    .bind(p.provider)
    .bind(p.channel)
    .bind(p.amount)
    .bind(p.currency)
    .bind(p.provider_deadline)
    .bind(now)
    .bind(p.opening_until)
    .bind(p.payer_binding)
    .execute(&mut *tx)
    .await?;
    for order_id in p.order_ids {
        let reserved = sqlx::query(
            "UPDATE orders SET open_payment_no = $1, version = version + 1, updated_at = $2
             WHERE id = $3 AND merchant_id = $4 AND state = 'pending' AND open_payment_no IS NULL",
        )
        .bind(p.payment_no)
        .bind(now)
        .bind(order_id)
        .bind(p.merchant_id)
        .execute(&mut *tx)
        .await?;
        if reserved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO payment_orders (payment_no, order_id) VALUES ($1, $2)")
            .bind(p.payment_no)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

pub async fn get(
    db: &Db,
    merchant_id: &str,
    payment_no: &str,
) -> Result<Option<PaymentRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE payment_no = $1 AND merchant_id = $2");
    let row = sqlx::query(&sql)
        .bind(payment_no)
        .bind(merchant_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn order_ids(db: &Db, payment_no: &str) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query("SELECT order_id FROM payment_orders WHERE payment_no = $1 ORDER BY order_id")
            .bind(payment_no)
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| r.try_get("order_id").map_err(StoreError::from))
        .collect()
}

/// Takes the opening lease of an open payment with no usable stored action (none, or one
/// the provider honours only until `stale_before` or earlier): `false` if another request
/// holds it (and has not let it lapse), or stored a fresh action meanwhile.
pub async fn take_opening(
    db: &Db,
    payment_no: &str,
    until: i64,
    stale_before: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE payments SET opening_until = $1 WHERE payment_no = $2 AND state = 'open'
         AND (action IS NULL OR action_expires_at <= $4)
         AND (opening_until IS NULL OR opening_until < $3)",
    )
    .bind(until)
    .bind(payment_no)
    .bind(now_ms())
    .bind(stale_before)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets go of the opening lease (the provider refused or could not be reached).
pub async fn release_opening(db: &Db, payment_no: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET opening_until = NULL WHERE payment_no = $1")
        .bind(payment_no)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Stores the action the provider returned for an open payment.
pub async fn set_action(
    db: &Db,
    payment_no: &str,
    action_json: &str,
    action_expires_at: Option<i64>,
    provider_trade_id: Option<&str>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE payments SET action = $1, provider_trade_id = COALESCE($2, provider_trade_id), version = version + 1,
         updated_at = $3, opening_until = NULL, action_expires_at = $5 WHERE payment_no = $4 AND state = 'open'",
    )
    .bind(action_json)
    .bind(provider_trade_id)
    .bind(now_ms())
    .bind(payment_no)
    .bind(action_expires_at)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends an open payment without money (`failed`: the provider refused it; `closed`: closed
/// at the provider) and frees its orders for another payment.
pub async fn end_unpaid(db: &Db, payment_no: &str, to: PaymentState) -> Result<bool, StoreError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE payments SET state = $1, version = version + 1, updated_at = $2 WHERE payment_no = $3 AND state = 'open'",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(payment_no)
    .execute(&mut *tx)
    .await?;
    release_orders(&mut tx, payment_no, now).await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

async fn release_orders(
    tx: &mut Transaction<'_, Any>,
    payment_no: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE orders SET open_payment_no = NULL, version = version + 1, updated_at = $1 WHERE open_payment_no = $2")
        .bind(now)
        .bind(payment_no)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What settlement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    /// The payment and its orders are now paid; `events` went to the outbox.
    Paid {
        order_ids: Vec<String>,
        events: Vec<String>,
    },
    /// The payment was marked paid, but some orders were no longer pending (cancelled,
    /// closed, or paid by another payment): double or late payment, flagged.
    PaidWithConflict {
        order_ids: Vec<String>,
        conflicting: Vec<String>,
        events: Vec<String>,
    },
    Closed,
    /// Nothing changed: a repeated or uninformative report.
    Unchanged,
    /// The payment was flagged for an operator (`amount_mismatch`, `unexpected_refund`).
    Flagged(String),
    /// Money arrived for a payment paygate had closed: recorded as paid, flagged
    /// `late_payment`; to be refunded.
    LatePayment,
    /// No such payment.
    UnknownPayment,
}

/// Provider facts that come with a report.
#[derive(Debug, Clone, Default)]
pub struct ReportDetails<'a> {
    pub provider_trade_id: Option<&'a str>,
    pub paid_at_ms: Option<i64>,
}

/// Applies a provider's report to a payment, in one transaction: the domain rule decides,
/// conditional updates make a repeated report change nothing.
pub async fn settle_report(
    db: &Db,
    payment_no: &str,
    reported: &ReportedPayment,
    details: &ReportDetails<'_>,
) -> Result<SettleOutcome, StoreError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    // Touch the row first: a write lock on it (PostgreSQL) or on the database (SQLite), so
    // concurrent reports of one payment are applied one after the other.
    let locked = sqlx::query("UPDATE payments SET version = version WHERE payment_no = $1")
        .bind(payment_no)
        .execute(&mut *tx)
        .await?;
    if locked.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(SettleOutcome::UnknownPayment);
    }
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE payment_no = $1");
    let payment = from_row(
        &sqlx::query(&sql)
            .bind(payment_no)
            .fetch_one(&mut *tx)
            .await?,
    )?;

    let outcome = match settle(payment.state, payment.amount, &payment.currency, reported) {
        Settlement::MarkPaid => {
            let paid_at = details.paid_at_ms.unwrap_or(now);
            sqlx::query(
                "UPDATE payments SET state = 'paid', paid_amount = amount, paid_at = $1,
                 provider_trade_id = COALESCE($2, provider_trade_id), version = version + 1, updated_at = $3
                 WHERE payment_no = $4 AND state = 'open'",
            )
            .bind(paid_at)
            .bind(details.provider_trade_id)
            .bind(now)
            .bind(payment_no)
            .execute(&mut *tx)
            .await?;
            let ids: Vec<String> = sqlx::query(
                "SELECT order_id FROM payment_orders WHERE payment_no = $1 ORDER BY order_id",
            )
            .bind(payment_no)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("order_id"))
            .collect::<Result<_, _>>()?;
            let mut conflicting = Vec::new();
            for id in &ids {
                let done = sqlx::query(
                    "UPDATE orders SET state = 'paid', paid_by = $1, paid_at = $2, open_payment_no = NULL,
                     version = version + 1, updated_at = $3 WHERE id = $4 AND state = 'pending'",
                )
                .bind(payment_no)
                .bind(paid_at)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    conflicting.push(id.clone());
                }
            }
            let paid: Vec<String> = ids
                .iter()
                .filter(|id| !conflicting.contains(id))
                .cloned()
                .collect();
            let events = super::events::record(&mut tx, &paid, "order.paid").await?;
            if conflicting.is_empty() {
                SettleOutcome::Paid {
                    order_ids: ids,
                    events,
                }
            } else {
                // Money arrived for orders that are no longer payable: keep the record, and
                // flag it so the refund (or an operator) gives it back.
                set_flag(&mut tx, payment_no, "double_payment", now).await?;
                SettleOutcome::PaidWithConflict {
                    order_ids: ids,
                    conflicting,
                    events,
                }
            }
        }
        Settlement::MarkClosed => {
            sqlx::query("UPDATE payments SET state = 'closed', version = version + 1, updated_at = $1 WHERE payment_no = $2 AND state = 'open'")
                .bind(now)
                .bind(payment_no)
                .execute(&mut *tx)
                .await?;
            release_orders(&mut tx, payment_no, now).await?;
            SettleOutcome::Closed
        }
        Settlement::NoChange => SettleOutcome::Unchanged,
        Settlement::AmountMismatch { .. } => {
            set_flag(&mut tx, payment_no, "amount_mismatch", now).await?;
            SettleOutcome::Flagged("amount_mismatch".into())
        }
        Settlement::LatePayment => {
            // Real money arrived for a payment paygate had given up: record it as paid (its
            // orders are not touched) and flag it; the caller refunds it.
            let paid_at = details.paid_at_ms.unwrap_or(now);
            sqlx::query(
                "UPDATE payments SET state = 'paid', paid_amount = amount, paid_at = $1, flag = 'late_payment',
                 provider_trade_id = COALESCE($2, provider_trade_id), version = version + 1, updated_at = $3
                 WHERE payment_no = $4 AND state IN ('closed', 'failed')",
            )
            .bind(paid_at)
            .bind(details.provider_trade_id)
            .bind(now)
            .bind(payment_no)
            .execute(&mut *tx)
            .await?;
            SettleOutcome::LatePayment
        }
        Settlement::UnexpectedRefund => {
            set_flag(&mut tx, payment_no, "unexpected_refund", now).await?;
            SettleOutcome::Flagged("unexpected_refund".into())
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

async fn set_flag(
    tx: &mut Transaction<'_, Any>,
    payment_no: &str,
    flag: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET flag = $1, version = version + 1, updated_at = $2 WHERE payment_no = $3")
        .bind(flag)
        .bind(now)
        .bind(payment_no)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Open payments whose trade was opened at the provider: (merchant id, payment number).
pub async fn open_with_action(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT merchant_id, payment_no FROM payments WHERE state = 'open' AND action IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("payment_no")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Payments an operator must look at: (payment, flag), newest first.
pub async fn flagged(db: &Db) -> Result<Vec<PaymentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE flag IS NOT NULL ORDER BY updated_at DESC LIMIT 500"
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// Flags a payment for an operator unless it carries a flag already (the first reason
/// stays); `true` if this call set it.
pub async fn flag_if_unflagged(db: &Db, payment_no: &str, flag: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE payments SET flag = $1, version = version + 1, updated_at = $2 WHERE payment_no = $3 AND flag IS NULL",
    )
    .bind(flag)
    .bind(now_ms())
    .bind(payment_no)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Flags a payment for an operator.
pub async fn flag(db: &Db, payment_no: &str, flag: &str) -> Result<(), StoreError> {
    let mut tx = db.pool.begin().await?;
    set_flag(&mut tx, payment_no, flag, now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// A payment whatever its merchant (for paygate's own work: refunds, settlement).
pub async fn get_any(db: &Db, payment_no: &str) -> Result<Option<PaymentRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE payment_no = $1");
    let row = sqlx::query(&sql)
        .bind(payment_no)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}
