//! The order-event outbox: written in the transaction of the order change it describes.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub kind: String,
    pub payload: String,
    pub delivery: String,
    pub attempts: i64,
    pub last_status: Option<i32>,
    pub streamed: bool,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, order_id, merchant_id, kind, payload, delivery, attempts, last_status, streamed, created_at, delivered_at";

fn from_row(r: &AnyRow) -> Result<OrderEvent, StoreError> {
    Ok(OrderEvent {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        merchant_id: r.try_get("merchant_id")?,
        kind: r.try_get("kind")?,
        payload: r.try_get("payload")?,
        delivery: r.try_get("delivery")?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        streamed: r.try_get::<i32, _>("streamed")? != 0,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// Records `kind` for the orders given, inside `tx`, with the orders as they are now in
/// it. Returns the new events' ids.
pub async fn record(
    tx: &mut Transaction<'_, Any>,
    order_ids: &[String],
    kind: &str,
) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let mut ids = Vec::new();
    for order_id in order_ids {
        let r = sqlx::query(
            "SELECT id, merchant_id, out_trade_no, amount, currency, state, notify_url, paid_by, paid_at FROM orders WHERE id = $1",
        )
        .bind(order_id)
        .fetch_one(&mut **tx)
        .await?;
        let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        let notify_url: Option<String> = r.try_get("notify_url")?;
        let payload = serde_json::json!({
            "id": id,
            "type": kind,
            "created_at": now,
            "order": {
                "id": r.try_get::<String, _>("id")?,
                "out_trade_no": r.try_get::<String, _>("out_trade_no")?,
                "state": r.try_get::<String, _>("state")?,
                "amount": r.try_get::<i64, _>("amount")?,
                "currency": r.try_get::<String, _>("currency")?,
                "paid_by": r.try_get::<Option<String>, _>("paid_by")?,
                "paid_at": r.try_get::<Option<i64>, _>("paid_at")?,
            }
        })
        .to_string();
        sqlx::query(
            "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(order_id)
        .bind(r.try_get::<String, _>("merchant_id")?)
        .bind(kind)
        .bind(&payload)
        .bind(if notify_url.is_some() { "pending" } else { "none" })
        .bind(now)
        .execute(&mut **tx)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<OrderEvent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM order_events WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn of_order(db: &Db, order_id: &str) -> Result<Vec<OrderEvent>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM order_events WHERE order_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql).bind(order_id).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// Events whose delivery or streaming is not done, for the dispatcher at start.
pub async fn undelivered(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query("SELECT id FROM order_events WHERE delivery = 'pending' OR streamed = 0")
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| r.try_get("id").map_err(StoreError::from))
        .collect()
}

/// Records one delivery attempt's result.
pub async fn attempted(
    db: &Db,
    id: &str,
    status: Option<u16>,
    delivery: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE order_events SET attempts = attempts + 1, last_status = $1, delivery = $2,
         delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END WHERE id = $4 AND delivery = 'pending'",
    )
    .bind(status.map(i32::from))
    .bind(delivery)
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn mark_streamed(db: &Db, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE order_events SET streamed = 1 WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Webhooks whose retry schedule ran out, newest first.
pub async fn failed(db: &Db) -> Result<Vec<OrderEvent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM order_events WHERE delivery = 'failed' ORDER BY created_at DESC LIMIT 500");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}
