//! The last hour at a glance, for the operator console's overview: orders and payments by
//! state, failed adapter calls by provider, per-minute series of each, the delay queues'
//! depth and lag now, and what waits for an operator.

use crate::queue::QueueStats;
use crate::store::activity::{self, MinuteCount, Tally, Waiting};

use super::timers::QUEUES;
use super::{Gateway, ServiceError};

/// The window the overview covers, in minutes.
pub const WINDOW_MINUTES: i64 = 60;

/// What the overview shows.
pub struct Activity {
    /// The window's start (ms since the epoch); it ends now.
    pub since_ms: i64,
    pub orders_by_state: Vec<Tally>,
    pub payments_by_state: Vec<Tally>,
    /// `provider/outcome` of the adapter calls that did not end `ok`.
    pub failed_calls: Vec<Tally>,
    /// Per minute, oldest first, [`WINDOW_MINUTES`] values each.
    pub orders_per_minute: Vec<i64>,
    pub paid_per_minute: Vec<i64>,
    pub failed_calls_per_minute: Vec<i64>,
    pub queues: Vec<QueueLine>,
    /// What waits for an operator now, counted.
    pub waiting: Waiting,
}

/// One delay queue now.
pub struct QueueLine {
    pub name: &'static str,
    /// `Err`: why the queue could not be read.
    pub stats: Result<QueueStats, String>,
    /// How long the longest-waiting ready task has waited (ms).
    pub lag_ms: Option<i64>,
}

/// `counts` laid out as one value per minute of the window that starts at minute
/// `first_minute` (minutes since the epoch): minutes with no row are 0, rows outside the
/// window are ignored.
pub fn per_minute(counts: &[MinuteCount], first_minute: i64, minutes: i64) -> Vec<i64> {
    let mut series = vec![0; usize::try_from(minutes).unwrap_or(0)];
    for c in counts {
        if let Some(slot) = usize::try_from(c.minute - first_minute)
            .ok()
            .and_then(|i| series.get_mut(i))
        {
            *slot += c.n;
        }
    }
    series
}

impl Gateway {
    /// The last [`WINDOW_MINUTES`] minutes, up to now.
    pub async fn activity(&self) -> Result<Activity, ServiceError> {
        let now = self.now_ms();
        // Whole minutes, the current one last.
        let first_minute = now.div_euclid(60_000) - (WINDOW_MINUTES - 1);
        let since = first_minute * 60_000;
        let db = &self.db;
        let series = |counts: Vec<MinuteCount>| per_minute(&counts, first_minute, WINDOW_MINUTES);
        let mut queues = Vec::with_capacity(QUEUES.len());
        for name in QUEUES {
            let stats = self
                .timers
                .queue
                .stats(name)
                .await
                .map_err(|e| e.to_string());
            let lag_ms = stats
                .as_ref()
                .ok()
                .and_then(|s| s.oldest_ready_ms)
                .map(|due| (now - due).max(0));
            queues.push(QueueLine {
                name,
                stats,
                lag_ms,
            });
        }
        Ok(Activity {
            since_ms: since,
            orders_by_state: activity::orders_by_state(db, since).await?,
            payments_by_state: activity::payments_by_state(db, since).await?,
            failed_calls: activity::failed_calls(db, since).await?,
            orders_per_minute: series(activity::orders_per_minute(db, since).await?),
            paid_per_minute: series(activity::paid_per_minute(db, since).await?),
            failed_calls_per_minute: series(activity::failed_calls_per_minute(db, since).await?),
            queues,
            waiting: activity::waiting(db).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_without_rows_are_zero_and_rows_outside_the_window_are_ignored() {
        let counts = [
            MinuteCount { minute: 99, n: 7 },
            MinuteCount { minute: 100, n: 2 },
            MinuteCount { minute: 102, n: 5 },
            MinuteCount { minute: 103, n: 9 },
        ];
        assert_eq!(per_minute(&counts, 100, 3), vec![2, 0, 5]);
        assert_eq!(per_minute(&[], 100, 2), vec![0, 0]);
    }
}
