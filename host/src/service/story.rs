//! A trade's whole story for an operator: found by payment number, refund number, order
//! id, event id or `out_trade_no` (any merchant's), it gathers the orders and their
//! merchant, every payment made for them with the adapter calls made about it, the
//! notifications received, its refunds and its resolved flags, and the orders' events with
//! each delivery attempt.

use crate::store::events::{self, DeliveryRecord, OrderEvent};
use crate::store::flags::{self, FlagResolution};
use crate::store::merchants::{self, Merchant};
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
    /// The query is a merchant's id.
    Merchant(String),
    Nothing,
}

/// Everything paygate knows of some orders and their payments.
pub struct Story {
    /// The orders' merchant (the orders of one payment are one merchant's).
    pub merchant: Option<Merchant>,
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
    /// Its flags operators resolved: who, when, why.
    pub resolutions: Vec<FlagResolution>,
}

pub struct EventStory {
    pub event: OrderEvent,
    pub deliveries: Vec<DeliveryRecord>,
}

impl Gateway {
    /// Finds `query` (trimmed): a payment number (in any case), a refund number, an order
    /// id, an event id, an `out_trade_no` (exact), or a merchant id.
    pub async fn find_story(&self, query: &str) -> Result<Found, ServiceError> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Found::Nothing);
        }
        let db = &self.db;
        // paygate's payment numbers are lower-case hex; a number read aloud may not be.
        let mut payment = payments::get_any(db, query).await?;
        if payment.is_none() && query.bytes().any(|b| b.is_ascii_uppercase()) {
            payment = payments::get_any(db, &query.to_ascii_lowercase()).await?;
        }
        if payment.is_none() {
            if let Some(refund) = refunds::get(db, query).await? {
                payment = payments::get_any(db, &refund.payment_no).await?;
            }
        }
        if let Some(payment) = payment {
            let orders = orders::get_many(db, &payment.merchant_id, &payment.order_ids).await?;
            return Ok(Found::Story(Box::new(self.story(orders).await?)));
        }
        let mut order = orders::get_any(db, query).await?;
        if order.is_none() {
            if let Some(event) = events::get(db, query).await? {
                order = orders::get_any(db, &event.order_id).await?;
            }
        }
        if let Some(order) = order {
            return Ok(Found::Story(Box::new(self.story(vec![order]).await?)));
        }
        let mut matching = orders::with_out_trade_no(db, query).await?;
        Ok(match matching.len() {
            0 if merchants::get(db, query).await?.is_some() => Found::Merchant(query.to_owned()),
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
                resolutions: flags::of_payment(&self.db, &payment.payment_no).await?,
                payment,
            });
        }
        let merchant = match orders.first() {
            Some(o) => merchants::get(&self.db, &o.merchant_id).await?,
            None => None,
        };
        Ok(Story {
            merchant,
            orders,
            payments,
            events,
        })
    }
}
