//! Payments: the number the provider sees, a payment's states, and the pay window (the
//! repay cut-off and the provider's grace period).

use std::fmt;

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

/// Where a payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// A trade is (being) opened at the provider; the payer may pay it.
    Open,
    /// The provider reported it paid, with the right amount.
    Paid,
    /// Closed unpaid (at the provider too, or never opened there).
    Closed,
    /// The provider refused to open the trade.
    Failed,
    /// Paid, then refunded in full.
    Refunded,
}

impl PaymentState {
    pub const ALL: [PaymentState; 5] = [
        PaymentState::Open,
        PaymentState::Paid,
        PaymentState::Closed,
        PaymentState::Failed,
        PaymentState::Refunded,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentState::Open => "open",
            PaymentState::Paid => "paid",
            PaymentState::Closed => "closed",
            PaymentState::Failed => "failed",
            PaymentState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        for s in PaymentState::ALL {
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
