//! Orders: insert (unique per merchant's `out_trade_no`), read, reserve for a payment, and
//! apply the order state machine's changes as conditional updates.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::domain::{Change, Currency, Money, NewOrder, OrderState};

use super::batch::{self, placeholders, Write};
use super::{Applied, Db, StoreError};

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub merchant_id: String,
    pub out_trade_no: String,
    pub amount: Money,
    pub subject: String,
    pub notify_url: Option<String>,
    pub state: OrderState,
    /// The payment this order is reserved by while that payment is open.
    pub open_payment_no: Option<String>,
    pub paid_by: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
}

pub(super) const COLUMNS: &str =
    "id, merchant_id, out_trade_no, amount, currency, subject, notify_url, state, \
                       open_payment_no, paid_by, expires_at, created_at, updated_at, paid_at";

/// Reads a stored amount: a row breaking the money rules is corrupt, not a sentinel.
pub(super) fn money(minor: i64, currency: &str) -> Result<Money, StoreError> {
    Currency::parse(currency)
        .and_then(|c| Money::new(minor, c))
        .map_err(|e| StoreError::Corrupt(format!("amount {minor} {currency}: {e}")))
}

pub(super) fn from_row(r: &AnyRow) -> Result<OrderRecord, StoreError> {
    from_prefixed_row(r, "")
}

/// An order from a row whose order columns are named `{prefix}{column}` (a join).
pub(super) fn from_prefixed_row(r: &AnyRow, prefix: &str) -> Result<OrderRecord, StoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let state: String = r.try_get(col("state").as_str())?;
    let currency: String = r.try_get(col("currency").as_str())?;
    Ok(OrderRecord {
        id: r.try_get(col("id").as_str())?,
        merchant_id: r.try_get(col("merchant_id").as_str())?,
        out_trade_no: r.try_get(col("out_trade_no").as_str())?,
        amount: money(r.try_get(col("amount").as_str())?, &currency)?,
        subject: r.try_get(col("subject").as_str())?,
        notify_url: r.try_get(col("notify_url").as_str())?,
        state: OrderState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("order state `{state}`")))?,
        open_payment_no: r.try_get(col("open_payment_no").as_str())?,
        paid_by: r.try_get(col("paid_by").as_str())?,
        expires_at: r.try_get(col("expires_at").as_str())?,
        created_at: r.try_get(col("created_at").as_str())?,
        updated_at: r.try_get(col("updated_at").as_str())?,
        paid_at: r.try_get(col("paid_at").as_str())?,
    })
}

/// The record a new order becomes, in `state` (the state machine's first).
pub fn new_record(
    id: &str,
    merchant_id: &str,
    order: &NewOrder,
    state: OrderState,
    now: i64,
) -> OrderRecord {
    OrderRecord {
        id: id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        out_trade_no: order.out_trade_no.clone(),
        amount: order.amount,
        subject: order.subject.clone(),
        notify_url: order.notify_url.clone(),
        state,
        open_payment_no: None,
        paid_by: None,
        expires_at: now + order.ttl_seconds * 1000,
        created_at: now,
        updated_at: now,
        paid_at: None,
    }
}

const INSERT: &str = "INSERT INTO orders (id, merchant_id, out_trade_no, amount, currency, subject, notify_url, state,
     expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";

fn insert_query(r: &OrderRecord) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(INSERT)
        .bind(&r.id)
        .bind(&r.merchant_id)
        .bind(&r.out_trade_no)
        .bind(r.amount.minor())
        .bind(r.amount.currency().code())
        .bind(&r.subject)
        .bind(&r.notify_url)
        .bind(r.state.as_str())
        .bind(r.expires_at)
        .bind(r.created_at)
}

/// Inserts a new order, on its own (one statement). A duplicate `out_trade_no` fails with
/// the uniqueness of (merchant, out_trade_no) (`orders_out_trade_no_merchant_key` on
/// PostgreSQL, `orders_merchant_out_trade_no_key` on SQLite).
pub async fn insert(db: &Db, record: &OrderRecord) -> Result<(), StoreError> {
    insert_query(record).execute(&db.pool).await?;
    Ok(())
}

/// Inserts a new order inside `tx` (with its idempotency key).
pub async fn insert_in(
    tx: &mut Transaction<'_, Any>,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    insert_query(record).execute(&mut **tx).await?;
    Ok(())
}

/// The merchant's order `id`; another merchant's order is `None`, as if it did not exist.
pub async fn get(db: &Db, merchant_id: &str, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1 AND merchant_id = $2");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(merchant_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The merchant's orders among `ids` (those that exist), in id order.
pub async fn get_many(
    db: &Db,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<OrderRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE merchant_id = $1 AND id IN ({}) ORDER BY id",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(&sql).bind(merchant_id);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

pub async fn by_out_trade_no(
    db: &Db,
    merchant_id: &str,
    out_trade_no: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE merchant_id = $1 AND out_trade_no = $2");
    let row = sqlx::query(&sql)
        .bind(merchant_id)
        .bind(out_trade_no)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Reserves the merchant's orders `ids` for `payment_no` inside `tx`, each only while it is
/// in the state `payable` and in no other open payment, and returns them as they are now.
/// The caller commits only if every order came back.
pub async fn reserve(
    tx: &mut Transaction<'_, Any>,
    merchant_id: &str,
    ids: &[String],
    payable: OrderState,
    payment_no: &str,
    now: i64,
) -> Result<Vec<OrderRecord>, StoreError> {
    let sql = format!(
        "UPDATE orders SET open_payment_no = $1, updated_at = $2
         WHERE merchant_id = $3 AND state = $4 AND open_payment_no IS NULL AND id IN ({})
         RETURNING {COLUMNS}",
        placeholders(5, ids.len())
    );
    let mut q = sqlx::query(&sql)
        .bind(payment_no)
        .bind(now)
        .bind(merchant_id)
        .bind(payable.as_str());
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut **tx).await?;
    let mut orders: Vec<OrderRecord> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    orders.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(orders)
}

/// The write that frees the orders a payment reserved (it ended unpaid).
pub(super) fn release(payment_no: &str, now: i64) -> Write {
    Write::new(
        "UPDATE orders SET open_payment_no = NULL, updated_at = $1 WHERE open_payment_no = $2",
        None,
    )
    .bind(now)
    .bind(payment_no)
}

/// Applies `change` to a merchant's order that no payment holds (cancel, close at the
/// deadline), writing its event in the same transaction: `LostRace` if the order was not in
/// the change's from-state, or a payment reserved it meanwhile; else the event's id.
pub async fn finish_unpaid(
    db: &Db,
    order: &OrderRecord,
    change: Change<OrderState>,
    event_kind: &str,
    now: i64,
) -> Result<Applied<String>, StoreError> {
    let mut after = order.clone();
    after.state = change.to();
    after.updated_at = now;
    let (event_id, event) = super::events::record(&after, event_kind, now);
    let writes = [
        Write::new(
            "UPDATE orders SET state = $1, updated_at = $2
             WHERE id = $3 AND merchant_id = $4 AND state = $5 AND open_payment_no IS NULL",
            Some(1),
        )
        .bind(change.to().as_str())
        .bind(now)
        .bind(order.id.as_str())
        .bind(order.merchant_id.as_str())
        .bind(change.from().as_str()),
        event,
    ];
    batch::transaction(db, &writes, event_id).await
}

/// One page of the orders in `state`, by id after `after` (`""` for the first page), at most
/// `limit`: (merchant id, order id, expires at in ms). Paged, so that a million open orders
/// are read a page at a time; the state is written into the statement so that the partial
/// index of open orders serves it.
pub async fn page_in_state(
    db: &Db,
    state: OrderState,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let sql = format!(
        "SELECT merchant_id, id, expires_at FROM orders WHERE state = '{}' AND id > $1
         ORDER BY id LIMIT $2",
        state.as_str()
    );
    let rows = super::page(db, &sql, after, limit).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("merchant_id")?,
                r.try_get("id")?,
                r.try_get("expires_at")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// The order `id`, whatever its merchant (for operators).
pub async fn get_any(db: &Db, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The orders numbered `out_trade_no` by any merchant (for operators), at most 20.
pub async fn with_out_trade_no(
    db: &Db,
    out_trade_no: &str,
) -> Result<Vec<OrderRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE out_trade_no = $1 ORDER BY created_at LIMIT 20"
    );
    let rows = sqlx::query(&sql)
        .bind(out_trade_no)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}
