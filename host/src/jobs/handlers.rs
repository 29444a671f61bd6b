//! The queue handlers: decode a task, run its use case, say when to come back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::reconcile::{self, BillDay};
use crate::domain::schedule::{millis, retry_after};
use crate::queue::{Claimed, Handler, Outcome};
use crate::service::deadlines::{Expiry, SyncStep};
use crate::service::timers::{BillsTask, DeadlineTask, RefundTask, SyncTask, WebhookTask};
use crate::service::webhooks::DeliveryStep;
use crate::service::Gateway;

/// The task again after the backoff of its attempts so far.
fn retry_later(gateway: &Gateway, task: &Claimed) -> Outcome {
    Outcome::RetryAt {
        due_ms: gateway.now_ms() + millis(retry_after(task.attempts)),
        payload: task.payload.clone(),
    }
}

type Step<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

pub struct DeadlineHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for DeadlineHandler {
    fn handle<'a>(&'a self, task: &'a Claimed) -> Step<'a> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<DeadlineTask>(&task.payload) else {
                tracing::error!(key = %task.key, "undecodable deadline task dropped");
                return Outcome::Done;
            };
            let span = tracing::info_span!("deadline", order_id = %t.order_id, merchant_id = %t.merchant_id);
            let result = tracing::Instrument::instrument(
                self.gateway.expire_order(
                    &t.merchant_id,
                    &t.order_id,
                    u32::try_from(task.attempts).unwrap_or(u32::MAX),
                ),
                span.clone(),
            )
            .await;
            let _entered = span.enter();
            match result {
                Ok(Expiry::NotYet { due_ms }) => {
                    tracing::info!(due_ms, "deadline task ran early; put back to its time");
                    Outcome::RetryAt {
                        due_ms,
                        payload: task.payload.clone(),
                    }
                }
                Ok(Expiry::RetryLater(why)) => {
                    tracing::warn!(reason = %why, "deadline could not be settled yet; retrying");
                    retry_later(&self.gateway, task)
                }
                Ok(outcome) => {
                    tracing::info!(?outcome, "deadline processed");
                    Outcome::Done
                }
                Err(e) => {
                    tracing::error!(error = %e, "deadline failed; retrying");
                    retry_later(&self.gateway, task)
                }
            }
        })
    }
}

pub struct SyncHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for SyncHandler {
    fn handle<'a>(&'a self, task: &'a Claimed) -> Step<'a> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<SyncTask>(&task.payload) else {
                tracing::error!(key = %task.key, "undecodable status-sync task dropped");
                return Outcome::Done;
            };
            let span =
                tracing::info_span!("status_sync", payment_no = %t.payment_no, step = t.step);
            let result = tracing::Instrument::instrument(
                self.gateway
                    .sync_step(&t.merchant_id, &t.payment_no, t.step),
                span,
            )
            .await;
            match result {
                Ok(SyncStep::Watch { next_ms }) => {
                    let next = SyncTask {
                        step: t.step + 1,
                        ..t
                    };
                    match serde_json::to_string(&next) {
                        Ok(payload) => Outcome::RetryAt {
                            due_ms: next_ms,
                            payload,
                        },
                        Err(_) => Outcome::Done,
                    }
                }
                Ok(SyncStep::Stop) => Outcome::Done,
                Err(e) => {
                    tracing::error!(payment_no = %t.payment_no, error = %e, "status sync failed; retrying");
                    retry_later(&self.gateway, task)
                }
            }
        })
    }
}

pub struct RefundHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for RefundHandler {
    fn handle<'a>(&'a self, task: &'a Claimed) -> Step<'a> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<RefundTask>(&task.payload) else {
                tracing::error!(key = %task.key, "undecodable refund task dropped");
                return Outcome::Done;
            };
            let refund = match self.gateway.pending_refund(&t.refund_no).await {
                Ok(Some(r)) => r,
                Ok(None) => return Outcome::Done,
                Err(e) => {
                    tracing::error!(refund_no = %t.refund_no, error = %e, "refund lookup failed; retrying");
                    return retry_later(&self.gateway, task);
                }
            };
            let span = tracing::info_span!("refund", refund_no = %t.refund_no, payment_no = %refund.payment_no);
            // drive_refund schedules the next attempt itself while the outcome stays unknown.
            match tracing::Instrument::instrument(self.gateway.drive_refund(&refund, t.step), span)
                .await
            {
                Ok(_) => Outcome::Done,
                Err(e) => {
                    tracing::error!(refund_no = %t.refund_no, error = %e, "refund attempt failed; retrying");
                    retry_later(&self.gateway, task)
                }
            }
        })
    }
}

pub struct WebhookHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for WebhookHandler {
    fn handle<'a>(&'a self, task: &'a Claimed) -> Step<'a> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<WebhookTask>(&task.payload) else {
                return Outcome::Done;
            };
            let span = tracing::info_span!("webhook", event = %t.event_id);
            match tracing::Instrument::instrument(self.gateway.deliver_event(&t.event_id), span)
                .await
            {
                DeliveryStep::Done => Outcome::Done,
                DeliveryStep::RetryAt(due_ms) => Outcome::RetryAt {
                    due_ms,
                    payload: task.payload.clone(),
                },
            }
        })
    }
}

/// How long one run of the daily task starts new bills for: with one fetch's 60 s at most,
/// a run ends within the default 90 s queue lease, so two workers never hold the same day.
const BILLS_BUDGET: std::time::Duration = std::time::Duration::from_secs(25);

/// What the daily task does after a run.
enum AfterRun {
    /// Bills are left to ask for: at once.
    Continue,
    /// A bill is not ready, or failed with attempts left: in half an hour.
    Retry,
    /// The day is done: the next day, the morning after it.
    Done,
}

/// The daily reconciliation: the task's day for every merchant and provider that
/// reconciles and is not reconciled yet; again in half an hour while some bill is not ready
/// (or could not be fetched), for a day at most ([`reconcile::bill_retry`]); then the next
/// day, the morning after it.
pub struct BillsHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for BillsHandler {
    fn handle<'a>(&'a self, task: &'a Claimed) -> Step<'a> {
        Box::pin(async move {
            let Some(at) = self.gateway.bills_at() else {
                tracing::info!("daily reconciliation is off (PAYGATE_BILLS_AT=off); task dropped");
                return Outcome::Done;
            };
            let day = serde_json::from_str::<BillsTask>(&task.payload)
                .ok()
                .and_then(|t| BillDay::parse(&t.day).ok());
            let Some(day) = day else {
                tracing::error!(key = %task.key, "undecodable bills task dropped");
                return Outcome::Done;
            };
            let span = tracing::info_span!("bills", day = %day);
            let result = tracing::Instrument::instrument(
                async {
                    let progress = self
                        .gateway
                        .reconcile_day_within(day, None, None, false, Some(BILLS_BUDGET))
                        .await?;
                    if !progress.finished {
                        return Ok(AfterRun::Continue);
                    }
                    Ok::<_, crate::service::ServiceError>(if self.gateway.day_waits(day).await? {
                        AfterRun::Retry
                    } else {
                        AfterRun::Done
                    })
                },
                span.clone(),
            )
            .await;
            let _entered = span.enter();
            let now = self.gateway.now_ms();
            match result {
                Ok(AfterRun::Continue) => {
                    return Outcome::RetryAt {
                        due_ms: now,
                        payload: task.payload.clone(),
                    }
                }
                Ok(AfterRun::Retry) => {
                    return Outcome::RetryAt {
                        due_ms: now
                            + i64::try_from(reconcile::BILL_RETRY_EVERY.whole_milliseconds())
                                .unwrap_or(i64::MAX / 2),
                        payload: task.payload.clone(),
                    }
                }
                Ok(AfterRun::Done) => {}
                Err(e) => {
                    tracing::error!(error = %e, "daily reconciliation failed; retrying");
                    return retry_later(&self.gateway, task);
                }
            }
            let next = day.next();
            let payload = BillsTask {
                day: next.to_string(),
            };
            let Ok(payload) = serde_json::to_string(&payload) else {
                return retry_later(&self.gateway, task);
            };
            tracing::info!(next = %next, "day reconciled; the next is scheduled");
            Outcome::RetryAt {
                due_ms: next.reconcile_due_ms(at),
                payload,
            }
        })
    }
}
