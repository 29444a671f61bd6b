//! Timed work kept whole when the queue's infrastructure is not (DESIGN §5). The database
//! is the record of what is open; the delay queue only says when to look at it. So:
//! - reconciliation reads the open work a page at a time (pending orders: their deadlines;
//!   open payments with a trade: their status queries; pending refunds; undelivered
//!   events) and puts back whatever the queue does not hold, leaving what it holds alone
//!   (a retry keeps its backoff). It runs at start, and every `PAYGATE_RECONCILE_INTERVAL`;
//! - a watch looks every `PAYGATE_QUEUE_WATCH_INTERVAL` for the marks paygate leaves in
//!   Redis and for Redis's server identity: a `FLUSHDB`, a restart without persistence or
//!   a failover shows there, and paygate reconciles at once instead of at its next start.

use crate::domain::{DeliveryState, OrderState, PaymentState, RefundState};
use crate::queue::{Continuity, Existing, NewTask, QueueError};
use crate::store::{events, orders, payments, refunds, StoreError};

use super::timers::{BILLS_QUEUE, DEADLINE_QUEUE, QUEUES, REFUND_QUEUE, SYNC_QUEUE, WEBHOOK_QUEUE};
use super::{Gateway, ServiceError};

/// Rows read (and tasks sent) per page.
pub const PAGE: i64 = 1_000;

/// What a reconciliation found: per kind of timed work, how many open items it looked at
/// and how many of their tasks the queue did not hold (or held under a dead claim, at
/// start) and were put back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub deadlines: Tally,
    pub status_syncs: Tally,
    pub refunds: Tally,
    pub webhooks: Tally,
    /// The daily reconciliation against the bills (one task, when it is on).
    pub bills: Tally,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Open items looked at.
    pub open: usize,
    /// Tasks put back on the queue.
    pub put_back: usize,
}

impl Reconciled {
    /// Tasks put back, all kinds together.
    pub fn put_back(&self) -> usize {
        self.deadlines.put_back
            + self.status_syncs.put_back
            + self.refunds.put_back
            + self.webhooks.put_back
            + self.bills.put_back
    }
}

/// What the watch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// The queue holds its marks, on the same server.
    Intact,
    /// The queue lost keys (why) and reconciliation put back what was open.
    Recovered { why: String, reconciled: Reconciled },
}

fn queue_error(e: QueueError) -> ServiceError {
    ServiceError::internal("putting open work back on the delay queue", e)
}

impl Gateway {
    /// Puts back on the delay queue every open piece of timed work it does not hold, a page
    /// at a time; `existing` says what to do with the tasks it holds (at start, the previous
    /// process's claims are taken back, see [`Existing::TakeBackClaimed`]).
    pub async fn reconcile_timers(&self, existing: Existing) -> Result<Reconciled, ServiceError> {
        let now = self.now_ms();
        let timers = &self.timers;
        let db = &self.db;
        let done = Reconciled {
            deadlines: self
                .put_back_pages(
                    DEADLINE_QUEUE,
                    existing,
                    |after| {
                        let db = db.clone();
                        async move {
                            orders::page_in_state(&db, OrderState::PAYABLE, &after, PAGE).await
                        }
                    },
                    |(_, order, _)| order,
                    |(merchant, order, expires)| timers.deadline_task(merchant, order, *expires),
                )
                .await?,
            status_syncs: self
                .put_back_pages(
                    SYNC_QUEUE,
                    existing,
                    |after| {
                        let db = db.clone();
                        async move {
                            payments::page_with_action(&db, PaymentState::Open, &after, PAGE).await
                        }
                    },
                    |(_, payment_no)| payment_no,
                    |(merchant, payment_no)| timers.sync_task(merchant, payment_no, now),
                )
                .await?,
            refunds: self
                .put_back_pages(
                    REFUND_QUEUE,
                    existing,
                    |after| {
                        let db = db.clone();
                        async move {
                            refunds::page_in_state(&db, RefundState::Pending, &after, PAGE).await
                        }
                    },
                    |(_, refund_no)| refund_no,
                    |(merchant, refund_no)| timers.refund_task(merchant, refund_no, now, 0),
                )
                .await?,
            webhooks: self
                .put_back_pages(
                    WEBHOOK_QUEUE,
                    existing,
                    |after| {
                        let db = db.clone();
                        async move {
                            events::page_undelivered(&db, DeliveryState::Pending, &after, PAGE)
                                .await
                        }
                    },
                    |event| event,
                    |event| timers.webhook_task(event, 0, now),
                )
                .await?,
            bills: self.put_back_daily_bills(now).await?,
        };
        if done.put_back() > 0 {
            self.timers.wake_all();
        }
        Ok(done)
    }

    /// Puts back the daily reconciliation's task if the queue lost it, for the latest day
    /// due. (A day whose task was lost while it waited for a late bill is then left to an
    /// operator: `paygate reconcile --date D`.)
    async fn put_back_daily_bills(&self, now: i64) -> Result<Tally, ServiceError> {
        let Some(at) = self.timers.bills_at else {
            return Ok(Tally::default());
        };
        let day = crate::domain::reconcile::BillDay::latest_due(now, at);
        let task = self.timers.bills_task(day, at).map_err(queue_error)?;
        // Never taken back, even at start: the task's payload is the day it works on, and a
        // claim left by a dead process comes due again with it when its lease ends.
        let put_back = self
            .timers
            .queue
            .put_back(BILLS_QUEUE, &[task], Existing::Keep)
            .await
            .map_err(queue_error)?;
        Ok(Tally { open: 1, put_back })
    }

    /// Reads one kind of open work page by page (`fetch` gives the page after a key, `key`
    /// is a row's key, `task` its queue task) and puts back what `queue` lacks.
    async fn put_back_pages<T, Page>(
        &self,
        queue: &str,
        existing: Existing,
        fetch: impl Fn(String) -> Page,
        key: impl Fn(&T) -> &String,
        task: impl Fn(&T) -> Result<NewTask, QueueError>,
    ) -> Result<Tally, ServiceError>
    where
        Page: std::future::Future<Output = Result<Vec<T>, StoreError>>,
    {
        let mut tally = Tally::default();
        let mut after = String::new();
        loop {
            let page = fetch(after.clone()).await?;
            let tasks = page
                .iter()
                .map(&task)
                .collect::<Result<Vec<_>, _>>()
                .map_err(queue_error)?;
            let put_back = self
                .timers
                .queue
                .put_back(queue, &tasks, existing)
                .await
                .map_err(queue_error)?;
            tally.open += page.len();
            tally.put_back += put_back;
            metrics::counter!("paygate_queue_put_back_total", "queue" => queue.to_owned())
                .increment(put_back as u64);
            match page.last() {
                Some(last) if page.len() as i64 == PAGE => after.clone_from(key(last)),
                _ => return Ok(tally),
            }
        }
    }

    /// Leaves paygate's marks in every queue (after a reconciliation that makes the queue
    /// whole): [`Gateway::watch_queue`] looks for them.
    pub async fn mark_queue(&self) -> Result<(), ServiceError> {
        self.timers.queue.mark(&QUEUES).await.map_err(queue_error)
    }

    /// One look of the watch: when the queue lost its keys, marks it again, then reconciles.
    /// The marks go first, so that a loss during the reconciliation shows at the next look;
    /// a reconciliation that fails returns the error, and the caller looks (and reconciles)
    /// again.
    pub async fn watch_queue(&self) -> Result<Watched, ServiceError> {
        let queue = &self.timers.queue;
        match queue.continuity(&QUEUES).await.map_err(queue_error)? {
            Continuity::Intact => Ok(Watched::Intact),
            Continuity::Lost(why) => {
                tracing::warn!(
                    backend = queue.backend(),
                    reason = %why,
                    "the delay queue lost timed work; putting open work back"
                );
                metrics::counter!("paygate_queue_losses_total").increment(1);
                self.mark_queue().await?;
                let reconciled = self.reconcile_timers(Existing::Keep).await?;
                Ok(Watched::Recovered { why, reconciled })
            }
        }
    }

    /// The queue backend's warning when it may evict paygate's keys on its own (see
    /// [`crate::queue::DelayQueue::eviction_warning`]); `None` when it keeps them or cannot
    /// be asked.
    pub async fn queue_eviction_warning(&self) -> Option<String> {
        match self.timers.queue.eviction_warning(&QUEUES).await {
            Ok(warning) => warning,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the queue's eviction policy");
                None
            }
        }
    }
}
