//! paygate's WeChat Pay API v3 adapter (direct merchant mode).
//!
//! Every request is signed (`Authorization: WECHATPAY2-SHA256-RSA2048 ...`) with the
//! merchant's API private key through the host's `keys` import. The adapter never sees a
//! key.
//!
//! Answers: a 2xx answer's `Wechatpay-Signature` is verified before anything in it is
//! believed, and a 2xx that does not verify is treated as no answer (`unreachable`: the host
//! queries later). WeChat signs every answer to a request whose signature it verified,
//! errors included; only its refusals of the request itself (`401 SIGN_ERROR`, some `400`s)
//! come without the `Wechatpay-*` headers. So an answer that is not a 2xx is read by
//! whether it claims a signature (see [`accept`]): one that carries the `Wechatpay-*`
//! headers is verified exactly like a 2xx, and then says what it says (`already-paid`,
//! `already-closed`, `not-found`...), or it is `unreachable`; one without them is read for
//! its `{code, message}` but is only ever a `rejected` (or `unreachable` for WeChat's own
//! trouble), never a fact about the trade: `401 SIGN_ERROR` is a `rejected`, not silence
//! (see `wire::error_for` for the whole map). Notifications must verify, be fresh (five
//! minutes), and their `resource` is decrypted (AEAD_AES_256_GCM, APIv3 key) by the host.
//!
//! WeChat Pay signs with one of two kinds of platform key, and every signed message names
//! its key in `Wechatpay-Serial`; the merchant configures either or both:
//!
//! - the **WeChat Pay public key** (微信支付公钥): setting `platform_public_key_id`
//!   (`PUB_KEY_ID_...`) and secret `platform_public_key` (`pub_key.pem`), together. Accounts
//!   opened since late 2024 have only this. When it is configured, every request carries
//!   `Wechatpay-Serial: <platform_public_key_id>`, which asks WeChat to sign the answer
//!   with the public key;
//! - the **platform certificates** (平台证书): secret `platform_certificates`, one or more
//!   PEM certificates as `GET /v3/certificates` hands them out (decrypted); the host reads
//!   their serial numbers (40 hex digits);
//! - **both**, while the merchant switches from the certificates to the public key: WeChat
//!   signs an answer with the public key only when the request names it (otherwise with a
//!   certificate), and moves notifications to the public key gradually, so both kinds
//!   arrive for a while.
//!
//! Each answer and notification is verified with the key its `Wechatpay-Serial` names (the
//! public key for its id, else the certificate with that serial); a serial naming no
//! configured key is refused, naming it and the configured ones. A configuration with
//! neither key (or half of the public key) fails every call with a `config` error naming
//! what is missing.
//!
//! Channels: `native` (a QR code of `code_url`), `jsapi` (the parameters WeChat's JS bridge
//! needs, `paySign` included), `h5` (a redirect to `h5_url`).
//!
//! Reconciliation (`paygate:bills`): the day's trade bill, asked for with a signed
//! `GET /v3/bill/tradebill` whose answer verifies like any other, then downloaded with a
//! signed GET whose answer (the file) WeChat does not sign: its SHA1 is checked instead.
//!
//! `protocol.rs` holds the signature scheme and the choice of platform key, `wire.rs` the
//! JSON bodies and the state and error maps, `bill.rs` the bill's checks and rows; this file
//! holds the flows.

// The `fuzzing` feature (used by `fuzz/` only) makes the pure parsers public, so the fuzz
// targets run them natively; the adapter itself is the same with or without it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod bill;
#[cfg(not(feature = "fuzzing"))]
mod bill;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod protocol;
#[cfg(not(feature = "fuzzing"))]
mod protocol;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod wire;
#[cfg(not(feature = "fuzzing"))]
mod wire;

use serde::Serialize;

use paygate_sdk::encoding::{base64_decode, base64_encode};
use paygate_sdk::http::{self, Method};
use paygate_sdk::keys::{self, Cipher, SignatureAlgorithm};
use paygate_sdk::{
    channel, json_body, json_reply, json_request, method_name, nonce, request, required_setting,
    send, setting, unix_now, AdapterInfo, BillError, BillRow, Bills, Config, Headers, Notification,
    NotificationEvent, PayAction, PayRequest, PayResponse, PayerBinding, Provider, ProviderError,
    RefundRequest, RefundStatus, Refusal, Rejection, Reply, SecretKind, SecretSpec, SettingSpec,
    TradeStatus, CONTRACT_VERSION,
};

use protocol::{PlatformKey, PlatformKeys, SignedHeaders};
use wire::{
    Amount, CloseBody, Envelope, H5Info, PayAnswer, PayBody, PayerBody, Refund, RefundAmountBody,
    RefundBody, RefundNotice, SceneInfo, Transaction,
};

/// The merchant's API private key (`apiclient_key.pem`), which signs requests and JSAPI
/// `paySign`s.
const MERCHANT_PRIVATE_KEY: &str = "merchant_private_key";
/// WeChat Pay's public key (`pub_key.pem`), which verifies answers and notifications whose
/// `Wechatpay-Serial` is `platform_public_key_id`.
const PLATFORM_PUBLIC_KEY: &str = protocol::PUBLIC_KEY_SECRET;
/// WeChat Pay's platform certificates, which verify answers and notifications whose
/// `Wechatpay-Serial` is one of their serial numbers.
const PLATFORM_CERTIFICATES: &str = protocol::CERTIFICATES_SECRET;
/// The APIv3 key, which decrypts notification resources.
const APIV3_KEY: &str = "apiv3_key";

/// What the descriptions of the three platform-key entries say about them.
const EITHER_OR_BOTH: &str = "configure the public key (platform_public_key_id together with \
     platform_public_key), or the platform certificates (platform_certificates), or both while \
     switching from the certificates to the public key";

/// WeChat Pay's API.
const DEFAULT_API_BASE: &str = "https://api.mch.weixin.qq.com";

struct Wechat;

impl Provider for Wechat {
    fn info() -> AdapterInfo {
        let setting = |name: &str, required: bool, description: &str| SettingSpec {
            name: name.into(),
            required,
            description: description.into(),
            is_base_url: false,
            default_value: None,
        };
        let secret = |name: &str, kind, required: bool, description: &str| SecretSpec {
            name: name.into(),
            kind,
            required,
            description: description.into(),
        };
        AdapterInfo {
            name: "wechat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            // A JSAPI prepay works for the openid it was created for only; an H5 link only
            // from the payer's network (scene_info.payer_client_ip).
            channels: vec![
                channel("native", &[]),
                channel("jsapi", &[PayerBinding::OpenId]),
                channel("h5", &[PayerBinding::ClientIp]),
            ],
            settings: vec![
                setting(
                    "mchid",
                    true,
                    "the merchant number (商户号), e.g. 1900009191",
                ),
                setting(
                    "appid",
                    true,
                    "the app id bound to the merchant number (公众号/小程序/应用 AppID)",
                ),
                SettingSpec {
                    name: "api_base".into(),
                    required: true,
                    description: "WeChat Pay's API; change it only to reach a simulator (plain \
                                  http only on loopback)"
                        .into(),
                    is_base_url: true,
                    default_value: Some(DEFAULT_API_BASE.into()),
                },
                setting(
                    "merchant_serial_no",
                    true,
                    "the serial number of the merchant API certificate whose private key is \
                     merchant_private_key (证书序列号)",
                ),
                setting(
                    protocol::PUBLIC_KEY_ID_SETTING,
                    false,
                    &format!(
                        "the id of WeChat Pay's public key, PUB_KEY_ID_... (微信支付公钥ID), \
                         sent on every request so that WeChat signs answers with it; \
                         {EITHER_OR_BOTH}"
                    ),
                ),
            ],
            secrets: vec![
                secret(
                    MERCHANT_PRIVATE_KEY,
                    SecretKind::RsaPrivateKey,
                    true,
                    "the merchant API private key, PEM (apiclient_key.pem)",
                ),
                secret(
                    PLATFORM_PUBLIC_KEY,
                    SecretKind::RsaPublicKey,
                    false,
                    &format!(
                        "WeChat Pay's public key, PEM (pub_key.pem, 微信支付公钥), whose id is \
                         platform_public_key_id; {EITHER_OR_BOTH}"
                    ),
                ),
                secret(
                    PLATFORM_CERTIFICATES,
                    SecretKind::X509Certificates,
                    false,
                    &format!(
                        "WeChat Pay's platform certificates (平台证书), PEM, one or more \
                         concatenated, as GET /v3/certificates hands them out, decrypted; \
                         {EITHER_OR_BOTH}"
                    ),
                ),
                secret(
                    APIV3_KEY,
                    SecretKind::Aes256Key,
                    true,
                    "the 32-character APIv3 key (APIv3密钥), which decrypts notifications",
                ),
            ],
        }
    }

    fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        let merchant = Merchant::of(&config)?;
        if request.amount.currency != wire::CURRENCY {
            return Err(ProviderError::Unsupported(format!(
                "WeChat Pay collects CNY only, not {}",
                request.amount.currency
            )));
        }
        let time_expire = protocol::time_expire(request.expires_at).ok_or_else(|| {
            ProviderError::Unsupported(format!("deadline {} is not a date", request.expires_at))
        })?;
        let mut body = PayBody {
            appid: merchant.appid,
            mchid: merchant.mchid,
            description: wire::description(&request.subject),
            out_trade_no: &request.payment_no,
            time_expire,
            notify_url: &request.notify_url,
            amount: Amount {
                total: request.amount.minor,
                currency: wire::CURRENCY,
            },
            payer: None,
            scene_info: None,
        };
        let path = match request.channel.as_str() {
            "native" => "/v3/pay/transactions/native",
            "jsapi" => {
                let openid = payer_detail(&request.payer.open_id, "open_id", "jsapi")?;
                body.payer = Some(PayerBody { openid });
                "/v3/pay/transactions/jsapi"
            }
            "h5" => {
                let ip = payer_detail(&request.payer.client_ip, "client_ip", "h5")?;
                body.scene_info = Some(SceneInfo {
                    payer_client_ip: ip,
                    h5_info: H5Info { kind: "Wap" },
                });
                "/v3/pay/transactions/h5"
            }
            other => {
                return Err(ProviderError::Unsupported(format!(
                    "channel `{other}`: WeChat Pay offers `native`, `jsapi` and `h5`"
                )))
            }
        };
        let asked_at = unix_now();
        let answer: PayAnswer = json_body(&merchant.call(Method::Post, path, Some(&body))?)?;
        let missing = |field: &str| {
            ProviderError::Unreachable(format!("WeChat Pay's answer to {path} has no `{field}`"))
        };
        let action = match request.channel.as_str() {
            "native" => PayAction::QrCode(answer.code_url.ok_or_else(|| missing("code_url"))?),
            "h5" => PayAction::Redirect(answer.h5_url.ok_or_else(|| missing("h5_url"))?),
            _ => PayAction::SdkParams(
                merchant.jsapi_params(&answer.prepay_id.ok_or_else(|| missing("prepay_id"))?)?,
            ),
        };
        // WeChat's own trade id (transaction_id) exists once the trade is paid.
        Ok(PayResponse {
            action,
            provider_trade_id: None,
            // Counted from the moment of asking: WeChat's clock started no earlier.
            action_expires_at: wire::action_lifetime_secs(&request.channel)
                .map(|lifetime| asked_at + lifetime),
        })
    }

    fn query(config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let path = format!(
            "{}?mchid={}",
            wire::trade_path(&payment_no)?,
            merchant.mchid
        );
        let transaction: Transaction =
            json_body(&merchant.call::<()>(Method::Get, &path, None)?)?;
        wire::trade_status(transaction, merchant.mchid, Some(&payment_no))
    }

    fn close(config: Config, payment_no: String) -> Result<(), ProviderError> {
        let merchant = Merchant::of(&config)?;
        let path = format!("{}/close", wire::trade_path(&payment_no)?);
        let body = CloseBody {
            mchid: merchant.mchid,
        };
        merchant.call(Method::Post, &path, Some(&body)).map(|_| ())
    }

    fn refund(config: Config, request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        wire::trade_path(&request.payment_no)?;
        if request.amount.currency != wire::CURRENCY {
            return Err(ProviderError::Unsupported(format!(
                "WeChat Pay refunds CNY only, not {}",
                request.amount.currency
            )));
        }
        let body = RefundBody {
            out_trade_no: &request.payment_no,
            out_refund_no: &request.refund_no,
            reason: request.reason.as_deref(),
            notify_url: &request.notify_url,
            amount: RefundAmountBody {
                refund: request.amount.minor,
                total: request.total.minor,
                currency: wire::CURRENCY,
            },
        };
        // A repeated out_refund_no is the same refund at WeChat: asking again after an
        // unknown outcome (or while it is PROCESSING) never refunds twice.
        let refund: Refund =
            json_body(&merchant.call(Method::Post, "/v3/refund/domestic/refunds", Some(&body))?)?;
        if refund.out_refund_no != request.refund_no {
            return Err(ProviderError::Unreachable(format!(
                "asked for refund {}, WeChat Pay answered about {}",
                request.refund_no, refund.out_refund_no
            )));
        }
        wire::refund_status(
            request.payment_no,
            refund.out_refund_no,
            refund.refund_id,
            &refund.status,
            refund.amount,
        )
    }

    fn query_refund(
        config: Config,
        payment_no: String,
        refund_no: String,
    ) -> Result<RefundStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let path = wire::refund_path(&refund_no)?;
        let refund: Refund = json_body(&merchant.call::<()>(Method::Get, &path, None)?)?;
        if refund.out_refund_no != refund_no {
            return Err(ProviderError::Unreachable(format!(
                "asked about refund {refund_no}, WeChat Pay answered about {}",
                refund.out_refund_no
            )));
        }
        wire::refund_status(
            payment_no,
            refund.out_refund_no,
            refund.refund_id,
            &refund.status,
            refund.amount,
        )
    }

    fn parse_notification(
        config: Config,
        headers: Headers,
        body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        let merchant = Merchant::of(&config).map_err(refuse)?;
        let event = merchant
            .verified_notification(&headers, &body)
            .map_err(refuse)?;
        Ok(Notification {
            event,
            // WeChat: "200 or 204, no body" for success.
            ack: Reply {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            },
            retry: fail_reply(500, "the receiver could not record the notification; retry"),
        })
    }
}

/// Reconciliation: the day's trade bill (申请交易账单, then 下载账单; see `bill.rs`).
impl Bills for Wechat {
    fn fetch_bill(config: Config, day: String) -> Result<Vec<BillRow>, BillError> {
        let merchant = Merchant::of(&config).map_err(BillError::Failed)?;
        let path = bill::trade_bill_path(&day).map_err(BillError::Failed)?;
        let day_over = bill::day_end(&day).map_err(BillError::Failed)? <= unix_now();
        let url = format!("{}{path}", merchant.api_base);
        let call = merchant
            .sign(get_request(Method::Get, &url, "application/json"))
            .map_err(BillError::Failed)?;
        let answer = send(call).map_err(BillError::Failed)?;
        let Some(location) = bill_answer(answer, &format!("GET {path}"), day_over, |h, b| {
            merchant.verify(h, b)
        })?
        else {
            return Ok(Vec::new());
        };
        merchant
            .download_bill(&location)
            .and_then(|file| bill::bill_text(&file, &location))
            .and_then(|text| bill::parse_bill(&text))
            .map_err(BillError::Failed)
    }
}

/// A merchant's settings and platform keys, read once per call.
struct Merchant<'a> {
    mchid: &'a str,
    appid: &'a str,
    api_base: &'a str,
    serial_no: &'a str,
    platform_keys: PlatformKeys,
}

impl<'a> Merchant<'a> {
    /// Reads the settings and which platform keys exist: a configuration the adapter cannot
    /// verify WeChat with fails here, before anything is sent.
    fn of(config: &'a Config) -> Result<Merchant<'a>, ProviderError> {
        let mchid = required_setting(config, "mchid")?;
        let appid = required_setting(config, "appid")?;
        let api_base = required_setting(config, "api_base")?.trim_end_matches('/');
        let serial_no = required_setting(config, "merchant_serial_no")?;
        let platform_keys = PlatformKeys::configured(
            setting(config, protocol::PUBLIC_KEY_ID_SETTING),
            has_public_key()?,
            certificate_serials()?,
        )
        .map_err(|reason| {
            ProviderError::Config(format!(
                "merchant {}'s WeChat Pay configuration: {reason}",
                config.merchant_id
            ))
        })?;
        Ok(Merchant {
            mchid,
            appid,
            api_base,
            serial_no,
            platform_keys,
        })
    }

    /// Signs and sends a request to `path` (under `api_base`), and reads the answer (see
    /// [`accept`]): a 2xx must verify, and so must an error that carries a signature; an
    /// unsigned error is WeChat's refusal of the request, or its trouble.
    fn call<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&T>,
    ) -> Result<http::Response, ProviderError> {
        let url = format!("{}{path}", self.api_base);
        let call = match body {
            Some(body) => json_request(method, &url, body)?,
            None => get_request(method, &url, "application/json"),
        };
        let response = send(self.sign(call)?)?;
        accept(
            response,
            &format!("{} {path}", method_name(method)),
            |headers, body| self.verify(headers, body),
        )
    }

    /// `call`, final: with the `Wechatpay-Serial` that names the key answers should be
    /// signed with, and the `Authorization` that signs its method, path and query (of
    /// `call.url`, whichever host it names), a fresh timestamp and nonce, and its body.
    fn sign(&self, mut call: http::Request) -> Result<http::Request, ProviderError> {
        call.headers
            .extend(protocol::request_serial_header(&self.platform_keys));
        let timestamp = unix_now();
        let nonce = nonce(32)?;
        let message = protocol::request_message(
            method_name(call.method),
            protocol::path_and_query(&call.url),
            timestamp,
            &nonce,
            &call.body,
        );
        let signature = keys::sign(
            MERCHANT_PRIVATE_KEY,
            SignatureAlgorithm::RsaSha256,
            &message,
        )?;
        call.headers.push((
            "authorization".to_owned(),
            protocol::authorization(self.mchid, &nonce, &signature, timestamp, self.serial_no),
        ));
        Ok(call)
    }

    /// The file at the bill's `download_url`, fetched with a signed GET (the signature covers
    /// the URL's path and query, as WeChat's own token and `tartype` give them), only from the
    /// configured API's origin. Its answer is not signed: the caller checks its hash.
    fn download_bill(&self, location: &bill::BillLocation) -> Result<Vec<u8>, ProviderError> {
        let url = &location.download_url;
        bill::check_download_url(url, self.api_base)?;
        // `*/*`: the answer is a file (gzip), not JSON; WeChat's Go SDK asks so for all calls.
        let response = send(self.sign(get_request(Method::Get, url, "*/*"))?)?;
        bill_file(
            response,
            &format!("GET {}", protocol::path_and_query(url)),
            |headers, body| self.verify(headers, body),
        )
    }

    /// Checks that `body` with these headers was signed, now, by the platform key its
    /// `Wechatpay-Serial` names, which the merchant must have configured.
    fn verify(&self, headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
        let signed = SignedHeaders::read(headers, &self.platform_keys, unix_now())?;
        let message = protocol::response_message(signed.timestamp, signed.nonce, body);
        let (verified, key) = match signed.key {
            PlatformKey::PublicKey => (
                keys::verify(
                    PLATFORM_PUBLIC_KEY,
                    SignatureAlgorithm::RsaSha256,
                    &message,
                    &signed.signature,
                ),
                "WeChat Pay's public key".to_owned(),
            ),
            PlatformKey::Certificate(serial) => (
                keys::verify_certificate(
                    PLATFORM_CERTIFICATES,
                    serial,
                    SignatureAlgorithm::RsaSha256,
                    &message,
                    &signed.signature,
                ),
                format!("platform certificate {serial}"),
            ),
        };
        match verified {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{} does not verify with {key}",
                protocol::SIGNATURE_HEADER
            )),
            Err(e) => Err(format!("{key} cannot verify: {e:?}")),
        }
    }

    /// The parameters `WeixinJSBridge.invoke('getBrandWCPayRequest', ...)` / `wx.requestPayment`
    /// need for `prepay_id`, `paySign` signed with the merchant's key.
    fn jsapi_params(&self, prepay_id: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let timestamp = unix_now().to_string();
        let nonce = nonce(32)?;
        let package = format!("prepay_id={prepay_id}");
        let message = protocol::jsapi_message(self.appid, &timestamp, &nonce, &package);
        let signature = keys::sign(
            MERCHANT_PRIVATE_KEY,
            SignatureAlgorithm::RsaSha256,
            &message,
        )?;
        Ok(vec![
            ("appId".to_owned(), self.appid.to_owned()),
            ("timeStamp".to_owned(), timestamp),
            ("nonceStr".to_owned(), nonce),
            ("package".to_owned(), package),
            ("signType".to_owned(), "RSA".to_owned()),
            ("paySign".to_owned(), base64_encode(&signature)),
        ])
    }

    /// Verifies a notification (signature, platform key, freshness), decrypts its resource
    /// and reads the event in it.
    fn verified_notification(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<NotificationEvent, ProviderError> {
        self.verify(headers, body)
            .map_err(ProviderError::BadSignature)?;
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| rejected("UNREADABLE", format!("not a WeChat Pay notification: {e}")))?;
        let resource = &envelope.resource;
        if resource.algorithm != wire::AEAD_AES_256_GCM {
            return Err(rejected(
                "UNSUPPORTED_ALGORITHM",
                format!("resource encrypted with `{}`", resource.algorithm),
            ));
        }
        let ciphertext = base64_decode(&resource.ciphertext)
            .ok_or_else(|| ProviderError::BadSignature("the resource is not base64".into()))?;
        let plaintext = keys::decrypt(
            APIV3_KEY,
            Cipher::Aes256Gcm,
            resource.nonce.as_bytes(),
            resource.associated_data.as_bytes(),
            &ciphertext,
        )?;
        let unreadable = |e: serde_json::Error| {
            rejected(
                "UNREADABLE",
                format!("notification {}: unreadable resource: {e}", envelope.id),
            )
        };
        if envelope.event_type.starts_with(wire::REFUND_EVENT_PREFIX) {
            let refund: RefundNotice = serde_json::from_slice(&plaintext).map_err(unreadable)?;
            if refund.mchid != self.mchid {
                return Err(rejected(
                    "MCHID_MISMATCH",
                    format!("refund of merchant {} sent to {}", refund.mchid, self.mchid),
                ));
            }
            return wire::refund_status(
                refund.out_trade_no,
                refund.out_refund_no,
                refund.refund_id,
                &refund.refund_status,
                refund.amount,
            )
            .map(NotificationEvent::Refund);
        }
        if envelope.event_type != wire::TRANSACTION_SUCCESS {
            return Err(rejected(
                "UNSUPPORTED_EVENT",
                format!("event type `{}`", envelope.event_type),
            ));
        }
        let transaction: Transaction = serde_json::from_slice(&plaintext).map_err(unreadable)?;
        wire::trade_status(transaction, self.mchid, None).map(NotificationEvent::Payment)
    }
}

/// What WeChat's answer to `what` (`POST /v3/...`) means.
///
/// WeChat signs an answer only when it verified the request's signature, and then signs it
/// whatever its status: "对于签名验证成功的请求，微信支付API v3会使用微信支付的平台私钥对应答进行签名"
/// (answers to requests whose signature verified are signed;
/// https://pay.weixin.qq.com/wiki/doc/apiv3_partner/wechatpay/wechatpay3_3.shtml). A refusal
/// of the request itself comes without any `Wechatpay-*` header (a captured 401 with all
/// its headers: https://developers.weixin.qq.com/community/pay/doc/0000220af80cf8681a3b5f02c5bc00).
/// So:
///
/// - a 2xx must `verify`, or it is no answer at all (`unreachable`): "没有携带签名的成功应答
///   （HTTP状态码为2xx），应认为是伪造或被篡改的应答" (an unsigned 2xx is forged; same page);
/// - any other status that carries the `Wechatpay-*` signature headers claims to be signed,
///   and is held to it: it must `verify` exactly like a 2xx (the key its `Wechatpay-Serial`
///   names, freshness, signature probes refused), and is then mapped by `wire::error_for`
///   in full (`already-paid`, `already-closed`, `not-found`...); if it does not verify it
///   is `unreachable`, never trusted;
/// - any other status without them is unsigned: it is read for its `{code, message}` by
///   `wire::error_for`, never verified (as the official SDKs read every non-2xx: wechatpay-go
///   `core.CheckResponse` before its validator, https://github.com/wechatpay-apiv3/wechatpay-go
///   `core/client.go`; wechatpay-java `AbstractHttpClient.validateResponse`,
///   https://github.com/wechatpay-apiv3/wechatpay-java), but as unsigned it is only ever a
///   `rejected` (or `unreachable` for WeChat's own trouble): anyone between us and WeChat can
///   write one, so it never tells the trade's state.
#[doc(hidden)] // public for the fuzz targets in `fuzz/`
pub fn accept(
    response: http::Response,
    what: &str,
    verify: impl FnOnce(&[(String, String)], &[u8]) -> Result<(), String>,
) -> Result<http::Response, ProviderError> {
    if !(200..300).contains(&response.status) {
        return Err(refusal(&response, what, verify));
    }
    verify(&response.headers, &response.body)
        .map_err(|reason| untrusted(&response, what, reason))?;
    Ok(response)
}

/// What an answer that is not a 2xx means (see [`accept`]): one that claims a signature
/// must `verify`, and is then mapped in full; one that does not is only a refusal.
fn refusal(
    response: &http::Response,
    what: &str,
    verify: impl FnOnce(&[(String, String)], &[u8]) -> Result<(), String>,
) -> ProviderError {
    if !protocol::claims_signature(&response.headers) {
        return wire::error_for(response.status, &response.body, false);
    }
    match verify(&response.headers, &response.body) {
        Ok(()) => wire::error_for(response.status, &response.body, true),
        Err(reason) => untrusted(response, what, reason),
    }
}

/// An answer whose signature does not verify: no answer at all.
fn untrusted(response: &http::Response, what: &str, reason: String) -> ProviderError {
    ProviderError::Unreachable(format!(
        "WeChat Pay's answer to {what} (HTTP {}) is not trusted: {reason}",
        response.status
    ))
}

/// What the answer to `GET /v3/bill/tradebill` (`what`) means: where the day's bill is (a
/// 2xx, which must verify, as every answer to a signed request); `None` for a day without a
/// bill (`NO_STATEMENT_EXIST`, no trade that day); `not-ready` while WeChat produces it
/// (`STATEMENT_CREATING`, before 10:00 Beijing time the next day). Both refusals must be
/// signed and verify, as any refusal that tells a fact (see [`accept`]): unsigned, they are
/// only `rejected`, like every other refusal. `day_over`: whether the bill's day has ended
/// (Beijing time, by our clock); a refusal of a day that has not is `not-ready`, whatever
/// its code, since no bill of it can exist yet (WeChat's error table gives `INVALID_REQUEST`
/// "请检查bill_date"; the simulator answers `PARAM_ERROR`).
fn bill_answer(
    response: http::Response,
    what: &str,
    day_over: bool,
    verify: impl FnOnce(&[(String, String)], &[u8]) -> Result<(), String>,
) -> Result<Option<bill::BillLocation>, BillError> {
    if (200..300).contains(&response.status) {
        let answer = accept(response, what, verify).map_err(BillError::Failed)?;
        return json_body(&answer).map(Some).map_err(BillError::Failed);
    }
    // A refusal that reaches `rejected` through `refusal` while claiming a signature has
    // verified (one that does not verify is `unreachable`).
    let signed = protocol::claims_signature(&response.headers);
    match refusal(&response, what, verify) {
        ProviderError::Rejected(r) if signed && r.code == bill::NO_BILL => Ok(None),
        ProviderError::Rejected(r) if signed && r.code == bill::NOT_READY => {
            Err(BillError::NotReady(format!("{}: {}", r.code, r.message)))
        }
        ProviderError::Rejected(r) if !day_over => Err(BillError::NotReady(format!(
            "the day has not ended in Beijing time, and WeChat Pay bills a day from 10:00 \
             the next day ({}: {})",
            r.code, r.message
        ))),
        other => Err(BillError::Failed(other)),
    }
}

/// The bill file, from the answer to its download (`what`): a 2xx is the file, unsigned by
/// WeChat's design (下载账单: "该接口响应的信息请求头中不包含微信接口响应的签名值，因此需要跳过验签的流程"),
/// which the caller checks against the announced hash; anything else is a refusal read as
/// every other (see [`accept`]), an expired `download_url` included.
fn bill_file(
    response: http::Response,
    what: &str,
    verify: impl FnOnce(&[(String, String)], &[u8]) -> Result<(), String>,
) -> Result<Vec<u8>, ProviderError> {
    if (200..300).contains(&response.status) {
        Ok(response.body)
    } else {
        Err(refusal(&response, what, verify))
    }
}

/// A request without a body, asking for `accept`.
fn get_request(method: Method, url: &str, accept: &str) -> http::Request {
    let mut call = request(method, url);
    call.headers.push(("accept".to_owned(), accept.to_owned()));
    call
}

/// Whether the merchant configured the secret `platform_public_key`. The `keys` import has
/// no listing of secrets: a verification of nothing asks, with no network call. The host
/// answers `unknown-key` for a secret the configuration lacks, and a verdict (`false`) for
/// one it has.
fn has_public_key() -> Result<bool, ProviderError> {
    match keys::verify(PLATFORM_PUBLIC_KEY, SignatureAlgorithm::RsaSha256, b"", b"") {
        Ok(_) | Err(keys::Error::InvalidInput(_)) => Ok(true),
        Err(keys::Error::UnknownKey(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The serial numbers of the configured platform certificates, as the host reads them; none
/// if the merchant configured no `platform_certificates`.
fn certificate_serials() -> Result<Vec<String>, ProviderError> {
    match keys::certificates(PLATFORM_CERTIFICATES) {
        Ok(certificates) => Ok(certificates.into_iter().map(|c| c.serial).collect()),
        Err(keys::Error::UnknownKey(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// A payer detail the channel needs, or the reason the request cannot be made.
fn payer_detail<'a>(
    value: &'a Option<String>,
    name: &str,
    channel: &str,
) -> Result<&'a str, ProviderError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ProviderError::Unsupported(format!("channel `{channel}` needs the payer's `{name}`"))
        })
}

fn rejected(code: &str, message: String) -> ProviderError {
    ProviderError::Rejected(Rejection {
        code: code.into(),
        message,
    })
}

/// WeChat's failure reply: any 4xx/5xx with `{"code": "FAIL", "message": ...}` makes it
/// retry on its schedule.
fn fail_reply(status: u16, message: &str) -> Reply {
    json_reply(
        status,
        &serde_json::json!({"code": "FAIL", "message": message}),
    )
}

/// A refused notification with its reply: 401 for a signature (or decryption) that does not
/// verify, 400 for a body that is not a notification we can read, 500 when the fault is the
/// merchant's configuration (WeChat retries; the details stay in paygate's log).
fn refuse(error: ProviderError) -> Refusal {
    let reply = match &error {
        ProviderError::BadSignature(reason) => fail_reply(401, reason),
        ProviderError::Rejected(r) => fail_reply(400, &r.message),
        _ => fail_reply(500, "the receiver cannot check this notification now"),
    };
    Refusal { error, reply }
}

paygate_sdk::export_adapter!(Wechat);
paygate_sdk::export_bills!(Wechat);

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
    const CERT: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response {
        http::Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn never_verified(_: &[(String, String)], _: &[u8]) -> Result<(), String> {
        panic!("an unsigned answer that is not a 2xx must not be verified")
    }

    /// The headers of a 401 captured in the field, posted with all its headers at
    /// https://developers.weixin.qq.com/community/pay/doc/0000220af80cf8681a3b5f02c5bc00
    /// (`GET /v3/certificates`, 2020): no `Wechatpay-*` header at all.
    const UNSIGNED_401_HEADERS: &[(&str, &str)] = &[
        ("server", "nginx"),
        ("content-type", "application/json; charset=utf-8"),
        ("content-length", "68"),
        ("cache-control", "no-cache, must-revalidate"),
        ("x-content-type-options", "nosniff"),
        (
            "request-id",
            "08D799FE0510AC0418BBC8C5A2012093A72828A4D601-270924360",
        ),
        ("content-language", "zh-CN"),
    ];

    /// The `Wechatpay-*` headers of an answer that claims to be signed (whether the claim
    /// holds is the verifier's business), spelt as WeChat sends them.
    const SIGNED_HEADERS: &[(&str, &str)] = &[
        ("Content-Type", "application/json; charset=utf-8"),
        ("Wechatpay-Nonce", "c5ac7061fccab6bf3e254dcf98995b8c"),
        ("Wechatpay-Signature", "AAEC"),
        ("Wechatpay-Timestamp", "1554209980"),
        ("Wechatpay-Serial", KEY_ID),
        ("Wechatpay-Signature-Type", protocol::AUTH_SCHEME),
    ];

    fn error_body(code: &str, message: &str) -> String {
        serde_json::json!({"code": code, "message": message}).to_string()
    }

    fn rejection(code: &str, message: &str) -> ProviderError {
        ProviderError::Rejected(Rejection {
            code: code.into(),
            message: message.into(),
        })
    }

    #[test]
    fn an_unsigned_sign_error_is_a_rejection_not_silence() {
        let answer = response(
            401,
            UNSIGNED_401_HEADERS,
            r#"{"code":"SIGN_ERROR","message":"签名信息错误，验签失败"}"#,
        );
        assert_eq!(
            accept(
                answer,
                "GET /v3/pay/transactions/out-trade-no/P1",
                never_verified
            ),
            Err(rejection("SIGN_ERROR", "签名信息错误，验签失败"))
        );
    }

    #[test]
    fn an_unsigned_order_not_exist_is_a_rejection_not_a_fact() {
        // Anyone between paygate and WeChat can write this; believed, it would end a payment
        // closed with no query (a `not-found` on close).
        let answer = response(
            404,
            UNSIGNED_401_HEADERS,
            &error_body("ORDER_NOT_EXIST", "订单不存在"),
        );
        assert_eq!(
            accept(
                answer,
                "POST /v3/pay/transactions/out-trade-no/P1/close",
                never_verified
            ),
            Err(rejection("ORDER_NOT_EXIST", "订单不存在"))
        );
    }

    #[test]
    fn unsigned_refusals_are_only_rejections_or_unknown_outcomes() {
        // Codes that, signed, tell the trade's state: unsigned, only the refusal they are.
        for (status, code) in [
            (400, "ORDERPAID"),
            (400, "ORDER_CLOSED"),
            (404, "ORDER_NOT_EXIST"),
            (404, "ORDERNOTEXIST"),
            (404, "RESOURCE_NOT_EXISTS"),
            (400, "PARAM_ERROR"),
            (400, "INVALID_REQUEST"),
            (403, "NOT_ENOUGH"),
        ] {
            let got = accept(
                response(status, &[], &error_body(code, "m")),
                "POST /v3/x",
                never_verified,
            );
            assert_eq!(got, Err(rejection(code, "m")), "{code}");
        }
        // WeChat's own trouble, whatever the status, and any code with a 5xx.
        for (status, code) in [
            (500, "SYSTEM_ERROR"),
            (400, "SYSTEM_ERROR"),
            (500, "BANK_ERROR"),
            (429, "FREQUENCY_LIMITED"),
            (500, "ORDERPAID"),
            (503, "ORDER_NOT_EXIST"),
        ] {
            assert!(
                matches!(
                    accept(
                        response(status, &[], &error_body(code, "m")),
                        "POST /v3/x",
                        never_verified
                    ),
                    Err(ProviderError::Unreachable(_))
                ),
                "{code} {status}"
            );
        }
    }

    #[test]
    fn a_signed_order_not_exist_is_not_found() {
        let body = error_body("ORDER_NOT_EXIST", "订单不存在");
        let mut checked = None;
        let got = accept(
            response(404, SIGNED_HEADERS, &body),
            "GET /v3/pay/transactions/out-trade-no/P1?mchid=1900009191",
            |headers, signed| {
                checked = Some((
                    paygate_sdk::header(headers, protocol::SERIAL_HEADER).map(str::to_owned),
                    signed.to_vec(),
                ));
                Ok(())
            },
        );
        assert_eq!(got, Err(ProviderError::NotFound));
        assert_eq!(
            checked,
            Some((Some(KEY_ID.to_owned()), body.into_bytes())),
            "verified over its headers and body, as a 2xx is"
        );
    }

    #[test]
    fn signed_errors_are_mapped_in_full() {
        let cases = [
            (400, "ORDERPAID", ProviderError::AlreadyPaid),
            (400, "ORDER_CLOSED", ProviderError::AlreadyClosed),
            (404, "RESOURCE_NOT_EXISTS", ProviderError::NotFound),
            (404, "ORDERNOTEXIST", ProviderError::NotFound),
            (400, "PARAM_ERROR", rejection("PARAM_ERROR", "m")),
        ];
        for (status, code, expected) in cases {
            let got = accept(
                response(status, SIGNED_HEADERS, &error_body(code, "m")),
                "POST /v3/x",
                |_, _| Ok(()),
            );
            assert_eq!(got, Err(expected), "{code}");
        }
        for (status, body) in [
            (500, error_body("SYSTEM_ERROR", "系统错误")),
            (502, "<html>Bad Gateway</html>".to_owned()),
        ] {
            assert!(
                matches!(
                    accept(
                        response(status, SIGNED_HEADERS, &body),
                        "POST /v3/x",
                        |_, _| Ok(())
                    ),
                    Err(ProviderError::Unreachable(_))
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_signed_error_that_does_not_verify_is_unreachable() {
        let body = error_body("ORDER_NOT_EXIST", "订单不存在");
        let got = accept(
            response(404, SIGNED_HEADERS, &body),
            "POST /v3/pay/transactions/out-trade-no/P1/close",
            |_, _| Err("`wechatpay-signature` does not verify with WeChat Pay's public key".into()),
        );
        assert!(
            matches!(
                &got,
                Err(ProviderError::Unreachable(m))
                    if m.contains("not trusted") && m.contains("HTTP 404")
                        && m.contains("/close") && m.contains("does not verify")
            ),
            "{got:?}"
        );

        // The merchant's own checks, before any key is used: the key the serial names, the
        // signature probe, freshness, and every header a signature needs.
        let keys = PlatformKeys::configured(Some(KEY_ID), true, Vec::new()).expect("the key");
        let m = merchant(keys);
        let now = unix_now().to_string();
        let stale = (unix_now() - 3600).to_string();
        let headers = |timestamp: &str, signature: &str, serial: &str| -> Vec<(String, String)> {
            [
                (protocol::TIMESTAMP_HEADER, timestamp),
                (protocol::NONCE_HEADER, "c5ac7061fccab6bf3e254dcf98995b8c"),
                (protocol::SIGNATURE_HEADER, signature),
                (protocol::SERIAL_HEADER, serial),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
        };
        let cases = [
            ("an unknown key", headers(&now, "AAEC", CERT), CERT),
            (
                "a probe",
                headers(&now, "WECHATPAY/SIGNTEST/AAEC", KEY_ID),
                "SIGNTEST",
            ),
            (
                "a stale answer",
                headers(&stale, "AAEC", KEY_ID),
                "older than",
            ),
            (
                "half the headers",
                vec![(protocol::SERIAL_HEADER.to_owned(), KEY_ID.to_owned())],
                protocol::TIMESTAMP_HEADER,
            ),
        ];
        for (case, headers, reason) in cases {
            let answer = http::Response {
                status: 404,
                headers,
                body: body.clone().into_bytes(),
            };
            let got = accept(answer, "POST /v3/x/close", |h, b| m.verify(h, b));
            assert!(
                matches!(&got, Err(ProviderError::Unreachable(msg)) if msg.contains(reason)),
                "{case}: {got:?}"
            );
        }
    }

    #[test]
    fn a_5xx_without_a_readable_body_is_unreachable() {
        for body in ["", "<html><body>502 Bad Gateway</body></html>"] {
            assert!(matches!(
                accept(response(502, &[], body), "POST /v3/x", never_verified),
                Err(ProviderError::Unreachable(m)) if m.contains("502")
            ));
        }
    }

    #[test]
    fn a_2xx_that_does_not_verify_is_unreachable() {
        let answer = response(200, &[], r#"{"code_url":"weixin://wxpay/bizpayurl?pr=x"}"#);
        let got = accept(answer, "POST /v3/pay/transactions/native", |_, _| {
            Err("the `wechatpay-timestamp` header is missing".into())
        });
        assert!(matches!(
            got,
            Err(ProviderError::Unreachable(m))
                if m.contains("not trusted") && m.contains("POST /v3/pay/transactions/native")
                    && m.contains("wechatpay-timestamp")
        ));
    }

    #[test]
    fn a_2xx_that_verifies_is_the_answer_and_its_body_is_what_was_verified() {
        let body = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=x"}"#;
        let mut verified = false;
        let got = accept(response(200, &[], body), "POST /v3/x", |_, signed| {
            verified = signed == body.as_bytes();
            Ok(())
        });
        assert_eq!(got.map(|r| r.body), Ok(body.as_bytes().to_vec()));
        assert!(verified);
        // A 204 (close) is verified over its empty body.
        assert!(accept(response(204, &[], ""), "POST /v3/x/close", |_, b| {
            if b.is_empty() {
                Ok(())
            } else {
                Err("a body".into())
            }
        })
        .is_ok());
    }

    const BILL_WHAT: &str =
        "GET /v3/bill/tradebill?bill_date=2026-12-01&bill_type=ALL&tar_type=GZIP";

    #[test]
    fn a_bill_answer_that_verifies_tells_where_the_file_is() {
        // The example answer of 申请交易账单.
        let body = r#"{"hash_type":"SHA1","hash_value":"8823044c286bea726f149bfcfce0b0318122d755","download_url":"https://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO"}"#;
        let mut verified = false;
        let got = bill_answer(
            response(200, SIGNED_HEADERS, body),
            BILL_WHAT,
            true,
            |_, b| {
                verified = b == body.as_bytes();
                Ok(())
            },
        );
        assert!(verified, "verified over its body");
        let location = got.expect("an answer").expect("a bill");
        assert_eq!(
            location.hash_value,
            "8823044c286bea726f149bfcfce0b0318122d755"
        );
        assert!(location
            .download_url
            .ends_with("token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO"));
    }

    #[test]
    fn a_bill_answer_that_does_not_verify_or_read_is_unreachable() {
        let body =
            r#"{"hash_type":"SHA1","hash_value":"00","download_url":"https://evil.example/x"}"#;
        let got = bill_answer(response(200, &[], body), BILL_WHAT, true, |_, _| {
            Err("the `wechatpay-timestamp` header is missing".into())
        });
        assert!(
            matches!(&got, Err(BillError::Failed(ProviderError::Unreachable(m))) if m.contains("not trusted")),
            "{got:?}"
        );
        let got = bill_answer(
            response(200, SIGNED_HEADERS, "{}"),
            BILL_WHAT,
            true,
            |_, _| Ok(()),
        );
        assert!(
            matches!(&got, Err(BillError::Failed(ProviderError::Unreachable(_)))),
            "{got:?}"
        );
    }

    #[test]
    fn a_signed_statement_creating_is_not_ready() {
        let body = error_body("STATEMENT_CREATING", "账单生成中，请在次日10点后再下载");
        let got = bill_answer(
            response(400, SIGNED_HEADERS, &body),
            BILL_WHAT,
            true,
            |_, _| Ok(()),
        );
        assert!(
            matches!(&got, Err(BillError::NotReady(m)) if m.contains("STATEMENT_CREATING") && m.contains("账单生成中")),
            "{got:?}"
        );
    }

    #[test]
    fn a_signed_no_statement_exist_is_a_day_without_rows() {
        let body = error_body("NO_STATEMENT_EXIST", "请求的账单文件不存在");
        let got = bill_answer(
            response(400, SIGNED_HEADERS, &body),
            BILL_WHAT,
            true,
            |_, _| Ok(()),
        );
        assert_eq!(got, Ok(None));
    }

    #[test]
    fn unsigned_bill_refusals_are_only_rejections() {
        // Anyone between paygate and WeChat could write them: an empty day would hide every
        // row of the bill.
        for code in ["NO_STATEMENT_EXIST", "STATEMENT_CREATING"] {
            let got = bill_answer(
                response(400, UNSIGNED_401_HEADERS, &error_body(code, "m")),
                BILL_WHAT,
                true,
                never_verified,
            );
            assert_eq!(got, Err(BillError::Failed(rejection(code, "m"))), "{code}");
        }
    }

    #[test]
    fn a_refusal_of_a_day_that_has_not_ended_is_not_ready() {
        // The simulator refuses today's bill with PARAM_ERROR; WeChat's error table gives
        // INVALID_REQUEST "请检查bill_date". Signed or not, a bill of an unfinished day cannot
        // exist yet.
        for (code, headers) in [
            ("PARAM_ERROR", SIGNED_HEADERS),
            ("INVALID_REQUEST", SIGNED_HEADERS),
            ("PARAM_ERROR", UNSIGNED_401_HEADERS),
        ] {
            let answer = || {
                response(
                    400,
                    headers,
                    &error_body(code, "bill_date has not ended yet"),
                )
            };
            let got = bill_answer(answer(), BILL_WHAT, false, |_, _| Ok(()));
            assert!(
                matches!(&got, Err(BillError::NotReady(m)) if m.contains("not ended") && m.contains(code)),
                "{code}: {got:?}"
            );
            // The same refusal of a day that is over is the refusal it is.
            let got = bill_answer(answer(), BILL_WHAT, true, |_, _| Ok(()));
            assert_eq!(
                got,
                Err(BillError::Failed(rejection(
                    code,
                    "bill_date has not ended yet"
                )))
            );
        }
        // WeChat's own trouble stays an unknown outcome.
        let got = bill_answer(
            response(500, SIGNED_HEADERS, &error_body("SYSTEM_ERROR", "系统错误")),
            BILL_WHAT,
            false,
            |_, _| Ok(()),
        );
        assert!(matches!(
            got,
            Err(BillError::Failed(ProviderError::Unreachable(_)))
        ));
    }

    #[test]
    fn a_signed_bill_refusal_that_does_not_verify_is_unreachable() {
        let body = error_body("NO_STATEMENT_EXIST", "请求的账单文件不存在");
        let got = bill_answer(
            response(400, SIGNED_HEADERS, &body),
            BILL_WHAT,
            true,
            |_, _| Err("`wechatpay-signature` does not verify".into()),
        );
        assert!(
            matches!(&got, Err(BillError::Failed(ProviderError::Unreachable(m))) if m.contains("not trusted")),
            "{got:?}"
        );
    }

    #[test]
    fn other_bill_refusals_mean_what_they_mean_on_other_operations() {
        let got = bill_answer(
            response(400, SIGNED_HEADERS, &error_body("INVALID_REQUEST", "m")),
            BILL_WHAT,
            true,
            |_, _| Ok(()),
        );
        assert_eq!(
            got,
            Err(BillError::Failed(rejection("INVALID_REQUEST", "m")))
        );
        for (status, headers) in [(500, SIGNED_HEADERS), (500, &[][..]), (400, &[][..])] {
            let got = bill_answer(
                response(status, headers, &error_body("SYSTEM_ERROR", "系统错误")),
                BILL_WHAT,
                true,
                |_, _| Ok(()),
            );
            assert!(
                matches!(&got, Err(BillError::Failed(ProviderError::Unreachable(_)))),
                "{status}: {got:?}"
            );
        }
        let got = bill_answer(
            response(401, &[], &error_body("SIGN_ERROR", "m")),
            BILL_WHAT,
            true,
            never_verified,
        );
        assert_eq!(got, Err(BillError::Failed(rejection("SIGN_ERROR", "m"))));
    }

    #[test]
    fn the_bill_file_is_not_verified_but_its_refusals_are() {
        let what = "GET /v3/billdownload/file?token=x";
        // The file comes without any signature header; nothing is verified.
        let file = bill_file(response(200, &[], "\u{1f}\u{8b}gzip"), what, never_verified);
        assert_eq!(file, Ok("\u{1f}\u{8b}gzip".as_bytes().to_vec()));
        // An expired download_url, answered signed.
        let mut verified = false;
        let got = bill_file(
            response(
                400,
                SIGNED_HEADERS,
                &error_body("INVALID_REQUEST", "下载地址已失效"),
            ),
            what,
            |_, _| {
                verified = true;
                Ok(())
            },
        );
        assert!(verified);
        assert_eq!(got, Err(rejection("INVALID_REQUEST", "下载地址已失效")));
        let got = bill_file(
            response(401, &[], &error_body("SIGN_ERROR", "m")),
            what,
            never_verified,
        );
        assert_eq!(got, Err(rejection("SIGN_ERROR", "m")));
    }

    fn merchant(keys: PlatformKeys) -> Merchant<'static> {
        Merchant {
            mchid: "1900009191",
            appid: "wxd678efh567hg6787",
            api_base: "https://api.mch.weixin.qq.com",
            serial_no: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
            platform_keys: keys,
        }
    }

    #[test]
    fn a_notification_signed_by_an_unknown_serial_is_refused_naming_it() {
        let keys = PlatformKeys::configured(None, false, vec![CERT.into()]).expect("certificates");
        let now = unix_now().to_string();
        // A public-key notification reaching a merchant who configured only its certificate.
        let headers: Vec<(String, String)> = [
            ("wechatpay-timestamp", now.as_str()),
            ("wechatpay-nonce", "fdasflkja484w"),
            ("wechatpay-signature", "AAEC"),
            ("wechatpay-serial", KEY_ID),
            ("wechatpay-signature-type", protocol::AUTH_SCHEME),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let refusal = merchant(keys)
            .verified_notification(&headers, b"{}")
            .map_err(refuse)
            .expect_err("an unknown serial");
        match &refusal.error {
            ProviderError::BadSignature(m) => {
                assert!(m.contains(KEY_ID) && m.contains(CERT), "{m}");
            }
            other => panic!("expected a bad signature, got {other:?}"),
        }
        assert_eq!(refusal.reply.status, 401);
        let reply: serde_json::Value =
            serde_json::from_slice(&refusal.reply.body).expect("a JSON reply");
        assert_eq!(reply["code"], "FAIL");
    }

    #[test]
    fn the_platform_keys_are_optional_and_the_certificates_are_x509() {
        let info = Wechat::info();
        let id = info
            .settings
            .iter()
            .find(|s| s.name == "platform_public_key_id")
            .expect("the public key id");
        assert!(!id.required);
        for (name, kind) in [
            ("platform_public_key", SecretKind::RsaPublicKey),
            ("platform_certificates", SecretKind::X509Certificates),
        ] {
            let secret = info
                .secrets
                .iter()
                .find(|s| s.name == name)
                .expect("a platform key secret");
            assert_eq!((secret.kind, secret.required), (kind, false), "{name}");
            assert!(secret.description.contains("or both"), "{name}");
        }
        for name in ["merchant_private_key", "apiv3_key"] {
            assert!(info.secrets.iter().any(|s| s.name == name && s.required));
        }
        for name in ["mchid", "appid", "api_base", "merchant_serial_no"] {
            assert!(info.settings.iter().any(|s| s.name == name && s.required));
        }
    }
}
