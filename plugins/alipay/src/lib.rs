//! paygate's Alipay adapter: the OpenAPI gateway (`https://openapi.alipay.com/gateway.do`),
//! RSA2 signatures, and Alipay's trade methods (`alipay.trade.*`).
//!
//! Every request is one signed set of parameters — the common ones (`app_id`, `method`,
//! `format=JSON`, `charset=utf-8`, `sign_type=RSA2`, `timestamp` in Beijing time,
//! `version=1.0`), `notify_url` where the method takes it, `biz_content` (JSON text) and
//! `sign` (RSA-SHA256 of the sorted `k=v` pairs with the app private key, through the host's
//! `keys` import: the adapter never sees a key). An API call sends them as Alipay's SDKs do:
//! `biz_content` in a form-encoded POST body, the rest in the gateway URL's query string. The
//! page and WAP channels never call Alipay: the payer's browser posts the signed parameters
//! to the gateway in an auto-submitting form.
//!
//! Answers: the signature covers the exact text of the `<method>_response` object, which is
//! cut out of the body byte for byte (`json.rs`), never re-serialized. A success must verify
//! with Alipay's key, or it is no answer at all (`unreachable`: the host queries later), and
//! so is a non-2xx status or a body that is not an answer. A refusal Alipay sends unsigned
//! (`40002 isv.invalid-app-id`) is read as a refusal, but never taken as the trade's state
//! (`wire::error_for` has the whole map). Notifications are form posts, decoded once, whose
//! signature covers every parameter but `sign` and `sign_type`.
//!
//! Alipay signs with one of two kinds of key, and the merchant configures exactly one:
//!
//! - **public-key mode** (公钥模式): secret `alipay_public_key`;
//! - **certificate mode** (公钥证书模式): secrets `app_cert`, `alipay_cert` and
//!   `alipay_root_cert`. Requests then carry `app_cert_sn` and `alipay_root_cert_sn`, and
//!   answers name the Alipay certificate that signed them in `alipay_cert_sn`; the SN rules
//!   are in `cert.rs`.
//!
//! A configuration with neither, both, or part of the certificates fails every call with a
//! `config` error naming what is missing.
//!
//! Channels: `precreate` (当面付 QR code: the `qr_code` to show), `page` (电脑网站支付,
//! `FAST_INSTANT_TRADE_PAY`) and `wap` (手机网站支付, `QUICK_WAP_WAY`), the last two an HTML
//! form. None binds its action to a payer detail.
//!
//! `protocol.rs` holds the request and notification encodings and signature messages,
//! `json.rs` the raw-text scanner, `cert.rs` the certificate SNs and the choice of key,
//! `wire.rs` the bodies and the state and error maps, `money.rs` yuan and fen; this file holds
//! the flows.

// The `fuzzing` feature (used by `fuzz/` only) makes the pure parsers public, so the fuzz
// targets run them natively; the adapter itself is the same with or without it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod cert;
#[cfg(not(feature = "fuzzing"))]
mod cert;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod json;
#[cfg(not(feature = "fuzzing"))]
mod json;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod money;
#[cfg(not(feature = "fuzzing"))]
mod money;
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

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;

use paygate_sdk::encoding::{base64_decode, base64_encode, decode_form};
use paygate_sdk::http::{self, Method};
use paygate_sdk::keys::{self, SignatureAlgorithm};
use paygate_sdk::money::decimal;
use paygate_sdk::{
    channel, request, required_setting, send, unix_now, AdapterInfo, Config, Headers, Money,
    Notification, NotificationEvent, PayAction, PayRequest, PayResponse, Provider, ProviderError,
    RefundRequest, RefundStatus, Refusal, Rejection, Reply, SecretKind, SecretSpec, SettingSpec,
    TradeState, TradeStatus, CONTRACT_VERSION,
};

use cert::{CertInfo, Check, KeyMode};
use money::{parse_yuan, CURRENCY, MAX_FEN, MIN_FEN};
use protocol::{param, Params};
use wire::{
    Outcome, PayBiz, PrecreateAnswer, QueryAnswer, RefundAnswer, RefundBiz, RefundQueryAnswer,
    RefundQueryBiz, TradeBiz,
};

/// The app private key (应用私钥), which signs every request.
const APP_PRIVATE_KEY: &str = "app_private_key";
/// Alipay's public key (支付宝公钥): public-key mode.
const ALIPAY_PUBLIC_KEY: &str = "alipay_public_key";
/// The app public key certificate (应用公钥证书): certificate mode.
const APP_CERT: &str = "app_cert";
/// Alipay's public key certificate (支付宝公钥证书): certificate mode.
const ALIPAY_CERT: &str = "alipay_cert";
/// Alipay's root certificate chain (支付宝根证书): certificate mode.
const ALIPAY_ROOT_CERT: &str = "alipay_root_cert";

/// What the descriptions of the key secrets say about the two modes.
const ONE_MODE: &str = "configure exactly one mode: alipay_public_key (public-key mode), or \
     app_cert, alipay_cert and alipay_root_cert together (certificate mode)";

/// Alipay's production gateway.
const DEFAULT_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// How long a precreate `qr_code` can be scanned: two hours, whatever the trade's deadline.
/// An Alipay engineer on alipay.trade.precreate: "预下单并没有创建订单…当用户扫码后订单才会
/// 创建，用户扫码之前二维码有效期2小时" (cloud.tencent.com/developer/article/1096089). The page and
/// WAP forms have no lifetime of their own: they are honoured until the trade's `time_expire`
/// ("您在这个时间之前去正确请求手机网站接口是不会有任何报错的，可以正常支付；如果您在这个时间之后去支付
/// 就会报错", Alipay support on `time_expire`, yq.aliyun.com/articles/710964).
const QR_CODE_LIFETIME_SECS: i64 = 2 * 60 * 60;

struct Alipay;

impl Provider for Alipay {
    fn info() -> AdapterInfo {
        let secret = |name: &str, kind, required: bool, description: String| SecretSpec {
            name: name.into(),
            kind,
            required,
            description,
        };
        AdapterInfo {
            name: "alipay".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            // Alipay binds none of these actions to a payer: the QR code and the forms work
            // for whoever opens them (the payer logs in at Alipay).
            channels: vec![
                channel("precreate", &[]),
                channel("page", &[]),
                channel("wap", &[]),
            ],
            settings: vec![
                SettingSpec {
                    name: "app_id".into(),
                    required: true,
                    description: "the app's APPID on Alipay's open platform (开放平台 → 控制台 → \
                                  应用), e.g. 2021000000000000"
                        .into(),
                    is_base_url: false,
                    default_value: None,
                },
                SettingSpec {
                    name: "gateway".into(),
                    required: true,
                    description: "Alipay's OpenAPI gateway; change it only for Alipay's sandbox \
                                  (https://openapi-sandbox.dl.alipaydev.com/gateway.do) or a \
                                  simulator (plain http only on loopback)"
                        .into(),
                    is_base_url: true,
                    default_value: Some(DEFAULT_GATEWAY.into()),
                },
            ],
            secrets: vec![
                secret(
                    APP_PRIVATE_KEY,
                    SecretKind::RsaPrivateKey,
                    true,
                    "the app private key (应用私钥, RSA2048) made with Alipay's key tool \
                     (支付宝开放平台密钥工具), whose public key or certificate is uploaded in the \
                     console (开发设置 → 接口加签方式); PEM PKCS#1 or PKCS#8, or the tool's bare \
                     base64"
                        .into(),
                ),
                secret(
                    ALIPAY_PUBLIC_KEY,
                    SecretKind::RsaPublicKey,
                    false,
                    format!(
                        "Alipay's public key (支付宝公钥), shown in the console after the app \
                         public key is uploaded (开发设置 → 接口加签方式 → 公钥 → 查看支付宝公钥); \
                         {ONE_MODE}"
                    ),
                ),
                secret(
                    APP_CERT,
                    SecretKind::X509Certificates,
                    false,
                    format!(
                        "the app public key certificate appCertPublicKey_<APPID>.crt (应用公钥证书), \
                         downloaded from the console (开发设置 → 接口加签方式 → 证书) after \
                         uploading the CSR; {ONE_MODE}"
                    ),
                ),
                secret(
                    ALIPAY_CERT,
                    SecretKind::X509Certificates,
                    false,
                    format!(
                        "Alipay's public key certificate alipayCertPublicKey_RSA2.crt \
                         (支付宝公钥证书), downloaded with the app certificate; while Alipay \
                         rotates it, the old and the new one concatenated; {ONE_MODE}"
                    ),
                ),
                secret(
                    ALIPAY_ROOT_CERT,
                    SecretKind::X509Certificates,
                    false,
                    format!(
                        "Alipay's root certificate chain alipayRootCert.crt (支付宝根证书), \
                         downloaded with the app certificate; {ONE_MODE}"
                    ),
                ),
            ],
        }
    }

    fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let total_amount = amount(&request.amount, "collects")?;
        let out_trade_no = wire::trade_number("payment number", &request.payment_no)?;
        let time_expire = protocol::beijing_time(request.expires_at).ok_or_else(|| {
            ProviderError::Unsupported(format!("deadline {} is not a date", request.expires_at))
        })?;
        let (method, product_code) = match request.channel.as_str() {
            "precreate" => (wire::PRECREATE, None),
            "page" => (wire::PAGE_PAY, Some(wire::PAGE_PRODUCT)),
            "wap" => (wire::WAP_PAY, Some(wire::WAP_PRODUCT)),
            other => {
                return Err(ProviderError::Unsupported(format!(
                    "channel `{other}`: Alipay offers `precreate`, `page` and `wap`"
                )))
            }
        };
        let biz = PayBiz {
            out_trade_no,
            total_amount,
            subject: wire::subject(&request.subject),
            product_code,
            time_expire,
        };
        let mut extra = vec![("notify_url", request.notify_url.as_str())];
        if product_code.is_some() {
            if let Some(return_url) = request
                .payer
                .return_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
            {
                extra.push(("return_url", return_url));
            }
        }
        let asked_at = unix_now();
        let params = merchant.signed_params(method, &biz, &extra)?;
        if product_code.is_some() {
            // The payer's browser carries the request; Alipay opens the trade when it arrives.
            return Ok(PayResponse {
                action: PayAction::HtmlForm(protocol::html_form(merchant.gateway, &params)),
                provider_trade_id: None,
                action_expires_at: None,
            });
        }
        let answer: PrecreateAnswer = merchant.exchange(method, &params)?;
        same("out_trade_no", out_trade_no, answer.out_trade_no.as_deref())?;
        let qr_code = answer
            .qr_code
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| {
                ProviderError::Unreachable("Alipay's precreate answer has no `qr_code`".into())
            })?;
        Ok(PayResponse {
            action: PayAction::QrCode(qr_code),
            // The trade exists at Alipay (with its trade_no) only once the QR code is scanned.
            provider_trade_id: None,
            // Counted from the moment of asking: Alipay's clock started no earlier.
            action_expires_at: Some(asked_at + QR_CODE_LIFETIME_SECS),
        })
    }

    fn query(config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let out_trade_no = wire::trade_number("payment number", &payment_no)?;
        let answer: QueryAnswer = merchant.call(wire::QUERY, &TradeBiz { out_trade_no })?;
        same("out_trade_no", out_trade_no, answer.out_trade_no.as_deref())?;
        let state = wire::queried_state(&answer).ok_or_else(|| {
            ProviderError::Unreachable(format!(
                "Alipay reported trade_status `{}`",
                answer.trade_status.as_deref().unwrap_or_default()
            ))
        })?;
        let paid_amount = match state {
            TradeState::Paid | TradeState::Refunded => {
                Some(wire::paid_amount(answer.total_amount.as_deref())?)
            }
            _ => None,
        };
        Ok(TradeStatus {
            payment_no,
            state,
            provider_trade_id: answer.trade_no.filter(|t| !t.is_empty()),
            paid_amount,
            paid_at: answer
                .send_pay_date
                .as_deref()
                .and_then(protocol::parse_beijing_time),
        })
    }

    /// `ACQ.TRADE_NOT_EXIST` (signed) is `not-found`: a precreate trade nobody scanned does
    /// not exist at Alipay (Alipay open platform documentation, 交易状态问题解析: the precreate
    /// trade is created "用户扫商家收款二维码，唤起收银台成功后", once the buyer has scanned the
    /// code and the cashier opened), and the contract reserves `not-found` on close for
    /// "the provider never opened the trade (nothing to close)"; the host then closes the
    /// payment locally, as it does after a close that succeeds.
    fn close(config: Config, payment_no: String) -> Result<(), ProviderError> {
        let merchant = Merchant::of(&config)?;
        let out_trade_no = wire::trade_number("payment number", &payment_no)?;
        merchant
            .call::<IgnoredAny>(wire::CLOSE, &TradeBiz { out_trade_no })
            .map(|_| ())
    }

    fn refund(config: Config, request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let refund_amount = amount(&request.amount, "refunds")?;
        let out_trade_no = wire::trade_number("payment number", &request.payment_no)?;
        let out_request_no = wire::trade_number("refund number", &request.refund_no)?;
        let biz = RefundBiz {
            out_trade_no,
            refund_amount,
            out_request_no,
            refund_reason: request.reason.as_deref().filter(|r| !r.trim().is_empty()),
        };
        // The same out_request_no is the same refund at Alipay: asking again after an unknown
        // outcome never refunds twice.
        let answer: RefundAnswer = merchant.call(wire::REFUND, &biz)?;
        same("out_trade_no", out_trade_no, answer.out_trade_no.as_deref())?;
        Ok(RefundStatus {
            payment_no: request.payment_no,
            refund_no: request.refund_no,
            state: wire::refund_state(answer.fund_change.as_deref()),
            // Alipay gives a refund no id of its own; its answer's `refund_fee` is the
            // trade's total refunded so far, not this refund's amount.
            provider_refund_id: None,
            amount: None,
        })
    }

    fn query_refund(
        config: Config,
        payment_no: String,
        refund_no: String,
    ) -> Result<RefundStatus, ProviderError> {
        let merchant = Merchant::of(&config)?;
        let out_trade_no = wire::trade_number("payment number", &payment_no)?;
        let out_request_no = wire::trade_number("refund number", &refund_no)?;
        let answer: RefundQueryAnswer = merchant.call(
            wire::REFUND_QUERY,
            &RefundQueryBiz {
                out_trade_no,
                out_request_no,
            },
        )?;
        same("out_trade_no", out_trade_no, answer.out_trade_no.as_deref())?;
        same(
            "out_request_no",
            out_request_no,
            answer.out_request_no.as_deref(),
        )?;
        let state = wire::queried_refund_state(&answer)?;
        Ok(RefundStatus {
            payment_no,
            refund_no,
            state,
            provider_refund_id: None,
            amount: answer
                .refund_amount
                .as_deref()
                .and_then(parse_yuan)
                .map(|minor| Money {
                    minor,
                    currency: CURRENCY.to_owned(),
                }),
        })
    }

    fn parse_notification(
        config: Config,
        _headers: Headers,
        body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        let merchant = Merchant::of(&config).map_err(refuse)?;
        // UTF-8, the charset paygate asks Alipay for (`charset=utf-8`); each value decoded
        // once, so a `sign` sent with `%2B` and `%2F` comes out as it was signed.
        let params = decode_form(&body)
            .map_err(|e| rejected("UNREADABLE", format!("not an Alipay notification: {e}")))
            .map_err(refuse)?;
        merchant.verify_notification(&params).map_err(refuse)?;
        let status = notified_trade(&params, merchant.app_id).map_err(refuse)?;
        Ok(Notification {
            event: NotificationEvent::Payment(status),
            // "程序执行完后必须打印输出“success”（不包含引号）。如果商户反馈给支付宝的字符不是 success
            // 这7个字符，支付宝服务器会不断重发通知" (Alipay's notification docs, as quoted at
            // twblogs.net/a/5e4edfd7bd9eee101df63cf5 and zhongyf.com/qita/rj/2022-04-04/129126.html).
            ack: text_reply(200, "success"),
            // Anything but `success` makes Alipay send it again (4m, 10m, 10m, 1h, 2h, 6h,
            // 15h); "程序处理过程中出现异常时返回“fail”" (ttasp.net/article/4/18/201703/516.html).
            retry: text_reply(500, "failure"),
        })
    }
}

/// A merchant's settings and the keys that verify Alipay, read once per call.
struct Merchant<'a> {
    app_id: &'a str,
    gateway: &'a str,
    mode: KeyMode,
}

impl<'a> Merchant<'a> {
    /// Reads the settings and which keys exist: a configuration the adapter cannot verify
    /// Alipay with fails here, before anything is sent.
    fn of(config: &'a Config) -> Result<Merchant<'a>, ProviderError> {
        let app_id = required_setting(config, "app_id")?.trim();
        let gateway = required_setting(config, "gateway")?.trim();
        let app_cert = certificates(APP_CERT)?;
        let alipay_cert = certificates(ALIPAY_CERT)?;
        let root_cert = certificates(ALIPAY_ROOT_CERT)?;
        let mode = KeyMode::configured(
            has_public_key()?,
            app_cert.as_deref(),
            alipay_cert.as_deref(),
            root_cert.as_deref(),
        )
        .map_err(|reason| {
            ProviderError::Config(format!(
                "merchant {}'s Alipay configuration: {reason}",
                config.merchant_id
            ))
        })?;
        Ok(Merchant {
            app_id,
            gateway,
            mode,
        })
    }

    /// The parameters of a request to `method`, signed: the common ones, the certificate
    /// SNs in certificate mode, `extra` (`notify_url`, `return_url`), `biz_content` and
    /// `sign`.
    fn signed_params<T: Serialize>(
        &self,
        method: &str,
        biz: &T,
        extra: &[(&str, &str)],
    ) -> Result<Params, ProviderError> {
        let timestamp = protocol::beijing_time(unix_now()).ok_or_else(|| {
            ProviderError::Unsupported("the host's clock reads a time no calendar holds".into())
        })?;
        let mut params = protocol::common_params(self.app_id, method, &timestamp);
        if let KeyMode::Certificates {
            app_cert_sn,
            alipay_root_cert_sn,
            ..
        } = &self.mode
        {
            params.push(("app_cert_sn".into(), app_cert_sn.clone()));
            params.push(("alipay_root_cert_sn".into(), alipay_root_cert_sn.clone()));
        }
        params.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let biz_content = serde_json::to_string(biz).map_err(|e| {
            ProviderError::Unsupported(format!("cannot write {method}'s biz_content: {e}"))
        })?;
        params.push((protocol::BIZ_CONTENT.into(), biz_content));
        let signature = keys::sign(
            APP_PRIVATE_KEY,
            SignatureAlgorithm::RsaSha256,
            protocol::sign_content(&params).as_bytes(),
        )?;
        params.push(("sign".into(), base64_encode(&signature)));
        Ok(params)
    }

    /// Signs and sends a call to `method` with `biz` as its `biz_content`, and reads the
    /// answer's result (see [`Merchant::exchange`]).
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        biz: &impl Serialize,
    ) -> Result<T, ProviderError> {
        let params = self.signed_params(method, biz, &[])?;
        self.exchange(method, &params)
    }

    /// Sends signed `params` to the gateway and reads the answer: a success must verify, a
    /// refusal is mapped by `wire::error_for`.
    fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(String, String)],
    ) -> Result<T, ProviderError> {
        let (url, body) = protocol::api_request(self.gateway, params);
        let mut call = request(Method::Post, &url);
        call.headers.push((
            "content-type".to_owned(),
            protocol::FORM_CONTENT_TYPE.to_owned(),
        ));
        call.body = body;
        let response = send(call)?;
        self.read_answer(method, &response)
    }

    /// What the gateway's `response` to `method` says, once it is believed.
    fn read_answer<T: DeserializeOwned>(
        &self,
        method: &str,
        response: &http::Response,
    ) -> Result<T, ProviderError> {
        let untrusted = |reason: String| {
            ProviderError::Unreachable(format!(
                "Alipay's answer to {method} (HTTP {}) is not trusted: {reason}",
                response.status
            ))
        };
        // The gateway answers every call, refusals included, with a 200; anything else is a
        // proxy's or a load balancer's page (PHP SDK `curl`: "200 !== $httpStatusCode" throws).
        if !(200..300).contains(&response.status) {
            return Err(untrusted("not a 2xx status".into()));
        }
        let text = std::str::from_utf8(&response.body)
            .map_err(|_| untrusted("the body is not UTF-8 text".into()))?;
        let answer = protocol::answer(method, text).map_err(untrusted)?;
        let outcome: Outcome = serde_json::from_str(answer.content)
            .map_err(|e| untrusted(format!("unreadable result: {e}")))?;
        let success = outcome.code == wire::SUCCESS;
        let check = self
            .mode
            .check(
                answer.sign.is_some(),
                answer.alipay_cert_sn.as_deref(),
                success,
            )
            .map_err(&untrusted)?;
        let signed = check != Check::Unsigned;
        if signed {
            let signature = answer
                .sign
                .as_deref()
                .and_then(base64_decode)
                .ok_or_else(|| untrusted("`sign` is not base64".into()))?;
            let verified = protocol::signed_texts(answer.content)
                .iter()
                .map(|text| self.verify(check, text.as_bytes(), &signature))
                .find(|v| !matches!(v, Ok(false)))
                .unwrap_or(Ok(false))?;
            if !verified {
                return Err(untrusted("`sign` does not verify".into()));
            }
        }
        if !success {
            return Err(wire::error_for(&outcome, signed));
        }
        serde_json::from_str(answer.content)
            .map_err(|e| untrusted(format!("unreadable result: {e}")))
    }

    /// Whether `signature` over `message` verifies with the key `check` names.
    fn verify(
        &self,
        check: Check<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, ProviderError> {
        let with_certificate = |serial: &str| {
            keys::verify_certificate(
                ALIPAY_CERT,
                serial,
                SignatureAlgorithm::RsaSha256,
                message,
                signature,
            )
        };
        Ok(match check {
            Check::PublicKey => keys::verify(
                ALIPAY_PUBLIC_KEY,
                SignatureAlgorithm::RsaSha256,
                message,
                signature,
            )?,
            Check::Certificate(serial) => with_certificate(serial)?,
            Check::AnyCertificate => {
                let mut verified = false;
                for serial in self.mode.certificate_serials() {
                    if with_certificate(serial)? {
                        verified = true;
                        break;
                    }
                }
                verified
            }
            Check::Unsigned => false,
        })
    }

    /// Checks a notification's `sign` over its other parameters with Alipay's key.
    fn verify_notification(&self, params: &[(String, String)]) -> Result<(), ProviderError> {
        let bad = |reason: &str| ProviderError::BadSignature(reason.to_owned());
        let sign = param(params, "sign").ok_or_else(|| bad("the notification has no `sign`"))?;
        if let Some(kind) = param(params, "sign_type") {
            if kind != protocol::SIGN_TYPE {
                return Err(bad(&format!(
                    "sign_type `{kind}` is not RSA2, the only one this adapter verifies"
                )));
            }
        }
        let signature = base64_decode(sign).ok_or_else(|| bad("`sign` is not base64"))?;
        let check = self
            .mode
            .check_notification(param(params, "alipay_cert_sn"))
            .map_err(ProviderError::BadSignature)?;
        for content in protocol::notification_signed_texts(params) {
            if self.verify(check, content.as_bytes(), &signature)? {
                return Ok(());
            }
        }
        Err(bad("`sign` does not verify with Alipay's key"))
    }
}

/// The trade a verified notification reports. It must be for this merchant's app
/// (the notification page, https://opendocs.alipay.com/open/270/105902, has the receiver
/// check `app_id`, `out_trade_no`, `total_amount` and `seller_id` once the signature
/// verified); its amount is read as money.
#[doc(hidden)] // public for the fuzz targets in `fuzz/`
pub fn notified_trade(
    params: &[(String, String)],
    app_id: &str,
) -> Result<TradeStatus, ProviderError> {
    let notified_app = param(params, "app_id").unwrap_or_default();
    if notified_app != app_id {
        return Err(rejected(
            "APP_ID_MISMATCH",
            format!("a notification for app `{notified_app}` sent to app `{app_id}`"),
        ));
    }
    let payment_no = param(params, "out_trade_no").ok_or_else(|| {
        rejected(
            "UNREADABLE",
            "the notification has no `out_trade_no`".into(),
        )
    })?;
    let status = param(params, "trade_status").unwrap_or_default();
    // A refund shows as `refund_fee` above zero (the docs' own TRADE_SUCCESS example carries
    // `refund_fee=0.00`: compared as money) or a `gmt_refund`; a closed trade that has a
    // payment time was paid, then refunded in full.
    let refund_shown =
        money::is_positive(param(params, "refund_fee")) || param(params, "gmt_refund").is_some();
    let payment_shown = param(params, "gmt_payment").is_some();
    let state = wire::trade_state(status, refund_shown, payment_shown).ok_or_else(|| {
        rejected(
            "UNSUPPORTED_STATUS",
            format!("a notification of trade_status `{status}`"),
        )
    })?;
    let paid_amount = match state {
        TradeState::Paid | TradeState::Refunded => Some(
            wire::paid_amount(param(params, "total_amount"))
                .map_err(|_| rejected("UNREADABLE", "`total_amount` is not money".into()))?,
        ),
        _ => None,
    };
    Ok(TradeStatus {
        payment_no: payment_no.to_owned(),
        state,
        provider_trade_id: param(params, "trade_no").map(str::to_owned),
        paid_amount,
        paid_at: param(params, "gmt_payment").and_then(protocol::parse_beijing_time),
    })
}

/// `money` as Alipay's yuan, if Alipay can take it: CNY, from 0.01 to 100000000.00.
fn amount(money: &Money, verb: &str) -> Result<String, ProviderError> {
    if money.currency != CURRENCY {
        return Err(ProviderError::Unsupported(format!(
            "Alipay {verb} CNY only, not {}",
            money.currency
        )));
    }
    if !(MIN_FEN..=MAX_FEN).contains(&money.minor) {
        return Err(ProviderError::Unsupported(format!(
            "{} fen is outside the 0.01-100000000.00 yuan Alipay takes",
            money.minor
        )));
    }
    // CNY is a known currency: this cannot fail, and if the SDK ever said otherwise the
    // amount is not sent.
    decimal(money.minor, &money.currency)
        .map_err(|e| ProviderError::Unsupported(format!("Alipay {verb} no such amount: {e}")))
}

/// An answer about another trade or refund than the one asked about is no answer.
fn same(field: &str, asked: &str, answered: Option<&str>) -> Result<(), ProviderError> {
    match answered.filter(|a| !a.is_empty()) {
        Some(answered) if answered != asked => Err(ProviderError::Unreachable(format!(
            "asked about {field} {asked}, Alipay answered about {answered}"
        ))),
        _ => Ok(()),
    }
}

/// Whether the merchant configured secret `alipay_public_key`. The `keys` import has no
/// listing of secrets: a verification of nothing asks, with no network call. The host
/// answers `unknown-key` for a secret the configuration lacks, and a verdict for one it has.
fn has_public_key() -> Result<bool, ProviderError> {
    match keys::verify(ALIPAY_PUBLIC_KEY, SignatureAlgorithm::RsaSha256, b"", b"") {
        Ok(_) | Err(keys::Error::InvalidInput(_)) => Ok(true),
        Err(keys::Error::UnknownKey(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The certificates of secret `name` as the host reads them; `None` if the merchant did not
/// configure it.
fn certificates(name: &str) -> Result<Option<Vec<CertInfo>>, ProviderError> {
    match keys::certificates(name) {
        Ok(list) => Ok(Some(
            list.into_iter()
                .map(|c| CertInfo {
                    serial: c.serial,
                    issuer: c.issuer,
                    signature_algorithm: c.signature_algorithm,
                    rsa_key: c.rsa_key,
                })
                .collect(),
        )),
        Err(keys::Error::UnknownKey(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn rejected(code: &str, message: String) -> ProviderError {
    ProviderError::Rejected(Rejection {
        code: code.into(),
        message,
    })
}

/// A plain-text reply, as Alipay reads them.
fn text_reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
        body: body.as_bytes().to_vec(),
    }
}

/// A refused notification with its reply: `failure` (anything but `success` makes Alipay
/// retry) with a 200 for a notification paygate read and refused, a 500 when the fault is
/// the merchant's configuration or the host (the details stay in paygate's log).
fn refuse(error: ProviderError) -> Refusal {
    let status = match &error {
        ProviderError::BadSignature(_) | ProviderError::Rejected(_) => 200,
        _ => 500,
    };
    Refusal {
        error,
        reply: text_reply(status, "failure"),
    }
}

paygate_sdk::export_adapter!(Alipay);

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A notification as Alipay's docs show one (decoded), for app 2015102700040153.
    fn notification(extra: &[(&str, &str)]) -> Params {
        let mut p = params(&[
            ("app_id", "2015102700040153"),
            ("out_trade_no", "P0719141034"),
            ("trade_no", "2016071921001003030200089909"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "2.00"),
            ("refund_fee", "0.00"),
            ("gmt_payment", "2016-07-19 14:10:47"),
            ("sign_type", "RSA2"),
            ("sign", "kPbQIjX+xQc8F0/A6/Aocw=="),
        ]);
        for (k, v) in extra {
            p.retain(|(name, _)| name != k);
            p.push(((*k).to_owned(), (*v).to_owned()));
        }
        p
    }

    #[test]
    fn a_paid_notification_reports_its_amount_time_and_trade() {
        let status = notified_trade(&notification(&[]), "2015102700040153").expect("a trade");
        assert_eq!(
            status,
            TradeStatus {
                payment_no: "P0719141034".into(),
                state: TradeState::Paid,
                provider_trade_id: Some("2016071921001003030200089909".into()),
                paid_amount: Some(Money {
                    minor: 200,
                    currency: "CNY".into()
                }),
                // 2016-07-19 14:10:47 in Beijing is 06:10:47 UTC.
                paid_at: Some(1_468_908_647),
            }
        );
    }

    #[test]
    fn a_notification_after_a_partial_refund_is_refunded_not_a_new_payment() {
        let partial = notification(&[
            ("refund_fee", "0.50"),
            ("gmt_refund", "2016-07-20 10:00:00"),
        ]);
        let status = notified_trade(&partial, "2015102700040153").expect("a trade");
        assert_eq!(status.state, TradeState::Refunded);
        assert_eq!(status.paid_amount.map(|m| m.minor), Some(200));
        let finished = notification(&[("trade_status", "TRADE_FINISHED"), ("refund_fee", "0.1")]);
        assert_eq!(
            notified_trade(&finished, "2015102700040153").map(|s| s.state),
            Ok(TradeState::Refunded)
        );
    }

    #[test]
    fn a_closed_notification_is_closed_unless_the_trade_was_paid() {
        let unpaid = params(&[
            ("app_id", "2015102700040153"),
            ("out_trade_no", "P1"),
            ("trade_status", "TRADE_CLOSED"),
            ("total_amount", "2.00"),
            ("gmt_close", "2016-07-19 14:40:47"),
        ]);
        let status = notified_trade(&unpaid, "2015102700040153").expect("a trade");
        assert_eq!(
            (status.state, status.paid_amount),
            (TradeState::Closed, None)
        );
        let refunded = notification(&[
            ("trade_status", "TRADE_CLOSED"),
            ("refund_fee", "2.00"),
            ("gmt_refund", "2016-07-20 10:00:00"),
        ]);
        assert_eq!(
            notified_trade(&refunded, "2015102700040153").map(|s| s.state),
            Ok(TradeState::Refunded)
        );
    }

    #[test]
    fn a_notification_for_another_app_or_without_a_trade_is_refused() {
        assert!(matches!(
            notified_trade(&notification(&[]), "2021000000000000"),
            Err(ProviderError::Rejected(r)) if r.code == "APP_ID_MISMATCH"
        ));
        let mut no_trade = notification(&[]);
        no_trade.retain(|(k, _)| k != "out_trade_no");
        assert!(notified_trade(&no_trade, "2015102700040153").is_err());
        let odd = notification(&[("trade_status", "TRADE_PENDING")]);
        assert!(matches!(
            notified_trade(&odd, "2015102700040153"),
            Err(ProviderError::Rejected(r)) if r.code == "UNSUPPORTED_STATUS"
        ));
        let no_money = notification(&[("total_amount", "2.005")]);
        assert!(notified_trade(&no_money, "2015102700040153").is_err());
    }

    fn merchant(mode: KeyMode) -> Merchant<'static> {
        Merchant {
            app_id: "2014072300007148",
            gateway: DEFAULT_GATEWAY,
            mode,
        }
    }

    fn response(status: u16, body: &str) -> http::Response {
        http::Response {
            status,
            headers: vec![(
                "content-type".to_owned(),
                "text/html;charset=utf-8".to_owned(),
            )],
            body: body.as_bytes().to_vec(),
        }
    }

    fn read(mode: KeyMode, status: u16, body: &str) -> Result<IgnoredAny, ProviderError> {
        merchant(mode).read_answer(wire::QUERY, &response(status, body))
    }

    /// Certificate mode with Alipay's SDK-test certificates (see `cert.rs`).
    fn certificate_mode() -> KeyMode {
        KeyMode::Certificates {
            app_cert_sn: "866efef280dec9137a87d047ac446315".into(),
            alipay_root_cert_sn:
                "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6".into(),
            alipay_certs: vec![cert::AlipayCert {
                sn: "7513daaaa48aa3ba2e4018d84402479c".into(),
                serial: "20200514E63C2FE04D538716FE21358B".into(),
            }],
        }
    }

    #[test]
    fn an_unsigned_success_is_no_answer() {
        let body = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}}"#;
        for mode in [KeyMode::PublicKey, certificate_mode()] {
            assert!(matches!(
                read(mode, 200, body),
                Err(ProviderError::Unreachable(m)) if m.contains("not trusted") && m.contains("without `sign`")
            ));
        }
    }

    #[test]
    fn an_unsigned_refusal_is_read_as_a_refusal_not_as_silence() {
        // As captured in the field (fzlee/alipay#20, shadowsocks-manager#139): no `sign`.
        let invalid_app = r#"{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#;
        assert!(matches!(
            read(KeyMode::PublicKey, 200, invalid_app),
            Err(ProviderError::Config(m)) if m.contains("isv.invalid-app-id")
        ));
        let invalid_signature = r#"{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"}}"#;
        assert!(matches!(
            read(certificate_mode(), 200, invalid_signature),
            Err(ProviderError::Config(m)) if m.contains("isv.invalid-signature")
        ));
        let not_exist = r#"{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}}"#;
        assert!(matches!(
            read(KeyMode::PublicKey, 200, not_exist),
            Err(ProviderError::Rejected(r)) if r.code == "ACQ.TRADE_NOT_EXIST"
        ));
        let busy = r#"{"error_response":{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}}"#;
        assert!(matches!(
            read(KeyMode::PublicKey, 200, busy),
            Err(ProviderError::Unreachable(_))
        ));
    }

    #[test]
    fn a_non_2xx_status_or_a_body_that_is_no_answer_is_unreachable() {
        let fine = r#"{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}"#;
        for status in [302, 400, 500, 502, 504] {
            assert!(matches!(
                read(KeyMode::PublicKey, status, fine),
                Err(ProviderError::Unreachable(m)) if m.contains(&status.to_string())
            ));
        }
        for body in [
            "",
            "<html><body>502 Bad Gateway</body></html>",
            "{}",
            r#"{"alipay_trade_close_response":{"code":"10000"},"sign":"AAEC"}"#,
            r#"{"alipay_trade_query_response":{"msg":"no code"}}"#,
        ] {
            assert!(
                matches!(
                    read(KeyMode::PublicKey, 200, body),
                    Err(ProviderError::Unreachable(_))
                ),
                "{body}"
            );
        }
        let not_utf8 = http::Response {
            status: 200,
            headers: Vec::new(),
            body: vec![0xff, 0xfe],
        };
        assert!(matches!(
            merchant(KeyMode::PublicKey).read_answer::<IgnoredAny>(wire::QUERY, &not_utf8),
            Err(ProviderError::Unreachable(_))
        ));
    }

    #[test]
    fn an_answer_signed_by_a_certificate_nobody_configured_is_not_trusted() {
        let body = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"alipay_cert_sn":"0123456789abcdef0123456789abcdef","sign":"AAEC"}"#;
        assert!(matches!(
            read(certificate_mode(), 200, body),
            Err(ProviderError::Unreachable(m)) if m.contains("0123456789abcdef0123456789abcdef")
        ));
        let unnamed =
            r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"sign":"AAEC"}"#;
        assert!(matches!(
            read(certificate_mode(), 200, unnamed),
            Err(ProviderError::Unreachable(m)) if m.contains("alipay_cert_sn")
        ));
        let not_base64 =
            r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"sign":"!!"}"#;
        assert!(matches!(
            read(KeyMode::PublicKey, 200, not_base64),
            Err(ProviderError::Unreachable(m)) if m.contains("base64")
        ));
    }

    #[test]
    fn a_notification_that_cannot_be_verified_is_refused_as_a_bad_signature() {
        let check = |mode: KeyMode, extra: &[(&str, &str)], remove: &str| {
            let mut p = notification(extra);
            p.retain(|(k, _)| k != remove);
            merchant(mode).verify_notification(&p)
        };
        assert!(matches!(
            check(KeyMode::PublicKey, &[], "sign"),
            Err(ProviderError::BadSignature(m)) if m.contains("no `sign`")
        ));
        assert!(matches!(
            check(KeyMode::PublicKey, &[("sign_type", "RSA")], ""),
            Err(ProviderError::BadSignature(m)) if m.contains("RSA2")
        ));
        assert!(matches!(
            check(KeyMode::PublicKey, &[("sign", "a b")], ""),
            Err(ProviderError::BadSignature(m)) if m.contains("base64")
        ));
        assert!(matches!(
            check(certificate_mode(), &[("alipay_cert_sn", "ffff")], ""),
            Err(ProviderError::BadSignature(m)) if m.contains("ffff")
        ));
    }

    #[test]
    fn amounts_alipay_cannot_take_are_refused_before_asking() {
        let cny = |minor| Money {
            minor,
            currency: "CNY".into(),
        };
        assert_eq!(amount(&cny(1), "collects").as_deref(), Ok("0.01"));
        assert_eq!(
            amount(&cny(MAX_FEN), "collects").as_deref(),
            Ok("100000000.00")
        );
        for bad in [cny(0), cny(MAX_FEN + 1)] {
            assert!(matches!(
                amount(&bad, "collects"),
                Err(ProviderError::Unsupported(_))
            ));
        }
        let usd = Money {
            minor: 100,
            currency: "USD".into(),
        };
        assert!(
            matches!(amount(&usd, "collects"), Err(ProviderError::Unsupported(m)) if m.contains("USD"))
        );
    }

    #[test]
    fn an_answer_about_another_trade_is_no_answer() {
        assert!(same("out_trade_no", "P1", Some("P1")).is_ok());
        assert!(same("out_trade_no", "P1", None).is_ok());
        assert!(matches!(
            same("out_trade_no", "P1", Some("P2")),
            Err(ProviderError::Unreachable(m)) if m.contains("P2")
        ));
    }

    #[test]
    fn replies_are_plain_text_success_or_failure() {
        let ack = text_reply(200, "success");
        assert_eq!((ack.status, ack.body.as_slice()), (200, &b"success"[..]));
        assert_eq!(
            ack.headers,
            vec![("content-type".to_owned(), "text/plain".to_owned())]
        );
        let refusal = refuse(ProviderError::BadSignature("forged".into()));
        assert_eq!(
            (refusal.reply.status, refusal.reply.body.as_slice()),
            (200, &b"failure"[..])
        );
        let refusal = refuse(ProviderError::Config("no key".into()));
        assert_eq!(
            (refusal.reply.status, refusal.reply.body.as_slice()),
            (500, &b"failure"[..])
        );
    }

    #[test]
    fn the_configuration_is_one_of_two_key_modes() {
        let info = Alipay::info();
        assert_eq!(info.name, "alipay");
        assert_eq!(info.contract_version, "2.0.0");
        let channels: Vec<&str> = info.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(channels, ["precreate", "page", "wap"]);
        assert!(info.channels.iter().all(|c| c.binds.is_empty()));
        let gateway = info
            .settings
            .iter()
            .find(|s| s.name == "gateway")
            .expect("the gateway setting");
        assert!(gateway.is_base_url);
        assert_eq!(gateway.default_value.as_deref(), Some(DEFAULT_GATEWAY));
        assert!(info
            .settings
            .iter()
            .any(|s| s.name == "app_id" && s.required));
        let secret = |name: &str| {
            info.secrets
                .iter()
                .find(|s| s.name == name)
                .map(|s| (s.kind, s.required))
        };
        assert_eq!(
            secret("app_private_key"),
            Some((SecretKind::RsaPrivateKey, true))
        );
        assert_eq!(
            secret("alipay_public_key"),
            Some((SecretKind::RsaPublicKey, false))
        );
        for name in ["app_cert", "alipay_cert", "alipay_root_cert"] {
            assert_eq!(
                secret(name),
                Some((SecretKind::X509Certificates, false)),
                "{name}"
            );
        }
        assert!(info
            .secrets
            .iter()
            .filter(|s| !s.required)
            .all(|s| s.description.contains("exactly one mode")));
    }
}
