//! The order state machine, and the rules a new order must satisfy.
//!
//! ```text
//! pending --pay--> paid --refund--> refunded
//!    |  \--expire--> closed
//!     \--cancel--> cancelled
//! ```
//! `closed`, `cancelled` and `refunded` are final. A payment reported for an order that is
//! no longer `pending` is not a transition: it is a late or double payment, which the
//! settlement rules turn into a refund or an operator flag.

use super::money::{Currency, Money, MoneyError};
use super::state::{named, Change, Transition};

named! {
    /// Where an order is in its life.
    pub enum OrderState {
        /// Created, not paid yet; its deadline has not been processed.
        Pending = "pending",
        /// Paid through one payment.
        Paid = "paid",
        /// The deadline passed unpaid.
        Closed = "closed",
        /// Cancelled by the merchant before it was paid.
        Cancelled = "cancelled",
        /// Paid, then refunded in full.
        Refunded = "refunded",
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    Pay,
    Expire,
    Cancel,
    Refund,
}

impl OrderEvent {
    pub const ALL: [OrderEvent; 4] = [
        OrderEvent::Pay,
        OrderEvent::Expire,
        OrderEvent::Cancel,
        OrderEvent::Refund,
    ];

    /// The event type of the webhook an order's move through this event emits.
    pub fn webhook_type(&self) -> &'static str {
        match self {
            OrderEvent::Pay => "order.paid",
            OrderEvent::Expire => "order.closed",
            OrderEvent::Cancel => "order.cancelled",
            OrderEvent::Refund => "order.refunded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("order is {from}; it cannot be {}", event_verb(*.event))]
    InvalidTransition { from: OrderState, event: OrderEvent },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The deadline comes before any payment could start (see [`check_ttl_outlasts_cutoff`]).
    #[error(
        "ttl_seconds {ttl_seconds} is {} the pay cut-off of {}: pays are refused in an order's last {1}, so no payment could start; {min_ttl_seconds} is the least that leaves one second to pay",
        if ttl_seconds.saturating_mul(1000) < *cutoff_ms { "shorter than" } else { "no longer than" },
        format_cutoff(*cutoff_ms)
    )]
    TtlBelowCutoff {
        ttl_seconds: i64,
        cutoff_ms: i64,
        min_ttl_seconds: i64,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

fn event_verb(e: OrderEvent) -> &'static str {
    match e {
        OrderEvent::Pay => "paid",
        OrderEvent::Expire => "closed",
        OrderEvent::Cancel => "cancelled",
        OrderEvent::Refund => "refunded",
    }
}

impl OrderState {
    /// A new order's state.
    pub const INITIAL: OrderState = OrderState::Pending;
    /// The state in which an order may join a payment: the one `Pay` moves from.
    pub const PAYABLE: OrderState = OrderState::Pending;

    /// Whether no event can move the order any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            OrderState::Closed | OrderState::Cancelled | OrderState::Refunded
        )
    }

    /// Applies `event`: the state machine above.
    pub fn apply(self, event: OrderEvent) -> Result<Transition<OrderState>, OrderError> {
        use OrderEvent as E;
        use OrderState as S;
        let to = |to| Ok(Transition::To(Change::new(self, to)));
        match (self, event) {
            (S::Pending, E::Pay) => to(S::Paid),
            (S::Pending, E::Expire) => to(S::Closed),
            (S::Pending, E::Cancel) => to(S::Cancelled),
            (S::Paid, E::Refund) => to(S::Refunded),
            (S::Paid, E::Pay)
            | (S::Closed, E::Expire)
            | (S::Cancelled, E::Cancel)
            | (S::Refunded, E::Refund) => Ok(Transition::Unchanged),
            (from, event) => Err(OrderError::InvalidTransition { from, event }),
        }
    }
}

/// Limits of the order fields, documented in the API.
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 3600;
pub const DEFAULT_TTL_SECONDS: i64 = 1800;
pub const MAX_SUBJECT_CHARS: usize = 256;
pub const MAX_OUT_TRADE_NO_CHARS: usize = 64;
pub const MAX_NOTIFY_URL_CHARS: usize = 1024;

/// The shortest `ttl_seconds` an order may have when a pay call is refused with less than
/// `cutoff_ms` left (`PAYGATE_REPAY_CUTOFF`): the first whole second past the cut-off. At
/// exactly the cut-off a pay would have to arrive the very millisecond the order is created,
/// so in practice none could start.
pub fn min_ttl_seconds(cutoff_ms: i64) -> i64 {
    cutoff_ms.max(0).div_euclid(1000) + 1
}

/// The creation rule beside the pay cut-off: an order whose deadline does not outlast the
/// cut-off would be refused `order_expiring` by every pay call, so it is refused at
/// creation, with both numbers and the shortest ttl that works.
pub fn check_ttl_outlasts_cutoff(ttl_seconds: i64, cutoff_ms: i64) -> Result<(), OrderError> {
    let min_ttl_seconds = min_ttl_seconds(cutoff_ms);
    if ttl_seconds < min_ttl_seconds {
        return Err(OrderError::TtlBelowCutoff {
            ttl_seconds,
            cutoff_ms,
            min_ttl_seconds,
        });
    }
    Ok(())
}

/// `60 s`, or `1500 ms` when the cut-off is not a whole number of seconds.
fn format_cutoff(cutoff_ms: i64) -> String {
    if cutoff_ms % 1000 == 0 {
        format!("{} s", cutoff_ms / 1000)
    } else {
        format!("{cutoff_ms} ms")
    }
}

/// A validated order request, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub out_trade_no: String,
    pub amount: Money,
    pub subject: String,
    pub ttl_seconds: i64,
    pub notify_url: Option<String>,
}

impl NewOrder {
    /// Checks every field of a create-order request; the first problem is reported with the
    /// field's name.
    pub fn validate(
        out_trade_no: &str,
        amount: i64,
        currency: &str,
        subject: &str,
        ttl_seconds: Option<i64>,
        notify_url: Option<&str>,
    ) -> Result<NewOrder, OrderError> {
        let invalid = |field, reason: &str| OrderError::Invalid {
            field,
            reason: reason.to_owned(),
        };
        if out_trade_no.is_empty() || out_trade_no.chars().count() > MAX_OUT_TRADE_NO_CHARS {
            return Err(invalid("out_trade_no", "must be 1 to 64 characters"));
        }
        if !out_trade_no
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-|*.".contains(c))
        {
            return Err(invalid(
                "out_trade_no",
                "may only contain letters, digits and _-|*.",
            ));
        }
        let currency = Currency::parse(currency)?;
        let amount = Money::new(amount, currency)?;
        let subject_chars = subject.chars().count();
        if subject.trim().is_empty() || subject_chars > MAX_SUBJECT_CHARS {
            return Err(invalid("subject", "must be 1 to 256 characters"));
        }
        if subject.chars().any(char::is_control) {
            return Err(invalid("subject", "must not contain control characters"));
        }
        let ttl_seconds = ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !(1..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
            return Err(invalid("ttl_seconds", "must be from 1 to 604800 (7 days)"));
        }
        if let Some(u) = notify_url {
            if !is_notify_url(u) {
                return Err(invalid(
                    "notify_url",
                    "must be an absolute http(s) URL of at most 1024 characters",
                ));
            }
        }
        Ok(NewOrder {
            out_trade_no: out_trade_no.to_owned(),
            amount,
            subject: subject.to_owned(),
            ttl_seconds,
            notify_url: notify_url.map(str::to_owned),
        })
    }
}

/// Whether `url` can be a webhook endpoint (an order's `notify_url`, a merchant's own): an
/// absolute http(s) URL with a host, at most [`MAX_NOTIFY_URL_CHARS`] long.
pub fn is_notify_url(url: &str) -> bool {
    url.len() <= MAX_NOTIFY_URL_CHARS
        && url::Url::parse(url)
            .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderState as S;

    #[test]
    fn every_state_and_event_pair_follows_the_state_machine() {
        for &from in S::ALL {
            for event in E::ALL {
                let to = |to| Some(Transition::To(Change::new(from, to)));
                let expected = match (from, event) {
                    (S::Pending, E::Pay) => to(S::Paid),
                    (S::Pending, E::Expire) => to(S::Closed),
                    (S::Pending, E::Cancel) => to(S::Cancelled),
                    (S::Paid, E::Refund) => to(S::Refunded),
                    (S::Paid, E::Pay) => Some(Transition::Unchanged),
                    (S::Closed, E::Expire) => Some(Transition::Unchanged),
                    (S::Cancelled, E::Cancel) => Some(Transition::Unchanged),
                    (S::Refunded, E::Refund) => Some(Transition::Unchanged),
                    _ => None,
                };
                match expected {
                    Some(t) => assert_eq!(from.apply(event), Ok(t), "{from:?} + {event:?}"),
                    None => assert_eq!(
                        from.apply(event),
                        Err(OrderError::InvalidTransition { from, event }),
                        "{from:?} + {event:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn closed_cancelled_and_refunded_orders_cannot_be_paid() {
        for from in [S::Closed, S::Cancelled, S::Refunded] {
            assert!(from.is_final());
            assert!(from.apply(E::Pay).is_err());
        }
        assert!(!S::Pending.is_final());
        assert!(!S::Paid.is_final());
    }

    #[test]
    fn a_paid_order_cannot_be_cancelled_or_closed() {
        assert!(S::Paid.apply(E::Cancel).is_err());
        assert!(S::Paid.apply(E::Expire).is_err());
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for &s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
        assert_eq!(S::parse("PAID"), None);
    }

    fn valid(
        amount: i64,
        currency: &str,
        subject: &str,
        ttl: Option<i64>,
    ) -> Result<NewOrder, OrderError> {
        NewOrder::validate(
            "A-1",
            amount,
            currency,
            subject,
            ttl,
            Some("https://shop.example/hook"),
        )
    }

    #[test]
    fn a_valid_order_gets_the_default_ttl() {
        let o = valid(100, "CNY", "Tea", None).expect("valid order");
        assert_eq!(o.ttl_seconds, DEFAULT_TTL_SECONDS);
        assert_eq!(o.amount.minor(), 100);
    }

    #[test]
    fn zero_negative_and_absurd_amounts_are_refused() {
        assert_eq!(
            valid(0, "CNY", "Tea", None),
            Err(OrderError::Money(MoneyError::NotPositive))
        );
        assert_eq!(
            valid(-5, "CNY", "Tea", None),
            Err(OrderError::Money(MoneyError::NotPositive))
        );
        assert_eq!(
            valid(i64::MAX, "CNY", "Tea", None),
            Err(OrderError::Money(MoneyError::TooLarge))
        );
    }

    #[test]
    fn unknown_currency_is_refused() {
        assert!(matches!(
            valid(1, "XYZ", "Tea", None),
            Err(OrderError::Money(MoneyError::UnknownCurrency(_)))
        ));
    }

    #[test]
    fn subject_must_be_short_printable_text() {
        let long = "x".repeat(MAX_SUBJECT_CHARS + 1);
        assert!(matches!(
            valid(1, "CNY", &long, None),
            Err(OrderError::Invalid {
                field: "subject",
                ..
            })
        ));
        assert!(matches!(
            valid(1, "CNY", "  ", None),
            Err(OrderError::Invalid {
                field: "subject",
                ..
            })
        ));
        assert!(matches!(
            valid(1, "CNY", "a\u{0}b", None),
            Err(OrderError::Invalid {
                field: "subject",
                ..
            })
        ));
        assert!(valid(1, "CNY", &"茶".repeat(MAX_SUBJECT_CHARS), None).is_ok());
    }

    #[test]
    fn ttl_must_be_within_one_second_and_seven_days() {
        assert!(valid(1, "CNY", "Tea", Some(1)).is_ok());
        assert!(valid(1, "CNY", "Tea", Some(MAX_TTL_SECONDS)).is_ok());
        for bad in [0, -1, MAX_TTL_SECONDS + 1] {
            assert!(matches!(
                valid(1, "CNY", "Tea", Some(bad)),
                Err(OrderError::Invalid {
                    field: "ttl_seconds",
                    ..
                })
            ));
        }
    }

    #[test]
    fn an_order_must_outlast_the_pay_cut_off_by_a_whole_second() {
        assert_eq!(min_ttl_seconds(60_000), 61);
        assert_eq!(min_ttl_seconds(1_000), 2);
        assert_eq!(min_ttl_seconds(1_500), 2);
        assert_eq!(min_ttl_seconds(0), 1);
        assert_eq!(check_ttl_outlasts_cutoff(61, 60_000), Ok(()));
        assert_eq!(check_ttl_outlasts_cutoff(1, 0), Ok(()));
        for ttl in [30, 59, 60] {
            assert_eq!(
                check_ttl_outlasts_cutoff(ttl, 60_000),
                Err(OrderError::TtlBelowCutoff {
                    ttl_seconds: ttl,
                    cutoff_ms: 60_000,
                    min_ttl_seconds: 61
                }),
                "{ttl}"
            );
        }
    }

    #[test]
    fn a_ttl_refused_for_the_cut_off_names_both_numbers_and_the_way_out() {
        let e = check_ttl_outlasts_cutoff(30, 60_000).expect_err("too short");
        assert_eq!(
            e.to_string(),
            "ttl_seconds 30 is shorter than the pay cut-off of 60 s: pays are refused in an order's last 60 s, so no payment could start; 61 is the least that leaves one second to pay"
        );
        let e = check_ttl_outlasts_cutoff(60, 60_000).expect_err("too short");
        assert_eq!(
            e.to_string(),
            "ttl_seconds 60 is no longer than the pay cut-off of 60 s: pays are refused in an order's last 60 s, so no payment could start; 61 is the least that leaves one second to pay"
        );
        let e = check_ttl_outlasts_cutoff(1, 1_500).expect_err("too short");
        assert!(e.to_string().contains("cut-off of 1500 ms"), "{e}");
    }

    #[test]
    fn out_trade_no_and_notify_url_are_checked() {
        let bad_no = NewOrder::validate("a b", 1, "CNY", "Tea", None, None);
        assert!(matches!(
            bad_no,
            Err(OrderError::Invalid {
                field: "out_trade_no",
                ..
            })
        ));
        let empty = NewOrder::validate("", 1, "CNY", "Tea", None, None);
        assert!(matches!(
            empty,
            Err(OrderError::Invalid {
                field: "out_trade_no",
                ..
            })
        ));
        for url in ["ftp://x.example/", "not a url", "/relative"] {
            let r = NewOrder::validate("A1", 1, "CNY", "Tea", None, Some(url));
            assert!(
                matches!(
                    r,
                    Err(OrderError::Invalid {
                        field: "notify_url",
                        ..
                    })
                ),
                "{url}"
            );
        }
    }
}
