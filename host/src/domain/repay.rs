//! The repay rules: what a pay request does, given the open payments its orders are in.
//!
//! - Same orders, provider, channel and payer binding, stored action still valid: return
//!   it, no provider call (`Reuse`).
//! - Same orders, provider, channel and binding, no valid stored action (none stored, or
//!   past the provider's own lifetime of it): call the provider again with the same payment
//!   number and the same absolute deadline (`CallAgain`).
//! - The same orders open at another provider or channel, or for a payer with other binding
//!   details (a JSAPI prepay belongs to one openid, an H5 link to one network): close that
//!   trade at its provider first, then start a new payment (`CloseThenNew`); a provider
//!   cannot reopen one trade number with other parameters, and a bound action must never
//!   reach another payer.
//! - Orders in open payments that are not exactly the requested set (a combined payment
//!   A+B when A alone is asked for, or A+C): the same switch, for every such payment.
//! - No open payment: a new payment (`New`).

use std::collections::BTreeSet;

/// A payer detail a provider may bind its action to (contract `payer-binding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayerDetail {
    OpenId,
    ClientIp,
}

/// A fingerprint of the payer details `binds` names, with the payer's values: lower-case hex
/// SHA-256 over each bound detail's name and length-prefixed value (so no value can pass
/// for another), `""` when the channel binds nothing. Two pay requests may share one action
/// exactly when their fingerprints are equal; only equality is needed, so the openid and
/// the IP address themselves are not kept.
pub fn payer_binding(
    binds: &[PayerDetail],
    open_id: Option<&str>,
    client_ip: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    if binds.is_empty() {
        return String::new();
    }
    let mut hash = Sha256::new();
    for (detail, name, value) in [
        (PayerDetail::OpenId, "open_id", open_id),
        (PayerDetail::ClientIp, "client_ip", client_ip),
    ] {
        if binds.contains(&detail) {
            let value = value.unwrap_or_default().as_bytes();
            hash.update(name.as_bytes());
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(value);
        }
    }
    hex::encode(hash.finalize())
}

/// Whether a stored action may be handed out again at `now_ms`: it exists, the provider
/// deadline has not passed, and, when the provider said until when it honours the action,
/// at least `margin_ms` of that lifetime remain (the payer needs time to scan and pay).
pub fn action_reusable(
    stored: bool,
    action_expires_at_ms: Option<i64>,
    provider_deadline_ms: i64,
    now_ms: i64,
    margin_ms: i64,
) -> bool {
    stored
        && now_ms < provider_deadline_ms
        && action_expires_at_ms.is_none_or(|expiry| now_ms < expiry - margin_ms)
}

/// What the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayTarget<'a> {
    pub provider: &'a str,
    pub channel: &'a str,
    pub order_ids: BTreeSet<&'a str>,
    /// [`payer_binding`] of the request's payer for the channel.
    pub payer_binding: &'a str,
}

/// An open payment one of the requested orders is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPayment<'a> {
    pub payment_no: &'a str,
    pub provider: &'a str,
    pub channel: &'a str,
    pub order_ids: BTreeSet<&'a str>,
    /// [`payer_binding`] of the payer the stored action was made for.
    pub payer_binding: &'a str,
    /// [`action_reusable`] now.
    pub action_valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepayDecision {
    New,
    Reuse { payment_no: String },
    CallAgain { payment_no: String },
    CloseThenNew { close: Vec<String> },
}

/// The repay rule. `open` holds each distinct open payment of the requested orders once.
pub fn decide(target: &PayTarget<'_>, open: &[OpenPayment<'_>]) -> RepayDecision {
    match open {
        [] => RepayDecision::New,
        [p] if p.order_ids == target.order_ids
            && p.provider == target.provider
            && p.channel == target.channel
            && p.payer_binding == target.payer_binding =>
        {
            if p.action_valid {
                RepayDecision::Reuse {
                    payment_no: p.payment_no.to_owned(),
                }
            } else {
                RepayDecision::CallAgain {
                    payment_no: p.payment_no.to_owned(),
                }
            }
        }
        // Another provider, channel, payer or set of orders: every open trade of these
        // orders closes first, then one new payment covers exactly the requested orders.
        _ => RepayDecision::CloseThenNew {
            close: open.iter().map(|p| p.payment_no.to_owned()).collect(),
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
            payer_binding: "",
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
            payer_binding: "",
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
    fn overlapping_open_payments_close_first_like_a_switch() {
        // A alone open, A+B asked for.
        let p = open("P1", "mock", "web", &["o1"], true);
        assert_eq!(
            decide(&target("mock", "web", &["o1", "o2"]), &[p]),
            RepayDecision::CloseThenNew {
                close: vec!["P1".into()]
            }
        );
        // A and B open on their own, A+B asked for: both close.
        let a = open("P1", "mock", "web", &["o1"], true);
        let b = open("P2", "mock", "web", &["o2"], true);
        assert_eq!(
            decide(&target("mock", "web", &["o1", "o2"]), &[a, b]),
            RepayDecision::CloseThenNew {
                close: vec!["P1".into(), "P2".into()]
            }
        );
        // A+B open, A alone asked for (same provider and channel).
        let combined = open("P3", "mock", "web", &["o1", "o2"], true);
        assert_eq!(
            decide(&target("mock", "web", &["o1"]), &[combined]),
            RepayDecision::CloseThenNew {
                close: vec!["P3".into()]
            }
        );
    }

    #[test]
    fn another_payer_never_receives_a_bound_action() {
        let mut p = open("P1", "wechat", "jsapi", &["o1"], true);
        p.payer_binding = "fingerprint-of-oA";
        let mut t = target("wechat", "jsapi", &["o1"]);
        t.payer_binding = "fingerprint-of-oB";
        assert_eq!(
            decide(&t, &[p.clone()]),
            RepayDecision::CloseThenNew {
                close: vec!["P1".into()]
            }
        );
        t.payer_binding = "fingerprint-of-oA";
        assert_eq!(
            decide(&t, &[p]),
            RepayDecision::Reuse {
                payment_no: "P1".into()
            }
        );
    }

    #[test]
    fn the_binding_covers_only_what_the_channel_binds_and_keeps_no_raw_value() {
        use PayerDetail::*;
        assert_eq!(payer_binding(&[], Some("oA"), Some("1.2.3.4")), "");
        let a = payer_binding(&[OpenId], Some("oA"), Some("1.2.3.4"));
        assert_eq!(
            a,
            payer_binding(&[OpenId], Some("oA"), Some("5.6.7.8")),
            "the IP is not bound"
        );
        assert_ne!(a, payer_binding(&[OpenId], Some("oB"), Some("1.2.3.4")));
        assert_ne!(
            payer_binding(&[ClientIp], Some("oA"), Some("1.2.3.4")),
            payer_binding(&[ClientIp], Some("oA"), Some("1.2.3.5"))
        );
        assert_eq!(
            payer_binding(&[ClientIp, OpenId], Some("oA"), Some("::1")),
            payer_binding(&[OpenId, ClientIp], Some("oA"), Some("::1")),
            "the order of the channel's list does not matter"
        );
        // One value cannot pass for two: lengths are part of the fingerprint.
        assert_ne!(
            payer_binding(&[OpenId, ClientIp], Some("oA"), Some("")),
            payer_binding(&[OpenId, ClientIp], Some(""), Some("oA"))
        );
        assert!(!a.contains("oA") && a.len() == 64, "{a}");
    }

    #[test]
    fn a_stored_action_is_reusable_until_its_own_expiry_minus_the_margin() {
        let deadline = 10_000_000;
        // No lifetime given (a 1.0.0 adapter): until the provider deadline.
        assert!(action_reusable(true, None, deadline, deadline - 1, 60_000));
        assert!(!action_reusable(true, None, deadline, deadline, 60_000));
        // WeChat h5_url: 5 minutes from the call, whatever the deadline.
        let expiry = 300_000;
        assert!(action_reusable(
            true,
            Some(expiry),
            deadline,
            239_999,
            60_000
        ));
        assert!(!action_reusable(
            true,
            Some(expiry),
            deadline,
            240_000,
            60_000
        ));
        // The provider deadline still wins when it comes first.
        assert!(!action_reusable(
            true,
            Some(deadline + 1),
            deadline,
            deadline,
            0
        ));
        // Nothing stored: nothing to reuse.
        assert!(!action_reusable(false, None, deadline, 0, 0));
    }
}
