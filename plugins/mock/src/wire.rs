//! The sandbox provider's wire format (`PROTOCOL.md`): JSON bodies, signature messages, and
//! the maps from its states and error codes to the contract's.

use serde::{Deserialize, Serialize};

use paygate_sdk::{Money, ProviderError, Rejection, TradeState};

/// `POST /api/trades`.
#[derive(Debug, Serialize)]
pub struct CreateTrade<'a> {
    pub payment_no: &'a str,
    pub amount: u64,
    pub currency: &'a str,
    pub subject: &'a str,
    pub channel: &'a str,
    pub expires_at: i64,
    pub notify_url: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct TradeCreated {
    pub trade_id: String,
    pub pay_url: String,
}

/// `GET /api/trades/{payment_no}`, and the body of a notification.
#[derive(Debug, Deserialize)]
pub struct Trade {
    pub payment_no: String,
    pub trade_id: Option<String>,
    pub state: String,
    pub currency: String,
    pub paid_amount: Option<u64>,
    pub paid_at: Option<i64>,
}

/// `POST /api/trades/{payment_no}/refunds`.
#[derive(Debug, Serialize)]
pub struct CreateRefund<'a> {
    pub refund_no: &'a str,
    pub amount: u64,
    pub currency: &'a str,
    pub reason: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct RefundCreated {
    pub refund_no: String,
    pub refund_id: Option<String>,
    pub state: String,
    pub amount: Option<u64>,
}

/// A refusal: `{"code", "message"}`.
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
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = format!("{method}\n{path}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// What a notification signs: `TIMESTAMP\nNONCE\nBODY`.
pub fn notification_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The path part of `url` (what the sandbox signs), without query string.
pub fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('?').next().unwrap_or(path)
}

pub fn trade_state(state: &str) -> Option<TradeState> {
    match state {
        "open" => Some(TradeState::Open),
        "paid" => Some(TradeState::Paid),
        "closed" => Some(TradeState::Closed),
        "refunded" => Some(TradeState::Refunded),
        _ => None,
    }
}

pub fn paid_amount(trade: &Trade) -> Option<Money> {
    trade.paid_amount.map(|minor| Money {
        minor,
        currency: trade.currency.clone(),
    })
}

/// Maps a non-2xx answer to the error the host acts on.
pub fn error_for(status: u16, body: &[u8]) -> ProviderError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    let message = parsed
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    match (status, code) {
        (409, "TRADE_PAID") => ProviderError::AlreadyPaid,
        (409, "TRADE_CLOSED") => ProviderError::AlreadyClosed,
        (404, _) => ProviderError::NotFound,
        (401, _) => ProviderError::Config(
            "the sandbox refused the signature: check account_id and api_key".into(),
        ),
        (500..=599, _) => {
            ProviderError::Unreachable(format!("sandbox answered HTTP {status} {code} {message}"))
        }
        (_, "") => ProviderError::Unreachable(format!(
            "sandbox answered HTTP {status} without an error code"
        )),
        _ => ProviderError::Rejected(Rejection {
            code: code.to_owned(),
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_message_is_method_path_timestamp_nonce_body() {
        let m = request_message(
            "POST",
            "/sandbox/api/trades",
            1700000000,
            "abc",
            b"{\"a\":1}",
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
    fn signed_path_drops_scheme_host_and_query() {
        assert_eq!(
            path_of("http://127.0.0.1:8080/sandbox/api/trades?x=1"),
            "/sandbox/api/trades"
        );
        assert_eq!(path_of("https://h"), "/");
    }

    #[test]
    fn states_map_to_the_contract() {
        assert_eq!(trade_state("open"), Some(TradeState::Open));
        assert_eq!(trade_state("paid"), Some(TradeState::Paid));
        assert_eq!(trade_state("closed"), Some(TradeState::Closed));
        assert_eq!(trade_state("refunded"), Some(TradeState::Refunded));
        assert_eq!(trade_state("weird"), None);
    }

    #[test]
    fn errors_map_to_what_the_host_can_do() {
        let body = |code: &str| format!("{{\"code\":\"{code}\",\"message\":\"m\"}}").into_bytes();
        assert!(matches!(
            error_for(409, &body("TRADE_PAID")),
            ProviderError::AlreadyPaid
        ));
        assert!(matches!(
            error_for(409, &body("TRADE_CLOSED")),
            ProviderError::AlreadyClosed
        ));
        assert!(matches!(
            error_for(404, &body("TRADE_NOT_FOUND")),
            ProviderError::NotFound
        ));
        assert!(matches!(
            error_for(401, &body("SIGNATURE_INVALID")),
            ProviderError::Config(_)
        ));
        assert!(matches!(
            error_for(502, b"bad gateway"),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(
            error_for(400, b"not json"),
            ProviderError::Unreachable(_)
        ));
        match error_for(400, &body("PARAM_MISMATCH")) {
            ProviderError::Rejected(r) => assert_eq!(r.code, "PARAM_MISMATCH"),
            other => panic!("expected rejected, got {other:?}"),
        }
    }
}
