//! paygate's clock: the time every rule and every stored timestamp is read from. The
//! system clock in production; a manual one that tests set and step, so that the timed
//! rules (deadlines, status queries, repay cut-off, webhook and refund retries) are tested
//! without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds since the Unix epoch. Cheap to clone; clones share one manual time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// Stands still until a test moves it.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock reading `now_ms`.
    pub fn manual(now_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(now_ms)))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => crate::store::now_ms(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// How long until `due_ms` on this clock; zero once it has passed. Finer than a
    /// millisecond on the system clock, so that a worker waiting for a task it claimed
    /// ahead wakes at its due time, not up to a millisecond after. A manual clock does not
    /// move while one waits: it reads zero-or-whole milliseconds and its users do not wait.
    pub fn until(&self, due_ms: i64) -> Duration {
        match self {
            Clock::System => {
                let now_us = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
                let left_us = i128::from(due_ms) * 1_000 - now_us;
                Duration::from_micros(u64::try_from(left_us).unwrap_or(0))
            }
            Clock::Manual(_) => Duration::from_millis(
                u64::try_from(due_ms.saturating_sub(self.now_ms())).unwrap_or(0),
            ),
        }
    }

    /// Moves a manual clock forward (a system clock moves on its own).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_stepped_and_clones_share_it() {
        let clock = Clock::manual(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        shared.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
    }

    #[test]
    fn until_counts_down_to_a_due_time_and_stops_at_zero() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.until(1_250), Duration::from_millis(250));
        assert_eq!(clock.until(1_000), Duration::ZERO);
        assert_eq!(clock.until(400), Duration::ZERO);
        let system = Clock::System;
        assert_eq!(system.until(system.now_ms() - 1), Duration::ZERO);
        let left = system.until(system.now_ms() + 60_000);
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
    }
}
