//! paygate's WeChat Pay API v3 adapter (direct merchant mode).
//!
//! Every request is signed (`Authorization: WECHATPAY2-SHA256-RSA2048 ...`) with the
//! merchant's API private key through the host's `keys` import; every answer's
//! `Wechatpay-Signature` is verified with WeChat Pay's platform public key before anything
//! in it is believed, and an answer that does not verify is treated as no answer
//! (`unreachable`: the host queries later). Notifications are verified the same way, must be
//! fresh (five minutes), and their `resource` is decrypted (AEAD_AES_256_GCM, APIv3 key)
//! by the host. The adapter never sees a key.
//!
//! Channels: `native` (a QR code of `code_url`), `jsapi` (the parameters WeChat's JS bridge
//! needs, `paySign` included), `h5` (a redirect to `h5_url`).
//!
//! `protocol.rs` holds the signature scheme, `wire.rs` the JSON bodies and the state and
//! error maps; this file holds the flows.

mod protocol;
mod wire;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Serialize;

use paygate_sdk::http::{self, Method};
use paygate_sdk::keys::{self, Cipher, SignatureAlgorithm};
use paygate_sdk::{
    json_body, json_reply, json_request, method_name, nonce, request, required_setting, send,
    unix_now, AdapterInfo, Config, Headers, Notification, NotificationEvent, PayAction, PayRequest,
    PayResponse, Provider, ProviderError, RefundRequest, RefundStatus, Refusal, Rejection, Reply,
    SecretKind, SecretSpec, SettingSpec, TradeStatus, CONTRACT_VERSION,
};

use protocol::SignedHeaders;
use wire::{
    Amount, CloseBody, Envelope, H5Info, PayAnswer, PayBody, PayerBody, Refund, RefundAmountBody,
    RefundBody, RefundNotice, SceneInfo, Transaction,
};

/// The merchant's API private key (`apiclient_key.pem`), which signs requests and JSAPI
/// `paySign`s.
const MERCHANT_PRIVATE_KEY: &str = "merchant_private_key";
/// WeChat Pay's platform public key (`pub_key.pem`), which verifies answers and
/// notifications.
const PLATFORM_PUBLIC_KEY: &str = "platform_public_key";
/// The APIv3 key, which decrypts notification resources.
const APIV3_KEY: &str = "apiv3_key";

/// WeChat Pay's API.
const DEFAULT_API_BASE: &str = "https://api.mch.weixin.qq.com";

struct Wechat;

impl Provider for Wechat {
    fn info() -> AdapterInfo {
        let setting = |name: &str, description: &str| SettingSpec {
            name: name.into(),
            required: true,
            description: description.into(),
            is_base_url: false,
            default_value: None,
        };
        let secret = |name: &str, kind, description: &str| SecretSpec {
            name: name.into(),
            kind,
            required: true,
            description: description.into(),
        };
        AdapterInfo {
            name: "wechat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            channels: vec!["native".into(), "jsapi".into(), "h5".into()],
            settings: vec![
                setting("mchid", "the merchant number (商户号), e.g. 1900009191"),
                setting(
                    "appid",
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
                    "the serial number of the merchant API certificate whose private key is \
                     merchant_private_key (证书序列号)",
                ),
                setting(
                    "platform_public_key_id",
                    "the id of WeChat Pay's platform public key, PUB_KEY_ID_... (微信支付公钥ID); \
                     answers and notifications signed with another key are refused",
                ),
            ],
            secrets: vec![
                secret(
                    MERCHANT_PRIVATE_KEY,
                    SecretKind::RsaPrivateKey,
                    "the merchant API private key, PEM (apiclient_key.pem)",
                ),
                secret(
                    PLATFORM_PUBLIC_KEY,
                    SecretKind::RsaPublicKey,
                    "WeChat Pay's platform public key, PEM (pub_key.pem)",
                ),
                secret(
                    APIV3_KEY,
                    SecretKind::Aes256Key,
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

/// A merchant's settings, read once per call.
struct Merchant<'a> {
    mchid: &'a str,
    appid: &'a str,
    api_base: &'a str,
    serial_no: &'a str,
    platform_key_id: &'a str,
}

impl<'a> Merchant<'a> {
    fn of(config: &'a Config) -> Result<Merchant<'a>, ProviderError> {
        Ok(Merchant {
            mchid: required_setting(config, "mchid")?,
            appid: required_setting(config, "appid")?,
            api_base: required_setting(config, "api_base")?.trim_end_matches('/'),
            serial_no: required_setting(config, "merchant_serial_no")?,
            platform_key_id: required_setting(config, "platform_public_key_id")?,
        })
    }

    /// Signs and sends a request to `path` (under `api_base`), verifies the answer's
    /// signature, and turns a verified answer that is not a 2xx into the matching error.
    fn call<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&T>,
    ) -> Result<http::Response, ProviderError> {
        let url = format!("{}{path}", self.api_base);
        let mut call = match body {
            Some(body) => json_request(method, &url, body)?,
            None => {
                let mut call = request(method, &url);
                call.headers
                    .push(("accept".to_owned(), "application/json".to_owned()));
                call
            }
        };
        let timestamp = unix_now();
        let nonce = nonce(32)?;
        let message = protocol::request_message(
            method_name(method),
            protocol::path_and_query(&url),
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
        let response = send(call)?;
        self.verify(&response.headers, &response.body)
            .map_err(|reason| {
                ProviderError::Unreachable(format!(
                    "WeChat Pay's answer to {} {path} (HTTP {}) is not trusted: {reason}",
                    method_name(method),
                    response.status
                ))
            })?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(wire::error_for(response.status, &response.body))
        }
    }

    /// Checks that `body` with these headers was signed by WeChat Pay's platform key, now.
    fn verify(&self, headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
        let signed = SignedHeaders::read(headers, self.platform_key_id, unix_now())?;
        let message = protocol::response_message(signed.timestamp, signed.nonce, body);
        match keys::verify(
            PLATFORM_PUBLIC_KEY,
            SignatureAlgorithm::RsaSha256,
            &message,
            &signed.signature,
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{} does not verify with the platform public key",
                protocol::SIGNATURE_HEADER
            )),
            Err(e) => Err(format!("the platform public key cannot verify: {e:?}")),
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
            ("paySign".to_owned(), BASE64.encode(signature)),
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
        let ciphertext = BASE64
            .decode(&resource.ciphertext)
            .map_err(|_| ProviderError::BadSignature("the resource is not base64".into()))?;
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
