//! Payments: opening one (reserving its orders in the same transaction), the stored pay
//! action and its opening lease, and the payment state machine's changes that involve no
//! report (a trade the provider refused or closed). Settlement is in `settlement`.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::domain::{Change, Money, OrderState, PayAction, PaymentFlag, PaymentState};

use super::batch::{self, placeholders, Write};
use super::orders::{self, money, OrderRecord};
use super::{Applied, Db, StoreError};

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_no: String,
    pub merchant_id: String,
    pub provider: String,
    pub channel: String,
    pub amount: Money,
    pub state: PaymentState,
    /// The absolute deadline the provider got (ms).
    pub provider_deadline: i64,
    /// The stored pay action.
    pub action: Option<PayAction>,
    /// Until when the provider honours the stored action (ms); `None`: until
    /// `provider_deadline`.
    pub action_expires_at: Option<i64>,
    /// A fingerprint of the payer details the channel binds the action to
    /// (`domain::repay::payer_binding`), `""` when it binds none.
    pub payer_binding: String,
    pub provider_trade_id: Option<String>,
    pub flag: Option<PaymentFlag>,
    pub paid_amount: Option<Money>,
    pub created_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
    /// Until when a request holds the payment while asking the provider to open its trade.
    pub opening_until: Option<i64>,
    /// The sum of the refunds asked for (pending or succeeded), in minor units of `amount`'s
    /// currency.
    pub refunded_minor: i64,
    /// The orders it pays, in id order.
    pub order_ids: Vec<String>,
}

pub(super) const COLUMNS: &str = "payment_no, merchant_id, provider, channel, amount, currency, state, provider_deadline, action, \
                       provider_trade_id, flag, paid_amount, created_at, updated_at, paid_at, opening_until, refunded_amount, \
                       action_expires_at, payer_binding, order_ids";

pub(super) fn from_row(r: &AnyRow) -> Result<PaymentRecord, StoreError> {
    let state: String = r.try_get("state")?;
    let currency: String = r.try_get("currency")?;
    let flag: Option<String> = r.try_get("flag")?;
    let action: Option<String> = r.try_get("action")?;
    let order_ids: String = r.try_get("order_ids")?;
    Ok(PaymentRecord {
        payment_no: r.try_get("payment_no")?,
        merchant_id: r.try_get("merchant_id")?,
        provider: r.try_get("provider")?,
        channel: r.try_get("channel")?,
        amount: money(r.try_get("amount")?, &currency)?,
        state: PaymentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("payment state `{state}`")))?,
        provider_deadline: r.try_get("provider_deadline")?,
        action: action
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("stored pay action: {e}")))?,
        action_expires_at: r.try_get("action_expires_at")?,
        payer_binding: r.try_get("payer_binding")?,
        provider_trade_id: r.try_get("provider_trade_id")?,
        flag: flag
            .map(|f| PaymentFlag::parse(&f).ok_or(StoreError::Corrupt(format!("flag `{f}`"))))
            .transpose()?,
        paid_amount: r
            .try_get::<Option<i64>, _>("paid_amount")?
            .map(|m| money(m, &currency))
            .transpose()?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        paid_at: r.try_get("paid_at")?,
        opening_until: r.try_get("opening_until")?,
        refunded_minor: r.try_get("refunded_amount")?,
        order_ids: order_ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

async fn insert(tx: &mut Transaction<'_, Any>, p: &PaymentRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payments (payment_no, merchant_id, provider, channel, amount, currency, state, provider_deadline,
         created_at, updated_at, opening_until, payer_binding, order_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)",
    )
    .bind(&p.payment_no)
    .bind(&p.merchant_id)
    .bind(&p.provider)
    .bind(&p.channel)
    .bind(p.amount.minor())
    .bind(p.amount.currency().code())
    .bind(p.state.as_str())
    .bind(p.provider_deadline)
    .bind(p.created_at)
    .bind(p.opening_until)
    .bind(&p.payer_binding)
    .bind(p.order_ids.join(","))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What opening a payment led to.
pub enum Opened<E> {
    /// The payment is stored and holds its orders, returned as they are now.
    Made(Box<PaymentRecord>, Vec<OrderRecord>),
    /// An order was not payable and free any more (or does not exist): nothing written.
    NotPayable,
    /// `make` refused: nothing written.
    Refused(E),
}

/// Opens a payment numbered `payment_no` for the merchant's orders `order_ids` in one
/// transaction: each order is reserved while it is in the state `payable` and in no other
/// open payment, then `make` builds the payment from the orders as they are (the caller's
/// rules decide its amount and deadline, or refuse) and it is stored. Two statements.
pub async fn open<E>(
    db: &Db,
    merchant_id: &str,
    order_ids: &[String],
    payable: OrderState,
    payment_no: &str,
    now: i64,
    make: impl FnOnce(&[OrderRecord]) -> Result<PaymentRecord, E>,
) -> Result<Opened<E>, StoreError> {
    let mut tx = db.pool.begin().await?;
    let reserved =
        orders::reserve(&mut tx, merchant_id, order_ids, payable, payment_no, now).await?;
    if reserved.len() != order_ids.len() {
        tx.rollback().await?;
        return Ok(Opened::NotPayable);
    }
    let payment = match make(&reserved) {
        Ok(p) => p,
        Err(e) => {
            tx.rollback().await?;
            return Ok(Opened::Refused(e));
        }
    };
    insert(&mut tx, &payment).await?;
    tx.commit().await?;
    Ok(Opened::Made(Box::new(payment), reserved))
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

/// The merchant's payments among `payment_nos`.
pub async fn get_many(
    db: &Db,
    merchant_id: &str,
    payment_nos: &[String],
) -> Result<Vec<PaymentRecord>, StoreError> {
    if payment_nos.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE merchant_id = $1 AND payment_no IN ({})",
        placeholders(2, payment_nos.len())
    );
    let mut q = sqlx::query(&sql).bind(merchant_id);
    for no in payment_nos {
        q = q.bind(no);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
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

/// Takes the opening lease of a payment still in the state `open` with no usable stored
/// action (none, or one the provider honours only until `stale_before` or earlier): `false`
/// if another request holds it (and has not let it lapse), or stored a fresh action
/// meanwhile.
pub async fn take_opening(
    db: &Db,
    payment_no: &str,
    open: PaymentState,
    until: i64,
    now: i64,
    stale_before: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE payments SET opening_until = $1 WHERE payment_no = $2 AND state = $5
         AND (action IS NULL OR action_expires_at <= $4)
         AND (opening_until IS NULL OR opening_until < $3)",
    )
    .bind(until)
    .bind(payment_no)
    .bind(now)
    .bind(stale_before)
    .bind(open.as_str())
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

/// Stores the action the provider returned for a payment still in the state `open`, and
/// lets go of its opening lease. `LostRace` if the payment moved meanwhile.
pub async fn set_action(
    db: &Db,
    payment_no: &str,
    open: PaymentState,
    action: &PayAction,
    action_expires_at: Option<i64>,
    provider_trade_id: Option<&str>,
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let json = serde_json::to_string(action)
        .map_err(|e| StoreError::Corrupt(format!("pay action: {e}")))?;
    let done = sqlx::query(
        "UPDATE payments SET action = $1, provider_trade_id = COALESCE($2, provider_trade_id),
         updated_at = $3, opening_until = NULL, action_expires_at = $5 WHERE payment_no = $4 AND state = $6",
    )
    .bind(json)
    .bind(provider_trade_id)
    .bind(now)
    .bind(payment_no)
    .bind(action_expires_at)
    .bind(open.as_str())
    .execute(&db.pool)
    .await?;
    Ok(Applied::from_rows(done.rows_affected(), ()))
}

/// Applies `change` to a payment ending without money (failed: the provider refused it;
/// closed: closed at the provider) and frees its orders, in one transaction.
pub async fn end_unpaid(
    db: &Db,
    payment_no: &str,
    change: Change<PaymentState>,
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let writes = [
        unpaid_end(payment_no, change, now),
        orders::release(payment_no, now),
    ];
    batch::transaction(db, &writes, ()).await
}

/// The write of a payment's `change` to a state without money (closed, failed); its orders
/// are released by [`orders::release`] in the same transaction.
pub(super) fn unpaid_end(payment_no: &str, change: Change<PaymentState>, now: i64) -> Write {
    Write::new(
        "UPDATE payments SET state = $1, updated_at = $2, opening_until = NULL
         WHERE payment_no = $3 AND state = $4",
        Some(1),
    )
    .bind(change.to().as_str())
    .bind(now)
    .bind(payment_no)
    .bind(change.from().as_str())
}

/// The write that flags a payment still in the state `seen` (the one the rule decided on;
/// another is a lost race), replacing the flag there only when the domain says this one
/// does.
pub(super) fn flag_write(
    payment_no: &str,
    flag: PaymentFlag,
    seen: PaymentState,
    now: i64,
) -> Write {
    Write::new(
        "UPDATE payments SET flag = CASE WHEN $4 = 1 OR flag IS NULL THEN $1 ELSE flag END,
         updated_at = $2 WHERE payment_no = $3 AND state = $5",
        Some(1),
    )
    .bind(flag.as_str())
    .bind(now)
    .bind(payment_no)
    .bind(i64::from(flag.replaces()))
    .bind(seen.as_str())
}

/// Flags a payment for an operator (see [`PaymentFlag::replaces`]); `true` if the flag
/// it carries changed.
pub async fn flag(
    db: &Db,
    payment_no: &str,
    flag: PaymentFlag,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE payments SET flag = $1, updated_at = $2
         WHERE payment_no = $3 AND (flag IS NULL OR ($4 = 1 AND flag <> $1))",
    )
    .bind(flag.as_str())
    .bind(now)
    .bind(payment_no)
    .bind(i64::from(flag.replaces()))
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One page of the payments in `state` that have a payment action (a trade was opened at
/// the provider), by payment number after `after` (`""` first), at most `limit`:
/// (merchant id, payment number).
pub async fn page_with_action(
    db: &Db,
    state: PaymentState,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let sql = format!(
        "SELECT merchant_id, payment_no FROM payments
         WHERE state = '{}' AND action IS NOT NULL AND payment_no > $1
         ORDER BY payment_no LIMIT $2",
        state.as_str()
    );
    let rows = super::page(db, &sql, after, limit).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("payment_no")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Payments an operator must look at, newest first.
pub async fn flagged(db: &Db) -> Result<Vec<PaymentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE flag IS NOT NULL ORDER BY updated_at DESC LIMIT 500"
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// Every payment that included `order`, oldest first. A payment is opened only while its
/// orders can be paid, so the look-up reads the payments created from the order's creation
/// to `until` (ms; its deadline and the provider's grace) on the index of `created_at`.
pub async fn of_order(
    db: &Db,
    order: &super::orders::OrderRecord,
    until: i64,
) -> Result<Vec<PaymentRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE created_at >= $1 AND created_at <= $2
         AND merchant_id = $3 AND (',' || order_ids || ',') LIKE $4 ORDER BY created_at"
    );
    let rows = sqlx::query(&sql)
        .bind(order.created_at)
        .bind(until)
        .bind(&order.merchant_id)
        .bind(format!("%,{},%", order.id))
        .fetch_all(&db.pool)
        .await?;
    // LIKE's `_` matches any character: the exact test is on the parsed list.
    let mut payments = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    payments.retain(|p| p.order_ids.contains(&order.id));
    Ok(payments)
}
