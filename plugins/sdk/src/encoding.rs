//! The text encodings providers sign and send: base64 (signatures, ciphertexts), and
//! `application/x-www-form-urlencoded` (form bodies, query strings, form notifications).
//! Byte for byte what the providers' own SDKs produce, because a signature covers bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// `bytes` in base64, RFC 4648's standard alphabet (`+`, `/`) with `=` padding: how WeChat
/// Pay writes `Authorization`'s and `paySign`'s signatures and Alipay its `sign`.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64 of the standard alphabet, padded; `None` for anything else: the URL-safe
/// alphabet, missing or extra padding, whitespace or line breaks, or non-zero bits after the
/// last byte (text that is not the one encoding of any bytes). A signature that arrives
/// otherwise was not written by the provider.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// `value` encoded as `application/x-www-form-urlencoded`, as Java's `URLEncoder.encode(_,
/// "UTF-8")` does it (Alipay's SDK builds its bodies and query strings with it: Java SDK
/// `WebUtils.buildQuery`): ASCII letters, digits and `.-*_` stay, a space becomes `+`,
/// every other byte of the UTF-8 text becomes `%XX` with upper-case hex (`~` too).
pub fn form_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// `name=value&...`, each name and value [`form_encode`]d, in the order given, every pair
/// kept (a provider that leaves out empty values filters them first).
pub fn query_string<'a>(pairs: impl IntoIterator<Item = &'a (String, String)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `base` with `query` appended (after `?`, or `&` if `base` has a query already); `base`
/// unchanged if `query` is empty.
pub fn with_query(base: &str, query: &str) -> String {
    if query.is_empty() {
        return base.to_owned();
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

/// Why a form or a form-encoded text did not decode. Its `Display` names the offending
/// text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The body is not UTF-8 text.
    NotUtf8,
    /// A pair without `=`; holds the pair.
    NotAPair(String),
    /// A `%` not followed by two hex digits; holds the encoded text.
    MalformedEscape(String),
    /// The decoded bytes are not UTF-8; holds the encoded text.
    NotUtf8Text(String),
    /// A name given twice; holds the name.
    Repeated(String),
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::NotUtf8 => f.write_str("the body is not UTF-8 text"),
            FormError::NotAPair(pair) => write!(f, "`{pair}` is not name=value"),
            FormError::MalformedEscape(text) => write!(f, "a malformed `%` escape in `{text}`"),
            FormError::NotUtf8Text(text) => write!(f, "`{text}` does not decode to UTF-8 text"),
            FormError::Repeated(name) => write!(f, "`{name}` is given more than once"),
        }
    }
}

impl std::error::Error for FormError {}

/// One form-encoded name or value, decoded exactly once: `+` is a space, `%XX` a byte
/// (`%2B` a plus), and the bytes must be UTF-8. Decoding twice would turn a signature's
/// `+` (sent as `%2B`) into a space.
pub fn form_decode(text: &str) -> Result<String, FormError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `u8::from_str_radix` alone would take `+1`.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| FormError::MalformedEscape(text.to_owned()))?;
                out.push(hex);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8Text(text.to_owned()))
}

/// The pairs of an `application/x-www-form-urlencoded` body, in order, each name and value
/// [`form_decode`]d once; empty pieces (`a=1&&b=2`, a trailing `&`) are skipped, an empty
/// value (`a=`) kept.
///
/// Refused: a body that is not UTF-8, a pair without `=`, a malformed `%` escape, a
/// decoded text that is not UTF-8, and a name given twice. Forms this reads are signed
/// (notifications): with a repeated name, which value did the sender sign? Readers that
/// took the first and the last would disagree.
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let text = std::str::from_utf8(body).map_err(|_| FormError::NotUtf8)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| FormError::NotAPair(pair.to_owned()))?;
        let name = form_decode(name)?;
        let value = form_decode(value)?;
        if pairs.iter().any(|(k, _)| *k == name) {
            return Err(FormError::Repeated(name));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn base64_is_the_padded_standard_alphabet() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)), Some(all));
        assert_eq!(base64_decode("+/+/"), Some(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(base64_decode(""), Some(vec![]));
    }

    #[test]
    fn base64_that_is_not_the_one_padded_encoding_is_refused() {
        for bad in [
            "Zg",     // padding missing
            "Zg=",    // padding short
            "Zg===",  // padding extra
            "Zh==",   // bits after the last byte
            "-_-_",   // URL-safe alphabet
            "Zm9v\n", // a line break
            " Zm9v",  // a space
            "Zm 9v", "!!", "Zm9v====",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn values_are_form_encoded_as_javas_url_encoder_does() {
        assert_eq!(
            form_encode("2014-07-24 03:07:50"),
            "2014-07-24+03%3A07%3A50"
        );
        assert_eq!(form_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert_eq!(form_encode("AZaz09.-*_"), "AZaz09.-*_");
        assert_eq!(form_encode("茶"), "%E8%8C%B6");
        assert_eq!(form_encode("{\"a\":\"~\"}"), "%7B%22a%22%3A%22%7E%22%7D");
        assert_eq!(form_encode("&=?#%\n"), "%26%3D%3F%23%25%0A");
        assert_eq!(form_encode(""), "");
    }

    #[test]
    fn every_text_round_trips_through_its_form_encoding() {
        for text in [
            "",
            " ",
            "a+b/c==",
            "茶 & cake=1",
            "%2B",
            "~!@#$^&*()\u{7f}\u{0}😀",
        ] {
            assert_eq!(form_decode(&form_encode(text)).as_deref(), Ok(text));
        }
    }

    #[test]
    fn a_query_string_keeps_every_pair_in_order() {
        let p = pairs(&[("b", "x y"), ("a", ""), ("sign", "ab+/c=="), ("茶", "1")]);
        assert_eq!(
            query_string(&p),
            "b=x+y&a=&sign=ab%2B%2Fc%3D%3D&%E8%8C%B6=1"
        );
        assert_eq!(query_string(&[]), "");
    }

    #[test]
    fn a_query_is_appended_after_a_question_mark_or_an_ampersand() {
        assert_eq!(with_query("https://h/gw", "a=1"), "https://h/gw?a=1");
        assert_eq!(
            with_query("https://h/gw?x=1", "a=1"),
            "https://h/gw?x=1&a=1"
        );
        assert_eq!(with_query("https://h/gw", ""), "https://h/gw");
    }

    #[test]
    fn a_sign_with_plus_and_slash_survives_one_decode() {
        let body = b"sign=kPbQIjX%2BxQc8F0%2FA6%2FAo%3D%3D&subject=%E5%A4%A7%E4%B9%90%E9%80%8F2.1\
                     &notify_time=2016-07-19+14%3A10%3A49&empty=&&";
        assert_eq!(
            decode_form(body),
            Ok(pairs(&[
                ("sign", "kPbQIjX+xQc8F0/A6/Ao=="),
                ("subject", "大乐透2.1"),
                ("notify_time", "2016-07-19 14:10:49"),
                ("empty", ""),
            ]))
        );
    }

    #[test]
    fn a_plus_is_a_space_and_a_percent_sequence_is_decoded_only_once() {
        assert_eq!(
            decode_form(b"a=x+y&b=%252B&c=%2b&d=a=b"),
            Ok(pairs(&[
                ("a", "x y"),
                ("b", "%2B"),
                ("c", "+"),
                ("d", "a=b")
            ]))
        );
        assert_eq!(form_decode("%E8%8c%b6").as_deref(), Ok("茶"));
    }

    #[test]
    fn malformed_forms_are_refused_saying_why() {
        for (bad, error) in [
            (&b"a=%zz"[..], FormError::MalformedEscape("%zz".into())),
            (b"a=%+1", FormError::MalformedEscape("%+1".into())),
            (b"a=%2", FormError::MalformedEscape("%2".into())),
            (b"a=%", FormError::MalformedEscape("%".into())),
            (b"%=1", FormError::MalformedEscape("%".into())),
            (b"novalue", FormError::NotAPair("novalue".into())),
            (b"a=%FF%FE", FormError::NotUtf8Text("%FF%FE".into())),
            (b"a=1&a=2", FormError::Repeated("a".into())),
            (b"a=1&%61=2", FormError::Repeated("a".into())),
            (b"\xff=1", FormError::NotUtf8),
        ] {
            assert_eq!(
                decode_form(bad),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode_form(b""), Ok(Vec::new()));
    }

    #[test]
    fn form_errors_name_the_offending_text() {
        assert_eq!(
            FormError::MalformedEscape("%zz".into()).to_string(),
            "a malformed `%` escape in `%zz`"
        );
        assert_eq!(
            FormError::NotAPair("novalue".into()).to_string(),
            "`novalue` is not name=value"
        );
        assert_eq!(
            FormError::Repeated("a".into()).to_string(),
            "`a` is given more than once"
        );
        assert_eq!(FormError::NotUtf8.to_string(), "the body is not UTF-8 text");
        assert_eq!(
            FormError::NotUtf8Text("%FF".into()).to_string(),
            "`%FF` does not decode to UTF-8 text"
        );
    }
}
