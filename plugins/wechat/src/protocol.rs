//! WeChat Pay API v3's signature scheme and formats: the messages signatures cover, the
//! `Authorization` header, the `Wechatpay-*` headers of responses and notifications, and
//! the times WeChat writes. Everything here is pure, and unit-tested natively against the
//! worked examples of WeChat Pay's documentation ("签名生成", "JSAPI调起支付").

use paygate_sdk::datetime::{parse_rfc3339, rfc3339, BEIJING};
use paygate_sdk::encoding::{base64_decode, base64_encode};
use paygate_sdk::{header, UnixSeconds};

/// The authentication scheme of requests, and the signature type WeChat declares on its
/// responses and notifications.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// WeChat sends signature probes whose `Wechatpay-Signature` starts with this: a receiver
/// must treat them as not verifying, whatever follows.
pub const SIGNTEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// How far a response's or notification's timestamp may be from our clock, either way.
/// WeChat's SDKs refuse anything older than five minutes; a replayed notification is too.
pub const FRESHNESS_SECS: i64 = 300;

pub const TIMESTAMP_HEADER: &str = "wechatpay-timestamp";
pub const NONCE_HEADER: &str = "wechatpay-nonce";
pub const SIGNATURE_HEADER: &str = "wechatpay-signature";
pub const SERIAL_HEADER: &str = "wechatpay-serial";
pub const SIGNATURE_TYPE_HEADER: &str = "wechatpay-signature-type";

/// What a request signature covers: `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nNONCE\nBODY\n`,
/// every line ended by `\n`, the last (an empty body for a GET) included.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: UnixSeconds,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut message = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// What the signature of a response or a notification covers: `TIMESTAMP\nNONCE\nBODY\n`,
/// the timestamp exactly as the header gave it, an empty body for a 204.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// What `paySign` covers for a JSAPI payment: `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn jsapi_message(app_id: &str, timestamp: &str, nonce: &str, package: &str) -> Vec<u8> {
    format!("{app_id}\n{timestamp}\n{nonce}\n{package}\n").into_bytes()
}

/// The `Authorization` header of a request, fields in the order of WeChat's example (the
/// order is free; WeChat accepts any).
pub fn authorization(
    mchid: &str,
    nonce: &str,
    signature: &[u8],
    timestamp: UnixSeconds,
    serial_no: &str,
) -> String {
    format!(
        "{AUTH_SCHEME} mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{}\",\
         timestamp=\"{timestamp}\",serial_no=\"{serial_no}\"",
        base64_encode(signature)
    )
}

/// The part of `url` a request signature covers: its path and query string, without the
/// scheme, host or fragment (`/v3/pay/transactions/out-trade-no/P1?mchid=1900009191`).
pub fn path_and_query(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split('#').next().unwrap_or(path)
}

/// The setting naming WeChat Pay's public key (`PUB_KEY_ID_...`, 微信支付公钥ID).
pub const PUBLIC_KEY_ID_SETTING: &str = "platform_public_key_id";
/// The secret holding WeChat Pay's public key (`pub_key.pem`).
pub const PUBLIC_KEY_SECRET: &str = "platform_public_key";
/// The secret holding WeChat Pay's platform certificates (`GET /v3/certificates`, decrypted).
pub const CERTIFICATES_SECRET: &str = "platform_certificates";

/// The keys a merchant configured to verify what WeChat Pay sends: its public key, its
/// platform certificates, or both while the merchant switches from the certificates to the
/// public key.
///
/// Sources: WeChat Pay's guide to switching from the platform certificate to the public key,
/// https://pay.weixin.qq.com/doc/v3/merchant/4012154180, and WeChat staff at
/// https://developers.weixin.qq.com/community/pay/doc/000a2456f08f80e3a0f2f10f461400: "应答部分的
/// 灰度由商户控制，在请求头部 Wechatpay-Serial 填入公钥ID 来指定应答时使用的验签方案，不指定则默认平台
/// 证书。回调特殊，由平台来控制灰度 … 可通过回调头部 Wechatpay-Serial字段判断" (the merchant chooses the
/// key of API answers by naming the public key's id in the request's `Wechatpay-Serial`,
/// otherwise the certificate signs; WeChat moves notifications over itself, and their own
/// `Wechatpay-Serial` says which key signed). So during the switch both keys are valid, and
/// both kinds of notification arrive for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformKeys {
    /// The public key's id (`PUB_KEY_ID_...`), when the public key is configured (its id
    /// and its key both).
    pub public_key_id: Option<String>,
    /// The serial numbers of the configured platform certificates, as the host reads them
    /// from the certificates (40 hex digits at WeChat Pay), in the configured order.
    pub certificate_serials: Vec<String>,
}

/// The configured key a message names in its `Wechatpay-Serial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformKey<'k> {
    /// WeChat Pay's public key (`platform_public_key`).
    PublicKey,
    /// The platform certificate with this serial, spelt as the host reads it (the name to
    /// give `keys::verify-certificate`).
    Certificate(&'k str),
}

impl PlatformKeys {
    /// What the merchant configured, checked: the public key's id (the setting, if set and
    /// not blank), whether the secret `platform_public_key` exists, and the serials of the
    /// secret `platform_certificates` (none if it does not exist). The public key counts
    /// only with both its id and its key; one without the other is refused (with the id
    /// alone, the requests would ask WeChat for answers signed with a key we do not hold),
    /// and so is a configuration with neither the public key nor a certificate. The error
    /// names what is missing.
    pub fn configured(
        public_key_id: Option<&str>,
        has_public_key: bool,
        certificate_serials: Vec<String>,
    ) -> Result<PlatformKeys, String> {
        let public_key_id = public_key_id.map(str::trim).filter(|id| !id.is_empty());
        match (public_key_id, has_public_key) {
            (Some(_), false) => {
                return Err(format!(
                    "setting `{PUBLIC_KEY_ID_SETTING}` is set but secret `{PUBLIC_KEY_SECRET}` \
                     is missing: configure WeChat Pay's public key with both, or neither"
                ))
            }
            (None, true) => {
                return Err(format!(
                    "secret `{PUBLIC_KEY_SECRET}` is configured but setting \
                     `{PUBLIC_KEY_ID_SETTING}` is missing: configure WeChat Pay's public key \
                     with both, or neither"
                ))
            }
            _ => {}
        }
        if public_key_id.is_none() && certificate_serials.is_empty() {
            return Err(format!(
                "no key to verify WeChat Pay with: configure its public key (setting \
                 `{PUBLIC_KEY_ID_SETTING}` and secret `{PUBLIC_KEY_SECRET}`), or its platform \
                 certificates (secret `{CERTIFICATES_SECRET}`), or both while switching from \
                 the certificates to the public key"
            ));
        }
        Ok(PlatformKeys {
            public_key_id: public_key_id.map(str::to_owned),
            certificate_serials,
        })
    }

    /// The key `serial` (a message's `Wechatpay-Serial`) names: the public key if it is the
    /// public key's id (exactly), else the certificate with that serial. Serials are hex
    /// numbers: they are compared without regard to case (WeChat writes upper case, the
    /// contract compares without case) and to leading zeros (some SDKs drop them, a DER
    /// integer may add one). A serial that names no configured key is refused, naming it
    /// and the configured ones.
    pub fn select(&self, serial: &str) -> Result<PlatformKey<'_>, String> {
        if self.public_key_id.as_deref() == Some(serial) {
            return Ok(PlatformKey::PublicKey);
        }
        self.certificate_serials
            .iter()
            .find(|configured| same_serial(configured, serial))
            .map(|configured| PlatformKey::Certificate(configured))
            .ok_or_else(|| {
                format!(
                    "signed by WeChat Pay key {serial}, which is not configured (configured: {})",
                    self.names()
                )
            })
    }

    /// The configured keys, for messages: the public key's id, then the certificates'
    /// serials, separated by commas.
    pub fn names(&self) -> String {
        self.public_key_id
            .iter()
            .chain(&self.certificate_serials)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `Wechatpay-Serial` header a request carries: the public key's id when the public key
/// is configured, which asks WeChat to sign the answer with the public key; nothing
/// otherwise (WeChat then signs with its platform certificate).
///
/// Sources: WeChat staff at
/// https://developers.weixin.qq.com/community/pay/doc/000a2456f08f80e3a0f2f10f461400 ("在请求头部
/// Wechatpay-Serial 填入公钥ID 来指定应答时使用的验签方案，不指定则默认平台证书"); the official Go SDK
/// sends it on every request (https://github.com/wechatpay-apiv3/wechatpay-go/pull/226).
pub fn request_serial_header(keys: &PlatformKeys) -> Option<(String, String)> {
    keys.public_key_id
        .as_ref()
        .map(|id| (SERIAL_HEADER.to_owned(), id.clone()))
}

/// Whether two certificate serial numbers (hex) are the same number.
fn same_serial(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.trim().trim_start_matches('0').to_ascii_uppercase();
    digits(a) == digits(b)
}

/// Whether an answer claims to be signed: it carries any of the `Wechatpay-*` signature
/// headers (timestamp, nonce, signature, serial, signature type). Such an answer, whatever
/// its status, is held to its claim and must verify; one that carries none is unsigned, as
/// WeChat's refusals of requests it could not verify are.
pub fn claims_signature(headers: &[(String, String)]) -> bool {
    [
        TIMESTAMP_HEADER,
        NONCE_HEADER,
        SIGNATURE_HEADER,
        SERIAL_HEADER,
        SIGNATURE_TYPE_HEADER,
    ]
    .iter()
    .any(|name| header(headers, name).is_some())
}

/// The signature headers of a response or notification, checked for everything that can be
/// checked without the key: present, of WeChat's signature type, made with a platform key
/// the merchant configured (`key`, the one the message names), fresh, not a probe, and
/// base64.
#[derive(Debug, PartialEq, Eq)]
pub struct SignedHeaders<'a, 'k> {
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: Vec<u8>,
    pub key: PlatformKey<'k>,
}

impl<'a, 'k> SignedHeaders<'a, 'k> {
    /// Reads and checks the headers; the error says which check failed.
    pub fn read(
        headers: &'a [(String, String)],
        keys: &'k PlatformKeys,
        now: UnixSeconds,
    ) -> Result<SignedHeaders<'a, 'k>, String> {
        let get = |name: &str| {
            header(headers, name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("the `{name}` header is missing"))
        };
        let timestamp = get(TIMESTAMP_HEADER)?;
        let nonce = get(NONCE_HEADER)?;
        let signature = get(SIGNATURE_HEADER)?;
        let serial = get(SERIAL_HEADER)?;
        if let Some(kind) = header(headers, SIGNATURE_TYPE_HEADER) {
            if kind.trim() != AUTH_SCHEME {
                return Err(format!(
                    "signature type `{kind}` is not {AUTH_SCHEME}, the only one this adapter verifies"
                ));
            }
        }
        let key = keys.select(serial)?;
        // Probes come in answers and notifications alike. WeChat Pay's FAQ on answer
        // signatures, https://pay.weixin.qq.com/doc/v3/merchant/4016241880: "检查 HTTP 头
        // Wechatpay-Signature 的内容是否以WECHATPAY/SIGNTEST/ 开头，此前缀为签名探测流量"; and its
        // guide to failing signatures,
        // https://developers.weixin.qq.com/community/pay/article/doc/0004a879f60928d89340b8b9f64c13:
        // "微信支付会在极少数应答或通知回调中生成错误签名，以探测商户系统是否正确地验证了签名".
        if signature.starts_with(SIGNTEST_PREFIX) {
            return Err(
                "a WeChat Pay signature probe (WECHATPAY/SIGNTEST/), which must not verify".into(),
            );
        }
        let at: i64 = timestamp
            .parse()
            .map_err(|_| format!("timestamp `{timestamp}` is not a number of seconds"))?;
        // `abs_diff`: `now - at` overflows for a timestamp near `i64::MIN`.
        let away = now.abs_diff(at);
        if away > FRESHNESS_SECS.unsigned_abs() {
            return Err(format!(
                "timestamp {at} is {away}s away from now: older than {FRESHNESS_SECS}s, or from the future"
            ));
        }
        let signature =
            base64_decode(signature).ok_or_else(|| "the signature is not base64".to_owned())?;
        Ok(SignedHeaders {
            timestamp,
            nonce,
            signature,
            key,
        })
    }
}

/// `expires_at` as WeChat's `time_expire` wants it: RFC 3339 in Beijing time (UTC+8), to
/// the second, e.g. `2026-11-23T10:34:56+08:00` (JSAPI下单, `time_expire`: "遵循rfc3339标准格式，
/// 格式为yyyy-MM-DDTHH:mm:ss+TIMEZONE … 例如：2015-05-20T13:29:35+08:00表示，北京时间2015年5月20日
/// 13点29分35秒"). `None` for an instant no calendar holds.
pub fn time_expire(expires_at: UnixSeconds) -> Option<String> {
    rfc3339(expires_at, BEIJING)
}

/// A time WeChat wrote (`success_time`, `create_time`): RFC 3339 with any offset and
/// optional fractional seconds, as seconds since the epoch.
pub fn parse_time(text: &str) -> Option<UnixSeconds> {
    parse_rfc3339(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of WeChat Pay's "签名生成" page: GET /v3/certificates.
    const DOC_TIMESTAMP: i64 = 1554208460;
    const DOC_NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
    const DOC_SIGNATURE: &str = "uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw==";

    #[test]
    fn request_message_matches_the_documented_example() {
        assert_eq!(
            request_message("GET", "/v3/certificates", DOC_TIMESTAMP, DOC_NONCE, b""),
            b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n".to_vec()
        );
    }

    #[test]
    fn request_message_ends_the_body_line_too() {
        let m = request_message("POST", "/v3/x?mchid=1", 1, "n", br#"{"a":1}"#);
        assert_eq!(m, b"POST\n/v3/x?mchid=1\n1\nn\n{\"a\":1}\n".to_vec());
    }

    #[test]
    fn authorization_header_matches_the_documented_example() {
        let signature = base64_decode(DOC_SIGNATURE).expect("the example is base64");
        assert_eq!(
            format!(
                "Authorization: {}",
                authorization(
                    "1900009191",
                    DOC_NONCE,
                    &signature,
                    DOC_TIMESTAMP,
                    "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
                )
            ),
            format!(
                "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"1900009191\",\
                 nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",signature=\"{DOC_SIGNATURE}\",\
                 timestamp=\"1554208460\",serial_no=\"1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C\""
            )
        );
    }

    #[test]
    fn jsapi_pay_sign_message_matches_the_documented_example() {
        assert_eq!(
            jsapi_message(
                "wx8888888888888888",
                "1414561699",
                "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                "prepay_id=wx201410272009395522657a690389285100"
            ),
            b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n\
              prepay_id=wx201410272009395522657a690389285100\n"
                .to_vec()
        );
    }

    #[test]
    fn response_message_covers_timestamp_nonce_and_body_or_nothing_for_a_204() {
        assert_eq!(
            response_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", b"{}"),
            b"1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{}\n".to_vec()
        );
        assert_eq!(response_message("1", "n", b""), b"1\nn\n\n".to_vec());
    }

    #[test]
    fn the_signed_path_is_path_and_query_without_host_or_fragment() {
        assert_eq!(
            path_and_query("https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/P1?mchid=1900009191"),
            "/v3/pay/transactions/out-trade-no/P1?mchid=1900009191"
        );
        assert_eq!(
            path_and_query("http://127.0.0.1:9090/wechat/v3/refund/domestic/refunds#x"),
            "/wechat/v3/refund/domestic/refunds"
        );
        assert_eq!(path_and_query("https://h"), "/");
    }

    fn signed(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good_headers(timestamp: &str, signature: &str, serial: &str) -> Vec<(String, String)> {
        signed(&[
            ("Wechatpay-Timestamp", timestamp),
            ("Wechatpay-Nonce", "fdasflkja484w"),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Serial", serial),
            ("Wechatpay-Signature-Type", AUTH_SCHEME),
        ])
    }

    const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
    // Certificate serials as WeChat writes them, 40 upper-case hex digits: CERT is the
    // `serial_no` of the `GET /v3/certificates` example (https://github.com/TheNorthMemory/
    // wechatpay-openapi, docs/v3/certificates.yaml); NEW_CERT another of the same shape.
    const CERT: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
    const NEW_CERT: &str = "6E1D414B17AFC0A15A2E4491C9C14927801AF3EC";

    fn public_key_only() -> PlatformKeys {
        PlatformKeys::configured(Some(KEY_ID), true, Vec::new()).expect("the public key")
    }

    fn certificates_only() -> PlatformKeys {
        PlatformKeys::configured(None, false, vec![CERT.into(), NEW_CERT.into()])
            .expect("certificates")
    }

    fn migrating() -> PlatformKeys {
        PlatformKeys::configured(Some(KEY_ID), true, vec![CERT.into()]).expect("both")
    }

    #[test]
    fn the_public_key_the_certificates_or_both_are_a_configuration() {
        assert_eq!(
            public_key_only(),
            PlatformKeys {
                public_key_id: Some(KEY_ID.into()),
                certificate_serials: Vec::new()
            }
        );
        assert_eq!(certificates_only().public_key_id, None);
        assert_eq!(
            certificates_only().certificate_serials,
            vec![CERT, NEW_CERT]
        );
        assert_eq!(migrating().names(), format!("{KEY_ID}, {CERT}"));
        // A blank id is no id.
        let padded = format!(" {KEY_ID} ");
        assert_eq!(
            PlatformKeys::configured(Some(&padded), true, Vec::new()),
            Ok(public_key_only())
        );
    }

    #[test]
    fn a_configuration_without_any_platform_key_is_refused_naming_what_is_missing() {
        for id in [None, Some(""), Some("  ")] {
            let e = PlatformKeys::configured(id, false, Vec::new()).expect_err("no key");
            for name in [
                PUBLIC_KEY_ID_SETTING,
                PUBLIC_KEY_SECRET,
                CERTIFICATES_SECRET,
            ] {
                assert!(e.contains(&format!("`{name}`")), "{e}");
            }
        }
    }

    #[test]
    fn half_a_public_key_is_refused_even_with_certificates() {
        for certificates in [Vec::new(), vec![CERT.to_owned()]] {
            let e = PlatformKeys::configured(Some(KEY_ID), false, certificates.clone())
                .expect_err("an id without its key");
            assert!(
                e.contains(&format!("secret `{PUBLIC_KEY_SECRET}` is missing")),
                "{e}"
            );
            let e = PlatformKeys::configured(None, true, certificates)
                .expect_err("a key without its id");
            assert!(
                e.contains(&format!("setting `{PUBLIC_KEY_ID_SETTING}` is missing")),
                "{e}"
            );
        }
    }

    #[test]
    fn the_public_key_id_selects_the_public_key() {
        assert_eq!(public_key_only().select(KEY_ID), Ok(PlatformKey::PublicKey));
        assert_eq!(migrating().select(KEY_ID), Ok(PlatformKey::PublicKey));
        // The id is compared exactly.
        assert!(migrating().select(&KEY_ID.to_lowercase()).is_err());
    }

    #[test]
    fn a_certificate_serial_selects_that_certificate() {
        assert_eq!(
            certificates_only().select(NEW_CERT),
            Ok(PlatformKey::Certificate(NEW_CERT))
        );
        assert_eq!(migrating().select(CERT), Ok(PlatformKey::Certificate(CERT)));
    }

    #[test]
    fn a_certificate_serial_is_compared_without_case_or_leading_zeros() {
        let lower = CERT.to_lowercase();
        // The configured spelling is what the host is asked about.
        assert_eq!(
            certificates_only().select(&lower),
            Ok(PlatformKey::Certificate(CERT))
        );
        let keys = PlatformKeys::configured(None, false, vec![format!("00{CERT}")])
            .expect("a serial with a DER sign byte");
        let configured = format!("00{CERT}");
        assert_eq!(
            keys.select(CERT),
            Ok(PlatformKey::Certificate(configured.as_str()))
        );
        let short = PlatformKeys::configured(None, false, vec!["0ABC".into()]).expect("a serial");
        assert_eq!(short.select("abc"), Ok(PlatformKey::Certificate("0ABC")));
        assert!(short.select("ABCD").is_err());
    }

    #[test]
    fn a_serial_nobody_configured_is_refused_naming_it() {
        let stranger = "7D1C3A90B2E4F6051827364554637281900AABBC";
        let e = migrating()
            .select(stranger)
            .expect_err("an unknown certificate");
        assert_eq!(
            e,
            format!(
                "signed by WeChat Pay key {stranger}, which is not configured \
                 (configured: {KEY_ID}, {CERT})"
            )
        );
        // A public key a certificate-only merchant has not configured yet.
        let e = certificates_only()
            .select(KEY_ID)
            .expect_err("no public key");
        assert!(
            e.contains(KEY_ID) && e.contains(CERT) && e.contains(NEW_CERT),
            "{e}"
        );
        let e = public_key_only().select(CERT).expect_err("no certificates");
        assert!(e.contains(CERT) && e.contains(KEY_ID), "{e}");
    }

    #[test]
    fn requests_name_the_public_key_when_it_is_configured() {
        let expected = Some((SERIAL_HEADER.to_owned(), KEY_ID.to_owned()));
        assert_eq!(request_serial_header(&public_key_only()), expected);
        assert_eq!(request_serial_header(&migrating()), expected);
        assert_eq!(request_serial_header(&certificates_only()), None);
    }

    #[test]
    fn fresh_headers_from_a_configured_platform_key_are_read() {
        let keys = migrating();
        let headers = good_headers("1700000000", "AAEC", KEY_ID);
        let read = SignedHeaders::read(&headers, &keys, 1_700_000_100).expect("valid headers");
        assert_eq!(
            read,
            SignedHeaders {
                timestamp: "1700000000",
                nonce: "fdasflkja484w",
                signature: vec![0, 1, 2],
                key: PlatformKey::PublicKey,
            }
        );
        let headers = good_headers("1700000000", "AAEC", &CERT.to_lowercase());
        let read = SignedHeaders::read(&headers, &keys, 1_700_000_100).expect("valid headers");
        assert_eq!(read.key, PlatformKey::Certificate(CERT));
    }

    #[test]
    fn headers_older_than_five_minutes_or_from_the_future_are_refused() {
        let keys = public_key_only();
        let headers = good_headers("1700000000", "AAEC", KEY_ID);
        assert!(SignedHeaders::read(&headers, &keys, 1_700_000_300).is_ok());
        let stale = SignedHeaders::read(&headers, &keys, 1_700_000_301).expect_err("stale");
        assert!(stale.contains("301s"), "{stale}");
        assert!(SignedHeaders::read(&headers, &keys, 1_699_999_699).is_err());
        let bad = good_headers("yesterday", "AAEC", KEY_ID);
        assert!(SignedHeaders::read(&bad, &keys, 1_700_000_000).is_err());
    }

    /// `now - at` overflowed for a timestamp near `i64::MIN` (a panic with overflow checks;
    /// without them, `now - 2^63` wrapped to a difference of `i64::MIN`, whose `abs()` is
    /// negative, and passed as fresh). The fuzz target `wechat_notification` replays it.
    #[test]
    fn a_timestamp_at_the_ends_of_the_integers_is_refused_as_stale_not_a_panic() {
        let keys = public_key_only();
        let now = 1_700_000_000;
        for at in [
            i64::MIN,
            i64::MIN + 1,
            now - (1 << 62) - (1 << 62),
            i64::MAX,
        ] {
            let headers = good_headers(&at.to_string(), "AAEC", KEY_ID);
            let e = SignedHeaders::read(&headers, &keys, now).expect_err("stale");
            assert!(e.contains("away from now"), "{at}: {e}");
        }
    }

    #[test]
    fn another_platform_key_is_refused_naming_it_and_the_configured_ones() {
        let keys = migrating();
        let headers = good_headers("1700000000", "AAEC", "PUB_KEY_ID_OTHER");
        let e = SignedHeaders::read(&headers, &keys, 1_700_000_000).expect_err("other key");
        assert!(
            e.contains("PUB_KEY_ID_OTHER") && e.contains(KEY_ID) && e.contains(CERT),
            "{e}"
        );
    }

    #[test]
    fn signature_probes_never_verify_whatever_the_key() {
        let keys = migrating();
        for serial in [KEY_ID, CERT] {
            let headers = good_headers("1700000000", "WECHATPAY/SIGNTEST/AAEC", serial);
            let e = SignedHeaders::read(&headers, &keys, 1_700_000_000).expect_err("probe");
            assert!(e.contains("SIGNTEST"), "{e}");
        }
    }

    #[test]
    fn missing_headers_and_other_signature_types_are_refused_by_name() {
        let keys = public_key_only();
        for missing in [
            TIMESTAMP_HEADER,
            NONCE_HEADER,
            SIGNATURE_HEADER,
            SERIAL_HEADER,
        ] {
            let headers: Vec<_> = good_headers("1700000000", "AAEC", KEY_ID)
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(missing))
                .collect();
            let e = SignedHeaders::read(&headers, &keys, 1_700_000_000).expect_err(missing);
            assert!(e.contains(missing), "{e}");
        }
        let mut headers = good_headers("1700000000", "AAEC", KEY_ID);
        headers[4].1 = "WECHATPAY2-SM2-WITH-SM3".into();
        assert!(SignedHeaders::read(&headers, &keys, 1_700_000_000).is_err());
        // The type header is optional: the serial and the signature decide.
        headers.remove(4);
        assert!(SignedHeaders::read(&headers, &keys, 1_700_000_000).is_ok());
        let not_base64 = good_headers("1700000000", "!!", KEY_ID);
        assert!(SignedHeaders::read(&not_base64, &keys, 1_700_000_000).is_err());
    }

    #[test]
    fn any_wechatpay_signature_header_claims_a_signature() {
        assert!(!claims_signature(&[]));
        assert!(!claims_signature(&signed(&[
            ("content-type", "application/json; charset=utf-8"),
            (
                "request-id",
                "08D799FE0510AC0418BBC8C5A2012093A72828A4D601-270924360"
            ),
        ])));
        assert!(claims_signature(&good_headers(
            "1700000000",
            "AAEC",
            KEY_ID
        )));
        for name in [
            "Wechatpay-Timestamp",
            "wechatpay-nonce",
            "WECHATPAY-SIGNATURE",
            "Wechatpay-Serial",
            "Wechatpay-Signature-Type",
        ] {
            assert!(claims_signature(&signed(&[(name, "")])), "{name}");
        }
    }

    #[test]
    fn time_expire_is_rfc3339_in_beijing_time() {
        // 2026-11-23T02:34:56Z
        assert_eq!(
            time_expire(1_795_401_296).as_deref(),
            Some("2026-11-23T10:34:56+08:00")
        );
        assert_eq!(time_expire(0).as_deref(), Some("1970-01-01T08:00:00+08:00"));
        assert_eq!(time_expire(i64::MAX), None);
    }

    #[test]
    fn times_are_read_with_any_offset_and_fractional_seconds() {
        let at = 1_795_401_296;
        for text in [
            "2026-11-23T10:34:56+08:00",
            "2026-11-23T10:34:56.000+08:00",
            "2026-11-23T02:34:56Z",
            "2026-11-23T02:34:56.5Z",
            "2026-11-22T21:34:56-05:00",
        ] {
            assert_eq!(parse_time(text), Some(at), "{text}");
        }
        assert_eq!(parse_time("2026-11-23 10:34:56"), None);
        assert_eq!(parse_time(""), None);
    }
}
