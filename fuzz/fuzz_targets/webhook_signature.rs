//! Signature checks of signed messages from outside: the check of `Paygate-Signature` that
//! the README gives merchants (copied here word for word: merchants mirror it), against
//! paygate's own signer; and the sandbox provider's check of the requests adapters sign
//! (headers, freshness, nonce, hex HMAC).
//!
//! Input: header lines, a blank line, the body. `paygate-signature` is checked against the
//! body with a fixed secret (and must verify when paygate signed it); the `x-sandbox-*`
//! headers are checked as the sandbox checks a request.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use paygate::service::webhooks::signature;
use sandbox_simulator::sign;
use sha2::Sha256;

/// The clock both checks run against (the seeds' timestamps are near it).
const NOW: i64 = 1_700_000_000;
const SECRET: &str = "whsec_fuzz";

/// The README's "Verifying a webhook" snippet.
fn verify(secret: &str, signature_header: &str, raw_body: &str, now_secs: i64) -> bool {
    let (mut t, mut v1) = ("", "");
    for part in signature_header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v,
            Some(("v1", v)) => v1 = v,
            _ => {}
        }
    }
    // Refuse old deliveries replayed later.
    // (`abs_diff`: `now_secs - t` would overflow for a `t` near i64::MIN.)
    if t.parse::<i64>()
        .map_or(true, |t| now_secs.abs_diff(t) > 300)
    {
        return false;
    }
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{raw_body}").as_bytes());
    mac.verify_slice(&expected).is_ok() // constant-time
}

fuzz_target!(|data: &[u8]| {
    let (headers, body) = paygate_fuzz::message(data);
    let body_text = String::from_utf8_lossy(body);
    if let Some((_, header)) = headers.iter().find(|(n, _)| n == "paygate-signature") {
        let _ = verify(SECRET, header, &body_text, NOW);
    }
    // What paygate signs now verifies, whatever the body.
    assert!(verify(
        SECRET,
        &signature(SECRET, NOW, &body_text),
        &body_text,
        NOW
    ));

    let mut map = HeaderMap::new();
    for (name, value) in &headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    if let Ok(signed) = sign::checked_headers(&map, NOW) {
        let message = sign::request_message(
            "POST",
            "/sandbox/api/trades",
            &signed.timestamp,
            &signed.nonce,
            body,
        );
        let _ = sign::verify("sk_fuzz", &message, &signed.signature);
    }
});
