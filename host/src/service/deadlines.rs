//! What timed work does: an order's deadline (the domain's deadline rule: query the
//! provider once more, then close the trade there and the order here), one step of a
//! payment's active status queries (the reconciliation that puts open work back is
//! `recovery`). All settle through the same idempotent path as a notification.

use crate::domain::deadline::{
    after_query, at_deadline, deadline_due_ms, AfterQuery, AtDeadline, QueryAnswer,
};
use crate::domain::schedule;
use crate::domain::{OrderEvent, OrderState, Transition};
use crate::runtime::contract::{ProviderError, TradeState};
use crate::store::orders::{self, OrderRecord};
use crate::store::{payments, Applied};

use super::trade::describe;
use super::{ErrorCode, Gateway, ServiceError};

/// What an order's deadline led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// The order was no longer pending (paid, cancelled...): nothing to do, no provider call.
    AlreadyFinal,
    /// The task ran before the deadline by paygate's clock: run it at `due_ms`.
    NotYet { due_ms: i64 },
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
    /// Still open at the provider: query again at `next_ms`.
    Watch { next_ms: i64 },
    /// Settled, or nothing left to watch before the deadline.
    Stop,
}

impl Gateway {
    /// The deadline rule of an order (`domain::deadline`). `attempt` counts this deadline
    /// task's tries since it was last scheduled (1 the first time; a restart schedules it
    /// afresh); from [`PayRules::flag_after_refusals`] refused queries on, the payment is
    /// flagged `provider_refuses_queries` for an operator.
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
        let open_payment = match &order.open_payment_no {
            Some(no) => payments::get(&self.db, merchant_id, no)
                .await?
                .filter(|p| p.state.is_open()),
            None => None,
        };
        let due = deadline_due_ms(order.expires_at, self.timers.grace_ms);
        match at_deadline(self.now_ms(), due, order.state, open_payment.is_some()) {
            AtDeadline::AlreadyFinal => return Ok(Expiry::AlreadyFinal),
            AtDeadline::NotYet { due_ms } => return Ok(Expiry::NotYet { due_ms }),
            AtDeadline::CloseOrder => {}
            AtDeadline::AskProvider => {
                let Some(payment) = open_payment else {
                    return Ok(Expiry::RetryLater("the open payment vanished".into()));
                };
                let (answer, status) = match self.query_trade(&payment).await {
                    Ok(Ok(status)) => {
                        let answer = match status.state {
                            TradeState::Paid | TradeState::Refunded => QueryAnswer::Paid,
                            TradeState::Open | TradeState::Closed | TradeState::Failed => {
                                QueryAnswer::Unpaid
                            }
                        };
                        (answer, Some(status))
                    }
                    Ok(Err(ProviderError::NotFound)) => (QueryAnswer::Unknown, None),
                    Ok(Err(
                        e @ (ProviderError::Rejected(_)
                        | ProviderError::Config(_)
                        | ProviderError::BadSignature(_)),
                    )) => {
                        tracing::warn!(error = %describe(&e), "status query refused at the deadline");
                        (QueryAnswer::Refused, None)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %describe(&e), "status query failed at the deadline");
                        (QueryAnswer::Unreachable, None)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "status query failed at the deadline");
                        (QueryAnswer::Unreachable, None)
                    }
                };
                match after_query(answer, attempt, self.rules.flag_after_refusals) {
                    AfterQuery::Settle => {
                        if let Some(status) = &status {
                            if self.apply_report(status, None).await?.paid() {
                                return Ok(Expiry::Paid);
                            }
                        }
                    }
                    AfterQuery::RetryLater { flag } => {
                        if let Some(flag) = flag {
                            self.flag_once(&payment.payment_no, flag).await?;
                        }
                        return Ok(Expiry::RetryLater("the provider did not answer".into()));
                    }
                    // Unpaid (open, or closed by the provider's own deadline), or never
                    // opened there: closed at the provider first, so that it can no longer
                    // be paid there.
                    AfterQuery::CloseTrade | AfterQuery::CloseOrder => {}
                }
                let payment = self
                    .payment_record(merchant_id, &payment.payment_no)
                    .await?;
                if payment.state.is_open() {
                    match self.close_at_provider(&payment).await {
                        Ok(()) => {}
                        Err(e) if e.code() == Some(ErrorCode::OrderPaid) => {
                            return Ok(Expiry::Paid)
                        }
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
        self.close_order(merchant_id, order_id).await
    }

    /// Closes a pending order that no payment holds, at its deadline.
    async fn close_order(&self, merchant_id: &str, order_id: &str) -> Result<Expiry, ServiceError> {
        let order: OrderRecord = self.order(merchant_id, order_id).await?;
        let change = match order.state.apply(OrderEvent::Expire) {
            Ok(Transition::To(change)) if order.open_payment_no.is_none() => change,
            Ok(Transition::To(_)) => {
                return Ok(Expiry::RetryLater("a payment started meanwhile".into()))
            }
            Ok(Transition::Unchanged) => return Ok(Expiry::AlreadyFinal),
            Err(_) if order.state == OrderState::Paid => return Ok(Expiry::Paid),
            Err(_) => return Ok(Expiry::AlreadyFinal),
        };
        match orders::finish_unpaid(
            &self.db,
            &order,
            change,
            OrderEvent::Expire.webhook_type(),
            self.now_ms(),
        )
        .await?
        {
            Applied::Done(event) => {
                self.dispatch(&[event]).await;
                tracing::info!(order_id, "order closed at its deadline");
                Ok(Expiry::Closed)
            }
            Applied::LostRace => Ok(Expiry::RetryLater(
                "the order changed while it was closed".into(),
            )),
        }
    }

    /// One active status query of an open payment; `step` is its number (0 the first).
    pub async fn sync_step(
        &self,
        merchant_id: &str,
        payment_no: &str,
        step: usize,
    ) -> Result<SyncStep, ServiceError> {
        let payment = match self.payment_record(merchant_id, payment_no).await {
            Ok(p) => p,
            Err(ServiceError::NotFound(_)) => return Ok(SyncStep::Stop),
            Err(e) => return Err(e),
        };
        if !payment.state.is_open() || self.now_ms() > payment.provider_deadline {
            return Ok(SyncStep::Stop);
        }
        let watch = || match schedule::next_sync(
            &self.timers.sync_schedule,
            step + 1,
            self.now_ms(),
            payment.provider_deadline,
        ) {
            // The deadline job queries once more at the deadline itself.
            None => SyncStep::Stop,
            Some(next_ms) => SyncStep::Watch { next_ms },
        };
        match self.sync_payment(&payment).await {
            Ok(settled) if settled.settled() => {
                tracing::info!(?settled, "status sync settled the payment");
                Ok(SyncStep::Stop)
            }
            Ok(_) => Ok(watch()),
            Err(ServiceError::Provider { message, .. }) => {
                tracing::warn!(%message, "status query failed; will query again");
                Ok(watch())
            }
            Err(e) => Err(e),
        }
    }
}
