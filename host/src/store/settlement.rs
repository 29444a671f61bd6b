//! Settlement's storage: the payment and the orders it holds, read in one query, and the
//! changes the domain's settlement rule decided, applied in one transaction (one round
//! trip on PostgreSQL), with the provider notification that brought the report when there
//! is one.

use sqlx::Row;

use crate::domain::Settlement;

use super::batch::{self, placeholders, Write};
use super::orders::{self, OrderRecord};
use super::payments::{self, PaymentRecord};
use super::{notifications, Applied, Db, StoreError};

/// A payment and the orders it holds (those it reserved while open).
pub async fn read(
    db: &Db,
    payment_no: &str,
) -> Result<Option<(PaymentRecord, Vec<OrderRecord>)>, StoreError> {
    let order_columns: Vec<String> = orders::COLUMNS
        .split(',')
        .map(|c| format!("o.{0} AS o_{0}", c.trim()))
        .collect();
    let payment_columns: Vec<String> = payments::COLUMNS
        .split(',')
        .map(|c| format!("p.{}", c.trim()))
        .collect();
    let sql = format!(
        "SELECT {}, {} FROM payments p LEFT JOIN orders o ON o.open_payment_no = p.payment_no
         WHERE p.payment_no = $1 ORDER BY o.id",
        payment_columns.join(", "),
        order_columns.join(", ")
    );
    let rows = sqlx::query(&sql)
        .bind(payment_no)
        .fetch_all(&db.pool)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let payment = payments::from_row(first)?;
    let mut held = Vec::new();
    for r in &rows {
        if r.try_get::<Option<String>, _>("o_id")?.is_some() {
            held.push(orders::from_prefixed_row(r, "o_")?);
        }
    }
    Ok(Some((payment, held)))
}

/// Provider facts that come with a report.
#[derive(Debug, Clone, Default)]
pub struct ReportDetails<'a> {
    pub provider_trade_id: Option<&'a str>,
    /// When the payer paid, by the provider (ms); paygate's clock when it did not say.
    pub paid_at_ms: Option<i64>,
}

/// Applies `settlement`, decided for `payment` and its `orders` as read, in one
/// transaction, with `notification` recorded in it when the report came as one. The new
/// outbox events' ids; `LostRace` (nothing written) if a row was not in the state the rule
/// saw: the caller reads again and lets the rule decide again.
pub async fn apply(
    db: &Db,
    payment: &PaymentRecord,
    orders: &[OrderRecord],
    settlement: &Settlement,
    details: &ReportDetails<'_>,
    notification: Option<notifications::Received<'_>>,
    now: i64,
) -> Result<Applied<Vec<String>>, StoreError> {
    let no = payment.payment_no.as_str();
    let paid_at = details.paid_at_ms.unwrap_or(now);
    let mut writes = Vec::new();
    let mut events = Vec::new();
    // PostgreSQL applies a batch on one snapshot, so one row is written once: the flag goes
    // in the payment's own update when the payment changes.
    let flag = settlement.flag();
    let pay = |change: crate::domain::Change<crate::domain::PaymentState>| {
        Write::new(
            "UPDATE payments SET state = $1, paid_amount = amount, paid_at = $2,
             provider_trade_id = COALESCE($3, provider_trade_id), updated_at = $4, opening_until = NULL,
             flag = COALESCE($7, flag)
             WHERE payment_no = $5 AND state = $6",
            Some(1),
        )
        .bind(change.to().as_str())
        .bind(paid_at)
        .bind(details.provider_trade_id)
        .bind(now)
        .bind(no)
        .bind(change.from().as_str())
        .bind(flag.map(|f| f.as_str()))
    };
    match settlement {
        Settlement::Paid {
            payment: change,
            orders: order_change,
            order_ids,
        }
        | Settlement::PaidTwice {
            payment: change,
            orders: order_change,
            paid: order_ids,
            ..
        } => {
            writes.push(pay(*change));
            if !order_ids.is_empty() {
                let sql = format!(
                    "UPDATE orders SET state = $1, paid_by = $2, paid_at = $3, open_payment_no = NULL, updated_at = $4
                     WHERE state = $5 AND open_payment_no = $2 AND id IN ({})",
                    placeholders(6, order_ids.len())
                );
                let mut w = Write::new(sql, Some(order_ids.len() as u64))
                    .bind(order_change.to().as_str())
                    .bind(no)
                    .bind(paid_at)
                    .bind(now)
                    .bind(order_change.from().as_str());
                for id in order_ids {
                    w = w.bind(id.as_str());
                }
                writes.push(w);
            }
            for order in orders.iter().filter(|o| order_ids.contains(&o.id)) {
                let after = OrderRecord {
                    state: order_change.to(),
                    paid_by: Some(no.to_owned()),
                    paid_at: Some(paid_at),
                    open_payment_no: None,
                    updated_at: now,
                    ..order.clone()
                };
                let (id, write) = super::events::record(
                    &after,
                    crate::domain::OrderEvent::Pay.webhook_type(),
                    now,
                );
                events.push(id);
                writes.push(write);
            }
        }
        Settlement::PaidLate { payment: change } => writes.push(pay(*change)),
        Settlement::Closed { payment: change } => {
            writes.push(payments::unpaid_end(no, *change, now));
            writes.push(orders::release(no, now));
        }
        Settlement::AmountMismatch { .. } | Settlement::UnexpectedRefund | Settlement::NoChange => {
        }
    }
    if let (Some(flag), Settlement::AmountMismatch { .. } | Settlement::UnexpectedRefund) =
        (flag, settlement)
    {
        writes.push(payments::flag_write(no, flag, payment.state, now));
    }
    if let Some(n) = notification {
        writes.push(notifications::record(&n, now));
    }
    if writes.is_empty() {
        return Ok(Applied::Done(events));
    }
    batch::transaction(db, &writes, events).await
}
