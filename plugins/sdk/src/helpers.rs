//! The pure helpers every adapter needs: settings by name, headers without regard to case,
//! lower-case hex, random nonces, the time, and HTTP verbs as providers sign them.

use crate::http::Method;
use crate::{ChannelSpec, Config, PayerBinding, ProviderError, UnixSeconds};

/// A channel for `AdapterInfo::channels`: its name and the payer details the provider binds
/// its action to (`&[]` for none; `&[PayerBinding::OpenId]` for a WeChat JSAPI prepay).
pub fn channel(name: &str, binds: &[PayerBinding]) -> ChannelSpec {
    ChannelSpec {
        name: name.to_owned(),
        binds: binds.to_vec(),
    }
}

/// The value of setting `name` in the merchant's configuration, if it has one.
pub fn setting<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .settings
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The value of setting `name`, or a [`ProviderError::Config`] naming it if the merchant's
/// configuration lacks it or has it empty.
pub fn required_setting<'a>(config: &'a Config, name: &str) -> Result<&'a str, ProviderError> {
    match setting(config, name) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(ProviderError::Config(format!(
            "setting `{name}` is empty in merchant {}'s configuration",
            config.merchant_id
        ))),
        None => Err(ProviderError::Config(format!(
            "setting `{name}` is missing from merchant {}'s configuration",
            config.merchant_id
        ))),
    }
}

/// The value of the first header called `name`, compared without regard to ASCII case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `bytes` as lower-case hex, two digits a byte.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex digits (either case); `None` if `text` has an odd length or a non-hex
/// character.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

/// A random string of `len` characters of `[0-9A-Za-z]`, each equally likely, for request
/// nonces. The randomness is WASI's (the host's generator). Fails with
/// [`ProviderError::Unreachable`] (nothing was sent) if the host gives no random bytes.
pub fn nonce(len: usize) -> Result<String, ProviderError> {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Bytes at or above 248 (= 4 * 62) are dropped so that every character is equally likely.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| {
            ProviderError::Unreachable(format!("no random bytes from the host for a nonce: {e}"))
        })?;
        out.extend(
            buf.iter()
                .filter(|b| **b < LIMIT)
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .take(len - out.len()),
        );
    }
    Ok(out)
}

/// Seconds since the Unix epoch, from the WASI wall clock (0 if the clock is before 1970).
pub fn unix_now() -> UnixSeconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The method's upper-case name (`POST`), as providers put it in signed messages.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(settings: &[(&str, &str)]) -> Config {
        Config {
            merchant_id: "m1".into(),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn hex_encodes_lower_case_and_round_trips() {
        assert_eq!(hex_encode(&[]), "");
        assert_eq!(hex_encode(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&all)), Some(all));
    }

    #[test]
    fn hex_decodes_either_case_and_refuses_non_hex() {
        assert_eq!(hex_decode("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(hex_decode(""), Some(vec![]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("é0"), None);
    }

    #[test]
    fn settings_are_looked_up_by_exact_name() {
        let c = config(&[("base_url", "http://h"), ("empty", " "), ("Case", "x")]);
        assert_eq!(setting(&c, "base_url"), Some("http://h"));
        assert_eq!(setting(&c, "case"), None);
        assert_eq!(setting(&c, "nope"), None);
        assert_eq!(required_setting(&c, "base_url"), Ok("http://h"));
    }

    #[test]
    fn a_missing_or_empty_required_setting_is_a_config_error_naming_it() {
        let c = config(&[("empty", "")]);
        match required_setting(&c, "account_id") {
            Err(ProviderError::Config(m)) => {
                assert!(m.contains("`account_id`") && m.contains("missing"), "{m}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
        match required_setting(&c, "empty") {
            Err(ProviderError::Config(m)) => assert!(m.contains("`empty` is empty"), "{m}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn headers_are_found_without_regard_to_case() {
        let headers = vec![
            ("X-Sandbox-Nonce".to_owned(), "n1".to_owned()),
            ("x-sandbox-nonce".to_owned(), "n2".to_owned()),
        ];
        assert_eq!(header(&headers, "x-sandbox-nonce"), Some("n1"));
        assert_eq!(header(&headers, "X-SANDBOX-NONCE"), Some("n1"));
        assert_eq!(header(&headers, "x-other"), None);
    }

    #[test]
    fn nonces_are_alphanumeric_of_the_asked_length_and_differ() {
        for len in [0, 1, 16, 24, 32, 200] {
            let n = nonce(len).expect("randomness");
            assert_eq!(n.len(), len);
            assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()), "{n}");
        }
        assert_ne!(nonce(24), nonce(24));
    }

    #[test]
    fn the_clock_is_after_2023() {
        assert!(unix_now() > 1_700_000_000);
    }

    #[test]
    fn methods_are_named_in_upper_case() {
        assert_eq!(method_name(Method::Get), "GET");
        assert_eq!(method_name(Method::Post), "POST");
        assert_eq!(method_name(Method::Put), "PUT");
        assert_eq!(method_name(Method::Delete), "DELETE");
        assert_eq!(method_name(Method::Patch), "PATCH");
    }
}
