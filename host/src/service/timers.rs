//! What paygate schedules on the delay queue, and when: the deadline of every order, the
//! active status queries of every open payment, refund asks whose outcome is unknown, and
//! webhook attempts. Tasks are keyed `deadline:{order_id}` (an order with no payment must
//! close too), `sync:{payment_no}`, `refund:{refund_no}` and `webhook:{event_id}`, so
//! scheduling one again replaces it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::deadline::deadline_due_ms;
use crate::domain::schedule;
use crate::queue::{DelayQueue, QueueError, Wakes};

pub const DEADLINE_QUEUE: &str = "deadline";
pub const SYNC_QUEUE: &str = "status_sync";
pub const REFUND_QUEUE: &str = "refund";
pub const WEBHOOK_QUEUE: &str = "webhook";

/// Every queue paygate runs, for workers and metrics.
pub const QUEUES: [&str; 4] = [DEADLINE_QUEUE, SYNC_QUEUE, REFUND_QUEUE, WEBHOOK_QUEUE];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookTask {
    pub event_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundTask {
    pub merchant_id: String,
    pub refund_no: String,
    /// How many times the provider was asked already: the next ask waits the status-sync
    /// schedule's delay of that step, so a refund that stays PROCESSING for days (a bank
    /// card's) is asked less and less often.
    #[serde(default)]
    pub step: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadlineTask {
    pub merchant_id: String,
    pub order_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncTask {
    pub merchant_id: String,
    pub payment_no: String,
    /// Index of the next delay in the schedule.
    pub step: usize,
}

/// Schedules timed work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Timers {
    pub queue: DelayQueue,
    /// Wakes this process's idle workers of a queue when something is scheduled there that
    /// falls due before their next poll.
    pub wakes: Wakes,
    /// Delays between status queries; the last repeats until the deadline.
    pub sync_schedule: Vec<Duration>,
    /// The provider's grace after an order's deadline, in ms.
    pub grace_ms: i64,
    /// Delays between webhook attempts; when they run out the delivery has failed.
    pub webhook_schedule: Vec<Duration>,
    /// How long an order's event waits for an earlier one still pending, at most.
    pub webhook_order_wait: Duration,
}

impl Timers {
    /// The order's deadline task, at `expires_at + grace`.
    pub async fn schedule_deadline(
        &self,
        merchant_id: &str,
        order_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), QueueError> {
        let task = DeadlineTask {
            merchant_id: merchant_id.to_owned(),
            order_id: order_id.to_owned(),
        };
        let payload =
            serde_json::to_string(&task).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let due = deadline_due_ms(expires_at_ms, self.grace_ms);
        self.queue
            .schedule(
                DEADLINE_QUEUE,
                &format!("deadline:{order_id}"),
                &payload,
                due,
            )
            .await?;
        self.wakes
            .scheduled(DEADLINE_QUEUE, due, self.queue.now_ms());
        Ok(())
    }

    /// The first status query of a payment whose trade was just opened.
    pub async fn schedule_sync(
        &self,
        merchant_id: &str,
        payment_no: &str,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let task = SyncTask {
            merchant_id: merchant_id.to_owned(),
            payment_no: payment_no.to_owned(),
            step: 0,
        };
        let payload =
            serde_json::to_string(&task).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let due = now_ms + schedule::millis(self.delay(0));
        self.queue
            .schedule(SYNC_QUEUE, &format!("sync:{payment_no}"), &payload, due)
            .await?;
        self.wakes.scheduled(SYNC_QUEUE, due, now_ms);
        Ok(())
    }

    /// Asks the provider again about a refund whose outcome is not known yet, after the
    /// delay of `step` (0 for the first time).
    pub async fn schedule_refund(
        &self,
        merchant_id: &str,
        refund_no: &str,
        now_ms: i64,
        step: usize,
    ) -> Result<(), QueueError> {
        let task = RefundTask {
            merchant_id: merchant_id.to_owned(),
            refund_no: refund_no.to_owned(),
            step: step + 1,
        };
        let payload =
            serde_json::to_string(&task).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let due = now_ms + schedule::millis(self.delay(step));
        self.queue
            .schedule(REFUND_QUEUE, &format!("refund:{refund_no}"), &payload, due)
            .await?;
        self.wakes.scheduled(REFUND_QUEUE, due, now_ms);
        Ok(())
    }

    /// A webhook attempt for `event_id`: the first at once, then after the delays of the
    /// webhook schedule.
    pub async fn schedule_webhook(
        &self,
        event_id: &str,
        failed_attempts: usize,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let payload = serde_json::to_string(&WebhookTask {
            event_id: event_id.to_owned(),
        })
        .map_err(|e| QueueError::Protocol(e.to_string()))?;
        let delay = match failed_attempts {
            0 => Duration::ZERO,
            n => self
                .webhook_schedule
                .get(n - 1)
                .copied()
                .unwrap_or(Duration::ZERO),
        };
        let due = now_ms + schedule::millis(delay);
        self.queue
            .schedule(WEBHOOK_QUEUE, &format!("webhook:{event_id}"), &payload, due)
            .await?;
        self.wakes.scheduled(WEBHOOK_QUEUE, due, now_ms);
        Ok(())
    }

    /// The delay before query number `step` (the last delay repeats).
    pub fn delay(&self, step: usize) -> Duration {
        schedule::delay(&self.sync_schedule, step)
    }
}
