//! The repay rules: what a pay request does, given the open payments its orders are in.
//!
//! - Same orders, provider and channel, stored action still valid: return it, no provider
//!   call (`Reuse`).
//! - Same orders, provider and channel, no valid stored action: call the provider again
//!   with the same payment number and the same absolute deadline (`CallAgain`).
//! - The same orders open at another provider or channel: close that trade at its provider
//!   first, then start a new payment (`CloseThenNew`); a provider cannot reopen one trade
//!   number with other parameters.
//! - An order already in an open payment of other orders (a combined payment, or the order
//!   on its own when a combination is asked for): refused (`InOtherPayment`).
//! - No open payment: a new payment (`New`).

use std::collections::BTreeSet;

/// What the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayTarget<'a> {
    pub provider: &'a str,
    pub channel: &'a str,
    pub order_ids: BTreeSet<&'a str>,
}

/// An open payment one of the requested orders is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPayment<'a> {
    pub payment_no: &'a str,
    pub provider: &'a str,
    pub channel: &'a str,
    pub order_ids: BTreeSet<&'a str>,
    /// A pay action is stored and the provider's deadline has not passed.
    pub action_valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepayDecision {
    New,
    Reuse { payment_no: String },
    CallAgain { payment_no: String },
    CloseThenNew { close: Vec<String> },
    InOtherPayment { payment_no: String },
}

/// The repay rule. `open` holds each distinct open payment of the requested orders once.
pub fn decide(target: &PayTarget<'_>, open: &[OpenPayment<'_>]) -> RepayDecision {
    match open {
        [] => RepayDecision::New,
        [p] if p.order_ids == target.order_ids => {
            if p.provider != target.provider || p.channel != target.channel {
                RepayDecision::CloseThenNew {
                    close: vec![p.payment_no.to_owned()],
                }
            } else if p.action_valid {
                RepayDecision::Reuse {
                    payment_no: p.payment_no.to_owned(),
                }
            } else {
                RepayDecision::CallAgain {
                    payment_no: p.payment_no.to_owned(),
                }
            }
        }
        [p, ..] => RepayDecision::InOtherPayment {
            payment_no: p.payment_no.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(provider: &'a str, channel: &'a str, orders: &[&'a str]) -> PayTarget<'a> {
        PayTarget {
            provider,
            channel,
            order_ids: orders.iter().copied().collect(),
        }
    }

    fn open<'a>(
        no: &'a str,
        provider: &'a str,
        channel: &'a str,
        orders: &[&'a str],
        valid: bool,
    ) -> OpenPayment<'a> {
        OpenPayment {
            payment_no: no,
            provider,
            channel,
            order_ids: orders.iter().copied().collect(),
            action_valid: valid,
        }
    }

    #[test]
    fn no_open_payment_starts_a_new_one() {
        assert_eq!(
            decide(&target("wechat", "native", &["o1"]), &[]),
            RepayDecision::New
        );
    }

    #[test]
    fn repay_within_window_returns_stored_action() {
        let p = open("P1", "wechat", "native", &["o1"], true);
        assert_eq!(
            decide(&target("wechat", "native", &["o1"]), &[p]),
            RepayDecision::Reuse {
                payment_no: "P1".into()
            }
        );
    }

    #[test]
    fn repay_without_a_valid_action_calls_the_provider_again_with_the_same_number() {
        let p = open("P1", "wechat", "native", &["o1"], false);
        assert_eq!(
            decide(&target("wechat", "native", &["o1"]), &[p]),
            RepayDecision::CallAgain {
                payment_no: "P1".into()
            }
        );
    }

    #[test]
    fn provider_switch_closes_the_old_trade_first() {
        let p = open("P1", "wechat", "native", &["o1"], true);
        assert_eq!(
            decide(&target("alipay", "precreate", &["o1"]), &[p]),
            RepayDecision::CloseThenNew {
                close: vec!["P1".into()]
            }
        );
    }

    #[test]
    fn channel_switch_at_the_same_provider_closes_first_too() {
        let p = open("P1", "wechat", "native", &["o1"], true);
        assert_eq!(
            decide(&target("wechat", "h5", &["o1"]), &[p]),
            RepayDecision::CloseThenNew {
                close: vec!["P1".into()]
            }
        );
    }

    #[test]
    fn an_order_in_an_open_payment_of_other_orders_is_refused() {
        let p = open("P1", "mock", "web", &["o1"], true);
        assert_eq!(
            decide(&target("mock", "web", &["o1", "o2"]), &[p]),
            RepayDecision::InOtherPayment {
                payment_no: "P1".into()
            }
        );
        let a = open("P1", "mock", "web", &["o1"], true);
        let b = open("P2", "mock", "web", &["o2"], true);
        assert!(matches!(
            decide(&target("mock", "web", &["o1", "o2"]), &[a, b]),
            RepayDecision::InOtherPayment { .. }
        ));
        let combined = open("P3", "mock", "web", &["o1", "o2"], true);
        assert_eq!(
            decide(&target("mock", "qr", &["o1"]), &[combined]),
            RepayDecision::InOtherPayment {
                payment_no: "P3".into()
            }
        );
    }
}
