//! The deadline rule: at an order's deadline (plus the provider's grace), an order still
//! pending is closed, but only once its provider confirms the money did not come.
//!
//! - The order is no longer pending: nothing to do, no provider call.
//! - It has no open payment (none opened, or the provider refused to open it): close it.
//! - Its open payment is asked about once more: paid -> settle as paid; unpaid or unknown
//!   to the provider -> close the trade there, then the order here.
//! - A provider that refuses the query (a merchant's key rotated or broken) leaves the
//!   order open, never closed blindly: the money may have come. From the
//!   `flag_after_refusals`-th refusal on, the payment is flagged for an operator; paygate
//!   keeps asking on its backoff. An unreachable provider is asked again later.
//!
//! The deadline is re-checked against paygate's own clock when the task runs: a task that
//! runs early (another clock ahead) is put back to its time and does nothing.

use super::order::OrderState;
use super::payment::PaymentFlag;

/// When an order's deadline is processed: its `expires_at` plus the provider's grace, so
/// that a payer who paid in the last second is seen paid (ms).
pub fn deadline_due_ms(expires_at_ms: i64, grace_ms: i64) -> i64 {
    expires_at_ms.saturating_add(grace_ms)
}

/// What the deadline task does first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtDeadline {
    /// Too early by paygate's clock: run again at `due_ms`.
    NotYet { due_ms: i64 },
    /// The order is no longer pending.
    AlreadyFinal,
    /// No open payment: close the order without asking anyone.
    CloseOrder,
    /// Ask the provider about the open payment.
    AskProvider,
}

pub fn at_deadline(
    now_ms: i64,
    due_ms: i64,
    order: OrderState,
    has_open_payment: bool,
) -> AtDeadline {
    if order != OrderState::Pending {
        AtDeadline::AlreadyFinal
    } else if now_ms < due_ms {
        AtDeadline::NotYet { due_ms }
    } else if has_open_payment {
        AtDeadline::AskProvider
    } else {
        AtDeadline::CloseOrder
    }
}

/// The provider's answer to the deadline's status query, reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryAnswer {
    /// Paid (or paid and refunded).
    Paid,
    /// Open, closed, failed: no money.
    Unpaid,
    /// The provider does not know the trade: it was never opened there.
    Unknown,
    /// The provider refused the query (`rejected`, `config`, `bad-signature`).
    Refused,
    /// No answer; the adapter failed.
    Unreachable,
}

/// What the deadline does after the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterQuery {
    /// Settle the payment from the provider's report.
    Settle,
    /// Close the trade at the provider, then the order.
    CloseTrade,
    /// Nothing to close there: close the order.
    CloseOrder,
    /// Ask again later; flag the payment first when `flag` says so.
    RetryLater { flag: Option<PaymentFlag> },
}

/// `attempt` counts the deadline task's tries (1 the first time).
pub fn after_query(answer: QueryAnswer, attempt: u32, flag_after_refusals: u32) -> AfterQuery {
    match answer {
        QueryAnswer::Paid => AfterQuery::Settle,
        QueryAnswer::Unpaid => AfterQuery::CloseTrade,
        QueryAnswer::Unknown => AfterQuery::CloseOrder,
        QueryAnswer::Refused => AfterQuery::RetryLater {
            flag: (attempt >= flag_after_refusals).then_some(PaymentFlag::ProviderRefusesQueries),
        },
        QueryAnswer::Unreachable => AfterQuery::RetryLater { flag: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_order_s_plus_the_grace() {
        assert_eq!(deadline_due_ms(1_000, 60_000), 61_000);
        assert_eq!(deadline_due_ms(i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn a_task_that_runs_early_is_put_back_and_does_nothing() {
        assert_eq!(
            at_deadline(59_999, 60_000, OrderState::Pending, true),
            AtDeadline::NotYet { due_ms: 60_000 }
        );
        assert_eq!(
            at_deadline(60_000, 60_000, OrderState::Pending, true),
            AtDeadline::AskProvider
        );
    }

    #[test]
    fn an_order_no_longer_pending_asks_nobody() {
        for &state in OrderState::ALL {
            if state != OrderState::Pending {
                assert_eq!(
                    at_deadline(0, 60_000, state, true),
                    AtDeadline::AlreadyFinal
                );
            }
        }
    }

    #[test]
    fn an_order_without_open_payment_closes_without_a_provider_call() {
        assert_eq!(
            at_deadline(70_000, 60_000, OrderState::Pending, false),
            AtDeadline::CloseOrder
        );
    }

    #[test]
    fn the_provider_s_answer_decides_what_closes() {
        assert_eq!(after_query(QueryAnswer::Paid, 1, 5), AfterQuery::Settle);
        assert_eq!(
            after_query(QueryAnswer::Unpaid, 1, 5),
            AfterQuery::CloseTrade
        );
        assert_eq!(
            after_query(QueryAnswer::Unknown, 1, 5),
            AfterQuery::CloseOrder
        );
        assert_eq!(
            after_query(QueryAnswer::Unreachable, 99, 5),
            AfterQuery::RetryLater { flag: None }
        );
    }

    #[test]
    fn a_refused_query_never_closes_and_flags_from_the_nth_refusal() {
        assert_eq!(
            after_query(QueryAnswer::Refused, 4, 5),
            AfterQuery::RetryLater { flag: None }
        );
        for attempt in [5, 6, 50] {
            assert_eq!(
                after_query(QueryAnswer::Refused, attempt, 5),
                AfterQuery::RetryLater {
                    flag: Some(PaymentFlag::ProviderRefusesQueries)
                }
            );
        }
    }
}
