//! The Alipay OpenAPI gateway's wire rules as the simulator applies them from Alipay's side:
//! reading the parameters, what a request's and a notification's signatures cover, RSA2,
//! the signed JSON answer, Beijing times, form encoding, and the notification retry
//! schedule. Pure, and unit-tested.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use serde_json::Value;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Alipay's notification retry delays after a reply other than `success`.
///
/// Source: opendocs.alipay.com/open/270/105902 (异步通知说明: 「如果商户反馈给支付宝的字符不是
/// success 这7个字符，支付宝服务器会不断重发通知 … 一般情况下，25 小时以内完成 8 次通知（通知的
/// 间隔频率一般是：4m,10m,10m,1h,2h,6h,15h）」).
pub const RETRY_SCHEDULE_SECS: [u64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];

/// The gateway's parameters: the query string's, then the form body's, each decoded exactly
/// once (`+` is a space, `%2B` a plus). A name given twice keeps its first value, as a Java
/// servlet's `getParameter` does (query string first); the official SDKs never repeat one.
pub fn read_params(query: &str, body: &[u8]) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body))
    {
        params
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// `k=v&k=v` over `params` sorted by name (ASCII), empty values dropped, values raw (not
/// URL-encoded), without the names in `excluded`.
///
/// Source: alipay/alipay-sdk-java-all `AlipaySignature.getSignContent` and
/// `getSignCheckContentV1` (sorted keys, `StringUtils.areNotEmpty(key, value)`).
pub fn sign_content(params: &BTreeMap<String, String>, excluded: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !excluded.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What a request's `sign` covers: every parameter but `sign` (`sign_type` included).
///
/// Sources: alipay/alipay-sdk-java-all `AbstractAlipayClient` (puts `sign_type` among the
/// protocol parameters, signs `AlipaySignature.getSignatureContent`, then adds `sign`); and
/// an `isv.invalid-signature` answer quoted in alipay/alipay-sdk-nodejs-all `src/alipay.ts`,
/// whose 「网关生成的验签字符串」 is `app_id=…&charset=utf-8&method=…&sign_type=RSA2&timestamp=…
/// &version=1.0`.
pub fn request_sign_content(params: &BTreeMap<String, String>) -> String {
    sign_content(params, &["sign"])
}

/// What a notification's (and a return URL's) `sign` covers: every field but `sign` and
/// `sign_type`.
///
/// Source: alipay/alipay-sdk-java-all `AlipaySignature.getSignCheckContentV1` (removes
/// `sign` and `sign_type`; `rsaCheckV1` is 「主要用于支付接口的返回参数的验签比如：当面付，APP支付，
/// 手机网站支付，电脑网站支付」) and opendocs.alipay.com/open/270/105902 (异步返回结果的验签:
/// 「剔除 sign 与 sign_type 参数」).
pub fn notification_sign_content(params: &BTreeMap<String, String>) -> String {
    sign_content(params, &["sign", "sign_type"])
}

/// Base64 of the RSA-SHA256 (PKCS#1 v1.5) signature of `content` (UTF-8): RSA2.
pub fn sign(key: &SigningKey<Sha256>, content: &str) -> String {
    BASE64.encode(key.sign(content.as_bytes()).to_bytes())
}

/// Whether `signature` (base64) is `key`'s RSA2 signature of `content`.
pub fn verify(key: &VerifyingKey<Sha256>, content: &str, signature: &str) -> bool {
    let Ok(bytes) = BASE64.decode(signature) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(content.as_bytes(), &signature).is_ok()
}

/// `alipay.trade.precreate` -> `alipay_trade_precreate_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// JSON as Alipay's gateway writes it: compact, non-ASCII as is, and `/` escaped as `\/`
/// (`"qr_code":"https:\/\/qr.alipay.com\/bax…"`; the example answer quoted in
/// alipay/alipay-sdk-nodejs-all `src/alipay.ts`). A verifier that re-serializes instead of
/// taking the raw text fails on it, as it would on Alipay's.
pub fn alipay_json(value: &Value) -> String {
    // `/` appears in JSON text only inside strings, where `\/` is a valid escape.
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('/', "\\/")
}

/// The answer's body: `{"<key>":<inner>,["alipay_cert_sn":"…",]"sign":"…"}` where `inner`
/// is embedded as the exact text that was signed. Without `sign` (a refusal of an unknown
/// app), no `sign` member.
pub fn envelope(
    key: &str,
    inner: &str,
    alipay_cert_sn: Option<&str>,
    sign: Option<&str>,
) -> String {
    let string = |s: &str| Value::String(s.to_owned()).to_string();
    let mut body = format!("{{{}:{inner}", string(key));
    if let Some(sn) = alipay_cert_sn {
        body.push_str(&format!(",\"alipay_cert_sn\":{}", string(sn)));
    }
    if let Some(sign) = sign {
        body.push_str(&format!(",\"sign\":{}", string(sign)));
    }
    body.push('}');
    body
}

/// Form encoding (`application/x-www-form-urlencoded`): space as `+`, `+` as `%2B`, `/` as
/// `%2F`, UTF-8 percent-encoded.
pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

fn beijing_offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// A time as Alipay writes it: `yyyy-MM-dd HH:mm:ss` in Beijing time (GMT+8).
pub fn beijing_time(unix: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(|t| t.to_offset(beijing_offset()))
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// `yyyy-MM-dd HH:mm:ss` read as Beijing time (`timestamp`, `time_expire`); seconds since
/// the epoch.
pub fn parse_beijing_time(text: &str) -> Option<i64> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_offset(beijing_offset()).unix_timestamp())
}

/// The wait before retry number `attempt` (0-based) of a notification, divided by the time
/// scale; `None` once Alipay gives up.
pub fn retry_delay(attempt: usize, time_scale: f64) -> Option<Duration> {
    let secs = *RETRY_SCHEDULE_SECS.get(attempt)?;
    Some(Duration::from_secs_f64(
        secs as f64 / time_scale.max(f64::MIN_POSITIVE),
    ))
}

/// A random string of `[0-9A-Za-z]`.
pub fn random_alnum(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random string of decimal digits.
pub fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// An Alipay trade number: the Beijing date, `22`, and 18 digits (28 in all, as
/// `2013112011001004330000121536` and `2020032522001456380542497258` are).
pub fn trade_no(unix: i64) -> String {
    let date: String = beijing_time(unix)
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    format!("{date}22{}", random_digits(18))
}

/// Text for HTML.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
