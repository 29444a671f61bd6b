//! A trade's whole story for an operator: found by payment number, order id or
//! `out_trade_no` (any merchant's), it gathers the orders, every payment made for them with
//! the adapter calls made about it, the notifications received and its refunds, and the
//! orders' events with each delivery attempt.

use crate::store::events::{self, DeliveryRecord, OrderEvent};
use crate::store::notifications::{self, NotificationRecord};
use crate::store::orders::{self, OrderRecord};
use crate::store::payments::{self, PaymentRecord};
use crate::store::provider_calls::{self, ProviderCall};
use crate::store::refunds::{self, RefundRecord};

use super::{Gateway, ServiceError};

/// Payments are opened only before their orders' deadline; the margin covers a clock that
/// stepped while one was opened (ms).
const OPENING_MARGIN_MS: i64 = 60_000;

/// What a search found.
pub enum Found {
    Story(Box<Story>),
    /// Several merchants' orders carry the `out_trade_no`: the operator picks one.
    Orders(Vec<OrderRecord>),
    Nothing,
}

/// Everything paygate knows of some orders and their payments.
pub struct Story {
    pub orders: Vec<OrderRecord>,
    /// Oldest first.
    pub payments: Vec<PaymentStory>,
    /// The orders' events, each order's in sequence.
    pub events: Vec<EventStory>,
}

pub struct PaymentStory {
    pub payment: PaymentRecord,
    /// The adapter calls made about it (its refunds' included), oldest first.
    pub calls: Vec<ProviderCall>,
    pub notifications: Vec<NotificationRecord>,
    pub refunds: Vec<RefundRecord>,
}

pub struct EventStory {
    pub event: OrderEvent,
    pub deliveries: Vec<DeliveryRecord>,
}

impl Gateway {
    /// Finds `query`: a payment number, an order id, or an `out_trade_no` (exact, trimmed).
    pub async fn find_story(&self, query: &str) -> Result<Found, ServiceError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Found::Nothing);
        }
        if let Some(payment) = payments::get_any(&self.db, query).await? {
            let orders =
                orders::get_many(&self.db, &payment.merchant_id, &payment.order_ids).await?;
            return Ok(Found::Story(Box::new(self.story(orders).await?)));
        }
        if let Some(order) = orders::get_any(&self.db, query).await? {
            return Ok(Found::Story(Box::new(self.story(vec![order]).await?)));
        }
        let mut matching = orders::with_out_trade_no(&self.db, query).await?;
        Ok(match matching.len() {
            0 => Found::Nothing,
            1 => Found::Story(Box::new(self.story(matching).await?)),
            _ => {
                matching.sort_by(|a, b| a.merchant_id.cmp(&b.merchant_id));
                Found::Orders(matching)
            }
        })
    }

    async fn story(&self, orders: Vec<OrderRecord>) -> Result<Story, ServiceError> {
        let mut found: Vec<PaymentRecord> = Vec::new();
        let mut events = Vec::new();
        for order in &orders {
            for payment in
                payments::of_order(&self.db, order, order.expires_at + OPENING_MARGIN_MS).await?
            {
                if !found.iter().any(|p| p.payment_no == payment.payment_no) {
                    found.push(payment);
                }
            }
            for event in events::of_order(&self.db, &order.id).await? {
                let deliveries = events::history(&self.db, &event.id).await?;
                events.push(EventStory { event, deliveries });
            }
        }
        found.sort_by_key(|p| p.created_at);
        let mut payments = Vec::with_capacity(found.len());
        for payment in found {
            payments.push(PaymentStory {
                calls: provider_calls::of_payment(&self.db, &payment.payment_no).await?,
                notifications: notifications::of_payment(&self.db, &payment.payment_no).await?,
                refunds: refunds::of_payment(&self.db, &payment.payment_no).await?,
                payment,
            });
        }
        Ok(Story {
            orders,
            payments,
            events,
        })
    }
}
