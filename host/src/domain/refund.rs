//! Refunds: their states and kinds, and what a finished refund does to its payment and
//! orders.
//!
//! ```text
//! pending --succeed--> succeeded
//!    \--fail--> failed            (its amount goes back to what may be refunded)
//!                  \--an operator retries--> pending (its amount reserved again)
//! ```
//! A payment whose succeeded refunds add up to what was paid, with none pending, is
//! refunded in full; a merchant's refund in full refunds the orders it paid too (paygate's
//! own refunds of late and double payments give back money no order kept).

use super::order::{OrderError, OrderEvent, OrderState};
use super::payment::{PaymentEvent, PaymentState};
use super::state::{named, Change, InvalidTransition, Transition};

named! {
    /// Where a refund is.
    pub enum RefundState {
        /// Asked for (or about to be); the provider's answer is not known yet.
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

named! {
    /// Who wanted the refund.
    pub enum RefundKind {
        /// The merchant asked for it.
        Merchant = "merchant",
        /// paygate gives back money paid after it closed the payment.
        LatePayment = "late_payment",
        /// paygate gives back money paid for orders no longer payable.
        DoublePayment = "double_payment",
    }
}

impl RefundKind {
    /// The reason sent to the provider for paygate's own refunds.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            RefundKind::Merchant => None,
            RefundKind::LatePayment => Some("paid after the payment was closed"),
            RefundKind::DoublePayment => Some("order already paid"),
        }
    }
}

/// The provider's final word on a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundEvent {
    Succeed,
    Fail,
}

impl RefundState {
    /// Applies `event`: the state machine above.
    pub fn apply(
        self,
        event: RefundEvent,
    ) -> Result<Transition<RefundState>, InvalidTransition<RefundState, RefundEvent>> {
        use RefundEvent as E;
        use RefundState as S;
        match (self, event) {
            (S::Pending, E::Succeed) => Ok(Transition::To(Change::new(self, S::Succeeded))),
            (S::Pending, E::Fail) => Ok(Transition::To(Change::new(self, S::Failed))),
            (S::Succeeded, E::Succeed) | (S::Failed, E::Fail) => Ok(Transition::Unchanged),
            (from, event) => Err(InvalidTransition {
                what: "refund",
                from,
                event,
            }),
        }
    }
}

/// What a refund that just succeeded does beyond itself, given its payment after it:
/// `paid_minor` collected, `refunded_minor` reserved by refunds not failed (this one
/// included), `others_pending` whether another refund still waits for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEffect {
    /// The payment is refunded in full.
    pub payment: Option<Change<PaymentState>>,
    /// ... and so are the orders it paid (a merchant's refund only).
    pub orders: Option<Change<OrderState>>,
}

pub fn after_refund_succeeded(
    kind: RefundKind,
    payment: PaymentState,
    paid_minor: i64,
    refunded_minor: i64,
    others_pending: bool,
) -> Result<RefundEffect, OrderError> {
    let none = RefundEffect {
        payment: None,
        orders: None,
    };
    if others_pending || refunded_minor < paid_minor {
        return Ok(none);
    }
    let Ok(Transition::To(payment)) = payment.apply(PaymentEvent::RefundInFull) else {
        return Ok(none);
    };
    let orders = match kind {
        RefundKind::Merchant => match OrderState::Paid.apply(OrderEvent::Refund)? {
            Transition::To(c) => Some(c),
            Transition::Unchanged => None,
        },
        RefundKind::LatePayment | RefundKind::DoublePayment => None,
    };
    Ok(RefundEffect {
        payment: Some(payment),
        orders,
    })
}

/// What a merchant is told when a refund of theirs succeeds and the payment is not refunded
/// in full by it: the webhook `order.partially_refunded`, one per order the payment paid
/// (still `paid`), with these amounts in minor units of the payment's currency. The refund
/// that leaves nothing to refund tells `order.refunded` instead (the orders move to
/// `refunded`); paygate's own refunds of late and double payments tell nothing, as they
/// give back money no order kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialRefund {
    /// This refund's amount.
    pub amount: i64,
    /// What the payment's refunds that succeeded add up to, this one included.
    pub refunded: i64,
    /// What a new refund may still ask for: the paid amount less every refund not failed
    /// (one still being processed keeps its amount reserved).
    pub refundable: i64,
}

impl PartialRefund {
    /// The event type of its webhook.
    pub const WEBHOOK_TYPE: &'static str = "order.partially_refunded";
}

/// Whether the success of a refund of `kind` tells the merchant of a partial refund, given
/// what follows it (`effect`, from [`after_refund_succeeded`]): a merchant's refund that
/// does not refund the payment in full.
pub fn tells_partial_refund(kind: RefundKind, effect: &RefundEffect) -> bool {
    kind == RefundKind::Merchant && effect.payment.is_none()
}

/// The partial refund a refund of `kind` and `amount` tells the merchant of, if
/// [`tells_partial_refund`], given its payment after it: `paid_minor` collected,
/// `succeeded_before_minor` refunded by its other refunds that succeeded, `reserved_minor`
/// reserved by refunds not failed (this one included).
pub fn partial_refund(
    kind: RefundKind,
    effect: &RefundEffect,
    amount: i64,
    paid_minor: i64,
    succeeded_before_minor: i64,
    reserved_minor: i64,
) -> Option<PartialRefund> {
    if !tells_partial_refund(kind, effect) {
        return None;
    }
    Some(PartialRefund {
        amount,
        refunded: succeeded_before_minor.saturating_add(amount),
        refundable: paid_minor.saturating_sub(reserved_minor).max(0),
    })
}

/// Why a refund cannot be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// Only a failed refund is retried: a pending one is still being asked about, a
    /// succeeded one gave the money back.
    #[error("the refund is {0}; only a failed refund can be retried")]
    NotFailed(RefundState),
}

/// The operator's retry of a failed refund: back to pending, to be submitted again under the
/// same refund number. WeChat Pay asks for exactly that ("If a refund fails, please resubmit
/// it without changing the refund number", Submit Refund API, pay.weixin.qq.com, tips);
/// Alipay's `out_request_no` identifies one refund request of a trade (alipay.trade.refund,
/// as quoted in alipay/alipay-easysdk#71), so the same number is the same refund, never a
/// second one. Its amount is reserved again on the payment, which must still have that much
/// left to refund.
pub fn retry_failed(state: RefundState) -> Result<Change<RefundState>, RetryError> {
    match state {
        RefundState::Failed => Ok(Change::new(state, RefundState::Pending)),
        other => Err(RetryError::NotFailed(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_refund_finishes() {
        use RefundEvent as E;
        use RefundState as S;
        for &from in S::ALL {
            for event in [E::Succeed, E::Fail] {
                let expected = match (from, event) {
                    (S::Pending, E::Succeed) => {
                        Some(Transition::To(Change::new(from, S::Succeeded)))
                    }
                    (S::Pending, E::Fail) => Some(Transition::To(Change::new(from, S::Failed))),
                    (S::Succeeded, E::Succeed) | (S::Failed, E::Fail) => {
                        Some(Transition::Unchanged)
                    }
                    _ => None,
                };
                match expected {
                    Some(t) => assert_eq!(from.apply(event), Ok(t)),
                    None => assert!(from.apply(event).is_err(), "{from:?} {event:?}"),
                }
            }
        }
    }

    #[test]
    fn a_merchant_refund_in_full_refunds_the_payment_and_its_orders() {
        let effect =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 100, 100, false)
                .expect("allowed");
        assert_eq!(
            effect.payment,
            Some(Change::new(PaymentState::Paid, PaymentState::Refunded))
        );
        assert_eq!(
            effect.orders,
            Some(Change::new(OrderState::Paid, OrderState::Refunded))
        );
    }

    #[test]
    fn a_partial_refund_or_one_with_others_pending_refunds_nothing_else() {
        let partial =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 100, 40, false)
                .expect("allowed");
        assert_eq!(partial.payment, None);
        assert_eq!(partial.orders, None);
        let waiting =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 100, 100, true)
                .expect("allowed");
        assert_eq!(waiting.payment, None);
    }

    #[test]
    fn a_merchant_s_partial_refund_tells_the_amounts_and_the_one_in_full_does_not() {
        let first =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 1000, 300, false)
                .expect("allowed");
        assert_eq!(
            partial_refund(RefundKind::Merchant, &first, 300, 1000, 0, 300),
            Some(PartialRefund {
                amount: 300,
                refunded: 300,
                refundable: 700
            })
        );
        let last =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 1000, 1000, false)
                .expect("allowed");
        assert_eq!(
            partial_refund(RefundKind::Merchant, &last, 700, 1000, 300, 1000),
            None,
            "the refund in full tells order.refunded"
        );
    }

    #[test]
    fn a_partial_refund_beside_one_still_processing_keeps_that_one_reserved() {
        let effect =
            after_refund_succeeded(RefundKind::Merchant, PaymentState::Paid, 1000, 1000, true)
                .expect("allowed");
        assert_eq!(
            partial_refund(RefundKind::Merchant, &effect, 400, 1000, 0, 1000),
            Some(PartialRefund {
                amount: 400,
                refunded: 400,
                refundable: 0
            })
        );
    }

    #[test]
    fn paygate_s_own_refunds_tell_the_merchant_nothing() {
        for kind in [RefundKind::LatePayment, RefundKind::DoublePayment] {
            let effect =
                after_refund_succeeded(kind, PaymentState::Paid, 100, 40, false).expect("allowed");
            assert_eq!(
                partial_refund(kind, &effect, 40, 100, 0, 40),
                None,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn paygate_s_own_refund_in_full_leaves_the_orders_alone() {
        for kind in [RefundKind::LatePayment, RefundKind::DoublePayment] {
            let effect =
                after_refund_succeeded(kind, PaymentState::Paid, 100, 100, false).expect("allowed");
            assert!(effect.payment.is_some());
            assert_eq!(effect.orders, None, "{kind:?}");
            assert!(kind.reason().is_some());
        }
    }

    #[test]
    fn a_payment_refunded_already_changes_no_more() {
        let effect = after_refund_succeeded(
            RefundKind::Merchant,
            PaymentState::Refunded,
            100,
            100,
            false,
        )
        .expect("allowed");
        assert_eq!(effect.payment, None);
        assert_eq!(effect.orders, None);
    }

    #[test]
    fn only_a_failed_refund_is_retried_and_it_goes_back_to_pending() {
        let change = retry_failed(RefundState::Failed).expect("failed: may retry");
        assert_eq!(
            (change.from(), change.to()),
            (RefundState::Failed, RefundState::Pending)
        );
        for other in [RefundState::Pending, RefundState::Succeeded] {
            assert_eq!(retry_failed(other), Err(RetryError::NotFailed(other)));
        }
    }
}
