//! Settlement: what a provider's report about a trade (from a notification, a status query
//! or the deadline job) does to the payment. One rule for all three paths, so they agree
//! and a repeated report changes nothing.

use super::payment::PaymentState;

/// What the provider reported, reduced to what settlement needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedPayment {
    /// Still waiting for the payer.
    Open,
    /// Paid, with the amount and currency the provider says it collected.
    Paid { minor: i64, currency: String },
    /// Closed without payment.
    Closed,
    /// Paid and then refunded at the provider.
    Refunded,
    /// The payer's attempt failed; the trade may still be paid.
    Failed,
}

/// What to do with the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Mark the payment and its orders paid.
    MarkPaid,
    /// Mark the payment closed (its orders stay as they are).
    MarkClosed,
    /// Already in that state, or nothing to learn: acknowledge, change nothing.
    NoChange,
    /// The provider collected another amount than the payment's: flag it, do not mark paid.
    AmountMismatch {
        expected: i64,
        reported: i64,
        currency: String,
    },
    /// Money arrived for a payment paygate had closed or given up: real money to refund.
    LatePayment,
    /// The provider reports a refund paygate did not ask for: an operator must look.
    UnexpectedRefund,
}

/// The settlement rule for a payment in `state` of `amount` minor units in `currency`.
pub fn settle(
    state: PaymentState,
    amount: i64,
    currency: &str,
    reported: &ReportedPayment,
) -> Settlement {
    use PaymentState as P;
    use ReportedPayment as R;
    match (state, reported) {
        (P::Open, R::Paid { minor, currency: c }) if *minor == amount && c == currency => {
            Settlement::MarkPaid
        }
        (P::Open, R::Paid { minor, currency: c }) => Settlement::AmountMismatch {
            expected: amount,
            reported: *minor,
            currency: c.clone(),
        },
        (P::Paid | P::Refunded, R::Paid { .. }) => Settlement::NoChange,
        (P::Closed | P::Failed, R::Paid { .. }) => Settlement::LatePayment,
        (P::Open, R::Closed) => Settlement::MarkClosed,
        (P::Open | P::Closed | P::Failed, R::Refunded) => Settlement::UnexpectedRefund,
        (P::Paid | P::Refunded, R::Refunded) => Settlement::NoChange,
        (_, R::Closed | R::Open | R::Failed) => Settlement::NoChange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentState as P;

    fn paid(minor: i64) -> ReportedPayment {
        ReportedPayment::Paid {
            minor,
            currency: "CNY".into(),
        }
    }

    #[test]
    fn open_payment_reported_paid_with_its_amount_is_marked_paid() {
        assert_eq!(
            settle(P::Open, 100, "CNY", &paid(100)),
            Settlement::MarkPaid
        );
    }

    #[test]
    fn a_second_paid_report_changes_nothing() {
        assert_eq!(
            settle(P::Paid, 100, "CNY", &paid(100)),
            Settlement::NoChange
        );
    }

    #[test]
    fn paid_amount_must_equal_payment_amount() {
        assert_eq!(
            settle(P::Open, 100, "CNY", &paid(99)),
            Settlement::AmountMismatch {
                expected: 100,
                reported: 99,
                currency: "CNY".into()
            }
        );
        let other_currency = ReportedPayment::Paid {
            minor: 100,
            currency: "USD".into(),
        };
        assert!(matches!(
            settle(P::Open, 100, "CNY", &other_currency),
            Settlement::AmountMismatch { .. }
        ));
    }

    #[test]
    fn money_for_a_closed_or_failed_payment_is_a_late_payment() {
        assert_eq!(
            settle(P::Closed, 100, "CNY", &paid(100)),
            Settlement::LatePayment
        );
        assert_eq!(
            settle(P::Failed, 100, "CNY", &paid(100)),
            Settlement::LatePayment
        );
    }

    #[test]
    fn closed_report_closes_only_an_open_payment() {
        assert_eq!(
            settle(P::Open, 100, "CNY", &ReportedPayment::Closed),
            Settlement::MarkClosed
        );
        for s in [P::Paid, P::Closed, P::Failed] {
            assert_eq!(
                settle(s, 100, "CNY", &ReportedPayment::Closed),
                Settlement::NoChange,
                "{s:?}"
            );
        }
    }

    #[test]
    fn open_and_failed_reports_change_nothing() {
        for s in PaymentState::ALL {
            assert_eq!(
                settle(s, 100, "CNY", &ReportedPayment::Open),
                Settlement::NoChange
            );
            assert_eq!(
                settle(s, 100, "CNY", &ReportedPayment::Failed),
                Settlement::NoChange
            );
        }
    }

    #[test]
    fn reports_about_a_refunded_payment_change_nothing() {
        assert_eq!(
            settle(P::Refunded, 100, "CNY", &paid(100)),
            Settlement::NoChange
        );
        assert_eq!(
            settle(P::Refunded, 100, "CNY", &ReportedPayment::Refunded),
            Settlement::NoChange
        );
        assert_eq!(
            settle(P::Refunded, 100, "CNY", &ReportedPayment::Closed),
            Settlement::NoChange
        );
    }

    #[test]
    fn refund_nobody_asked_for_is_flagged() {
        assert_eq!(
            settle(P::Open, 100, "CNY", &ReportedPayment::Refunded),
            Settlement::UnexpectedRefund
        );
        assert_eq!(
            settle(P::Paid, 100, "CNY", &ReportedPayment::Refunded),
            Settlement::NoChange
        );
    }
}
