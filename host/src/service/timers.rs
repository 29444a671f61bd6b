//! What paygate schedules on the delay queue, and when: the deadline of every order, the
//! active status queries of every open payment, refund asks whose outcome is unknown, and
//! webhook attempts, and the daily reconciliation against the providers' bills. Tasks are
//! keyed `deadline:{order_id}` (an order with no payment must close too), `sync:{payment_no}`,
//! `refund:{refund_no}`, `webhook:{event_id}` and `bills:daily` (one task that moves from day
//! to day), so scheduling one again replaces it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::deadline::deadline_due_ms;
use crate::domain::schedule;
use crate::queue::{DelayQueue, NewTask, QueueError, Wakes};

pub const DEADLINE_QUEUE: &str = "deadline";
pub const SYNC_QUEUE: &str = "status_sync";
pub const REFUND_QUEUE: &str = "refund";
pub const WEBHOOK_QUEUE: &str = "webhook";
pub const BILLS_QUEUE: &str = "bills";

/// Every queue paygate runs, for workers and metrics.
pub const QUEUES: [&str; 5] = [
    DEADLINE_QUEUE,
    SYNC_QUEUE,
    REFUND_QUEUE,
    WEBHOOK_QUEUE,
    BILLS_QUEUE,
];

/// The daily reconciliation: the bill day it reconciles next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BillsTask {
    /// `YYYY-MM-DD`.
    pub day: String,
}

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
    /// When a day's bills are reconciled, the next day, Beijing time; `None`: never by
    /// itself (`PAYGATE_BILLS_AT=off`).
    pub bills_at: Option<time::Time>,
}

/// A task's payload as the queue stores it.
fn encode(task: &impl Serialize) -> Result<String, QueueError> {
    serde_json::to_string(task).map_err(|e| QueueError::Protocol(e.to_string()))
}

impl Timers {
    /// Schedules `task` in `queue` and wakes the queue's idle workers if it is due soon.
    async fn schedule(&self, queue: &str, task: NewTask) -> Result<(), QueueError> {
        self.queue
            .schedule(queue, &task.key, &task.payload, task.due_ms)
            .await?;
        self.wakes
            .scheduled(queue, task.due_ms, self.queue.now_ms());
        Ok(())
    }

    /// The daily reconciliation's task for `day`, due the next morning at `at`.
    pub fn bills_task(
        &self,
        day: crate::domain::reconcile::BillDay,
        at: time::Time,
    ) -> Result<NewTask, QueueError> {
        Ok(NewTask {
            key: "bills:daily".to_owned(),
            payload: encode(&BillsTask {
                day: day.to_string(),
            })?,
            due_ms: day.reconcile_due_ms(at),
        })
    }

    /// The order's deadline task, due at `expires_at + grace` (ms).
    pub fn deadline_task(
        &self,
        merchant_id: &str,
        order_id: &str,
        expires_at_ms: i64,
    ) -> Result<NewTask, QueueError> {
        Ok(NewTask {
            key: format!("deadline:{order_id}"),
            payload: encode(&DeadlineTask {
                merchant_id: merchant_id.to_owned(),
                order_id: order_id.to_owned(),
            })?,
            due_ms: deadline_due_ms(expires_at_ms, self.grace_ms),
        })
    }

    /// Schedules the order's deadline task ([`Timers::deadline_task`]).
    pub async fn schedule_deadline(
        &self,
        merchant_id: &str,
        order_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), QueueError> {
        let task = self.deadline_task(merchant_id, order_id, expires_at_ms)?;
        self.schedule(DEADLINE_QUEUE, task).await
    }

    /// The first status query of a payment whose trade is open, one schedule delay after
    /// `now_ms`.
    pub fn sync_task(
        &self,
        merchant_id: &str,
        payment_no: &str,
        now_ms: i64,
    ) -> Result<NewTask, QueueError> {
        Ok(NewTask {
            key: format!("sync:{payment_no}"),
            payload: encode(&SyncTask {
                merchant_id: merchant_id.to_owned(),
                payment_no: payment_no.to_owned(),
                step: 0,
            })?,
            due_ms: now_ms + schedule::millis(self.delay(0)),
        })
    }

    /// Schedules the first status query of a payment whose trade was just opened.
    pub async fn schedule_sync(
        &self,
        merchant_id: &str,
        payment_no: &str,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let task = self.sync_task(merchant_id, payment_no, now_ms)?;
        self.schedule(SYNC_QUEUE, task).await
    }

    /// The next ask about a refund whose outcome is not known yet, after the delay of
    /// `step` (0 for the first time).
    pub fn refund_task(
        &self,
        merchant_id: &str,
        refund_no: &str,
        now_ms: i64,
        step: usize,
    ) -> Result<NewTask, QueueError> {
        Ok(NewTask {
            key: format!("refund:{refund_no}"),
            payload: encode(&RefundTask {
                merchant_id: merchant_id.to_owned(),
                refund_no: refund_no.to_owned(),
                step: step + 1,
            })?,
            due_ms: now_ms + schedule::millis(self.delay(step)),
        })
    }

    /// Asks the provider again about a refund ([`Timers::refund_task`]).
    pub async fn schedule_refund(
        &self,
        merchant_id: &str,
        refund_no: &str,
        now_ms: i64,
        step: usize,
    ) -> Result<(), QueueError> {
        let task = self.refund_task(merchant_id, refund_no, now_ms, step)?;
        self.schedule(REFUND_QUEUE, task).await
    }

    /// A webhook attempt for `event_id`: the first at once, then after the delays of the
    /// webhook schedule.
    pub fn webhook_task(
        &self,
        event_id: &str,
        failed_attempts: usize,
        now_ms: i64,
    ) -> Result<NewTask, QueueError> {
        let delay = match failed_attempts {
            0 => Duration::ZERO,
            n => self
                .webhook_schedule
                .get(n - 1)
                .copied()
                .unwrap_or(Duration::ZERO),
        };
        Ok(NewTask {
            key: format!("webhook:{event_id}"),
            payload: encode(&WebhookTask {
                event_id: event_id.to_owned(),
            })?,
            due_ms: now_ms + schedule::millis(delay),
        })
    }

    /// Schedules a webhook attempt ([`Timers::webhook_task`]).
    pub async fn schedule_webhook(
        &self,
        event_id: &str,
        failed_attempts: usize,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let task = self.webhook_task(event_id, failed_attempts, now_ms)?;
        self.schedule(WEBHOOK_QUEUE, task).await
    }

    /// Wakes the idle workers of every queue (after open work was put back, much of it due).
    pub fn wake_all(&self) {
        let now = self.queue.now_ms();
        for queue in QUEUES {
            self.wakes.scheduled(queue, now, now);
        }
    }

    /// The delay before query number `step` (the last delay repeats).
    pub fn delay(&self, step: usize) -> Duration {
        schedule::delay(&self.sync_schedule, step)
    }
}
