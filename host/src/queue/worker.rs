//! Queue workers: claim due tasks, hand each to a handler, acknowledge or reschedule it.
//! `run_once` does one step (tests drive it); `run` is the loop around it, which sleeps
//! until the next task falls due (at most `idle_poll`, so tasks scheduled by other
//! processes are seen promptly) or until woken by a local schedule.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Claimed, DelayQueue, QueueError};

/// What became of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished: acknowledge it.
    Done,
    /// Run it again at `due_ms` with `payload` (a retry, or the next step of a schedule).
    RetryAt { due_ms: i64, payload: String },
}

/// Does the work of one queue's tasks.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;
}

/// How long an idle worker sleeps at most before it asks its queue again: tasks scheduled
/// by other processes are seen within it.
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// How far ahead of their due time workers claim tasks (see [`WorkerConfig::ahead`]).
pub const CLAIM_AHEAD: Duration = Duration::from_millis(10);

/// Whether a task scheduled at `now_ms` and due at `due_ms` must wake its queue's idle
/// workers: only when it falls due before their next poll (`poll` from now). A later task
/// is found by that poll, so a deadline half an hour away wakes nobody: waking every
/// worker on every schedule cost each of them a claim and a look at the next due time
/// (about 32 queue round trips per create+pay flow with eight workers) for nothing.
pub fn needs_wake(due_ms: i64, now_ms: i64, poll: Duration) -> bool {
    due_ms <= now_ms.saturating_add(poll.as_millis() as i64)
}

/// The idle workers of each queue, woken by name: a webhook due now wakes the webhook
/// workers only. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Wakes {
    queues: Arc<Vec<(String, Arc<Notify>)>>,
}

impl Wakes {
    /// One wake-up per queue name.
    pub fn new<'a>(queues: impl IntoIterator<Item = &'a str>) -> Wakes {
        Wakes {
            queues: Arc::new(
                queues
                    .into_iter()
                    .map(|q| (q.to_owned(), Arc::new(Notify::new())))
                    .collect(),
            ),
        }
    }

    /// The wake-up `queue`'s workers wait on; a queue not named at `new` gets one of its
    /// own that nothing notifies (its workers rely on the poll).
    pub fn of(&self, queue: &str) -> Arc<Notify> {
        self.queues
            .iter()
            .find(|(q, _)| q == queue)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }

    /// A task of `queue` due at `due_ms` was scheduled at `now_ms`: wakes the queue's idle
    /// workers if it falls due before their next poll.
    pub fn scheduled(&self, queue: &str, due_ms: i64, now_ms: i64) {
        if needs_wake(due_ms, now_ms, IDLE_POLL) {
            if let Some((_, n)) = self.queues.iter().find(|(q, _)| q == queue) {
                n.notify_waiters();
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub queue: String,
    /// Tasks claimed per step.
    pub batch: usize,
    /// How long a claim lasts before the task is due again. Longer than the slowest
    /// handler (an adapter call is bounded by its wall-clock timeout), short enough that a
    /// crashed worker's task comes back soon.
    pub lease: Duration,
    /// Longest idle sleep between looks at the queue.
    pub idle_poll: Duration,
    /// How far ahead of their due time the loop claims tasks; each still starts at its due
    /// time, the worker waiting for it. Under a steady flow a worker then sleeps until a
    /// task is due rather than until it may claim it, and starts it without a claim round
    /// trip in between: the lag of a task is the timer's, not the timer's plus Redis's.
    /// Keep it short (a handful of ms): a task claimed ahead is held by this worker even if
    /// it is rescheduled meanwhile (its ack then fails, as after any lost claim). Zero on a
    /// manual clock, which does not move while one waits.
    pub ahead: Duration,
}

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    /// Tasks run.
    pub ran: usize,
    /// Whether the claim was full: more may be due already.
    pub full: bool,
    /// When the queue's next task becomes claimable (ms since the epoch), as the claim saw it.
    pub next_ready: Option<i64>,
}

pub struct Worker {
    queue: DelayQueue,
    config: WorkerConfig,
    handler: Arc<dyn Handler>,
    /// Woken when this process schedules a task, so a near task is not slept past.
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(
        queue: DelayQueue,
        config: WorkerConfig,
        handler: Arc<dyn Handler>,
        wake: Arc<Notify>,
    ) -> Worker {
        Worker {
            queue,
            config,
            handler,
            wake,
        }
    }

    /// Claims one batch of due tasks, runs them concurrently, acknowledges or reschedules
    /// each. Returns how many tasks it ran.
    pub async fn run_once(&self) -> Result<usize, QueueError> {
        Ok(self.step(Duration::ZERO).await?.ran)
    }

    /// Claims one batch of tasks due by `ahead` from now, runs each at its due time
    /// (concurrently), then acknowledges the finished ones in one round trip and
    /// reschedules the others.
    async fn step(&self, ahead: Duration) -> Result<Step, QueueError> {
        let name = self.config.queue.as_str();
        let claim = self
            .queue
            .claim_ahead(name, self.config.batch, self.config.lease, ahead)
            .await?;
        let step = Step {
            ran: claim.tasks.len(),
            full: claim.tasks.len() >= self.config.batch,
            next_ready: claim.next_ready,
        };
        if claim.tasks.is_empty() {
            return Ok(step);
        }
        let clock = self.queue.clock();
        let runs = claim.tasks.iter().map(|task| async move {
            // A task claimed ahead starts at its due time, never before it.
            loop {
                let left = clock.until(task.due_ms);
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left).await;
            }
            let lag = (clock.now_ms() - task.due_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("paygate_queue_lag_seconds", "queue" => name.to_owned())
                .record(lag);
            (task, self.handler.handle(task).await)
        });
        let outcomes = futures_util::future::join_all(runs).await;

        let done: Vec<&Claimed> = outcomes
            .iter()
            .filter(|(_, outcome)| *outcome == Outcome::Done)
            .map(|(task, _)| *task)
            .collect();
        match self.queue.ack_many(name, &done).await {
            Ok(acked) => {
                for (task, held) in done.iter().zip(acked) {
                    self.count(task, "done", held);
                }
            }
            Err(e) => {
                tracing::error!(queue = name, tasks = done.len(), error = %e, "ack failed; the tasks run again after their lease")
            }
        }
        for (task, outcome) in &outcomes {
            if let Outcome::RetryAt { due_ms, payload } = outcome {
                match self.queue.retry(name, task, payload, *due_ms).await {
                    Ok(held) => self.count(task, "retry", held),
                    Err(e) => {
                        tracing::error!(queue = name, key = %task.key, error = %e, "retry failed; the task runs again after its lease")
                    }
                }
            }
        }
        Ok(step)
    }

    /// Counts a finished task, or says that its claim was lost before the ack.
    fn count(&self, task: &Claimed, outcome: &'static str, held: bool) {
        let name = self.config.queue.as_str();
        if held {
            metrics::counter!("paygate_queue_tasks_total", "queue" => name.to_owned(), "outcome" => outcome).increment(1);
        } else {
            // The lease lapsed and someone else has the task, or it was rescheduled: the
            // current holder decides.
            tracing::warn!(queue = name, key = %task.key, "claim lost before ack; the task's current holder decides");
            metrics::counter!("paygate_queue_tasks_total", "queue" => name.to_owned(), "outcome" => "lost_claim").increment(1);
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.config.queue.clone();
        let ahead = match self.queue.clock() {
            crate::clock::Clock::System => self.config.ahead,
            crate::clock::Clock::Manual(_) => Duration::ZERO,
        };
        while !shutdown.is_cancelled() {
            // Listening before the step: a task this process schedules while the step runs
            // is not slept past.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let idle = match self.step(ahead).await {
                Ok(step) if step.full => continue,
                Ok(step) => self.idle_time(step.next_ready, ahead),
                Err(e) => {
                    tracing::error!(queue = %name, error = %e, "queue unavailable; retrying");
                    Duration::from_secs(1)
                }
            };
            if idle.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = &mut woken => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// How long to sleep: until the next task comes within `ahead` of claimable, at most
    /// `idle_poll`.
    fn idle_time(&self, next_ready: Option<i64>, ahead: Duration) -> Duration {
        match next_ready {
            Some(next) => self
                .queue
                .clock()
                .until(next.saturating_sub(ahead.as_millis() as i64))
                .min(self.config.idle_poll),
            None => self.config.idle_poll,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_due_before_the_next_poll_wakes_the_workers() {
        let poll = Duration::from_millis(200);
        assert!(needs_wake(1_000, 1_000, poll), "due now");
        assert!(needs_wake(900, 1_000, poll), "overdue");
        assert!(
            needs_wake(1_200, 1_000, poll),
            "due exactly at the next poll"
        );
    }

    #[test]
    fn a_task_due_after_the_next_poll_wakes_nobody() {
        let poll = Duration::from_millis(200);
        assert!(!needs_wake(1_201, 1_000, poll));
        assert!(!needs_wake(1_000 + 30 * 60_000, 1_000, poll), "a deadline");
    }

    #[test]
    fn a_clock_at_the_end_of_time_saturates_instead_of_overflowing() {
        let poll = Duration::from_millis(200);
        assert!(needs_wake(i64::MAX, i64::MAX - 1, poll));
    }

    #[tokio::test]
    async fn waking_a_queue_wakes_its_workers_only() {
        let wakes = Wakes::new(["deadline", "webhook"]);
        let webhook = wakes.of("webhook");
        let deadline = wakes.of("deadline");
        let webhook_woken = webhook.notified();
        let deadline_woken = deadline.notified();
        tokio::pin!(webhook_woken, deadline_woken);
        webhook_woken.as_mut().enable();
        deadline_woken.as_mut().enable();
        wakes.scheduled("webhook", 5, 5);
        assert!(futures_util::poll!(webhook_woken.as_mut()).is_ready());
        assert!(futures_util::poll!(deadline_woken.as_mut()).is_pending());
        // Due half an hour later: found by the poll, nobody woken.
        wakes.scheduled("deadline", 1_800_005, 5);
        assert!(futures_util::poll!(deadline_woken.as_mut()).is_pending());
    }
}
