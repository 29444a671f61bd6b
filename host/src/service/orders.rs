//! Orders: creation (idempotent by key and by `out_trade_no`), reading, cancelling.

use crate::domain::order::check_ttl_outlasts_cutoff;
use crate::domain::{NewOrder, OrderEvent, OrderState, Transition};
use crate::store::orders::{self, OrderRecord};
use crate::store::{idempotency, Applied, StoreError};

use super::{ErrorCode, Gateway, ServiceError};

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

/// How many times a use case re-reads and decides again after losing a race.
const MAX_ROUNDS: usize = 8;

impl Gateway {
    /// Creates an order. `render` gives the response body stored under the idempotency key.
    /// Without a key, one statement. An order whose `ttl_seconds` does not outlast the pay
    /// cut-off could never be paid: 422 `ttl_below_cutoff`.
    pub async fn create_order(
        &self,
        merchant_id: &str,
        order: NewOrder,
        idem: Option<IdempotencyKey>,
        render: impl Fn(&OrderRecord) -> String,
    ) -> Result<Created, ServiceError> {
        // Before anything is stored or claimed, so that no database transaction waits on a
        // DNS look-up: the URL's host is resolved and every address checked. A retry under
        // the same idempotency key is checked again too; a destination refused now is
        // refused, whatever was answered before (and every delivery checks again anyway).
        if let Some(url) = &order.notify_url {
            self.check_destination(url).await?;
        }
        // Checked for new orders only: a retry of an order created under an older rule still
        // gets its stored answer.
        let ttl_check = || {
            check_ttl_outlasts_cutoff(order.ttl_seconds, self.rules.repay_cutoff_ms)
                .map_err(|e| ServiceError::invalid(ErrorCode::TtlBelowCutoff, e.to_string()))
        };
        let id = format!("ord_{}", uuid::Uuid::now_v7().simple());
        let record =
            orders::new_record(&id, merchant_id, &order, OrderState::INITIAL, self.now_ms());
        let inserted = match &idem {
            None => {
                ttl_check()?;
                orders::insert(&self.db, &record).await
            }
            Some(k) => {
                let mut tx = self.db.pool.begin().await.map_err(StoreError::from)?;
                if !idempotency::claim(&mut tx, merchant_id, &k.key, &k.fingerprint).await? {
                    tx.rollback().await.map_err(StoreError::from)?;
                    return self.replay(merchant_id, k).await;
                }
                if let Err(e) = ttl_check() {
                    tx.rollback().await.map_err(StoreError::from)?;
                    return Err(e);
                }
                match orders::insert_in(&mut tx, &record).await {
                    Ok(()) => {
                        idempotency::save(&mut tx, merchant_id, &k.key, 201, &render(&record))
                            .await?;
                        tx.commit().await.map_err(StoreError::from)?;
                        Ok(())
                    }
                    Err(e) => {
                        tx.rollback().await.map_err(StoreError::from)?;
                        Err(e)
                    }
                }
            }
        };
        match inserted {
            Ok(()) => {
                tracing::info!(order_id = %record.id, merchant_id, out_trade_no = %record.out_trade_no, amount = %record.amount, "order created");
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
                let existing = orders::by_out_trade_no(&self.db, merchant_id, &order.out_trade_no)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::internal(
                            "reading a duplicate order",
                            anyhow::anyhow!("it vanished"),
                        )
                    })?;
                let same = existing.amount == order.amount
                    && existing.subject == order.subject
                    && existing.notify_url == order.notify_url;
                if same {
                    Ok(Created::Existing(existing))
                } else {
                    Err(ServiceError::conflict(
                        ErrorCode::OutTradeNoExists,
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
            .ok_or_else(|| {
                ServiceError::internal("reading an idempotency key", anyhow::anyhow!("it vanished"))
            })?;
        if saved.fingerprint != k.fingerprint {
            return Err(ServiceError::invalid(
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with another request body",
            ));
        }
        if saved.status == 0 {
            return Err(ServiceError::conflict(
                ErrorCode::IdempotencyKeyInUse,
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
        for _ in 0..MAX_ROUNDS {
            let order = self.order(merchant_id, id).await?;
            let change = match order.state.apply(OrderEvent::Cancel) {
                Ok(Transition::To(change)) => change,
                Ok(Transition::Unchanged) => return Ok(order),
                Err(_) => return Err(state_conflict(order.state)),
            };
            if let Some(payment_no) = &order.open_payment_no {
                let payment = self.payment_record(merchant_id, payment_no).await?;
                if payment.state.is_open() {
                    self.close_at_provider(&payment).await?;
                }
                continue;
            }
            let now = self.now_ms();
            if let Applied::Done(event) = orders::finish_unpaid(
                &self.db,
                &order,
                change,
                OrderEvent::Cancel.webhook_type(),
                now,
            )
            .await?
            {
                self.dispatch(std::slice::from_ref(&event)).await;
                tracing::info!(order_id = id, merchant_id, "order cancelled");
                return Ok(OrderRecord {
                    state: change.to(),
                    updated_at: now,
                    ..order
                });
            }
            // A payment reserved it (or it moved) meanwhile: look again.
        }
        Err(ServiceError::conflict(
            ErrorCode::PaymentInProgress,
            "a payment for this order started meanwhile; try again",
        ))
    }
}

/// The refusal for acting on an order that is no longer pending.
pub fn state_conflict(state: OrderState) -> ServiceError {
    let (code, what) = match state {
        OrderState::Paid => (ErrorCode::OrderPaid, "is already paid"),
        OrderState::Closed => (ErrorCode::OrderClosed, "is closed: its deadline passed"),
        OrderState::Cancelled => (ErrorCode::OrderCancelled, "was cancelled"),
        OrderState::Refunded => (ErrorCode::OrderRefunded, "was refunded"),
        OrderState::Pending => (ErrorCode::OrderPending, "is pending"),
    };
    ServiceError::conflict(code, format!("the order {what}"))
}
