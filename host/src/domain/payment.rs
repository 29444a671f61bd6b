//! Payments: the number the provider sees, a payment's states, and the pay window (the
//! repay cut-off and the provider's grace period).

use std::fmt;

use super::state::{named, Change, InvalidTransition, Transition};

/// paygate's own number for a payment: what the provider sees as its trade number
/// (`out_trade_no`). At most 32 characters of `[0-9A-Za-z]`, which every provider accepts;
/// generated from a UUIDv7, so numbers sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentNo(String);

impl PaymentNo {
    pub fn generate() -> PaymentNo {
        PaymentNo(uuid::Uuid::now_v7().simple().to_string())
    }

    /// Accepts a number from outside (a URL path, a provider's notification).
    pub fn parse(s: &str) -> Option<PaymentNo> {
        let ok = !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| PaymentNo(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

named! {
    /// Where a payment is in its life.
    ///
    /// ```text
    /// open --pay--> paid --refund in full--> refunded
    ///   |\--close--> closed --pay late--> paid (flagged late_payment, refunded)
    ///    \--fail--> failed --pay late--> paid (idem)
    /// ```
    pub enum PaymentState {
        /// A trade is (being) opened at the provider; the payer may pay it.
        Open = "open",
        /// The provider reported it paid, with the right amount.
        Paid = "paid",
        /// Closed unpaid (at the provider too, or never opened there).
        Closed = "closed",
        /// The provider refused to open the trade.
        Failed = "failed",
        /// Paid, then refunded in full.
        Refunded = "refunded",
    }
}

/// What can happen to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The provider reports it paid with the payment's amount.
    Pay,
    /// Closed at the provider (or never opened there).
    Close,
    /// The provider refused to open the trade.
    Fail,
    /// Money arrived after paygate gave the payment up: recorded as paid, then refunded.
    PayLate,
    /// Its refunds add up to everything paid.
    RefundInFull,
}

impl PaymentEvent {
    pub const ALL: [PaymentEvent; 5] = [
        PaymentEvent::Pay,
        PaymentEvent::Close,
        PaymentEvent::Fail,
        PaymentEvent::PayLate,
        PaymentEvent::RefundInFull,
    ];
}

impl PaymentState {
    /// A new payment's state: its trade is being opened.
    pub const INITIAL: PaymentState = PaymentState::Open;
    /// The states a refund may be taken from: money was collected.
    pub const REFUNDABLE: [PaymentState; 2] = [PaymentState::Paid, PaymentState::Refunded];

    /// Whether a trade for it may still be paid at the provider.
    pub fn is_open(&self) -> bool {
        *self == PaymentState::Open
    }

    /// Whether money was collected (and maybe refunded since).
    pub fn collected(&self) -> bool {
        PaymentState::REFUNDABLE.contains(self)
    }

    /// Applies `event`: the state machine above.
    pub fn apply(
        self,
        event: PaymentEvent,
    ) -> Result<Transition<PaymentState>, InvalidTransition<PaymentState, PaymentEvent>> {
        use PaymentEvent as E;
        use PaymentState as S;
        let to = |to| Ok(Transition::To(Change::new(self, to)));
        match (self, event) {
            (S::Open, E::Pay) => to(S::Paid),
            (S::Open, E::Close) => to(S::Closed),
            (S::Open, E::Fail) => to(S::Failed),
            (S::Closed | S::Failed, E::PayLate) => to(S::Paid),
            (S::Paid, E::RefundInFull) => to(S::Refunded),
            (S::Paid, E::Pay | E::PayLate)
            | (S::Closed, E::Close)
            | (S::Failed, E::Fail)
            | (S::Refunded, E::RefundInFull) => Ok(Transition::Unchanged),
            (from, event) => Err(InvalidTransition {
                what: "payment",
                from,
                event,
            }),
        }
    }
}

named! {
    /// Why a payment waits for an operator. A flag about money (see [`PaymentFlag::replaces`])
    /// replaces the one there; `provider_refuses_queries` is set only on an unflagged
    /// payment.
    pub enum PaymentFlag {
        /// The provider collected another amount (or currency) than the payment's.
        AmountMismatch = "amount_mismatch",
        /// The provider reports a refund paygate did not ask for.
        UnexpectedRefund = "unexpected_refund",
        /// Paid after paygate closed it; refunded.
        LatePayment = "late_payment",
        /// Paid for orders another payment paid, or that were cancelled or closed; refunded.
        DoublePayment = "double_payment",
        /// Money paygate must not keep could not be refunded.
        RefundFailed = "refund_failed",
        /// The provider keeps refusing status queries at the deadline.
        ProviderRefusesQueries = "provider_refuses_queries",
    }
}

impl PaymentFlag {
    /// Whether this flag replaces one the payment already carries: every flag about money
    /// does (the latest is what the operator must act on: a late payment whose refund then
    /// failed reads `refund_failed`); a provider refusing queries only flags a payment that
    /// carries no flag.
    pub fn replaces(&self) -> bool {
        *self != PaymentFlag::ProviderRefusesQueries
    }
}

/// When a pay call may still reach the provider, and the deadline the provider gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayWindow {
    /// The absolute deadline sent to the provider: the orders' deadline plus the grace.
    pub provider_deadline_ms: i64,
    /// Time left before the displayed deadline.
    pub remaining_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Less than the cut-off remains: the provider would not have time to answer.
    #[error(
        "the order expires in {remaining_ms} ms, less than the {cutoff_ms} ms a payment needs"
    )]
    Expiring { remaining_ms: i64, cutoff_ms: i64 },
}

/// The pay-window rule: a pay call is refused when less than `cutoff_ms` remains before
/// `expires_at_ms`; otherwise the provider's deadline is `expires_at_ms + grace_ms`, the
/// same absolute instant on every repay (so a repay carries the remaining time only).
pub fn pay_window(
    expires_at_ms: i64,
    now_ms: i64,
    cutoff_ms: i64,
    grace_ms: i64,
) -> Result<PayWindow, WindowError> {
    let remaining_ms = expires_at_ms - now_ms;
    if remaining_ms < cutoff_ms {
        return Err(WindowError::Expiring {
            remaining_ms,
            cutoff_ms,
        });
    }
    Ok(PayWindow {
        provider_deadline_ms: expires_at_ms + grace_ms,
        remaining_ms,
    })
}

/// Checks the payer details a pay request carries, before any of them reaches a provider:
/// `client_ip` must be an IP address (WeChat binds an H5 link to it), `return_url` an
/// absolute http(s) URL (the provider sends the payer's browser there), `open_id` 1-128
/// printable ASCII characters. The refusal names the field.
pub fn check_payer(
    open_id: Option<&str>,
    client_ip: Option<&str>,
    return_url: Option<&str>,
) -> Result<(), String> {
    if let Some(id) = open_id {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("payer.open_id must be 1-128 printable ASCII characters".into());
        }
    }
    if let Some(ip) = client_ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "payer.client_ip `{}` is not an IP address",
                ip.chars().take(64).collect::<String>()
            ));
        }
    }
    if let Some(url) = return_url {
        let ok = url::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok || url.len() > 2048 {
            return Err(
                "payer.return_url must be an absolute http(s) URL of at most 2048 characters"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The longest note an operator may leave when resolving a flag, in characters.
pub const MAX_RESOLUTION_NOTE: usize = 1_000;

/// Why a flag cannot be resolved as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The payment carries no flag (resolved already, or never flagged).
    #[error("the payment carries no flag")]
    NotFlagged,
    /// The payment carries another flag than the one the operator read: a new event about
    /// its money came between (a late payment whose refund then failed). The operator reads
    /// it again before resolving.
    #[error("the payment's flag is now `{current}`, not the one being resolved")]
    Changed { current: PaymentFlag },
    /// The note is blank or longer than [`MAX_RESOLUTION_NOTE`] characters.
    #[error("a resolution needs a note of 1 to {MAX_RESOLUTION_NOTE} characters saying why")]
    Note,
}

/// The rule for an operator resolving a payment's flag: the payment must still carry the
/// flag the operator read (`expected`), and the operator says why in a note (trimmed, 1 to
/// [`MAX_RESOLUTION_NOTE`] characters). Resolving takes the flag off; the note, who and when
/// are kept beside it.
pub fn resolve_flag(
    current: Option<PaymentFlag>,
    expected: PaymentFlag,
    note: &str,
) -> Result<(), ResolveError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_RESOLUTION_NOTE {
        return Err(ResolveError::Note);
    }
    match current {
        None => Err(ResolveError::NotFlagged),
        Some(flag) if flag == expected => Ok(()),
        Some(current) => Err(ResolveError::Changed { current }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payer_details_are_checked_before_they_reach_a_provider() {
        assert_eq!(check_payer(None, None, None), Ok(()));
        assert_eq!(
            check_payer(
                Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
                Some("203.0.113.7"),
                Some("https://shop.example.com/paid?o=1")
            ),
            Ok(())
        );
        assert!(check_payer(None, Some("::1"), None).is_ok());
        assert!(check_payer(None, Some("not-an-ip"), None)
            .unwrap_err()
            .contains("client_ip"));
        assert!(check_payer(None, None, Some("javascript:alert(1)"))
            .unwrap_err()
            .contains("return_url"));
        assert!(check_payer(None, None, Some("/relative")).is_err());
        assert!(check_payer(Some(""), None, None)
            .unwrap_err()
            .contains("open_id"));
        assert!(check_payer(Some("o A"), None, None).is_err());
    }

    use super::*;

    #[test]
    fn generated_payment_numbers_fit_every_provider() {
        let a = PaymentNo::generate();
        let b = PaymentNo::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(PaymentNo::parse(a.as_str()), Some(a));
    }

    #[test]
    fn payment_numbers_from_outside_are_checked() {
        assert!(PaymentNo::parse("").is_none());
        assert!(PaymentNo::parse(&"a".repeat(33)).is_none());
        assert!(PaymentNo::parse("abc-123").is_none());
        assert!(PaymentNo::parse("../x").is_none());
        assert!(PaymentNo::parse("Abc123").is_some());
    }

    #[test]
    fn payment_states_round_trip_through_their_names() {
        for &s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentState::parse("OPEN"), None);
    }

    #[test]
    fn pay_within_window_gets_deadline_plus_grace() {
        let w = pay_window(100_000, 10_000, 60_000, 60_000).expect("inside the window");
        assert_eq!(w.provider_deadline_ms, 160_000);
        assert_eq!(w.remaining_ms, 90_000);
    }

    #[test]
    fn repay_later_keeps_the_same_absolute_deadline() {
        let first = pay_window(1_000_000, 0, 60_000, 60_000).expect("open");
        let again = pay_window(1_000_000, 500_000, 60_000, 60_000).expect("open");
        assert_eq!(first.provider_deadline_ms, again.provider_deadline_ms);
        assert!(again.remaining_ms < first.remaining_ms);
    }

    #[test]
    fn pay_refused_when_less_than_cutoff_remains() {
        assert_eq!(
            pay_window(100_000, 40_001, 60_000, 60_000),
            Err(WindowError::Expiring {
                remaining_ms: 59_999,
                cutoff_ms: 60_000
            })
        );
        assert!(
            pay_window(100_000, 40_000, 60_000, 60_000).is_ok(),
            "exactly the cut-off is still allowed"
        );
        assert!(
            pay_window(100_000, 200_000, 60_000, 60_000).is_err(),
            "past the deadline"
        );
    }

    #[test]
    fn every_payment_state_and_event_pair_follows_the_state_machine() {
        use PaymentEvent as E;
        use PaymentState as S;
        for &from in S::ALL {
            for event in E::ALL {
                let to = |to| Some(Transition::To(Change::new(from, to)));
                let expected = match (from, event) {
                    (S::Open, E::Pay) => to(S::Paid),
                    (S::Open, E::Close) => to(S::Closed),
                    (S::Open, E::Fail) => to(S::Failed),
                    (S::Closed, E::PayLate) => to(S::Paid),
                    (S::Failed, E::PayLate) => to(S::Paid),
                    (S::Paid, E::RefundInFull) => to(S::Refunded),
                    (S::Paid, E::Pay) => Some(Transition::Unchanged),
                    (S::Paid, E::PayLate) => Some(Transition::Unchanged),
                    (S::Closed, E::Close) => Some(Transition::Unchanged),
                    (S::Failed, E::Fail) => Some(Transition::Unchanged),
                    (S::Refunded, E::RefundInFull) => Some(Transition::Unchanged),
                    _ => None,
                };
                match expected {
                    Some(t) => assert_eq!(from.apply(event), Ok(t), "{from:?} + {event:?}"),
                    None => assert!(from.apply(event).is_err(), "{from:?} + {event:?}"),
                }
            }
        }
    }

    #[test]
    fn a_paid_payment_is_never_closed_or_failed() {
        assert!(PaymentState::Paid.apply(PaymentEvent::Close).is_err());
        assert!(PaymentState::Paid.apply(PaymentEvent::Fail).is_err());
        assert!(PaymentState::Refunded.apply(PaymentEvent::Close).is_err());
    }

    #[test]
    fn payment_states_and_flags_round_trip_through_their_names() {
        for &s in PaymentState::ALL {
            assert_eq!(PaymentState::parse(s.as_str()), Some(s));
        }
        for &f in PaymentFlag::ALL {
            assert_eq!(PaymentFlag::parse(f.as_str()), Some(f));
        }
        assert_eq!(PaymentFlag::parse("late"), None);
    }

    #[test]
    fn a_flag_is_resolved_only_as_read_and_with_a_reason() {
        use PaymentFlag::*;
        assert_eq!(
            resolve_flag(Some(LatePayment), LatePayment, "refund seen at WeChat"),
            Ok(())
        );
        assert_eq!(
            resolve_flag(None, LatePayment, "refund seen at WeChat"),
            Err(ResolveError::NotFlagged)
        );
        assert_eq!(
            resolve_flag(Some(RefundFailed), LatePayment, "refund seen at WeChat"),
            Err(ResolveError::Changed {
                current: RefundFailed
            })
        );
        for blank in ["", "   ", "\n\t"] {
            assert_eq!(
                resolve_flag(Some(LatePayment), LatePayment, blank),
                Err(ResolveError::Note)
            );
        }
        let long = "x".repeat(MAX_RESOLUTION_NOTE + 1);
        assert_eq!(
            resolve_flag(Some(LatePayment), LatePayment, &long),
            Err(ResolveError::Note)
        );
        let longest = "支".repeat(MAX_RESOLUTION_NOTE);
        assert_eq!(
            resolve_flag(Some(AmountMismatch), AmountMismatch, &longest),
            Ok(()),
            "characters, not bytes"
        );
    }
}

/// What the payer's device must do to pay, as paygate stores and returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PayAction {
    /// Show `content` as a QR code.
    QrCode { content: String },
    /// Send the payer's browser to `url`.
    Redirect { url: String },
    /// Render `html` (an auto-submitting form) in the payer's browser.
    HtmlForm { html: String },
    /// Hand `params` to the provider's app SDK or JS bridge.
    SdkParams {
        params: std::collections::BTreeMap<String, String>,
    },
}
