//! A small scanner over JSON text that finds the members of the top-level object and the
//! exact byte span of each value, without re-serializing anything.
//!
//! Alipay signs the `*_response` value of an answer *as the text it sent*: the signature
//! covers those bytes, whitespace, key order and escapes included, so the value must be cut
//! out of the body, never rebuilt from a parsed tree (Java SDK `JsonConverter.getSignSourceData`
//! and `AlipaySignature.extractSignContent` cut it out of the raw body; Alipay's page on
//! verifying answers, 自行实现验签: https://opendocs.alipay.com/common/02mse7). The scanner
//! respects strings and their escapes, so a `}` or a `"sign"` inside a string never ends or
//! starts anything.

/// One member of the top-level object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, decoded (`"a\u0062"` is `ab`).
    pub key: String,
    /// The value's raw text, exactly as in the body.
    pub raw: &'a str,
}

/// The members of the object `text` holds, in order, each with its raw value. The text
/// must be exactly one JSON object (whitespace around it allowed). Values are checked for
/// balanced nesting and closed strings only; a value's own validity is for whoever parses
/// it.
pub fn members(text: &str) -> Result<Vec<Member<'_>>, String> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return Err("the answer is not a JSON object".into());
    }
    at = skip_ws(bytes, at + 1);
    let mut members = Vec::new();
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if bytes.get(at) != Some(&b'"') {
                return Err(format!("expected a key at byte {at}"));
            }
            let key_end = string_end(bytes, at)?;
            let key: String = serde_json::from_str(&text[at..key_end])
                .map_err(|e| format!("unreadable key at byte {at}: {e}"))?;
            at = skip_ws(bytes, key_end);
            if bytes.get(at) != Some(&b':') {
                return Err(format!("expected `:` after key `{key}`"));
            }
            at = skip_ws(bytes, at + 1);
            let value_end = value_end(bytes, at)?;
            members.push(Member {
                key,
                raw: &text[at..value_end],
            });
            at = skip_ws(bytes, value_end);
            match bytes.get(at) {
                Some(b',') => at = skip_ws(bytes, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return Err(format!("expected `,` or `}}` at byte {at}")),
            }
        }
    }
    if skip_ws(bytes, at) != bytes.len() {
        return Err("text after the end of the JSON object".into());
    }
    Ok(members)
}

/// The raw value of the only member called `key`; `Ok(None)` if there is none, an error if
/// there are several (Java SDK `JsonConverter.parseSignSourceData` refuses a body with a
/// repeated root node: "检测到响应报文中有重复的…，验签失败").
pub fn only<'a>(members: &[Member<'a>], key: &str) -> Result<Option<&'a str>, String> {
    let mut found = members.iter().filter(|m| m.key == key);
    let first = found.next().map(|m| m.raw);
    if found.next().is_some() {
        return Err(format!("the answer has `{key}` more than once"));
    }
    Ok(first)
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The index just past the string that starts (with `"`) at `at`.
fn string_end(bytes: &[u8], at: usize) -> Result<usize, String> {
    let mut i = at + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(format!("unterminated string from byte {at}"))
}

/// The index just past the value that starts at `at`: a string, an object or array
/// (nesting balanced, strings skipped), or a bare literal (number, `true`, `false`, `null`).
fn value_end(bytes: &[u8], at: usize) -> Result<usize, String> {
    match bytes.get(at) {
        None => Err("a value is missing at the end of the text".into()),
        Some(b'"') => string_end(bytes, at),
        Some(b'{' | b'[') => {
            let mut open = Vec::new();
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' => open.push(b'}'),
                    b'[' => open.push(b']'),
                    b'}' | b']' => {
                        if open.pop() != Some(b) {
                            return Err(format!("mismatched `{}` at byte {i}", char::from(b)));
                        }
                        if open.is_empty() {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            Err(format!("unterminated value from byte {at}"))
        }
        Some(_) => {
            let mut i = at;
            while let Some(&b) = bytes.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            if i == at {
                Err(format!("a value is missing at byte {at}"))
            } else {
                Ok(i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_of<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        only(&members(text).expect("an object"), key).expect("at most once")
    }

    #[test]
    fn a_value_is_cut_out_exactly_as_sent() {
        let body = "{\"alipay_trade_precreate_response\" :  { \"code\":\"10000\",\"msg\":\"Success\",\n\"qr_code\":\"https:\\/\\/qr.alipay.com\\/bax03\"} ,\"sign\":\"ab+/c==\"}";
        assert_eq!(
            raw_of(body, "alipay_trade_precreate_response"),
            Some("{ \"code\":\"10000\",\"msg\":\"Success\",\n\"qr_code\":\"https:\\/\\/qr.alipay.com\\/bax03\"}")
        );
        assert_eq!(raw_of(body, "sign"), Some("\"ab+/c==\""));
        assert_eq!(raw_of(body, "alipay_cert_sn"), None);
    }

    #[test]
    fn braces_quotes_and_keys_inside_strings_end_nothing() {
        let body = r#"{"x_response":{"sub_msg":"a } \" ] { \\","sign":"inner","n":[1,{"a":"}"}]},"sign":"outer"}"#;
        assert_eq!(
            raw_of(body, "x_response"),
            Some(r#"{"sub_msg":"a } \" ] { \\","sign":"inner","n":[1,{"a":"}"}]}"#)
        );
        assert_eq!(raw_of(body, "sign"), Some(r#""outer""#));
    }

    #[test]
    fn the_sign_may_come_first_and_other_members_may_follow() {
        let body = r#"{"sign":"s","alipay_cert_sn":"abc","alipay_trade_query_response":{"code":"10000"},"extra":null}"#;
        let found = members(body).expect("an object");
        let keys: Vec<&str> = found.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sign",
                "alipay_cert_sn",
                "alipay_trade_query_response",
                "extra"
            ]
        );
        assert_eq!(found[3].raw, "null");
        assert_eq!(
            raw_of(body, "alipay_trade_query_response"),
            Some(r#"{"code":"10000"}"#)
        );
    }

    #[test]
    fn escaped_keys_are_decoded_and_multibyte_text_is_kept() {
        let body = "{\"a\\u0062\":{\"sub_msg\":\"交易不存在\"}}";
        assert_eq!(raw_of(body, "ab"), Some("{\"sub_msg\":\"交易不存在\"}"));
    }

    #[test]
    fn a_repeated_key_is_refused() {
        let body = r#"{"x_response":{"code":"10000"},"x_response":{"code":"40004"},"sign":"s"}"#;
        let found = members(body).expect("an object");
        assert!(only(&found, "x_response").is_err());
        assert!(only(&found, "sign").is_ok());
    }

    #[test]
    fn text_that_is_not_one_object_is_refused() {
        for bad in [
            "",
            "[]",
            "\"x\"",
            "{",
            "{\"a\":1",
            "{\"a\":}",
            "{\"a\" 1}",
            "{\"a\":{\"b\":1]}",
            "{\"a\":\"unterminated}",
            "{\"a\":1}{}",
            "{\"a\":1,}",
            "<html>502</html>",
        ] {
            assert!(members(bad).is_err(), "{bad:?}");
        }
        assert_eq!(members(" { } \n").expect("an empty object"), Vec::new());
    }
}
