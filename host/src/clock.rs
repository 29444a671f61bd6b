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
}
