//! What timed work does: an order's deadline (query the provider once more, then close the
//! trade there and the order here) and one step of a payment's active status queries. Both
//! settle through the same idempotent path as a notification.

use crate::domain::{OrderState, PaymentState};
use crate::runtime::contract::{ProviderError, TradeState};
use crate::store::now_ms;
use crate::store::orders;
use crate::store::payments::{self, PaymentRecord, SettleOutcome};

/// The flag of a payment whose provider keeps refusing status queries at the deadline.
pub const FLAG_REFUSES_QUERIES: &str = "provider_refuses_queries";

use super::{Gateway, ServiceError};

/// What an order's deadline led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// The order was no longer pending (paid, cancelled...): nothing to do, no provider call.
    AlreadyFinal,
    /// The provider said it was paid: settled as paid.
    Paid,
    /// Closed at the provider (if a trade was open) and here.
    Closed,
    /// The provider could not be reached (or a payment started meanwhile): try again later.
    RetryLater(String),
}

/// What a status-sync step learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Still open at the provider: query again, but not past `deadline_ms`.
    Watch { deadline_ms: i64 },
    /// Settled, or nothing left to watch.
    Stop,
}

impl Gateway {
    /// The deadline rule of an order: already final -> nothing; an open trade -> query it
    /// (paid -> settle as paid), else close it at the provider ("already paid" there ->
    /// paid), then close the order. No open trade (none opened, or the provider refused to
    /// open it): the order closes without asking the provider.
    ///
    /// A provider that refuses the query (a merchant's key rotated or broken) leaves the
    /// order open, never closed blindly: the money may have come. `attempt` counts this
    /// deadline task's tries since it was last scheduled (1 the first time; a restart
    /// schedules it afresh); from [`PayRules::flag_after_refusals`] tries on, a refused
    /// query flags the payment `provider_refuses_queries` for an operator, and paygate
    /// keeps asking on its backoff.
    ///
    /// [`PayRules::flag_after_refusals`]: super::PayRules::flag_after_refusals
    pub async fn expire_order(
        &self,
        merchant_id: &str,
        order_id: &str,
        attempt: u32,
    ) -> Result<Expiry, ServiceError> {
        let Some(order) = orders::get(&self.db, merchant_id, order_id).await? else {
            return Ok(Expiry::AlreadyFinal);
        };
        if order.state != OrderState::Pending {
            return Ok(Expiry::AlreadyFinal);
        }
        if let Some(payment_no) = &order.open_payment_no {
            let payment = self.payment_record(merchant_id, payment_no).await?;
            if payment.state == PaymentState::Open {
                let ctx = self.call_context(merchant_id, &payment.provider).await?;
                match self
                    .runtime
                    .query(&payment.provider, ctx.grants, &ctx.config, payment_no)
                    .await
                {
                    Ok(Ok(status))
                        if matches!(status.state, TradeState::Paid | TradeState::Refunded) =>
                    {
                        if let SettleOutcome::Paid { .. } | SettleOutcome::PaidWithConflict { .. } =
                            self.apply_trade_status(&status).await?
                        {
                            return Ok(Expiry::Paid);
                        }
                    }
                    // Unpaid (open, or closed by the provider's own deadline): closed below,
                    // at the provider first, so that it can no longer be paid there.
                    Ok(Ok(_)) => {}
                    // The provider never opened it: there is nothing to close there.
                    Ok(Err(ProviderError::NotFound)) => {}
                    Ok(Err(e)) => {
                        let refused = matches!(
                            e,
                            ProviderError::Rejected(_)
                                | ProviderError::Config(_)
                                | ProviderError::BadSignature(_)
                        );
                        if refused && attempt >= self.rules.flag_after_refusals {
                            self.flag_once(&payment, FLAG_REFUSES_QUERIES).await?;
                        }
                        return Ok(Expiry::RetryLater(format!("status query: {e:?}")));
                    }
                    Err(e) => return Ok(Expiry::RetryLater(e.to_string())),
                }
                let payment = self.payment_record(merchant_id, payment_no).await?;
                if payment.state == PaymentState::Open {
                    match self.close_at_provider(&payment).await {
                        Ok(()) => {}
                        Err(ServiceError::Conflict {
                            code: "order_paid", ..
                        }) => return Ok(Expiry::Paid),
                        Err(ServiceError::Provider {
                            retryable: true,
                            message,
                            ..
                        }) => return Ok(Expiry::RetryLater(message)),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if let Some(event) =
            orders::finish_unpaid(&self.db, merchant_id, order_id, OrderState::Closed).await?
        {
            self.dispatch(&[event]).await;
            tracing::info!(order_id, "order closed at its deadline");
            return Ok(Expiry::Closed);
        }
        let now = self.order(merchant_id, order_id).await?;
        Ok(match now.state {
            OrderState::Pending => Expiry::RetryLater("a payment started meanwhile".into()),
            OrderState::Paid => Expiry::Paid,
            _ => Expiry::AlreadyFinal,
        })
    }

    /// Flags `payment` for an operator unless it already carries a flag (the first reason
    /// found stays), and counts it in `paygate_payments_flagged_total`.
    async fn flag_once(
        &self,
        payment: &PaymentRecord,
        flag: &'static str,
    ) -> Result<(), ServiceError> {
        if payments::flag_if_unflagged(&self.db, &payment.payment_no, flag).await? {
            metrics::counter!("paygate_payments_flagged_total", "flag" => flag).increment(1);
            tracing::error!(payment_no = %payment.payment_no, flag, "payment flagged for an operator; paygate keeps asking the provider");
        }
        Ok(())
    }

    /// One active status query of an open payment.
    pub async fn sync_step(
        &self,
        merchant_id: &str,
        payment_no: &str,
    ) -> Result<SyncStep, ServiceError> {
        let payment = match self.payment_record(merchant_id, payment_no).await {
            Ok(p) => p,
            Err(ServiceError::NotFound(_)) => return Ok(SyncStep::Stop),
            Err(e) => return Err(e),
        };
        if payment.state != PaymentState::Open || now_ms() > payment.provider_deadline {
            return Ok(SyncStep::Stop);
        }
        match self.sync_payment(&payment).await {
            Ok(SettleOutcome::Unchanged | SettleOutcome::UnknownPayment) => Ok(SyncStep::Watch {
                deadline_ms: payment.provider_deadline,
            }),
            Ok(outcome) => {
                tracing::info!(?outcome, "status sync settled the payment");
                Ok(SyncStep::Stop)
            }
            Err(ServiceError::Provider { message, .. }) => {
                tracing::warn!(%message, "status query failed; will query again");
                Ok(SyncStep::Watch {
                    deadline_ms: payment.provider_deadline,
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl Gateway {
    /// Schedules (again) the deadline of every pending order and the status sync of every
    /// open payment. Run at start: work whose scheduling was lost in a crash between a
    /// commit and the queue comes back; scheduling an existing key only replaces it.
    pub async fn reconcile_timers(&self) -> Result<(usize, usize), ServiceError> {
        let pending = orders::pending(&self.db).await?;
        for (merchant_id, order_id, expires_at) in &pending {
            self.timers
                .schedule_deadline(merchant_id, order_id, *expires_at)
                .await
                .map_err(queue_error)?;
        }
        let open = payments::open_with_action(&self.db).await?;
        let now = now_ms();
        for (merchant_id, payment_no) in &open {
            self.timers
                .schedule_sync(merchant_id, payment_no, now)
                .await
                .map_err(queue_error)?;
        }
        for event in crate::store::events::undelivered(&self.db).await? {
            self.timers
                .schedule_webhook(&event, 0, now)
                .await
                .map_err(queue_error)?;
        }
        for (merchant_id, refund_no) in crate::store::refunds::pending(&self.db).await? {
            self.timers
                .schedule_refund(&merchant_id, &refund_no, now, 0)
                .await
                .map_err(queue_error)?;
        }
        Ok((pending.len(), open.len()))
    }
}

pub(crate) fn queue_error(e: crate::queue::QueueError) -> ServiceError {
    ServiceError::Internal(format!("delay queue: {e}"))
}
