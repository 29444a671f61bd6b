//! Webhook deliveries: where an event's delivery to the merchant is, and what one attempt
//! leads to.
//!
//! ```text
//! pending --2xx--> delivered
//!    |\--refused or unreachable, retries left--> pending (again after the schedule's delay)
//!    |\--refused or unreachable, schedule ended--> failed
//!     \--no endpoint--> none
//!
//! delivered, failed, none --an operator re-delivers--> pending (a new round of attempts)
//! ```
//! An event of an order with no endpoint (no `notify_url` of its own, and none of its
//! merchant's: `merchant::webhook_endpoint`) is `none` from the start.
//!
//! Order: an order's events are numbered 1, 2, 3, ... as they are written ([`turn`]). An
//! event whose attempt is due waits while an earlier event of its order is still pending
//! (being retried, or not tried yet), for at most the order wait; a wait is no attempt.

use std::time::Duration;

use super::schedule::millis;
use super::state::{named, Change, Transition};

named! {
    /// Where an event's webhook delivery is.
    pub enum DeliveryState {
        /// Not delivered yet; an attempt is due.
        Pending = "pending",
        /// The merchant's endpoint answered 2xx.
        Delivered = "delivered",
        /// The retry schedule ran out; listed for an operator.
        Failed = "failed",
        /// The order has no endpoint (its own or its merchant's): nothing to deliver.
        None = "none",
    }
}

/// What one attempt met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered with this HTTP status.
    Answered(u16),
    /// No answer (connection refused, timeout).
    Unreachable,
    /// The order has no endpoint.
    NoEndpoint,
}

/// What follows an attempt: the delivery's change, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterAttempt {
    pub change: Transition<DeliveryState>,
    /// `Some` while the delivery stays pending.
    pub retry_in: Option<Duration>,
}

/// The delivery rule for attempt number `attempt` (1 for the first) of a pending delivery,
/// with `schedule` the delays between attempts: when the schedule has no delay left for a
/// refused attempt, the delivery has failed.
pub fn after_attempt(attempt: usize, met: Attempt, schedule: &[Duration]) -> AfterAttempt {
    let to = |to| Transition::To(Change::new(DeliveryState::Pending, to));
    match met {
        Attempt::Answered(s) if (200..300).contains(&s) => AfterAttempt {
            change: to(DeliveryState::Delivered),
            retry_in: None,
        },
        Attempt::NoEndpoint => AfterAttempt {
            change: to(DeliveryState::None),
            retry_in: None,
        },
        Attempt::Answered(_) | Attempt::Unreachable => match schedule.get(attempt - 1) {
            Some(delay) if attempt >= 1 => AfterAttempt {
                change: Transition::Unchanged,
                retry_in: Some(*delay),
            },
            _ => AfterAttempt {
                change: to(DeliveryState::Failed),
                retry_in: None,
            },
        },
    }
}

/// The initial delivery state of an order's event.
pub fn initial(has_endpoint: bool) -> DeliveryState {
    if has_endpoint {
        DeliveryState::Pending
    } else {
        DeliveryState::None
    }
}

/// How soon a held event looks again whether its turn came. The earlier event's outcome
/// also schedules the next one at once; this is the backstop when that schedule was lost.
pub const HOLD_RECHECK: Duration = Duration::from_secs(5);

/// Whether an event whose attempt is due goes now, by its order's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// No earlier event of the order holds it: attempt it now.
    Go,
    /// An earlier event of the order is still pending and within the order wait: make no
    /// attempt (none is counted) and look again at this time (ms since the epoch).
    Wait { recheck_at_ms: i64 },
}

/// The ordering rule for an event written at `created_at_ms` whose attempt is due at
/// `now_ms`. `earlier_pending_since_ms`: when the newest of the earlier events (lower
/// sequence) of the same order still pending delivery was written; `None` when none is
/// pending (all delivered, failed, or without endpoint: a failed one holds nothing).
///
/// The event waits until `order_wait` after that earlier event was written, and never
/// longer than `order_wait` after it was written itself (two instances' clocks may differ
/// by a little: the newest earlier event may look younger than this one). So no event
/// waits longer than `order_wait` for others, and a zero `order_wait` turns ordering off.
/// While it waits it looks again every `recheck`, and at the end of the wait.
pub fn turn(
    created_at_ms: i64,
    earlier_pending_since_ms: Option<i64>,
    now_ms: i64,
    order_wait: Duration,
    recheck: Duration,
) -> Turn {
    let Some(since) = earlier_pending_since_ms else {
        return Turn::Go;
    };
    let wait_ends = since.min(created_at_ms).saturating_add(millis(order_wait));
    if now_ms >= wait_ends {
        return Turn::Go;
    }
    Turn::Wait {
        recheck_at_ms: now_ms.saturating_add(millis(recheck)).min(wait_ends),
    }
}

/// Why an event cannot be sent again now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedeliverError {
    /// Its delivery is under way (pending: being tried, or waiting for its next attempt):
    /// a second round would send it twice.
    #[error("the event's delivery is still under way")]
    Pending,
}

/// The re-delivery rule: an operator may send an event again whatever became of it (failed
/// when its schedule ran out, delivered and lost by the merchant, or `none` because the
/// order had no endpoint then), except while its delivery is under way. It goes back to
/// pending for a new round of attempts with the whole retry schedule; the attempts of the
/// earlier rounds stay in its history.
pub fn redeliver(state: DeliveryState) -> Result<Change<DeliveryState>, RedeliverError> {
    match state {
        DeliveryState::Pending => Err(RedeliverError::Pending),
        from @ (DeliveryState::Delivered | DeliveryState::Failed | DeliveryState::None) => {
            Ok(Change::new(from, DeliveryState::Pending))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Vec<Duration> {
        vec![Duration::from_secs(10), Duration::from_secs(60)]
    }

    #[test]
    fn a_2xx_answer_delivers() {
        for status in [200, 204, 299] {
            let next = after_attempt(1, Attempt::Answered(status), &schedule());
            assert_eq!(
                next.change,
                Transition::To(Change::new(
                    DeliveryState::Pending,
                    DeliveryState::Delivered
                ))
            );
            assert_eq!(next.retry_in, None);
        }
    }

    #[test]
    fn a_refused_attempt_waits_the_schedule_s_delay_of_its_number() {
        for met in [
            Attempt::Answered(500),
            Attempt::Answered(301),
            Attempt::Unreachable,
        ] {
            let first = after_attempt(1, met, &schedule());
            assert_eq!(first.change, Transition::Unchanged);
            assert_eq!(first.retry_in, Some(Duration::from_secs(10)));
            let second = after_attempt(2, met, &schedule());
            assert_eq!(second.retry_in, Some(Duration::from_secs(60)));
        }
    }

    #[test]
    fn the_attempt_after_the_schedule_ran_out_fails_the_delivery() {
        let last = after_attempt(3, Attempt::Answered(500), &schedule());
        assert_eq!(
            last.change,
            Transition::To(Change::new(DeliveryState::Pending, DeliveryState::Failed))
        );
        assert_eq!(last.retry_in, None);
        let none = after_attempt(1, Attempt::Unreachable, &[]);
        assert_eq!(none.retry_in, None);
    }

    #[test]
    fn an_order_without_endpoint_delivers_nothing() {
        assert_eq!(initial(false), DeliveryState::None);
        assert_eq!(initial(true), DeliveryState::Pending);
        let next = after_attempt(1, Attempt::NoEndpoint, &schedule());
        assert_eq!(
            next.change,
            Transition::To(Change::new(DeliveryState::Pending, DeliveryState::None))
        );
    }

    const WAIT: Duration = Duration::from_secs(300);
    const RECHECK: Duration = Duration::from_secs(5);
    /// An order's first event was written at T0, its second at T0 + 1 s.
    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn an_event_with_no_earlier_event_pending_goes_at_once() {
        // The first event of an order, or one whose earlier events were delivered, failed
        // (the schedule ran out: it holds nothing) or had no endpoint.
        assert_eq!(turn(T0, None, T0, WAIT, RECHECK), Turn::Go);
        assert_eq!(turn(T0, None, T0 + 3_600_000, WAIT, RECHECK), Turn::Go);
    }

    #[test]
    fn a_later_event_waits_while_an_earlier_one_is_pending_and_looks_again_soon() {
        assert_eq!(
            turn(T0 + 1_000, Some(T0), T0 + 1_000, WAIT, RECHECK),
            Turn::Wait {
                recheck_at_ms: T0 + 6_000
            }
        );
        // Still waiting just before the order wait ends: it looks again at its end.
        assert_eq!(
            turn(T0 + 1_000, Some(T0), T0 + 299_999, WAIT, RECHECK),
            Turn::Wait {
                recheck_at_ms: T0 + 300_000
            }
        );
    }

    #[test]
    fn a_later_event_goes_anyway_once_the_earlier_one_is_pending_longer_than_the_order_wait() {
        assert_eq!(
            turn(T0 + 1_000, Some(T0), T0 + 300_000, WAIT, RECHECK),
            Turn::Go
        );
        assert_eq!(
            turn(T0 + 1_000, Some(T0), T0 + 86_400_000, WAIT, RECHECK),
            Turn::Go
        );
        // Written after the earlier one had been pending that long: it does not wait at all.
        assert_eq!(
            turn(T0 + 600_000, Some(T0), T0 + 600_000, WAIT, RECHECK),
            Turn::Go
        );
    }

    #[test]
    fn the_wait_is_measured_from_the_newest_earlier_event_still_pending() {
        // Events 1 (T0) and 2 (T0 + 4 min) pending, event 3 due at T0 + 6 min: event 1 is
        // past the wait but event 2 is not, and 3 follows 2.
        let since_2 = T0 + 240_000;
        assert_eq!(
            turn(since_2 + 1_000, Some(since_2), T0 + 360_000, WAIT, RECHECK),
            Turn::Wait {
                recheck_at_ms: T0 + 365_000
            }
        );
        assert_eq!(
            turn(
                since_2 + 1_000,
                Some(since_2),
                since_2 + 300_000,
                WAIT,
                RECHECK
            ),
            Turn::Go
        );
    }

    #[test]
    fn no_event_waits_longer_than_the_order_wait_after_it_was_written() {
        // Another instance's clock wrote the earlier event "later" than this one.
        let own = T0;
        let earlier = T0 + 60_000;
        assert_eq!(
            turn(own, Some(earlier), own + 299_999, WAIT, RECHECK),
            Turn::Wait {
                recheck_at_ms: own + 300_000
            }
        );
        assert_eq!(
            turn(own, Some(earlier), own + 300_000, WAIT, RECHECK),
            Turn::Go
        );
        // Whatever the inputs, the recheck is never later than the end of the wait, and a
        // wait ends.
        for now in [T0, T0 + 1, T0 + 299_000, T0 + 299_999] {
            match turn(T0, Some(T0), now, WAIT, RECHECK) {
                Turn::Wait { recheck_at_ms } => {
                    assert!(recheck_at_ms > now && recheck_at_ms <= T0 + 300_000)
                }
                Turn::Go => panic!("within the wait at {now}"),
            }
        }
    }

    #[test]
    fn a_zero_order_wait_turns_ordering_off() {
        assert_eq!(
            turn(T0 + 1_000, Some(T0), T0 + 1_000, Duration::ZERO, RECHECK),
            Turn::Go
        );
    }

    #[test]
    fn extreme_times_saturate_instead_of_overflowing() {
        assert_eq!(
            turn(i64::MAX, Some(i64::MAX), i64::MAX - 1, WAIT, RECHECK),
            Turn::Wait {
                recheck_at_ms: i64::MAX
            }
        );
        assert_eq!(
            turn(0, Some(0), 0, Duration::MAX, RECHECK),
            Turn::Wait {
                recheck_at_ms: 5_000
            }
        );
    }

    #[test]
    fn an_operator_sends_again_what_ended_but_not_what_is_under_way() {
        for from in [
            DeliveryState::Failed,
            DeliveryState::Delivered,
            DeliveryState::None,
        ] {
            let change = redeliver(from).expect("ended: may go again");
            assert_eq!((change.from(), change.to()), (from, DeliveryState::Pending));
        }
        assert_eq!(
            redeliver(DeliveryState::Pending),
            Err(RedeliverError::Pending)
        );
    }
}
