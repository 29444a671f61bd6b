//! Orders: creation (idempotent by key and by `out_trade_no`), reading, cancelling.

use crate::domain::{NewOrder, OrderState, PaymentState};
use crate::store::orders::{self, OrderRecord};
use crate::store::{idempotency, payments, StoreError};

use super::{Gateway, ServiceError};

/// An idempotency key with the fingerprint of the request it came with.
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// What creating an order led to.
pub enum Created {
    /// A new order (201).
    New(OrderRecord),
    /// The same `out_trade_no` with the same content: the existing order (200).
    Existing(OrderRecord),
    /// A response saved under the idempotency key, replayed as it was.
    Replay { status: u16, body: String },
}

impl Gateway {
    /// Creates an order. `render` gives the response body stored under the idempotency key.
    pub async fn create_order(
        &self,
        merchant_id: &str,
        order: NewOrder,
        idem: Option<IdempotencyKey>,
        render: impl Fn(&OrderRecord) -> String,
    ) -> Result<Created, ServiceError> {
        let id = format!("ord_{}", uuid::Uuid::now_v7().simple());
        let mut tx = self.db.pool.begin().await.map_err(StoreError::from)?;
        if let Some(k) = &idem {
            if !idempotency::claim(&mut tx, merchant_id, &k.key, &k.fingerprint).await? {
                tx.rollback().await.map_err(StoreError::from)?;
                return self.replay(merchant_id, k).await;
            }
        }
        let inserted = orders::insert(&mut tx, &id, merchant_id, &order).await;
        match inserted {
            Ok(record) => {
                if let Some(k) = &idem {
                    idempotency::save(&mut tx, merchant_id, &k.key, 201, &render(&record)).await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                tracing::info!(order_id = %record.id, merchant_id, out_trade_no = %record.out_trade_no, amount = record.amount, currency = %record.currency, "order created");
                if let Err(e) = self
                    .timers
                    .schedule_deadline(merchant_id, &record.id, record.expires_at)
                    .await
                {
                    tracing::error!(order_id = %record.id, error = %e, "could not schedule the deadline; it is scheduled again at the next start");
                }
                Ok(Created::New(record))
            }
            Err(e) if e.is_unique_violation() => {
                tx.rollback().await.map_err(StoreError::from)?;
                let existing = orders::by_out_trade_no(&self.db, merchant_id, &order.out_trade_no)
                    .await?
                    .ok_or_else(|| ServiceError::Internal("duplicate order vanished".into()))?;
                let same = existing.amount == order.amount.minor()
                    && existing.currency == order.amount.currency().code()
                    && existing.subject == order.subject
                    && existing.notify_url == order.notify_url;
                if same {
                    Ok(Created::Existing(existing))
                } else {
                    Err(ServiceError::conflict(
                        "out_trade_no_exists",
                        format!(
                            "an order with out_trade_no `{}` already exists with other content",
                            order.out_trade_no
                        ),
                    ))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn replay(&self, merchant_id: &str, k: &IdempotencyKey) -> Result<Created, ServiceError> {
        let saved = idempotency::saved(&self.db, merchant_id, &k.key)
            .await?
            .ok_or_else(|| ServiceError::Internal("idempotency key vanished".into()))?;
        if saved.fingerprint != k.fingerprint {
            return Err(ServiceError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request body",
            ));
        }
        if saved.status == 0 {
            return Err(ServiceError::conflict(
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running",
            ));
        }
        Ok(Created::Replay {
            status: saved.status,
            body: saved.body,
        })
    }

    pub async fn order(&self, merchant_id: &str, id: &str) -> Result<OrderRecord, ServiceError> {
        orders::get(&self.db, merchant_id, id)
            .await?
            .ok_or(ServiceError::NotFound("order"))
    }

    /// Cancels a pending order. An open payment is closed at its provider first; if the
    /// provider says it was paid, the order is paid and the cancel is refused.
    pub async fn cancel_order(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> Result<OrderRecord, ServiceError> {
        let order = self.order(merchant_id, id).await?;
        match order.state {
            OrderState::Pending => {}
            OrderState::Cancelled => return Ok(order),
            other => return Err(state_conflict(other)),
        }
        if let Some(payment_no) = &order.open_payment_no {
            let payment = payments::get(&self.db, merchant_id, payment_no)
                .await?
                .ok_or_else(|| {
                    ServiceError::Internal(format!("open payment {payment_no} missing"))
                })?;
            if payment.state == PaymentState::Open {
                self.close_at_provider(&payment).await?;
            }
        }
        let event = orders::finish_unpaid(&self.db, merchant_id, id, OrderState::Cancelled).await?;
        if let Some(event) = &event {
            self.dispatch(std::slice::from_ref(event)).await;
        } else {
            let now = self.order(merchant_id, id).await?;
            return match now.state {
                OrderState::Cancelled => Ok(now),
                OrderState::Pending => Err(ServiceError::conflict(
                    "payment_in_progress",
                    "a payment for this order started meanwhile; try again",
                )),
                other => Err(state_conflict(other)),
            };
        }
        tracing::info!(order_id = id, merchant_id, "order cancelled");
        self.order(merchant_id, id).await
    }
}

/// The refusal for acting on an order that is no longer pending.
pub fn state_conflict(state: OrderState) -> ServiceError {
    let (code, what) = match state {
        OrderState::Paid => ("order_paid", "is already paid"),
        OrderState::Closed => ("order_closed", "is closed: its deadline passed"),
        OrderState::Cancelled => ("order_cancelled", "was cancelled"),
        OrderState::Refunded => ("order_refunded", "was refunded"),
        OrderState::Pending => ("order_pending", "is pending"),
    };
    ServiceError::conflict(code, format!("the order {what}"))
}
