//! Settlement: what a provider's report about a trade (from a notification, a status query
//! or the deadline job) does to the payment and its orders. One rule for all three paths,
//! so they agree, and a repeated report changes nothing.

use super::money::Money;
use super::order::{OrderEvent, OrderState};
use super::payment::{PaymentEvent, PaymentFlag, PaymentState};
use super::refund::RefundKind;
use super::state::{Change, Transition};

/// What the provider reported, reduced to what settlement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedPayment {
    /// Still waiting for the payer.
    Open,
    /// Paid; `amount` is what the provider says it collected, `None` when it did not say
    /// or said something paygate cannot read as money (an unknown currency, a negative or
    /// absurd amount), which no payment can match.
    Paid { amount: Option<Money> },
    /// Closed without payment.
    Closed,
    /// Paid and then refunded at the provider.
    Refunded,
    /// The payer's attempt failed; the trade may still be paid.
    Failed,
}

impl ReportedPayment {
    /// Whether [`settle`] answers [`Settlement::NoChange`] to this report whatever the
    /// payment's state and orders: the trade still waits for the payer, or an attempt
    /// failed and it may still be paid. A status query answered so needs no fresh read of
    /// the payment to be settled.
    pub fn changes_nothing(&self) -> bool {
        matches!(self, ReportedPayment::Open | ReportedPayment::Failed)
    }
}

/// One of a payment's orders, as settlement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub id: String,
    pub state: OrderState,
    /// Whether the payment holds it (reserved it when it opened, and still does): only an
    /// order the payment holds can be paid by it.
    pub held: bool,
}

/// What the report does: the changes the store applies, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The payment and every one of its orders are paid.
    Paid {
        payment: Change<PaymentState>,
        orders: Change<OrderState>,
        order_ids: Vec<String>,
    },
    /// The payment is paid, but some of its orders were no longer payable (cancelled,
    /// closed, or paid by another payment): those in `paid` are paid, the money is a
    /// double payment, flagged and refunded.
    PaidTwice {
        payment: Change<PaymentState>,
        orders: Change<OrderState>,
        paid: Vec<String>,
        conflicting: Vec<String>,
    },
    /// The payment is closed; its orders are free for another payment.
    Closed { payment: Change<PaymentState> },
    /// Money arrived for a payment paygate had closed or given up: recorded as paid (its
    /// orders untouched), flagged and refunded.
    PaidLate { payment: Change<PaymentState> },
    /// The provider collected another amount than the payment's: flagged, not paid.
    AmountMismatch {
        expected: Money,
        reported: Option<Money>,
    },
    /// The provider reports a refund paygate did not ask for: an operator must look.
    UnexpectedRefund,
    /// Already in that state, or nothing to learn: acknowledge, change nothing.
    NoChange,
}

impl Settlement {
    /// The flag it puts on the payment for an operator.
    pub fn flag(&self) -> Option<PaymentFlag> {
        match self {
            Settlement::PaidTwice { .. } => Some(PaymentFlag::DoublePayment),
            Settlement::PaidLate { .. } => Some(PaymentFlag::LatePayment),
            Settlement::AmountMismatch { .. } => Some(PaymentFlag::AmountMismatch),
            Settlement::UnexpectedRefund => Some(PaymentFlag::UnexpectedRefund),
            Settlement::Paid { .. } | Settlement::Closed { .. } | Settlement::NoChange => None,
        }
    }

    /// Money paygate must not keep, to refund in full.
    pub fn refund(&self) -> Option<RefundKind> {
        match self {
            Settlement::PaidTwice { .. } => Some(RefundKind::DoublePayment),
            Settlement::PaidLate { .. } => Some(RefundKind::LatePayment),
            _ => None,
        }
    }

    /// Whether the provider is told the report was taken. A report paygate flags instead of
    /// applying (an amount that is not the payment's, a refund nobody asked for) is not: the
    /// provider keeps telling while an operator looks at the flagged payment.
    pub fn acknowledged(&self) -> bool {
        !matches!(
            self,
            Settlement::AmountMismatch { .. } | Settlement::UnexpectedRefund
        )
    }
}

/// The settlement rule for a payment in `state` of `amount`, with its `orders`, given the
/// provider's `reported` state.
pub fn settle(
    state: PaymentState,
    amount: Money,
    orders: &[PaymentOrder],
    reported: &ReportedPayment,
) -> Settlement {
    use PaymentState as P;
    use ReportedPayment as R;
    match (state, reported) {
        (P::Open, R::Paid { amount: Some(m) }) if m == &amount => paid(orders),
        (P::Open, R::Paid { amount: reported }) => Settlement::AmountMismatch {
            expected: amount,
            reported: reported.to_owned(),
        },
        (P::Closed | P::Failed, R::Paid { .. }) => match state.apply(PaymentEvent::PayLate) {
            Ok(Transition::To(payment)) => Settlement::PaidLate { payment },
            _ => Settlement::NoChange,
        },
        (P::Open, R::Closed) => match state.apply(PaymentEvent::Close) {
            Ok(Transition::To(payment)) => Settlement::Closed { payment },
            _ => Settlement::NoChange,
        },
        (P::Open | P::Closed | P::Failed, R::Refunded) => Settlement::UnexpectedRefund,
        (P::Paid | P::Refunded, R::Paid { .. } | R::Refunded) => Settlement::NoChange,
        (_, R::Closed | R::Open | R::Failed) => Settlement::NoChange,
    }
}

/// An open payment reported paid with its amount: it is paid, and so is every order it
/// holds that is still pending; any other order makes it a double payment.
fn paid(orders: &[PaymentOrder]) -> Settlement {
    let Ok(Transition::To(payment)) = PaymentState::Open.apply(PaymentEvent::Pay) else {
        return Settlement::NoChange;
    };
    let Ok(Transition::To(order_change)) = OrderState::Pending.apply(OrderEvent::Pay) else {
        return Settlement::NoChange;
    };
    let (paid, conflicting): (Vec<_>, Vec<_>) = orders
        .iter()
        .partition(|o| o.held && o.state == order_change.from());
    let ids = |v: Vec<&PaymentOrder>| v.into_iter().map(|o| o.id.clone()).collect();
    if conflicting.is_empty() {
        Settlement::Paid {
            payment,
            orders: order_change,
            order_ids: ids(paid),
        }
    } else {
        Settlement::PaidTwice {
            payment,
            orders: order_change,
            paid: ids(paid),
            conflicting: ids(conflicting),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;
    use PaymentState as P;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::parse("CNY").expect("CNY")).expect("valid")
    }

    fn paid_report(minor: i64) -> ReportedPayment {
        ReportedPayment::Paid {
            amount: Some(cny(minor)),
        }
    }

    fn order(id: &str, state: OrderState, held: bool) -> PaymentOrder {
        PaymentOrder {
            id: id.into(),
            state,
            held,
        }
    }

    fn pending(ids: &[&str]) -> Vec<PaymentOrder> {
        ids.iter()
            .map(|id| order(id, OrderState::Pending, true))
            .collect()
    }

    #[test]
    fn a_report_that_changes_nothing_settles_no_payment_in_any_state() {
        let reports = [
            ReportedPayment::Open,
            ReportedPayment::Failed,
            ReportedPayment::Closed,
            ReportedPayment::Refunded,
            paid_report(100),
            ReportedPayment::Paid { amount: None },
        ];
        let held = pending(&["a"]);
        let other = [order("a", OrderState::Paid, false)];
        for report in &reports {
            let changes = P::ALL.iter().flat_map(|&state| {
                [&held[..], &other[..]]
                    .into_iter()
                    .map(move |orders| settle(state, cny(100), orders, report))
            });
            let all_no_change = changes.clone().all(|s| s == Settlement::NoChange);
            assert_eq!(
                report.changes_nothing(),
                all_no_change,
                "{report:?}: {:?}",
                changes.collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn open_payment_reported_paid_with_its_amount_pays_it_and_its_orders() {
        let s = settle(P::Open, cny(100), &pending(&["a", "b"]), &paid_report(100));
        assert_eq!(
            s,
            Settlement::Paid {
                payment: Change::new(P::Open, P::Paid),
                orders: Change::new(OrderState::Pending, OrderState::Paid),
                order_ids: vec!["a".into(), "b".into()],
            }
        );
        assert_eq!(s.flag(), None);
        assert_eq!(s.refund(), None);
        assert!(s.acknowledged());
    }

    #[test]
    fn paid_for_an_order_no_longer_pending_is_a_double_payment_refunded() {
        let orders = vec![
            order("a", OrderState::Pending, true),
            order("b", OrderState::Cancelled, false),
        ];
        let s = settle(P::Open, cny(100), &orders, &paid_report(100));
        assert_eq!(
            s,
            Settlement::PaidTwice {
                payment: Change::new(P::Open, P::Paid),
                orders: Change::new(OrderState::Pending, OrderState::Paid),
                paid: vec!["a".into()],
                conflicting: vec!["b".into()],
            }
        );
        assert_eq!(s.flag(), Some(PaymentFlag::DoublePayment));
        assert_eq!(s.refund(), Some(RefundKind::DoublePayment));
        let by_other = vec![order("a", OrderState::Paid, false)];
        assert!(matches!(
            settle(P::Open, cny(100), &by_other, &paid_report(100)),
            Settlement::PaidTwice { .. }
        ));
        // Pending, but held by no payment or another one: this payment cannot pay it.
        let not_held = vec![order("a", OrderState::Pending, false)];
        assert_eq!(
            settle(P::Open, cny(100), &not_held, &paid_report(100)),
            Settlement::PaidTwice {
                payment: Change::new(P::Open, P::Paid),
                orders: Change::new(OrderState::Pending, OrderState::Paid),
                paid: vec![],
                conflicting: vec!["a".into()],
            }
        );
    }

    #[test]
    fn a_second_paid_report_changes_nothing() {
        assert_eq!(
            settle(P::Paid, cny(100), &[], &paid_report(100)),
            Settlement::NoChange
        );
    }

    #[test]
    fn paid_amount_must_equal_payment_amount() {
        let s = settle(P::Open, cny(100), &pending(&["a"]), &paid_report(99));
        assert_eq!(
            s,
            Settlement::AmountMismatch {
                expected: cny(100),
                reported: Some(cny(99)),
            }
        );
        assert_eq!(s.flag(), Some(PaymentFlag::AmountMismatch));
        assert!(!s.acknowledged());
        let usd = Money::new(100, Currency::parse("USD").expect("USD")).expect("valid");
        assert!(matches!(
            settle(
                P::Open,
                cny(100),
                &[],
                &ReportedPayment::Paid { amount: Some(usd) }
            ),
            Settlement::AmountMismatch { .. }
        ));
    }

    #[test]
    fn paid_without_a_readable_amount_is_a_mismatch_not_a_payment() {
        assert_eq!(
            settle(
                P::Open,
                cny(100),
                &pending(&["a"]),
                &ReportedPayment::Paid { amount: None }
            ),
            Settlement::AmountMismatch {
                expected: cny(100),
                reported: None
            }
        );
    }

    #[test]
    fn money_for_a_closed_or_failed_payment_is_a_late_payment() {
        for s in [P::Closed, P::Failed] {
            let settled = settle(s, cny(100), &[], &paid_report(100));
            assert_eq!(
                settled,
                Settlement::PaidLate {
                    payment: Change::new(s, P::Paid)
                }
            );
            assert_eq!(settled.flag(), Some(PaymentFlag::LatePayment));
            assert_eq!(settled.refund(), Some(RefundKind::LatePayment));
        }
    }

    #[test]
    fn closed_report_closes_only_an_open_payment() {
        assert_eq!(
            settle(P::Open, cny(100), &[], &ReportedPayment::Closed),
            Settlement::Closed {
                payment: Change::new(P::Open, P::Closed)
            }
        );
        for &s in &[P::Paid, P::Closed, P::Failed, P::Refunded] {
            assert_eq!(
                settle(s, cny(100), &[], &ReportedPayment::Closed),
                Settlement::NoChange,
                "{s:?}"
            );
        }
    }

    #[test]
    fn open_and_failed_reports_change_nothing() {
        for &s in PaymentState::ALL {
            assert_eq!(
                settle(s, cny(100), &[], &ReportedPayment::Open),
                Settlement::NoChange
            );
            assert_eq!(
                settle(s, cny(100), &[], &ReportedPayment::Failed),
                Settlement::NoChange
            );
        }
    }

    #[test]
    fn reports_about_a_refunded_payment_change_nothing() {
        for report in [paid_report(100), ReportedPayment::Refunded] {
            assert_eq!(
                settle(P::Refunded, cny(100), &[], &report),
                Settlement::NoChange
            );
        }
    }

    #[test]
    fn refund_nobody_asked_for_is_flagged() {
        for &s in &[P::Open, P::Closed, P::Failed] {
            let settled = settle(s, cny(100), &[], &ReportedPayment::Refunded);
            assert_eq!(settled, Settlement::UnexpectedRefund);
            assert_eq!(settled.flag(), Some(PaymentFlag::UnexpectedRefund));
            assert!(!settled.acknowledged(), "the provider keeps telling");
        }
        assert_eq!(
            settle(P::Paid, cny(100), &[], &ReportedPayment::Refunded),
            Settlement::NoChange
        );
    }
}
