//! Delay queues: timed work (deadlines, status queries, webhook retries) with at-least-once
//! delivery. A task is identified by a key in a named queue; scheduling a key again replaces
//! it. Workers claim due tasks with a lease; a task whose lease lapses (its worker died) is
//! due again; only the current holder of a claim can acknowledge or reschedule it.
//!
//! Two backends pass the same conformance suite: Redis (sorted sets and Lua, several
//! processes sharing one Redis) and SQL (the embedded default, over paygate's database).

mod redis;
mod sql;
pub mod worker;

use std::time::Duration;

pub use self::redis::{address as redis_address, ping as redis_ping, RedisQueue};
pub use self::sql::SqlQueue;
pub use worker::{Handler, Outcome, Wakes, Worker, WorkerConfig, CLAIM_AHEAD, IDLE_POLL};

/// A task a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub key: String,
    pub payload: String,
    /// When the task was due (ms since the epoch): the start of its lag.
    pub due_ms: i64,
    /// How many times it has been claimed, this claim included.
    pub attempts: i64,
    /// Proof of this claim: changes at every schedule and claim of the key.
    pub token: i64,
}

/// What one claim got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claim {
    /// The tasks now held, earliest due first.
    pub tasks: Vec<Claimed>,
    /// When the queue's first task (scheduled, or leased until then) becomes claimable,
    /// in ms since the epoch, read in the same step as the claim; `None` when it is empty.
    pub next_ready: Option<i64>,
}

/// A task to schedule: its key in the queue, its payload and when it falls due (ms since
/// the epoch, on paygate's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub key: String,
    pub payload: String,
    pub due_ms: i64,
}

/// What [`DelayQueue::put_back`] does with a task whose key the queue already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Leave it as it is: its due time (a retry's backoff), its payload, its claim.
    Keep,
    /// Leave a scheduled one as it is, but take a claimed one back as given: at start, the
    /// previous process's claims would otherwise hold their tasks for a whole lease.
    TakeBackClaimed,
}

/// Whether the backend still holds what paygate gave it, as far as a cheap look can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuity {
    /// The marks paygate left are there, on the same server.
    Intact,
    /// The backend lost keys (or may have): why paygate thinks so, for the log.
    Lost(String),
}

/// Counts of one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Due now and not claimed.
    pub ready: u64,
    /// Scheduled for later.
    pub scheduled: u64,
    /// Claimed, lease still running.
    pub in_flight: u64,
    /// When the longest-waiting ready task became due (ms since the epoch): the queue's
    /// lag is now minus this. `None` when nothing is ready.
    pub oldest_ready_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("queue backend answered something unexpected: {0}")]
    Protocol(String),
}

/// The delay queue paygate runs on, chosen by configuration.
#[derive(Clone, Debug)]
pub enum DelayQueue {
    Sql(SqlQueue),
    Redis(RedisQueue),
}

impl DelayQueue {
    /// Schedules `key` in `queue` for `due_ms`, replacing a task with the same key (even
    /// one being worked on: the holder's ack then fails and the new schedule stands).
    pub async fn schedule(
        &self,
        queue: &str,
        key: &str,
        payload: &str,
        due_ms: i64,
    ) -> Result<(), QueueError> {
        match self {
            DelayQueue::Sql(q) => q.schedule(queue, key, payload, due_ms).await,
            DelayQueue::Redis(q) => q.schedule(queue, key, payload, due_ms).await,
        }
    }

    /// Schedules each of `tasks` whose key is not in `queue`, and does with the ones it
    /// holds what `existing` says; how many it scheduled. Reconciliation puts back what a
    /// backend lost this way, without disturbing what it kept. Sent in batches of a few
    /// hundred tasks, each batch atomic.
    pub async fn put_back(
        &self,
        queue: &str,
        tasks: &[NewTask],
        existing: Existing,
    ) -> Result<usize, QueueError> {
        if tasks.is_empty() {
            return Ok(0);
        }
        match self {
            DelayQueue::Sql(q) => q.put_back(queue, tasks, existing).await,
            DelayQueue::Redis(q) => q.put_back(queue, tasks, existing).await,
        }
    }

    /// Leaves a mark in each of `queues` (and notes the server's identity) that
    /// [`DelayQueue::continuity`] looks for.
    pub async fn mark(&self, queues: &[&str]) -> Result<(), QueueError> {
        match self {
            // The SQL queue lives in paygate's database: it cannot lose tasks on its own.
            DelayQueue::Sql(_) => Ok(()),
            DelayQueue::Redis(q) => q.mark(queues).await,
        }
    }

    /// Whether the marks left by [`DelayQueue::mark`] are still there, on the same server.
    pub async fn continuity(&self, queues: &[&str]) -> Result<Continuity, QueueError> {
        match self {
            DelayQueue::Sql(_) => Ok(Continuity::Intact),
            DelayQueue::Redis(q) => q.continuity(queues).await,
        }
    }

    /// A warning when the backend may drop paygate's keys on its own (Redis with a
    /// `maxmemory-policy` other than `noeviction`); `None` when it keeps them.
    pub async fn eviction_warning(&self, queues: &[&str]) -> Result<Option<String>, QueueError> {
        match self {
            DelayQueue::Sql(_) => Ok(None),
            DelayQueue::Redis(q) => q.eviction_warning(queues).await,
        }
    }

    /// Claims up to `max` due tasks, earliest first, each with a lease of `lease`.
    pub async fn claim(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, QueueError> {
        Ok(self
            .claim_ahead(queue, max, lease, Duration::ZERO)
            .await?
            .tasks)
    }

    /// Claims up to `max` tasks due by `ahead` from now, earliest first, each with a lease
    /// of `lease`, and says when the queue's next task becomes claimable. A task claimed
    /// ahead of its due time must not run before it (the worker waits for it).
    pub async fn claim_ahead(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        ahead: Duration,
    ) -> Result<Claim, QueueError> {
        match self {
            DelayQueue::Sql(q) => q.claim(queue, max, lease, ahead).await,
            DelayQueue::Redis(q) => q.claim(queue, max, lease, ahead).await,
        }
    }

    /// Removes a claimed task. `false` if the claim is no longer the current one (the lease
    /// lapsed and another worker took it, or the key was scheduled again).
    pub async fn ack(&self, queue: &str, task: &Claimed) -> Result<bool, QueueError> {
        let acked = self.ack_many(queue, &[task]).await?;
        Ok(acked.first().copied().unwrap_or(false))
    }

    /// [`DelayQueue::ack`] for many tasks in one round trip per few hundred: whether each
    /// was removed, in the order given.
    pub async fn ack_many(&self, queue: &str, tasks: &[&Claimed]) -> Result<Vec<bool>, QueueError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            DelayQueue::Sql(q) => q.ack(queue, tasks).await,
            DelayQueue::Redis(q) => q.ack(queue, tasks).await,
        }
    }

    /// Reschedules a claimed task for `due_ms` with a new payload (a retry, or the next
    /// step of a schedule). `false` if the claim is no longer current.
    pub async fn retry(
        &self,
        queue: &str,
        task: &Claimed,
        payload: &str,
        due_ms: i64,
    ) -> Result<bool, QueueError> {
        match self {
            DelayQueue::Sql(q) => q.retry(queue, task, payload, due_ms).await,
            DelayQueue::Redis(q) => q.retry(queue, task, payload, due_ms).await,
        }
    }

    /// Removes `key` whatever its state. `true` if it existed.
    pub async fn cancel(&self, queue: &str, key: &str) -> Result<bool, QueueError> {
        match self {
            DelayQueue::Sql(q) => q.cancel(queue, key).await,
            DelayQueue::Redis(q) => q.cancel(queue, key).await,
        }
    }

    /// When the next task (scheduled or leased) becomes claimable, in ms since the epoch.
    pub async fn next_ready(&self, queue: &str) -> Result<Option<i64>, QueueError> {
        match self {
            DelayQueue::Sql(q) => q.next_ready(queue).await,
            DelayQueue::Redis(q) => q.next_ready(queue).await,
        }
    }

    pub async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        match self {
            DelayQueue::Sql(q) => q.stats(queue).await,
            DelayQueue::Redis(q) => q.stats(queue).await,
        }
    }

    /// The backend's name, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            DelayQueue::Sql(_) => "sql",
            DelayQueue::Redis(_) => "redis",
        }
    }

    /// Compares due times with `clock` (paygate's, which computes them).
    pub fn with_clock(self, clock: crate::clock::Clock) -> DelayQueue {
        match self {
            DelayQueue::Sql(q) => DelayQueue::Sql(q.with_clock(clock)),
            DelayQueue::Redis(q) => DelayQueue::Redis(q.with_clock(clock)),
        }
    }

    /// The time due times are compared with (ms since the epoch).
    pub fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }

    /// The clock due times are computed and compared with: paygate's.
    pub fn clock(&self) -> &crate::clock::Clock {
        match self {
            DelayQueue::Sql(q) => q.clock(),
            DelayQueue::Redis(q) => q.clock(),
        }
    }
}

/// A fresh random claim token. Below 2^52, so Redis's Lua (whose numbers are doubles) holds
/// it exactly, with room for a batch's offsets.
fn new_token() -> i64 {
    use rand::Rng;
    rand::thread_rng().gen_range(1..1_i64 << 52)
}
