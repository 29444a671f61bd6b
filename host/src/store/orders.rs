//! Orders: insert (unique per merchant's `out_trade_no`), read, and the conditional state
//! changes of the order state machine.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::domain::{NewOrder, OrderState};

use super::{now_ms, Db, StoreError};

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub merchant_id: String,
    pub out_trade_no: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub notify_url: Option<String>,
    pub state: OrderState,
    pub open_payment_no: Option<String>,
    pub paid_by: Option<String>,
    pub version: i64,
    pub expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
}

const COLUMNS: &str = "id, merchant_id, out_trade_no, amount, currency, subject, notify_url, state, open_payment_no, \
                       paid_by, version, expires_at, created_at, updated_at, paid_at";

fn from_row(r: &AnyRow) -> Result<OrderRecord, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(OrderRecord {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        out_trade_no: r.try_get("out_trade_no")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        subject: r.try_get("subject")?,
        notify_url: r.try_get("notify_url")?,
        state: OrderState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("order state `{state}`")))?,
        open_payment_no: r.try_get("open_payment_no")?,
        paid_by: r.try_get("paid_by")?,
        version: r.try_get("version")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        paid_at: r.try_get("paid_at")?,
    })
}

/// Inserts a new order inside `tx`. A duplicate `out_trade_no` fails with the unique
/// constraint `orders_merchant_out_trade_no_key`.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    merchant_id: &str,
    order: &NewOrder,
) -> Result<OrderRecord, StoreError> {
    let now = now_ms();
    let record = OrderRecord {
        id: id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        out_trade_no: order.out_trade_no.clone(),
        amount: order.amount.minor(),
        currency: order.amount.currency().code().to_owned(),
        subject: order.subject.clone(),
        notify_url: order.notify_url.clone(),
        state: OrderState::Pending,
        open_payment_no: None,
        paid_by: None,
        version: 0,
        expires_at: now + order.ttl_seconds * 1000,
        created_at: now,
        updated_at: now,
        paid_at: None,
    };
    sqlx::query(
        "INSERT INTO orders (id, merchant_id, out_trade_no, amount, currency, subject, notify_url, state, version,
         expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10)",
    )
    .bind(&record.id)
    .bind(&record.merchant_id)
    .bind(&record.out_trade_no)
    .bind(record.amount)
    .bind(&record.currency)
    .bind(&record.subject)
    .bind(&record.notify_url)
    .bind(record.state.as_str())
    .bind(record.expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(record)
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

/// The orders of a payment.
pub async fn of_payment(db: &Db, payment_no: &str) -> Result<Vec<OrderRecord>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE id IN (SELECT order_id FROM payment_orders WHERE payment_no = $1) ORDER BY id"
    );
    let rows = sqlx::query(&sql)
        .bind(payment_no)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Moves a pending order with no open payment to `to` (cancelled, closed), writing its
/// event in the same transaction. `None` if the order was not in that condition any more;
/// else the event's id.
pub async fn finish_unpaid(
    db: &Db,
    merchant_id: &str,
    id: &str,
    to: OrderState,
) -> Result<Option<String>, StoreError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE orders SET state = $1, version = version + 1, updated_at = $2
         WHERE id = $3 AND merchant_id = $4 AND state = 'pending' AND open_payment_no IS NULL",
    )
    .bind(to.as_str())
    .bind(now_ms())
    .bind(id)
    .bind(merchant_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut events =
        super::events::record(&mut tx, &[id.to_owned()], &format!("order.{}", to.as_str())).await?;
    tx.commit().await?;
    Ok(events.pop())
}

/// Every pending order: (merchant id, order id, expires_at).
pub async fn pending(db: &Db) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows =
        sqlx::query("SELECT merchant_id, id, expires_at FROM orders WHERE state = 'pending'")
            .fetch_all(&db.pool)
            .await?;
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
