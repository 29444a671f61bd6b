//! The timed rules' schedules: when status queries, refund asks and retries of failed
//! work come back. Pure functions of the step and the time; the jobs apply them.

use std::time::Duration;

/// The delay before step `step` of a backoff `schedule`: the last delay repeats; an empty
/// schedule waits five minutes.
pub fn delay(schedule: &[Duration], step: usize) -> Duration {
    schedule
        .get(step)
        .or(schedule.last())
        .copied()
        .unwrap_or(Duration::from_secs(300))
}

/// When the next status query of an open payment runs (ms), after query number `step`
/// ran at `now_ms`; `None` when that would be past the provider's deadline (the deadline
/// job queries once more at the deadline itself).
pub fn next_sync(
    schedule: &[Duration],
    step: usize,
    now_ms: i64,
    provider_deadline_ms: i64,
) -> Option<i64> {
    let due = now_ms.saturating_add(millis(delay(schedule, step)));
    (due <= provider_deadline_ms).then_some(due)
}

/// How long a task whose provider or database was unavailable waits before its try number
/// `attempts + 1`: ten seconds per try so far, at most five minutes.
pub fn retry_after(attempts: i64) -> Duration {
    let factor = attempts.clamp(1, 30) as u32;
    (Duration::from_secs(10) * factor).min(Duration::from_secs(300))
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: &[u64]) -> Vec<Duration> {
        secs.iter().map(|&x| Duration::from_secs(x)).collect()
    }

    #[test]
    fn the_last_delay_repeats() {
        let schedule = s(&[10, 30, 60]);
        assert_eq!(delay(&schedule, 0), Duration::from_secs(10));
        assert_eq!(delay(&schedule, 2), Duration::from_secs(60));
        assert_eq!(delay(&schedule, 9), Duration::from_secs(60));
        assert_eq!(delay(&[], 0), Duration::from_secs(300));
    }

    #[test]
    fn status_queries_stop_at_the_provider_deadline() {
        let schedule = s(&[10, 30]);
        assert_eq!(next_sync(&schedule, 0, 0, 60_000), Some(10_000));
        assert_eq!(next_sync(&schedule, 1, 30_000, 60_000), Some(60_000));
        assert_eq!(next_sync(&schedule, 1, 30_001, 60_000), None);
    }

    #[test]
    fn retries_back_off_up_to_five_minutes() {
        assert_eq!(retry_after(0), Duration::from_secs(10));
        assert_eq!(retry_after(1), Duration::from_secs(10));
        assert_eq!(retry_after(3), Duration::from_secs(30));
        assert_eq!(retry_after(1_000), Duration::from_secs(300));
    }
}
