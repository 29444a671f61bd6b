//! The sandbox provider's wire format (`PROTOCOL.md`): its JSON bodies, the messages its
//! signatures cover, its notification headers, and the maps from its states and error
//! answers to the contract's. Everything here is pure, and unit-tested natively.

use serde::{Deserialize, Serialize};

use paygate_sdk::{
    header, hex_decode, Money, ProviderError, RefundState, RefundStatus, Rejection, TradeState,
    TradeStatus, UnixSeconds,
};

/// How far a notification's timestamp may be from our clock, either way (PROTOCOL.md).
pub const NOTIFICATION_WINDOW_SECS: i64 = 300;

/// The notification event the sandbox sends (the only one).
pub const PAID_EVENT: &str = "trade.paid";

pub const ACCOUNT_HEADER: &str = "x-sandbox-account";
pub const TIMESTAMP_HEADER: &str = "x-sandbox-timestamp";
pub const NONCE_HEADER: &str = "x-sandbox-nonce";
pub const SIGNATURE_HEADER: &str = "x-sandbox-signature";

/// `POST /api/trades`.
#[derive(Debug, Serialize)]
pub struct CreateTrade<'a> {
    pub payment_no: &'a str,
    pub amount: u64,
    pub currency: &'a str,
    pub subject: &'a str,
    pub channel: &'a str,
    pub expires_at: UnixSeconds,
    pub notify_url: &'a str,
    /// Where the checkout page sends the payer after paying (`payer.return-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<&'a str>,
}

/// The answer to `POST /api/trades`.
#[derive(Debug, Deserialize)]
pub struct TradeCreated {
    pub trade_id: String,
    pub pay_url: String,
}

/// The answer to `GET /api/trades/{payment_no}`.
#[derive(Debug, Deserialize)]
pub struct Trade {
    pub payment_no: String,
    pub trade_id: String,
    pub state: String,
    pub currency: String,
    pub paid_amount: Option<u64>,
    pub paid_at: Option<UnixSeconds>,
}

/// The body of the sandbox's notification.
#[derive(Debug, Deserialize)]
pub struct PaidNotification {
    pub event: String,
    pub payment_no: String,
    pub trade_id: String,
    pub state: String,
    pub currency: String,
    pub paid_amount: u64,
    pub paid_at: UnixSeconds,
}

/// `POST /api/trades/{payment_no}/refunds`.
#[derive(Debug, Serialize)]
pub struct CreateRefund<'a> {
    pub refund_no: &'a str,
    pub amount: u64,
    pub currency: &'a str,
    pub reason: Option<&'a str>,
}

/// The answer to `POST /api/trades/{payment_no}/refunds`.
#[derive(Debug, Deserialize)]
pub struct RefundCreated {
    pub refund_no: String,
    pub refund_id: String,
    pub state: String,
    pub amount: u64,
}

/// A refusal: `{"code", "message"}` with a 4xx status.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// What a signed request signs: `METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY`.
pub fn request_message(
    method: &str,
    path: &str,
    timestamp: UnixSeconds,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = format!("{method}\n{path}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// What a notification signs: `TIMESTAMP\nNONCE\nBODY`, the timestamp as the header gave it.
pub fn notification_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The path part of `url`, what the sandbox signs: no scheme, host or query string.
pub fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// `/api/trades/{payment_no}`. The number goes into a URL path, so it must be what the
/// contract promises (1-32 characters of `[0-9A-Za-z]`); anything else is refused before a
/// request is made.
pub fn trade_path(payment_no: &str) -> Result<String, ProviderError> {
    let well_formed = (1..=32).contains(&payment_no.len())
        && payment_no.bytes().all(|b| b.is_ascii_alphanumeric());
    if well_formed {
        Ok(format!("/api/trades/{payment_no}"))
    } else {
        Err(ProviderError::Unsupported(format!(
            "payment number `{payment_no}` is not 1-32 characters of [0-9A-Za-z]"
        )))
    }
}

/// The sandbox's trade states: `open`, `paid`, `closed`, `refunded`.
pub fn trade_state(state: &str) -> Option<TradeState> {
    match state {
        "open" => Some(TradeState::Open),
        "paid" => Some(TradeState::Paid),
        "closed" => Some(TradeState::Closed),
        "refunded" => Some(TradeState::Refunded),
        _ => None,
    }
}

/// The sandbox's refund states. It settles refunds at once (`succeeded`); the others are
/// mapped in case it ever reports them.
pub fn refund_state(state: &str) -> Option<RefundState> {
    match state {
        "succeeded" => Some(RefundState::Succeeded),
        "processing" => Some(RefundState::Processing),
        "failed" => Some(RefundState::Failed),
        _ => None,
    }
}

/// A queried trade as the contract reports it. An unknown state leaves the outcome unknown.
pub fn trade_status(trade: Trade) -> Result<TradeStatus, ProviderError> {
    let state = trade_state(&trade.state).ok_or_else(|| {
        ProviderError::Unreachable(format!(
            "the sandbox reported trade state `{}`",
            trade.state
        ))
    })?;
    Ok(TradeStatus {
        paid_amount: trade.paid_amount.map(|minor| Money {
            minor,
            currency: trade.currency,
        }),
        payment_no: trade.payment_no,
        state,
        provider_trade_id: Some(trade.trade_id),
        paid_at: trade.paid_at,
    })
}

/// A created refund as the contract reports it, in the refund's currency.
pub fn refund_status(
    payment_no: String,
    currency: &str,
    refund: RefundCreated,
) -> Result<RefundStatus, ProviderError> {
    let state = refund_state(&refund.state).ok_or_else(|| {
        ProviderError::Unreachable(format!(
            "the sandbox reported refund state `{}`",
            refund.state
        ))
    })?;
    Ok(RefundStatus {
        payment_no,
        refund_no: refund.refund_no,
        state,
        provider_refund_id: Some(refund.refund_id),
        amount: Some(Money {
            minor: refund.amount,
            currency: currency.to_owned(),
        }),
    })
}

/// A verified notification's body as the payment event it reports. A body that verified
/// but is not a `trade.paid` event in a known state is refused as `rejected`.
pub fn paid_notification(body: &[u8]) -> Result<TradeStatus, ProviderError> {
    let unreadable = |message: String| {
        ProviderError::Rejected(Rejection {
            code: "UNREADABLE_NOTIFICATION".to_owned(),
            message,
        })
    };
    let n: PaidNotification = serde_json::from_slice(body)
        .map_err(|e| unreadable(format!("not a sandbox notification: {e}")))?;
    if n.event != PAID_EVENT {
        return Err(unreadable(format!("unknown event `{}`", n.event)));
    }
    let state = trade_state(&n.state)
        .ok_or_else(|| unreadable(format!("unknown trade state `{}`", n.state)))?;
    Ok(TradeStatus {
        payment_no: n.payment_no,
        state,
        provider_trade_id: Some(n.trade_id),
        paid_amount: Some(Money {
            minor: n.paid_amount,
            currency: n.currency,
        }),
        paid_at: Some(n.paid_at),
    })
}

/// A notification's signature headers, checked for everything that needs no key: present,
/// from `account`, fresh at `now`, and a hex signature.
#[derive(Debug, PartialEq, Eq)]
pub struct NotificationHeaders<'a> {
    /// As sent: the signed message uses the header's text, not a re-rendered number.
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// The signature's bytes, hex-decoded.
    pub signature: Vec<u8>,
}

impl<'a> NotificationHeaders<'a> {
    /// The headers, or why the notification must be refused as a bad signature.
    pub fn read(
        headers: &'a [(String, String)],
        account: &str,
        now: UnixSeconds,
    ) -> Result<Self, String> {
        let get = |name: &str| header(headers, name).ok_or_else(|| format!("{name} is missing"));
        let from = get(ACCOUNT_HEADER)?;
        let timestamp = get(TIMESTAMP_HEADER)?;
        let nonce = get(NONCE_HEADER)?;
        let signature = get(SIGNATURE_HEADER)?;
        if from != account {
            return Err(format!("{ACCOUNT_HEADER} is not this merchant's account"));
        }
        let sent: UnixSeconds = timestamp
            .parse()
            .map_err(|_| format!("{TIMESTAMP_HEADER} is not Unix seconds"))?;
        if now.abs_diff(sent) > NOTIFICATION_WINDOW_SECS.unsigned_abs() {
            return Err(format!(
                "{TIMESTAMP_HEADER} is more than {NOTIFICATION_WINDOW_SECS} s away from our clock"
            ));
        }
        let signature =
            hex_decode(signature).ok_or_else(|| format!("{SIGNATURE_HEADER} is not hex"))?;
        Ok(NotificationHeaders {
            timestamp,
            nonce,
            signature,
        })
    }
}

/// Maps an answer that is not a 2xx to the error the host acts on.
pub fn error_for(status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message) = parsed.map(|e| (e.code, e.message)).unwrap_or_default();
    match (status, code.as_str()) {
        (409, "TRADE_PAID") => ProviderError::AlreadyPaid,
        (409, "TRADE_CLOSED") => ProviderError::AlreadyClosed,
        (404, "TRADE_NOT_FOUND") => ProviderError::NotFound,
        // A 404 without the sandbox's code is no trade's answer: the URL leads elsewhere.
        (404, _) => ProviderError::Config(
            "the sandbox has no such endpoint (HTTP 404 without TRADE_NOT_FOUND): check \
             sandbox_url, e.g. http://127.0.0.1:8080/sandbox"
                .to_owned(),
        ),
        // The sandbox's own words say which: an unknown account, or a key that is not its.
        (401, _) => {
            let words = if code.is_empty() {
                "HTTP 401".to_owned()
            } else {
                format!("{code}: {message}")
            };
            ProviderError::Config(format!(
                "the sandbox refused the signature ({words}): check account_id and api_key"
            ))
        }
        (500..=599, "") => {
            ProviderError::Unreachable(format!("the sandbox answered HTTP {status}"))
        }
        (500..=599, _) => ProviderError::Unreachable(format!(
            "the sandbox answered HTTP {status} {code}: {message}"
        )),
        (400..=499, "") => ProviderError::Unreachable(format!(
            "the sandbox answered HTTP {status} without an error code"
        )),
        (400..=499, _) => ProviderError::Rejected(Rejection { code, message }),
        _ => ProviderError::Unreachable(format!("the sandbox answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error_body(code: &str) -> Vec<u8> {
        format!(r#"{{"code":"{code}","message":"m"}}"#).into_bytes()
    }

    #[test]
    fn request_message_is_method_path_timestamp_nonce_body() {
        let m = request_message(
            "POST",
            "/sandbox/api/trades",
            1_700_000_000,
            "abc",
            br#"{"a":1}"#,
        );
        assert_eq!(
            m,
            b"POST\n/sandbox/api/trades\n1700000000\nabc\n{\"a\":1}".to_vec()
        );
        assert_eq!(
            request_message("GET", "/p", 1, "n", b""),
            b"GET\n/p\n1\nn\n".to_vec()
        );
    }

    #[test]
    fn notification_message_is_timestamp_nonce_body() {
        assert_eq!(
            notification_message("17", "n", b"{}"),
            b"17\nn\n{}".to_vec()
        );
    }

    #[test]
    fn the_signed_path_drops_scheme_host_and_query() {
        assert_eq!(
            path_of("http://127.0.0.1:8080/sandbox/api/trades?x=1"),
            "/sandbox/api/trades"
        );
        assert_eq!(
            path_of("https://h/sandbox/api/trades/P1/close"),
            "/sandbox/api/trades/P1/close"
        );
        assert_eq!(path_of("https://h"), "/");
    }

    #[test]
    fn trade_paths_take_contract_payment_numbers_only() {
        assert_eq!(
            trade_path("P20240101abc").as_deref(),
            Ok("/api/trades/P20240101abc")
        );
        for bad in ["", "a/b", "a?b", "../x", "é", &"x".repeat(33)] {
            assert!(
                matches!(trade_path(bad), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn trade_states_map_to_the_contract() {
        assert_eq!(trade_state("open"), Some(TradeState::Open));
        assert_eq!(trade_state("paid"), Some(TradeState::Paid));
        assert_eq!(trade_state("closed"), Some(TradeState::Closed));
        assert_eq!(trade_state("refunded"), Some(TradeState::Refunded));
        assert_eq!(trade_state("PAID"), None);
    }

    #[test]
    fn refund_states_map_to_the_contract() {
        assert_eq!(refund_state("succeeded"), Some(RefundState::Succeeded));
        assert_eq!(refund_state("processing"), Some(RefundState::Processing));
        assert_eq!(refund_state("failed"), Some(RefundState::Failed));
        assert_eq!(refund_state("done"), None);
    }

    #[test]
    fn a_queried_trade_reports_its_paid_amount_in_its_currency() {
        let trade: Trade = serde_json::from_str(
            r#"{"payment_no":"P1","trade_id":"T1","state":"paid","amount":100,"currency":"CNY",
                "paid_amount":100,"paid_at":1700000000,"refunded_amount":0}"#,
        )
        .expect("the protocol's query answer");
        assert_eq!(
            trade_status(trade),
            Ok(TradeStatus {
                payment_no: "P1".into(),
                state: TradeState::Paid,
                provider_trade_id: Some("T1".into()),
                paid_amount: Some(Money {
                    minor: 100,
                    currency: "CNY".into()
                }),
                paid_at: Some(1_700_000_000),
            })
        );
        let open: Trade = serde_json::from_str(
            r#"{"payment_no":"P1","trade_id":"T1","state":"open","amount":100,"currency":"CNY",
                "paid_amount":null,"paid_at":null,"refunded_amount":0}"#,
        )
        .expect("the protocol's query answer");
        let status = trade_status(open).expect("a known state");
        assert_eq!(
            (status.state, status.paid_amount, status.paid_at),
            (TradeState::Open, None, None)
        );
    }

    #[test]
    fn an_unknown_trade_or_refund_state_leaves_the_outcome_unknown() {
        let trade = Trade {
            payment_no: "P1".into(),
            trade_id: "T1".into(),
            state: "limbo".into(),
            currency: "CNY".into(),
            paid_amount: None,
            paid_at: None,
        };
        assert!(matches!(
            trade_status(trade),
            Err(ProviderError::Unreachable(_))
        ));
        let refund = RefundCreated {
            refund_no: "R1".into(),
            refund_id: "F1".into(),
            state: "limbo".into(),
            amount: 5,
        };
        assert!(matches!(
            refund_status("P1".into(), "CNY", refund),
            Err(ProviderError::Unreachable(_))
        ));
    }

    #[test]
    fn a_created_refund_reports_its_amount() {
        let refund: RefundCreated = serde_json::from_str(
            r#"{"payment_no":"P1","refund_no":"R1","refund_id":"F1","state":"succeeded","amount":40}"#,
        )
        .expect("the protocol's refund answer");
        assert_eq!(
            refund_status("P1".into(), "USD", refund),
            Ok(RefundStatus {
                payment_no: "P1".into(),
                refund_no: "R1".into(),
                state: RefundState::Succeeded,
                provider_refund_id: Some("F1".into()),
                amount: Some(Money {
                    minor: 40,
                    currency: "USD".into()
                }),
            })
        );
    }

    #[test]
    fn a_paid_notification_is_a_payment_event() {
        let body = br#"{"event":"trade.paid","payment_no":"P1","trade_id":"T1","state":"paid",
            "amount":100,"currency":"CNY","paid_amount":100,"paid_at":1700000000}"#;
        assert_eq!(
            paid_notification(body),
            Ok(TradeStatus {
                payment_no: "P1".into(),
                state: TradeState::Paid,
                provider_trade_id: Some("T1".into()),
                paid_amount: Some(Money {
                    minor: 100,
                    currency: "CNY".into()
                }),
                paid_at: Some(1_700_000_000),
            })
        );
    }

    #[test]
    fn a_notification_body_that_is_no_paid_event_is_rejected() {
        for body in [
            &b"not json"[..],
            br#"{"event":"trade.paid"}"#,
            br#"{"event":"trade.refunded","payment_no":"P1","trade_id":"T1","state":"paid",
                "amount":1,"currency":"CNY","paid_amount":1,"paid_at":1}"#,
            br#"{"event":"trade.paid","payment_no":"P1","trade_id":"T1","state":"weird",
                "amount":1,"currency":"CNY","paid_amount":1,"paid_at":1}"#,
        ] {
            assert!(matches!(
                paid_notification(body),
                Err(ProviderError::Rejected(Rejection { code, .. })) if code == "UNREADABLE_NOTIFICATION"
            ));
        }
    }

    #[test]
    fn notification_headers_are_checked_before_the_signature() {
        let now = 1_700_000_000;
        let good = [
            ("x-sandbox-account", "sbx_1"),
            ("x-sandbox-timestamp", "1700000100"),
            ("x-sandbox-nonce", "N0nce"),
            ("x-sandbox-signature", "00ff"),
        ];
        let h = headers(&good);
        assert_eq!(
            NotificationHeaders::read(&h, "sbx_1", now),
            Ok(NotificationHeaders {
                timestamp: "1700000100",
                nonce: "N0nce",
                signature: vec![0x00, 0xff],
            })
        );
        let with = |name: &str, value: &str| {
            headers(
                &good
                    .iter()
                    .map(|(k, v)| if *k == name { (*k, value) } else { (*k, *v) })
                    .collect::<Vec<_>>(),
            )
        };
        let refused = |h: &[(String, String)]| NotificationHeaders::read(h, "sbx_1", now).err();
        assert!(refused(&h[1..]).is_some_and(|r| r.contains("x-sandbox-account is missing")));
        assert!(refused(&with("x-sandbox-account", "sbx_2")).is_some_and(|r| r.contains("account")));
        assert!(refused(&with("x-sandbox-timestamp", "soon")).is_some_and(|r| r.contains("Unix")));
        assert!(refused(&with("x-sandbox-timestamp", "1700000301"))
            .is_some_and(|r| r.contains("300 s")));
        assert!(refused(&with("x-sandbox-timestamp", "1699999699"))
            .is_some_and(|r| r.contains("300 s")));
        assert!(refused(&with("x-sandbox-timestamp", "1699999700")).is_none());
        assert!(refused(&with("x-sandbox-signature", "xyz")).is_some_and(|r| r.contains("hex")));
    }

    #[test]
    fn error_answers_map_to_what_the_host_can_do() {
        assert_eq!(
            error_for(409, &error_body("TRADE_PAID")),
            ProviderError::AlreadyPaid
        );
        assert_eq!(
            error_for(409, &error_body("TRADE_CLOSED")),
            ProviderError::AlreadyClosed
        );
        assert_eq!(
            error_for(404, &error_body("TRADE_NOT_FOUND")),
            ProviderError::NotFound
        );
        assert_eq!(
            error_for(401, &error_body("SIGNATURE_INVALID")),
            ProviderError::Config(
                "the sandbox refused the signature (SIGNATURE_INVALID: m): check account_id and \
                 api_key"
                    .into()
            )
        );
        assert_eq!(
            error_for(409, &error_body("TRADE_NOT_PAID")),
            ProviderError::Rejected(Rejection {
                code: "TRADE_NOT_PAID".into(),
                message: "m".into()
            })
        );
        assert_eq!(
            error_for(400, &error_body("PARAM_MISMATCH")),
            ProviderError::Rejected(Rejection {
                code: "PARAM_MISMATCH".into(),
                message: "m".into()
            })
        );
        assert!(
            matches!(error_for(404, b""), ProviderError::Config(m) if m.contains("sandbox_url"))
        );
        assert!(matches!(
            error_for(500, &error_body("X")),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(
            error_for(502, b"bad gateway"),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(
            error_for(400, b"not json"),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(error_for(302, b""), ProviderError::Unreachable(_)));
    }
}
