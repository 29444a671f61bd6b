//! The order-event outbox: written in the transaction of the order change it describes (or
//! of the partial refund, which changes no order state), then delivered to the merchant (its
//! delivery state is the domain's `DeliveryState`).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::delivery::initial;
use crate::domain::{Change, DeliveryState};

use super::batch::Write;
use super::orders::OrderRecord;
use super::{Applied, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub kind: String,
    pub payload: String,
    pub delivery: DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i32>,
    pub streamed: bool,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, order_id, merchant_id, kind, payload, delivery, attempts, last_status, streamed, created_at, delivered_at";

fn from_row(r: &AnyRow) -> Result<OrderEvent, StoreError> {
    let delivery: String = r.try_get("delivery")?;
    Ok(OrderEvent {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        merchant_id: r.try_get("merchant_id")?,
        kind: r.try_get("kind")?,
        payload: r.try_get("payload")?,
        delivery: DeliveryState::parse(&delivery)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state `{delivery}`")))?,
        attempts: r.try_get("attempts")?,
        last_status: r.try_get("last_status")?,
        streamed: r.try_get::<i32, _>("streamed")? != 0,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// The event `kind` of an order as it is after its change (`order`), as a write for the
/// change's transaction, and its id.
pub fn record(order: &OrderRecord, kind: &str, now: i64) -> (String, Write) {
    record_with(order, kind, None, now)
}

/// [`record`], with the payload's `refund` object (`order.partially_refunded`).
pub fn record_with(
    order: &OrderRecord,
    kind: &str,
    refund: Option<serde_json::Value>,
    now: i64,
) -> (String, Write) {
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let mut payload = serde_json::json!({
        "id": id,
        "type": kind,
        "created_at": now,
        "order": {
            "id": order.id,
            "out_trade_no": order.out_trade_no,
            "state": order.state.as_str(),
            "amount": order.amount.minor(),
            "currency": order.amount.currency().code(),
            "paid_by": order.paid_by,
            "paid_at": order.paid_at,
        }
    });
    if let Some(refund) = refund {
        payload["refund"] = refund;
    }
    let payload = payload.to_string();
    // An order without a notify_url of its own has an endpoint when its merchant has one:
    // read in the same statement, so that recording an event costs no extra round trip.
    let write = Write::new(
        "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at)
         VALUES ($1, $2, $3, $4, $5,
           CASE WHEN $6 = 1 OR EXISTS (SELECT 1 FROM merchants WHERE id = $7 AND notify_url IS NOT NULL)
           THEN $8 ELSE $9 END, $10)",
        Some(1),
    )
    .bind(id.as_str())
    .bind(order.id.as_str())
    .bind(order.merchant_id.as_str())
    .bind(kind)
    .bind(payload)
    .bind(i64::from(order.notify_url.is_some()))
    .bind(order.merchant_id.as_str())
    .bind(initial(true).as_str())
    .bind(initial(false).as_str())
    .bind(now);
    (id, write)
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

/// One page of the events whose delivery is in `state` (pending) or that were not streamed
/// yet, by id after `after` (`""` first), at most `limit`: their ids.
pub async fn page_undelivered(
    db: &Db,
    state: DeliveryState,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "SELECT id FROM order_events WHERE (delivery = '{}' OR streamed = 0) AND id > $1
         ORDER BY id LIMIT $2",
        state.as_str()
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| r.try_get("id").map_err(StoreError::from))
        .collect()
}

/// Records one delivery attempt: its HTTP status (`None`: no answer) and, when the rule
/// moved it, the delivery's change. `LostRace` if the delivery was not pending any more.
pub async fn attempted(
    db: &Db,
    id: &str,
    status: Option<u16>,
    from: DeliveryState,
    change: Option<Change<DeliveryState>>,
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let to = change.map_or(from, |c| c.to());
    let done = sqlx::query(
        "UPDATE order_events SET attempts = attempts + 1, last_status = $1, delivery = $2,
         delivered_at = CASE WHEN $3 = 1 THEN $4 ELSE delivered_at END WHERE id = $5 AND delivery = $6",
    )
    .bind(status.map(i32::from))
    .bind(to.as_str())
    .bind(i32::from(to == DeliveryState::Delivered))
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(&db.pool)
    .await?;
    Ok(Applied::from_rows(done.rows_affected(), ()))
}

pub async fn mark_streamed(db: &Db, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE order_events SET streamed = 1 WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Events whose delivery is in `state` (failed), newest first.
pub async fn in_state(db: &Db, state: DeliveryState) -> Result<Vec<OrderEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM order_events WHERE delivery = $1 ORDER BY created_at DESC LIMIT 500"
    );
    let rows = sqlx::query(&sql)
        .bind(state.as_str())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}
