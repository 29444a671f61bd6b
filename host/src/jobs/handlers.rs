//! The queue handlers: thin wrappers that decode a task, run its use case and say when to
//! come back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{DeadlineTask, RefundTask, SyncTask, Timers};
use crate::queue::{Claimed, Handler, Outcome};
use crate::service::deadlines::{Expiry, SyncStep};
use crate::service::Gateway;
use crate::store::now_ms;

/// How soon a task whose provider or database was unavailable runs again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

fn retry_later(task: &Claimed) -> Outcome {
    // Back off with the attempts, up to five minutes.
    let factor = task.attempts.clamp(1, 30) as u32;
    let delay = (RETRY_AFTER * factor).min(Duration::from_secs(300));
    Outcome::RetryAt {
        due_ms: now_ms() + delay.as_millis() as i64,
        payload: task.payload.clone(),
    }
}

pub struct DeadlineHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for DeadlineHandler {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
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
                Ok(Expiry::RetryLater(why)) => {
                    tracing::warn!(reason = %why, "deadline could not be settled yet; retrying");
                    retry_later(task)
                }
                Ok(outcome) => {
                    tracing::info!(?outcome, "deadline processed");
                    Outcome::Done
                }
                Err(e) => {
                    tracing::error!(error = %e, "deadline failed; retrying");
                    retry_later(task)
                }
            }
        })
    }
}

pub struct SyncHandler {
    pub gateway: Arc<Gateway>,
    pub timers: Timers,
}

impl Handler for SyncHandler {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<SyncTask>(&task.payload) else {
                tracing::error!(key = %task.key, "undecodable status-sync task dropped");
                return Outcome::Done;
            };
            let span =
                tracing::info_span!("status_sync", payment_no = %t.payment_no, step = t.step);
            let result = tracing::Instrument::instrument(
                self.gateway.sync_step(&t.merchant_id, &t.payment_no),
                span,
            )
            .await;
            match result {
                Ok(SyncStep::Watch { deadline_ms }) => {
                    let next = SyncTask {
                        step: t.step + 1,
                        ..t
                    };
                    let due = now_ms() + self.timers.delay(next.step).as_millis() as i64;
                    if due > deadline_ms {
                        // The deadline job queries once more at the deadline itself.
                        return Outcome::Done;
                    }
                    match serde_json::to_string(&next) {
                        Ok(payload) => Outcome::RetryAt {
                            due_ms: due,
                            payload,
                        },
                        Err(_) => Outcome::Done,
                    }
                }
                Ok(SyncStep::Stop) => Outcome::Done,
                Err(e) => {
                    tracing::error!(payment_no = %t.payment_no, error = %e, "status sync failed; retrying");
                    retry_later(task)
                }
            }
        })
    }
}

pub struct RefundHandler {
    pub gateway: Arc<Gateway>,
}

impl Handler for RefundHandler {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<RefundTask>(&task.payload) else {
                tracing::error!(key = %task.key, "undecodable refund task dropped");
                return Outcome::Done;
            };
            let refund = match crate::store::refunds::get(&self.gateway.db, &t.refund_no).await {
                Ok(Some(r)) if r.state == "pending" => r,
                Ok(_) => return Outcome::Done,
                Err(e) => {
                    tracing::error!(refund_no = %t.refund_no, error = %e, "refund lookup failed; retrying");
                    return retry_later(task);
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
                    retry_later(task)
                }
            }
        })
    }
}
