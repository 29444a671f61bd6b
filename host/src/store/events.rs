//! The order-event outbox: written in the transaction of the order change it describes (or
//! of the partial refund, which changes no order state), then delivered to the merchant (its
//! delivery state is the domain's `DeliveryState`).
//!
//! Each event has its place in its order's sequence (`seq`: 1, 2, 3, ...), assigned by the
//! INSERT itself: the order's highest number + 1, read in the same statement. Two
//! transactions writing events of one order at once may compute the same number; the
//! unique index on (order_id, seq) refuses the second, and the batch runs it again
//! ([`is_sequence_race`]).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::delivery::initial;
use crate::domain::{Change, DeliveryState};

use super::batch::Write;
use super::orders::OrderRecord;
use super::{Applied, Db, StoreError};

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    /// Its place among its order's events: 1 for the first, then 2, 3, ...
    pub seq: i64,
    pub kind: String,
    /// The JSON body POSTed to the merchant (`sequence` included; events written before
    /// sequences existed and already sent keep the body they were sent with).
    pub payload: String,
    pub delivery: DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i32>,
    pub streamed: bool,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, order_id, merchant_id, seq, kind, payload, delivery, attempts, last_status, streamed, created_at, delivered_at";

/// The unique index that makes an order's sequence numbers distinct.
const SEQUENCE_INDEX: &str = "order_events_order_seq";

fn from_row(r: &AnyRow) -> Result<OrderEvent, StoreError> {
    let delivery: String = r.try_get("delivery")?;
    Ok(OrderEvent {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        merchant_id: r.try_get("merchant_id")?,
        seq: r.try_get("seq")?,
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
    // The body ends with `"sequence":N}`, N being computed by the INSERT: the statement
    // appends the number and the closing brace to the rest of the object.
    let body = payload.to_string();
    let head = match body.strip_suffix('}') {
        Some(open) => format!("{open},\"sequence\":"),
        None => unreachable!("a JSON object ends with `}}`"),
    };
    // An order without a notify_url of its own has an endpoint when its merchant has one,
    // and the sequence number is the order's highest + 1: both read in the same statement,
    // so that recording an event costs no extra round trip.
    let write = Write::new(
        "INSERT INTO order_events (id, order_id, merchant_id, kind, payload, delivery, created_at, seq)
         SELECT $1, $2, $3, $4, $5 || CAST(n.seq AS TEXT) || '}',
           CASE WHEN $6 = 1 OR EXISTS (SELECT 1 FROM merchants WHERE id = $7 AND notify_url IS NOT NULL)
           THEN $8 ELSE $9 END, $10, n.seq
         FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM order_events WHERE order_id = $11) n",
        Some(1),
    )
    .bind(id.as_str())
    .bind(order.id.as_str())
    .bind(order.merchant_id.as_str())
    .bind(kind)
    .bind(head)
    .bind(i64::from(order.notify_url.is_some()))
    .bind(order.merchant_id.as_str())
    .bind(initial(true).as_str())
    .bind(initial(false).as_str())
    .bind(now)
    .bind(order.id.as_str());
    (id, write)
}

/// Whether `e` is the unique index refusing a sequence number another transaction took
/// meanwhile (PostgreSQL names the index; SQLite the columns): the writes are run again.
pub(super) fn is_sequence_race(e: &StoreError) -> bool {
    e.violated_constraint().is_some_and(|c| {
        c == SEQUENCE_INDEX || c.contains("order_events.order_id, order_events.seq")
    })
}

/// An order's events in their sequence.
pub async fn of_order(db: &Db, order_id: &str) -> Result<Vec<OrderEvent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM order_events WHERE order_id = $1 ORDER BY seq");
    let rows = sqlx::query(&sql).bind(order_id).fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// An event whose attempt is due, with what the ordering rule (`delivery::turn`) reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    pub event: OrderEvent,
    /// When the newest of the earlier events (lower `seq`) of its order that are still
    /// pending was written (ms); `None` when none is pending.
    pub earlier_pending_since: Option<i64>,
}

/// The event `id` and its earlier pending events' age, in one round trip.
pub async fn due(db: &Db, id: &str) -> Result<Option<DueEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS},
           (SELECT MAX(e.created_at) FROM order_events e
            WHERE e.order_id = order_events.order_id AND e.seq < order_events.seq
              AND e.delivery = $1) AS earlier_pending_since
         FROM order_events WHERE id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(DeliveryState::Pending.as_str())
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(DueEvent {
        event: from_row(&row)?,
        earlier_pending_since: row.try_get("earlier_pending_since")?,
    }))
}

/// The next event of `order_id` after sequence number `seq` that is still pending, if any:
/// the one an event's outcome may let go.
pub async fn next_pending(
    db: &Db,
    order_id: &str,
    seq: i64,
) -> Result<Option<OrderEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM order_events WHERE order_id = $1 AND seq > $2 AND delivery = $3
         ORDER BY seq LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(order_id)
        .bind(seq)
        .bind(DeliveryState::Pending.as_str())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
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
    let rows = super::page(db, &sql, after, limit).await?;
    rows.iter()
        .map(|r| r.try_get("id").map_err(StoreError::from))
        .collect()
}

/// Adds the next entry of an event's delivery history (in the caller's transaction).
async fn append_history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    at: i64,
    entry: &HistoryEntry<'_>,
) -> Result<(), StoreError> {
    let (kind, status, operator) = match entry {
        HistoryEntry::Attempt { status } => ("attempt", status.map(i32::from), None),
        HistoryEntry::Redelivery { operator } => ("redelivery", None, Some(*operator)),
    };
    sqlx::query(
        "INSERT INTO delivery_attempts (event_id, n, at, kind, status, operator)
         SELECT $1, COALESCE(MAX(n), 0) + 1, $2, $3, $4, $5 FROM delivery_attempts WHERE event_id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(kind)
    .bind(status)
    .bind(operator)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a history entry records.
enum HistoryEntry<'a> {
    Attempt { status: Option<u16> },
    Redelivery { operator: &'a str },
}

/// Records one delivery attempt: its HTTP status (`Some(0)`: no answer; `None`: no
/// endpoint) and, when the rule moved it, the delivery's change; and the attempt in the
/// event's history, in the same transaction. `LostRace` if the delivery was not pending
/// any more.
pub async fn attempted(
    db: &Db,
    id: &str,
    status: Option<u16>,
    from: DeliveryState,
    change: Option<Change<DeliveryState>>,
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let to = change.map_or(from, |c| c.to());
    let mut tx = db.pool.begin().await?;
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
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Applied::LostRace);
    }
    append_history(&mut tx, id, now, &HistoryEntry::Attempt { status }).await?;
    tx.commit().await?;
    Ok(Applied::Done(()))
}

/// Applies an operator's re-delivery (`domain::delivery::redeliver`): the event back to
/// pending for a new round (its round's attempts at 0), and the request in its history,
/// in one transaction. `LostRace` if the delivery was no longer in `change.from()`.
pub async fn redeliver(
    db: &Db,
    id: &str,
    change: Change<DeliveryState>,
    operator: &str,
    now: i64,
) -> Result<Applied<()>, StoreError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE order_events SET delivery = $1, attempts = 0, delivered_at = NULL
         WHERE id = $2 AND delivery = $3",
    )
    .bind(change.to().as_str())
    .bind(id)
    .bind(change.from().as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Applied::LostRace);
    }
    append_history(&mut tx, id, now, &HistoryEntry::Redelivery { operator }).await?;
    tx.commit().await?;
    Ok(Applied::Done(()))
}

/// One entry of an event's delivery history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// 1, 2, 3, ... in the order they happened.
    pub n: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// `attempt` or `redelivery`.
    pub kind: String,
    /// An attempt's HTTP status (0: no answer; `None`: no endpoint, or a re-delivery).
    pub status: Option<i32>,
    /// Who asked for a re-delivery.
    pub operator: Option<String>,
}

/// The event `id`, whatever its merchant (for operators).
pub async fn get(db: &Db, id: &str) -> Result<Option<OrderEvent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM order_events WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// The event's delivery history, oldest first (empty for events delivered before history
/// was kept).
pub async fn history(db: &Db, id: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT n, at, kind, status, operator FROM delivery_attempts WHERE event_id = $1
         ORDER BY n",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRecord {
                n: r.try_get("n")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                status: r.try_get("status")?,
                operator: r.try_get("operator")?,
            })
        })
        .collect()
}

/// A merchant's events whose delivery is in `state` (failed), oldest first. The state is
/// written into the statement so that the partial index of failed deliveries (migration
/// 0018) serves it.
pub async fn of_merchant_in_state(
    db: &Db,
    merchant_id: &str,
    state: DeliveryState,
) -> Result<Vec<OrderEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM order_events WHERE merchant_id = $1 AND delivery = '{}'
         ORDER BY created_at, id",
        state.as_str()
    );
    let rows = sqlx::query(&sql)
        .bind(merchant_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
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
