//! Helpers every adapter needs: settings, headers, hex, nonces, time, JSON over HTTP.

use serde::de::DeserializeOwned;

use crate::bindings::paygate::provider::http::{self, Method, Request, Response};
use crate::{Config, ProviderError};

/// The value of setting `name` in the merchant's configuration.
pub fn setting<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .settings
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The value of a required setting, or a `config` error naming it.
pub fn required_setting<'a>(config: &'a Config, name: &str) -> Result<&'a str, ProviderError> {
    setting(config, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProviderError::Config(format!("setting `{name}` is missing")))
}

/// The first header called `name`, compared without regard to case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Decodes hex (either case); `None` if it is not hex.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// A random string of `len` characters of `[0-9A-Za-z]`, for request nonces.
pub fn nonce(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    // WASI random cannot fail in the host paygate provides; a zero buffer would still be
    // a valid (if predictable) nonce rather than a crash.
    let _ = getrandom::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Seconds since the Unix epoch, from the WASI clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Sends a request through the host and maps transport failures: a host that is not in
/// the allowlist is a configuration error; anything else leaves the outcome unknown.
pub fn send(
    method: Method,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<Response, ProviderError> {
    http::send(&Request {
        method,
        url: url.to_owned(),
        headers,
        body,
    })
    .map_err(|e| match e {
        http::Error::Denied(m) => {
            ProviderError::Config(format!("the host refused the request: {m}"))
        }
        http::Error::Invalid(m) => ProviderError::Config(format!("invalid request: {m}")),
        http::Error::Timeout => ProviderError::Unreachable(format!("no answer from {url} in time")),
        http::Error::Connection(m) => {
            ProviderError::Unreachable(format!("cannot reach {url}: {m}"))
        }
        http::Error::TooLarge => {
            ProviderError::Unreachable(format!("the answer from {url} was too large"))
        }
    })
}

/// Parses a JSON response body; an unparseable body from the provider leaves the outcome
/// unknown.
pub fn json_body<T: DeserializeOwned>(response: &Response) -> Result<T, ProviderError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::Unreachable(format!("unreadable answer (HTTP {}): {e}", response.status))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }

    #[test]
    fn settings_and_headers_are_looked_up_by_name() {
        let config = Config {
            merchant_id: "m".into(),
            settings: vec![("a".into(), "1".into()), ("empty".into(), String::new())],
        };
        assert_eq!(setting(&config, "a"), Some("1"));
        assert!(required_setting(&config, "a").is_ok());
        assert!(matches!(
            required_setting(&config, "b"),
            Err(ProviderError::Config(_))
        ));
        assert!(matches!(
            required_setting(&config, "empty"),
            Err(ProviderError::Config(_))
        ));
        let headers = vec![("X-Sandbox-Nonce".to_owned(), "n".to_owned())];
        assert_eq!(header(&headers, "x-sandbox-nonce"), Some("n"));
        assert_eq!(header(&headers, "x-other"), None);
    }

    #[test]
    fn nonces_are_alphanumeric_of_the_asked_length() {
        let n = nonce(24);
        assert_eq!(n.len(), 24);
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
