//! The protocol's HMAC-SHA256 signatures: checking a signed `/api/` request (the `Signed`
//! extractor) and signing a notification.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::SandboxError;
use crate::Sandbox;

type HmacSha256 = Hmac<Sha256>;

pub const ACCOUNT_HEADER: &str = "x-sandbox-account";
pub const TIMESTAMP_HEADER: &str = "x-sandbox-timestamp";
pub const NONCE_HEADER: &str = "x-sandbox-nonce";
pub const SIGNATURE_HEADER: &str = "x-sandbox-signature";

/// How far a request's timestamp may be from the sandbox's clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// `METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY`: what an adapter signs.
pub fn request_message(
    method: &str,
    path: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = format!("{method}\n{path}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// `TIMESTAMP \n NONCE \n BODY`: what the sandbox signs in a notification.
pub fn notification_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

fn mac(key: &str, message: &[u8]) -> Result<HmacSha256, SandboxError> {
    // HMAC takes keys of any length, so this cannot fail; no reason to panic if it ever did.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes())
        .map_err(|_| SandboxError::Corrupt("unusable HMAC key".into()))?;
    mac.update(message);
    Ok(mac)
}

/// Lower-case hex of HMAC-SHA256(key, message).
pub fn sign(key: &str, message: &[u8]) -> Result<String, SandboxError> {
    Ok(hex::encode(mac(key, message)?.finalize().into_bytes()))
}

/// Whether `signature_hex` is HMAC-SHA256(key, message), compared in constant time.
pub fn verify(key: &str, message: &[u8], signature_hex: &str) -> Result<bool, SandboxError> {
    let Ok(signature) = hex::decode(signature_hex) else {
        return Ok(false);
    };
    Ok(mac(key, message)?.verify_slice(&signature).is_ok())
}

/// A nonce is 16-32 characters of `[0-9A-Za-z]` (PROTOCOL.md).
fn nonce_is_well_formed(nonce: &str) -> bool {
    (16..=32).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A request under `/api/` whose signature verified: the calling account and the raw body.
/// As the body's consumer it must be a handler's last argument.
#[derive(Debug)]
pub struct Signed {
    pub account_id: String,
    pub body: Bytes,
}

impl FromRequest<Sandbox> for Signed {
    type Rejection = SandboxError;

    async fn from_request(req: Request, sandbox: &Sandbox) -> Result<Self, Self::Rejection> {
        let method = req.method().as_str().to_owned();
        // Inside `nest` the URI has the mount prefix stripped; the adapter signed the public
        // path (`/sandbox/api/...`), which is our public base's path plus what is left.
        let path = format!("{}{}", sandbox.base_path, req.uri().path());
        let headers = checked_headers(req.headers(), now_secs())?;
        let body = Bytes::from_request(req, sandbox).await.map_err(|e| {
            SandboxError::InvalidRequest(format!("unreadable body: {}", e.body_text()))
        })?;
        let key = sandbox
            .account_key(&headers.account)
            .await?
            .ok_or(SandboxError::SignatureInvalid("unknown account"))?;
        let message = request_message(&method, &path, &headers.timestamp, &headers.nonce, &body);
        if !verify(&key, &message, &headers.signature)? {
            return Err(SandboxError::SignatureInvalid("signature does not verify"));
        }
        Ok(Signed {
            account_id: headers.account,
            body,
        })
    }
}

/// The four signature headers of a signed `/api/` request, present and valid UTF-8.
#[derive(Debug)]
pub struct SignatureHeaders {
    pub account: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

/// Reads a signed request's headers and checks everything that needs no key: all four
/// present, a timestamp in Unix seconds at most [`MAX_CLOCK_SKEW_SECS`] from `now`, a
/// well-formed nonce. The error says which check failed (401 `SIGNATURE_INVALID`).
pub fn checked_headers(headers: &HeaderMap, now: i64) -> Result<SignatureHeaders, SandboxError> {
    let get = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(SandboxError::SignatureInvalid("missing signature header"))
    };
    let headers = SignatureHeaders {
        account: get(ACCOUNT_HEADER)?,
        timestamp: get(TIMESTAMP_HEADER)?,
        nonce: get(NONCE_HEADER)?,
        signature: get(SIGNATURE_HEADER)?,
    };
    let timestamp: i64 = headers
        .timestamp
        .parse()
        .map_err(|_| SandboxError::SignatureInvalid("x-sandbox-timestamp is not Unix seconds"))?;
    // `abs_diff`: `now - timestamp` overflows for a timestamp near `i64::MIN`.
    if now.abs_diff(timestamp) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
        return Err(SandboxError::SignatureInvalid(
            "timestamp more than 300 s away from the sandbox's clock",
        ));
    }
    if !nonce_is_well_formed(&headers.nonce) {
        return Err(SandboxError::SignatureInvalid(
            "x-sandbox-nonce must be 16-32 characters of [0-9A-Za-z]",
        ));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: i64 = 1_700_000_000;

    fn headers(timestamp: &str, nonce: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (ACCOUNT_HEADER, "acct_demo"),
            (TIMESTAMP_HEADER, timestamp),
            (NONCE_HEADER, nonce),
            (SIGNATURE_HEADER, "00"),
        ] {
            headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    fn refusal(headers: &HeaderMap) -> String {
        match checked_headers(headers, NOW) {
            Err(SandboxError::SignatureInvalid(reason)) => reason.to_owned(),
            other => panic!("expected SIGNATURE_INVALID, got {other:?}"),
        }
    }

    #[test]
    fn fresh_headers_with_a_well_formed_nonce_are_read() {
        let read = checked_headers(&headers("1700000300", "c5ac7061fccab6bf"), NOW).expect("ok");
        assert_eq!(
            (
                read.account.as_str(),
                read.timestamp.as_str(),
                read.signature.as_str()
            ),
            ("acct_demo", "1700000300", "00")
        );
        assert!(refusal(&headers("1700000301", "c5ac7061fccab6bf")).contains("300 s"));
        assert!(refusal(&headers("1699999699", "c5ac7061fccab6bf")).contains("300 s"));
        assert!(refusal(&headers("1700000000", "short")).contains("nonce"));
        assert!(refusal(&HeaderMap::new()).contains("missing"));
    }

    /// `now - timestamp` overflowed for a timestamp near `i64::MIN`: a panic in a debug
    /// build; in a release build `now - 2^63` wrapped to a difference of `i64::MIN`, whose
    /// `abs()` is negative, and passed the clock check (the signature still had to verify).
    #[test]
    fn a_timestamp_at_the_ends_of_the_integers_is_refused_not_a_panic() {
        for at in [
            i64::MIN,
            i64::MIN + 1,
            NOW - (1 << 62) - (1 << 62),
            i64::MAX,
        ] {
            let reason = refusal(&headers(&at.to_string(), "c5ac7061fccab6bf"));
            assert!(reason.contains("300 s"), "{at}: {reason}");
        }
    }
}
