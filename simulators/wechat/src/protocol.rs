//! WeChat Pay API v3's wire rules as the simulator applies them from WeChat's side: reading
//! and verifying a request's `Authorization`, signing answers and notifications, encrypting
//! notification resources (AEAD_AES_256_GCM), WeChat's time formats and its notification
//! retry schedule. Pure, and unit-tested.

use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The authentication scheme and signature type of API v3.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// How far a request's timestamp may be from WeChat's clock.
pub const REQUEST_WINDOW_SECS: i64 = 300;

/// WeChat's notification retry delays after a failed delivery (PROVIDERS.md).
pub const RETRY_SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// The fields of a request's `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce_str: String,
    pub signature: String,
    pub timestamp: String,
    pub serial_no: String,
}

/// Reads `WECHATPAY2-SHA256-RSA2048 k="v",k="v",...`: fields in any order, spaces after
/// the commas allowed (the official SDKs differ on both).
pub fn parse_authorization(header: &str) -> Result<Authorization, String> {
    let token = header
        .strip_prefix(AUTH_SCHEME)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| format!("the Authorization scheme is not {AUTH_SCHEME}"))?;
    let mut fields = std::collections::HashMap::new();
    for part in token.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("`{}` is not name=\"value\"", part.trim()))?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| format!("the value of `{name}` is not quoted"))?;
        fields.insert(name.trim().to_owned(), value.to_owned());
    }
    let mut take = |name: &str| {
        fields
            .remove(name)
            .ok_or_else(|| format!("Authorization has no `{name}`"))
    };
    Ok(Authorization {
        mchid: take("mchid")?,
        nonce_str: take("nonce_str")?,
        signature: take("signature")?,
        timestamp: take("timestamp")?,
        serial_no: take("serial_no")?,
    })
}

/// `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// `TIMESTAMP\nNONCE\nBODY\n`: what answers and notifications are signed over.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// Base64 of the RSA-SHA256 (PKCS#1 v1.5) signature of `message`.
pub fn sign(key: &SigningKey<Sha256>, message: &[u8]) -> String {
    BASE64.encode(key.sign(message).to_bytes())
}

/// Whether `signature` (base64) is `key`'s over `message`.
pub fn verify(key: &VerifyingKey<Sha256>, message: &[u8], signature: &str) -> bool {
    let Ok(bytes) = BASE64.decode(signature) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// Checks a request the way WeChat does: the merchant, its certificate serial, a fresh
/// timestamp, and the signature over the request as received.
pub fn verify_request(
    auth: &Authorization,
    key: &VerifyingKey<Sha256>,
    expected: (&str, &str),
    request: (&str, &str, &[u8]),
    now: i64,
) -> Result<(), String> {
    let (mchid, serial_no) = expected;
    if auth.mchid != mchid {
        return Err(format!("mchid {} is not this merchant's", auth.mchid));
    }
    if auth.serial_no != serial_no {
        // Source: pay.weixin.qq.com/docs/merchant/development/verify-signature-faq/
        // merchant-serial-number-certificate-incorrect.html (WeChat's words for it).
        return Err(format!(
            "商户证书序列号有误。请使用签名私钥匹配的证书序列号: serial_no {} is not the \
             merchant's certificate serial",
            auth.serial_no
        ));
    }
    let at: i64 = auth
        .timestamp
        .parse()
        .map_err(|_| format!("timestamp `{}` is not a number", auth.timestamp))?;
    if (now - at).abs() > REQUEST_WINDOW_SECS {
        return Err(format!("timestamp {at} is too far from now ({now})"));
    }
    let (method, path_and_query, body) = request;
    let message = request_message(
        method,
        path_and_query,
        &auth.timestamp,
        &auth.nonce_str,
        body,
    );
    if verify(key, &message, &auth.signature) {
        Ok(())
    } else {
        Err("the signature does not verify with the merchant's certificate".into())
    }
}

/// Encrypts a notification resource: `(ciphertext || tag)` in base64, with the 12-character
/// `nonce` as IV and `associated_data` as AAD.
pub fn encrypt_resource(
    apiv3_key: &[u8; 32],
    nonce: &str,
    associated_data: &str,
    plaintext: &[u8],
) -> Result<String, String> {
    if nonce.len() != 12 {
        return Err(format!("nonce `{nonce}` is not 12 bytes"));
    }
    let cipher = Aes256Gcm::new(apiv3_key.into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext,
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| "AES-256-GCM refused the input".to_owned())?;
    Ok(BASE64.encode(sealed))
}

/// Decrypts what [`encrypt_resource`] made (for the simulator's own tests).
#[cfg(test)]
pub fn decrypt_resource(
    apiv3_key: &[u8; 32],
    nonce: &str,
    associated_data: &str,
    ciphertext: &str,
) -> Option<Vec<u8>> {
    let sealed = BASE64.decode(ciphertext).ok()?;
    Aes256Gcm::new(apiv3_key.into())
        .decrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: &sealed,
                aad: associated_data.as_bytes(),
            },
        )
        .ok()
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

/// `time_expire` as merchants send it: RFC 3339 with an offset (`+08:00`, `Z`), with or
/// without fractional seconds. Seconds since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// A time as WeChat writes it: RFC 3339 in Beijing time, `2026-11-23T10:34:56+08:00`.
pub fn beijing_time(unix: i64) -> String {
    let beijing = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(beijing))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A path segment or query value as sent (`P%7C1` for `P|1`), decoded; `None` if it is not
/// well-formed percent-encoded UTF-8. (The signature covers the path as sent; lookups use
/// the decoded number.)
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in a query string (`mchid=1900009191&x=y`), decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(value))
}

/// The wait before retry number `attempt` (0-based) of a notification, divided by the time
/// scale; `None` once WeChat gives up.
pub fn retry_delay(attempt: usize, time_scale: f64) -> Option<Duration> {
    let secs = *RETRY_SCHEDULE_SECS.get(attempt)?;
    Some(Duration::from_secs_f64(
        secs as f64 / time_scale.max(f64::MIN_POSITIVE),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("fixture")
    }

    #[test]
    fn authorization_fields_are_accepted_in_any_order() {
        let doc = r#"WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="uOVR+/==",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C""#;
        let java = r#"WECHATPAY2-SHA256-RSA2048 mchid="1900009191", nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242", timestamp="1554208460", serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signature="uOVR+/==""#;
        let a = parse_authorization(doc).expect("the documented example");
        assert_eq!(a, parse_authorization(java).expect("the Java SDK's order"));
        assert_eq!(a.signature, "uOVR+/==");
        assert_eq!(a.timestamp, "1554208460");
    }

    #[test]
    fn authorization_with_another_scheme_or_a_missing_field_is_refused() {
        assert!(parse_authorization(r#"Bearer mchid="1""#).is_err());
        assert!(parse_authorization(r#"WECHATPAY2-SHA256-RSA2048mchid="1""#).is_err());
        let e = parse_authorization(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1",serial_no="s""#,
        )
        .expect_err("no signature");
        assert!(e.contains("signature"), "{e}");
        assert!(parse_authorization(r#"WECHATPAY2-SHA256-RSA2048 mchid=1"#).is_err());
    }

    #[test]
    fn a_request_signed_by_the_merchant_verifies_and_a_changed_one_does_not() {
        let private = SigningKey::<Sha256>::from_pkcs8_pem(&fixture("merchant_private_key.pem"))
            .expect("key");
        let public =
            VerifyingKey::<Sha256>::from_public_key_pem(&fixture("merchant_public_key.pem"))
                .expect("key");
        let body = br#"{"mchid":"1900009191"}"#;
        let path = "/v3/pay/transactions/out-trade-no/P123456/close";
        let signature = sign(
            &private,
            &request_message("POST", path, "1700000000", "n", body),
        );
        let auth = Authorization {
            mchid: "1900009191".into(),
            nonce_str: "n".into(),
            signature,
            timestamp: "1700000000".into(),
            serial_no: "S".into(),
        };
        let expected = ("1900009191", "S");
        assert!(verify_request(
            &auth,
            &public,
            expected,
            ("POST", path, body),
            1_700_000_010
        )
        .is_ok());
        assert!(verify_request(
            &auth,
            &public,
            expected,
            ("POST", path, b"{}"),
            1_700_000_010
        )
        .is_err());
        assert!(
            verify_request(&auth, &public, expected, ("GET", path, body), 1_700_000_010).is_err()
        );
        assert!(verify_request(
            &auth,
            &public,
            ("1900009191", "T"),
            ("POST", path, body),
            1_700_000_010
        )
        .is_err());
        let stale = verify_request(
            &auth,
            &public,
            expected,
            ("POST", path, body),
            1_700_000_400,
        );
        assert!(stale.expect_err("stale").contains("too far"));
    }

    #[test]
    fn resources_decrypt_with_the_apiv3_key_only() {
        let key = *b"Wq3mT8vZkP2xN7cR4bY6hJ9dF1sL5gA0";
        let sealed =
            encrypt_resource(&key, "abcdefghijkl", "transaction", b"{\"a\":1}").expect("encrypts");
        assert_eq!(
            decrypt_resource(&key, "abcdefghijkl", "transaction", &sealed),
            Some(b"{\"a\":1}".to_vec())
        );
        assert_eq!(
            decrypt_resource(&[0; 32], "abcdefghijkl", "transaction", &sealed),
            None
        );
        assert_eq!(
            decrypt_resource(&key, "abcdefghijkl", "refund", &sealed),
            None
        );
        assert!(encrypt_resource(&key, "short", "", b"").is_err());
    }

    #[test]
    fn time_expire_is_read_in_every_form_the_sdks_write() {
        let at = 1_795_401_296;
        for text in [
            "2026-11-23T10:34:56+08:00",
            "2026-11-23T10:34:56.000+08:00",
            "2026-11-23T02:34:56Z",
            "2026-11-23T02:34:56.123456Z",
        ] {
            assert_eq!(parse_time(text), Some(at), "{text}");
        }
        assert_eq!(parse_time("2026-11-23 10:34:56"), None);
        assert_eq!(beijing_time(at), "2026-11-23T10:34:56+08:00");
    }

    #[test]
    fn numbers_in_paths_and_queries_are_percent_decoded() {
        assert_eq!(percent_decode("P%7C1*2-3_4").as_deref(), Some("P|1*2-3_4"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%7"), None);
        assert_eq!(percent_decode("bad%+1x"), None);
        assert_eq!(
            query_param("a=1&mchid=1900009191", "mchid").as_deref(),
            Some("1900009191")
        );
        assert_eq!(query_param("xmchid=1", "mchid"), None);
        assert_eq!(query_param("", "mchid"), None);
    }

    #[test]
    fn retry_schedule_is_compressed_by_the_time_scale() {
        assert_eq!(retry_delay(0, 1.0), Some(Duration::from_secs(15)));
        assert_eq!(retry_delay(3, 1.0), Some(Duration::from_secs(180)));
        assert_eq!(retry_delay(14, 1.0), Some(Duration::from_secs(21600)));
        assert_eq!(
            retry_delay(15, 1.0),
            None,
            "WeChat gives up after 15 retries"
        );
        assert_eq!(retry_delay(0, 1000.0), Some(Duration::from_millis(15)));
    }
}
