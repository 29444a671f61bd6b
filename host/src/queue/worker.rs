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

    /// Claims one batch, runs its tasks concurrently, acknowledges or reschedules each.
    /// Returns how many tasks it ran.
    pub async fn run_once(&self) -> Result<usize, QueueError> {
        let name = self.config.queue.as_str();
        let tasks = self
            .queue
            .claim(name, self.config.batch, self.config.lease)
            .await?;
        if tasks.is_empty() {
            return Ok(0);
        }
        let now = self.queue.now_ms();
        let runs = tasks.iter().map(|task| async move {
            let lag = (now - task.due_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("paygate_queue_lag_seconds", "queue" => name.to_owned()).record(lag);
            let outcome = self.handler.handle(task).await;
            let (label, held) = match &outcome {
                Outcome::Done => ("done", self.queue.ack(name, task).await),
                Outcome::RetryAt { due_ms, payload } => ("retry", self.queue.retry(name, task, payload, *due_ms).await),
            };
            match held {
                Ok(true) => metrics::counter!("paygate_queue_tasks_total", "queue" => name.to_owned(), "outcome" => label).increment(1),
                Ok(false) => {
                    // The lease lapsed and someone else has the task, or it was rescheduled:
                    // the current holder decides.
                    tracing::warn!(queue = name, key = %task.key, "claim lost before ack; the task's current holder decides");
                    metrics::counter!("paygate_queue_tasks_total", "queue" => name.to_owned(), "outcome" => "lost_claim").increment(1);
                }
                Err(e) => tracing::error!(queue = name, key = %task.key, error = %e, "ack failed; the task runs again after its lease"),
            }
        });
        futures_util::future::join_all(runs).await;
        Ok(tasks.len())
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.config.queue.clone();
        while !shutdown.is_cancelled() {
            let idle = match self.run_once().await {
                Ok(0) => self.idle_time().await,
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(queue = %name, error = %e, "queue unavailable; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// How long to sleep: until the next task is claimable, at most `idle_poll`.
    async fn idle_time(&self) -> Duration {
        let Ok(Some(next)) = self.queue.next_ready(&self.config.queue).await else {
            return self.config.idle_poll;
        };
        let now = self.queue.now_ms();
        Duration::from_millis(
            (next - now).clamp(0, self.config.idle_poll.as_millis() as i64) as u64,
        )
    }
}
