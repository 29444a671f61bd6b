//! Webhook deliveries: where an event's delivery to the merchant is, and what one attempt
//! leads to.
//!
//! ```text
//! pending --2xx--> delivered
//!    |\--refused or unreachable, retries left--> pending (again after the schedule's delay)
//!    |\--refused or unreachable, schedule ended--> failed
//!     \--no endpoint--> none
//! ```
//! An event of an order with no endpoint (no `notify_url` of its own, and none of its
//! merchant's: `merchant::webhook_endpoint`) is `none` from the start.

use std::time::Duration;

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
}
