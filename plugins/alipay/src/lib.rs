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
//! Bills (`paygate:bills@1.0.0`, the optional capability that makes paygate reconcile
//! Alipay): `alipay.data.dataservice.bill.downloadurl.query` through the same signed call and
//! verified answer, then a plain GET of the `bill_download_url` it answers, a zip that
//! `bill.rs` reads. Alipay's link is `http://dwbillcenter.alipay.com/...`; the host fetches
//! only https (and loopback http) origins of base-URL settings, so the link is fetched from
//! setting `bill_download_base` (https://dwbillcenter.alipay.com by default) with its path and
//! query, or as it is when it is on the gateway's origin (a simulator): see `bill_fetch`.
//!
//! Channels: `precreate` (当面付 QR code: the `qr_code` to show), `page` (电脑网站支付,
//! `FAST_INSTANT_TRADE_PAY`) and `wap` (手机网站支付, `QUICK_WAP_WAY`), the last two an HTML
//! form. None binds its action to a payer detail.
//!
//! `protocol.rs` holds the request and notification encodings and signature messages,
//! `json.rs` the raw-text scanner, `cert.rs` the certificate SNs and the choice of key,
//! `wire.rs` the bodies and the state and error maps, `money.rs` yuan and fen, `bill.rs` the
//! trade bill's zip and CSV; this file holds the flows.

// The `fuzzing` feature (used by `fuzz/` only) makes the pure parsers public, so the fuzz
// targets run them natively; the adapter itself is the same with or without it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod bill;
#[cfg(not(feature = "fuzzing"))]
mod bill;
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
    channel, request, required_setting, send, setting, unix_now, AdapterInfo, BillError, BillRow,
    Bills, Config, Headers, Money, Notification, NotificationEvent, PayAction, PayRequest,
    PayResponse, Provider, ProviderError, RefundRequest, RefundStatus, Refusal, Rejection, Reply,
    SecretKind, SecretSpec, SettingSpec, TradeState, TradeStatus, UnixSeconds, CONTRACT_VERSION,
};

use cert::{CertInfo, Check, KeyMode};
use money::{parse_yuan, CURRENCY, MAX_FEN, MIN_FEN};
use protocol::{param, Params};
use wire::{
    BillBiz, BillUrlAnswer, Outcome, PayBiz, PrecreateAnswer, QueryAnswer, RefundAnswer, RefundBiz,
    RefundQueryAnswer, RefundQueryBiz, TradeBiz,
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

/// The setting naming where Alipay's bill files are downloaded from (see [`bill_fetch`]).
const BILL_DOWNLOAD_BASE: &str = "bill_download_base";

/// Where Alipay serves bill files: the host of the `bill_download_url` in the method's docs
/// (`http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=X&...`,
/// https://opendocs.alipay.com/open/02e7gr, the English page at
/// open.alitrip.com/docs/doc.htm?articleId=104674, and the Java SDK's samples), over https:
/// the host allows plain http to loopback only. Alipay documents https links for this
/// method (`secure`: "true表示使用安全链接，即返回的下载链接为https", alipay/alipay-sdk-net-all
/// `v3/docs/AlipayDataDataserviceBillDownloadurlApi.md`).
const DEFAULT_BILL_DOWNLOAD_BASE: &str = "https://dwbillcenter.alipay.com";

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
                SettingSpec {
                    name: BILL_DOWNLOAD_BASE.into(),
                    required: false,
                    description: "where Alipay's bill files are downloaded from (the host of the \
                                  `bill_download_url` its bill query answers), fetched over \
                                  https: paygate fetches Alipay's http link's path and query \
                                  from this origin; change it only if Alipay moves its bill \
                                  files to another host"
                        .into(),
                    is_base_url: true,
                    default_value: Some(DEFAULT_BILL_DOWNLOAD_BASE.into()),
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

impl Bills for Alipay {
    /// The trade bill of `day`: `alipay.data.dataservice.bill.downloadurl.query` with
    /// `{"bill_type":"trade","bill_date":day}`, signed and its answer verified as on every
    /// other call (a refusal means what it means there, in `failed`), then the zip at its
    /// `bill_download_url`, read by `bill.rs`. `isp.bill_not_exist` is read by [`no_bill`].
    fn fetch_bill(config: Config, day: String) -> Result<Vec<BillRow>, BillError> {
        let merchant = Merchant::of(&config).map_err(BillError::Failed)?;
        let ready_at = bill::ready_at(&day).ok_or_else(|| {
            BillError::Failed(ProviderError::Unsupported(format!(
                "day `{day}` is not a yyyy-MM-dd date"
            )))
        })?;
        let biz = BillBiz {
            bill_type: wire::TRADE_BILL,
            bill_date: &day,
        };
        let answer: BillUrlAnswer = match merchant
            .call_for_verdict(wire::BILL_DOWNLOAD_URL, &biz)
            .map_err(BillError::Failed)?
        {
            Verdict::Result(answer) => answer,
            Verdict::Refused { outcome, signed }
                if outcome.sub_code.as_deref() == Some(wire::BILL_NOT_EXIST) =>
            {
                return no_bill(&day, ready_at, unix_now(), &outcome, signed);
            }
            Verdict::Refused { outcome, signed } => {
                return Err(BillError::Failed(wire::error_for(&outcome, signed)))
            }
        };
        let url = answer
            .bill_download_url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                BillError::Failed(ProviderError::Unreachable(format!(
                    "Alipay's answer to {} has no `bill_download_url`",
                    wire::BILL_DOWNLOAD_URL
                )))
            })?;
        let base = bill_download_base(&config);
        let fetch = bill_fetch(url.trim(), merchant.gateway, base).map_err(BillError::Failed)?;
        let zip = download(&fetch).map_err(BillError::Failed)?;
        bill::parse(&zip).map_err(|why| BillError::Failed(ProviderError::Unreachable(why)))
    }
}

/// What `isp.bill_not_exist` (账单不存在) means for `day`, asked at `now`: Alipay answers it
/// both for a bill it has not produced yet and for a day without trades. Before
/// [`bill::ready_at`] (09:00 Beijing time the next day: the hour `wit/bills/bills.wit` states
/// for Alipay, and the simulator's rule in `simulators/alipay/src/gateway/bills.rs`) it is
/// `not-ready`, and the host asks again later; from then on it is a day without trades, an
/// empty bill. Only a signed answer says so: an unsigned one (the gateway's refusal of a
/// request it could not tie to the app) is not taken as "no money moved", as an unsigned
/// not-found is not taken as a trade's state (`wire::error_for`), and stays `failed`.
fn no_bill(
    day: &str,
    ready_at: UnixSeconds,
    now: UnixSeconds,
    outcome: &Outcome,
    signed: bool,
) -> Result<Vec<BillRow>, BillError> {
    if now < ready_at {
        return Err(BillError::NotReady(format!(
            "Alipay has not produced the bill of {day} yet ({} before {:02}:00 Beijing time \
             the next day)",
            wire::BILL_NOT_EXIST,
            bill::READY_HOUR
        )));
    }
    if signed {
        return Ok(Vec::new());
    }
    Err(BillError::Failed(wire::error_for(outcome, signed)))
}

/// An absolute http(s) URL's origin, as the host's allowlist compares them (scheme, host,
/// port: `runtime/src/http.rs`), written the same way for the same origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// `http` or `https`.
    scheme: &'static str,
    /// A name in lower case, or an IPv6 address in brackets (`[::1]`).
    host: String,
    port: u16,
}

impl Origin {
    /// `scheme://host`, with `:port` when it is not the scheme's own.
    fn prefix(&self) -> String {
        if self.port == default_port(self.scheme) {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// `url` (`scheme://host[:port][/path][?query][#fragment]`) cut into its [`Origin`] and the
/// path and query (the fragment dropped), or `None` for anything else: another scheme, user
/// info (`user@host`), a host that is not plain ASCII letters, digits, `-`, `.` and `_` (or
/// an IPv6 address in brackets), a port that is not a number, spaces or control characters.
/// Deliberately narrower than a URL parser, so that whatever it reads, the host's parser
/// (the `url` crate) reads as the same origin.
fn split_url(url: &str) -> Option<(Origin, &str)> {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return None;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let tail = tail.split('#').next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (address, port) = bracketed.split_once(']')?;
            let address: std::net::Ipv6Addr = address.parse().ok()?;
            (format!("[{address}]"), port)
        }
        None => {
            let (host, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
            if host.is_empty() || !host.bytes().all(plain) {
                return None;
            }
            (host.to_ascii_lowercase(), port)
        }
    };
    let port = match port {
        "" | ":" => default_port(scheme),
        _ => {
            let digits = port.strip_prefix(':')?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    };
    Some((Origin { scheme, host, port }, tail))
}

/// `url` without its query and fragment: what messages show of a bill link, whose query is
/// its credential.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The merchant's `bill_download_base`, or [`DEFAULT_BILL_DOWNLOAD_BASE`] when the
/// configuration has none (stored before the adapter had the setting) or has it empty.
fn bill_download_base(config: &Config) -> &str {
    setting(config, BILL_DOWNLOAD_BASE)
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_BILL_DOWNLOAD_BASE)
}

/// Where the bill of a `bill_download_url` is fetched, and the setting whose origin lets the
/// host fetch it.
#[derive(Debug, PartialEq, Eq)]
struct BillFetch {
    url: String,
    via: &'static str,
}

/// Where to fetch the bill at Alipay's `link`, for a merchant whose gateway is `gateway` and
/// whose `bill_download_base` is `base`. Alipay answers an http link on
/// dwbillcenter.alipay.com (see [`DEFAULT_BILL_DOWNLOAD_BASE`]), and the host fetches only
/// the origins of the base-URL settings, plain http only on loopback. So:
///
/// - a link on the gateway's origin (the simulator, which serves bills where it answers
///   calls) is fetched as it is;
/// - a link on `base`'s host is fetched from `base`'s origin (scheme, host, port) with the
///   link's path and query: Alipay's `http://` link is fetched over https;
/// - a link anywhere else is refused (`config`), naming its origin (never its query, the
///   download's credential) and the setting that would let it through.
fn bill_fetch(link: &str, gateway: &str, base: &str) -> Result<BillFetch, ProviderError> {
    let (origin, tail) = split_url(link).ok_or_else(|| {
        ProviderError::Config(format!(
            "Alipay's bill_download_url {} is not an http(s) address paygate can fetch",
            without_query(link)
        ))
    })?;
    if split_url(gateway).is_some_and(|(gateway, _)| gateway == origin) {
        return Ok(BillFetch {
            url: link.to_owned(),
            via: "gateway",
        });
    }
    let (base, _) = split_url(base).ok_or_else(|| {
        ProviderError::Config(format!(
            "setting `{BILL_DOWNLOAD_BASE}` ({}) is not an address of the form \
             https://host[:port]",
            without_query(base)
        ))
    })?;
    if base.host != origin.host {
        return Err(ProviderError::Config(format!(
            "Alipay's bill download link is on {}, which is neither the gateway's origin nor \
             the host of setting `{BILL_DOWNLOAD_BASE}` ({}): set `{BILL_DOWNLOAD_BASE}` to \
             https://{} to fetch Alipay's bills from there",
            origin.prefix(),
            base.prefix(),
            origin.host
        )));
    }
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Ok(BillFetch {
        url: format!("{}{slash}{tail}", base.prefix()),
        via: BILL_DOWNLOAD_BASE,
    })
}

/// The bill zip at `fetch.url` (from `bill_download_url`, [`bill_fetch`]): a plain GET, no
/// signature and no header of Alipay's (the Java examples around the method, as reproduced
/// in write-ups such as blog.csdn.net/weixin_39910824/article/details/114089528, open it with
/// a bare `HttpURLConnection`): the address is the credential, valid 30 seconds
/// (https://opendocs.alipay.com/open/02e7gr). Messages show the address without its query,
/// which holds that credential: they end in the host's logs.
fn download(fetch: &BillFetch) -> Result<Vec<u8>, ProviderError> {
    let shown = without_query(&fetch.url);
    let response = http::send(&request(Method::Get, &fetch.url)).map_err(|e| match e {
        // The origin of `bill_download_base` is not allowlisted: the configuration was stored
        // before the adapter had the setting (the host stores a default with a
        // configuration, and allowlists what is stored).
        http::Error::Denied(m) if fetch.via == BILL_DOWNLOAD_BASE => {
            ProviderError::Config(format!(
                "the host refused to fetch Alipay's bill at {shown} ({m}): it is reached \
                 through setting `{BILL_DOWNLOAD_BASE}`, which this configuration does not \
                 hold (or holds empty); store the merchant's `alipay` configuration again \
                 (it then gets `{BILL_DOWNLOAD_BASE}`, by default \
                 {DEFAULT_BILL_DOWNLOAD_BASE})"
            ))
        }
        e => download_error(shown, e),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(ProviderError::Unreachable(format!(
            "Alipay's bill download {shown} answered HTTP {} (its address lives 30 seconds)",
            response.status
        )));
    }
    Ok(response.body)
}

/// What the host should do after the `http` import failed on the bill download: the SDK's
/// map (`paygate_sdk::send`), with the address shown as `shown`.
fn download_error(shown: &str, error: http::Error) -> ProviderError {
    match error {
        http::Error::Denied(m) => ProviderError::Config(format!(
            "the host refused to fetch Alipay's bill at {shown} ({m}): only the hosts of the \
             adapter's base-URL settings are reachable"
        )),
        http::Error::Invalid(m) => {
            ProviderError::Config(format!("the bill download {shown} is malformed: {m}"))
        }
        http::Error::Timeout => {
            ProviderError::Unreachable(format!("no answer from {shown} in time"))
        }
        http::Error::Connection(m) => {
            ProviderError::Unreachable(format!("cannot reach {shown}: {m}"))
        }
        http::Error::TooLarge => ProviderError::Unreachable(format!(
            "the bill at {shown} is larger than the host accepts"
        )),
    }
}

/// A believed answer of the gateway: the method's result, or its refusal and whether the
/// refusal's signature verified.
enum Verdict<T> {
    Result(T),
    Refused { outcome: Outcome, signed: bool },
}

impl<T> Verdict<T> {
    /// The result, or the refusal as every operation maps it (`wire::error_for`).
    fn into_result(self) -> Result<T, ProviderError> {
        match self {
            Verdict::Result(result) => Ok(result),
            Verdict::Refused { outcome, signed } => Err(wire::error_for(&outcome, signed)),
        }
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
        self.call_for_verdict(method, biz)?.into_result()
    }

    /// [`Merchant::call`], with a refusal handed back as it came (for a refusal whose meaning
    /// depends on more than its code: `isp.bill_not_exist`).
    fn call_for_verdict<T: DeserializeOwned>(
        &self,
        method: &str,
        biz: &impl Serialize,
    ) -> Result<Verdict<T>, ProviderError> {
        let params = self.signed_params(method, biz, &[])?;
        let response = self.post(&params)?;
        self.read_verdict(method, &response)
    }

    /// Sends signed `params` to the gateway and reads the answer: a success must verify, a
    /// refusal is mapped by `wire::error_for`.
    fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(String, String)],
    ) -> Result<T, ProviderError> {
        let response = self.post(params)?;
        self.read_answer(method, &response)
    }

    /// Posts signed `params` to the gateway, as Alipay's SDKs do.
    fn post(&self, params: &[(String, String)]) -> Result<http::Response, ProviderError> {
        let (url, body) = protocol::api_request(self.gateway, params);
        let mut call = request(Method::Post, &url);
        call.headers.push((
            "content-type".to_owned(),
            protocol::FORM_CONTENT_TYPE.to_owned(),
        ));
        call.body = body;
        send(call)
    }

    /// What the gateway's `response` to `method` says, once it is believed; a refusal mapped
    /// by `wire::error_for`.
    fn read_answer<T: DeserializeOwned>(
        &self,
        method: &str,
        response: &http::Response,
    ) -> Result<T, ProviderError> {
        self.read_verdict(method, response)?.into_result()
    }

    /// What the gateway's `response` to `method` says, once it is believed: the result, or
    /// the refusal and whether its signature verified.
    fn read_verdict<T: DeserializeOwned>(
        &self,
        method: &str,
        response: &http::Response,
    ) -> Result<Verdict<T>, ProviderError> {
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
            return Ok(Verdict::Refused { outcome, signed });
        }
        serde_json::from_str(answer.content)
            .map(Verdict::Result)
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
paygate_sdk::export_bills!(Alipay);

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

    fn bill_not_exist() -> Outcome {
        Outcome {
            code: "40004".into(),
            msg: "Business Failed".into(),
            sub_code: Some("isp.bill_not_exist".into()),
            sub_msg: Some("账单不存在".into()),
        }
    }

    #[test]
    fn bill_not_exist_is_not_ready_before_nine_the_next_morning_and_an_empty_day_after() {
        let ready_at = bill::ready_at("2026-12-01").expect("a day");
        let not_ready = no_bill(
            "2026-12-01",
            ready_at,
            ready_at - 1,
            &bill_not_exist(),
            true,
        );
        assert!(
            matches!(&not_ready, Err(BillError::NotReady(m)) if m.contains("2026-12-01") && m.contains("09:00")),
            "{not_ready:?}"
        );
        // The day itself, before its end: not ready either.
        assert!(matches!(
            no_bill(
                "2026-12-01",
                ready_at,
                ready_at - 30 * 3600,
                &bill_not_exist(),
                true
            ),
            Err(BillError::NotReady(_))
        ));
        for now in [ready_at, ready_at + 86_400 * 30] {
            assert_eq!(
                no_bill("2026-12-01", ready_at, now, &bill_not_exist(), true),
                Ok(vec![])
            );
        }
    }

    #[test]
    fn an_unsigned_bill_not_exist_is_not_taken_as_a_day_without_trades() {
        let ready_at = bill::ready_at("2026-12-01").expect("a day");
        assert!(matches!(
            no_bill("2026-12-01", ready_at, ready_at + 1, &bill_not_exist(), false),
            Err(BillError::Failed(ProviderError::Unreachable(m))) if m.contains("isp.bill_not_exist")
        ));
        assert!(matches!(
            no_bill(
                "2026-12-01",
                ready_at,
                ready_at - 1,
                &bill_not_exist(),
                false
            ),
            Err(BillError::NotReady(_))
        ));
    }

    #[test]
    fn a_refused_bill_query_is_handed_back_as_it_came() {
        let body = r#"{"alipay_data_dataservice_bill_downloadurl_query_response":{"code":"40004","msg":"Business Failed","sub_code":"isp.bill_not_exist","sub_msg":"账单不存在"}}"#;
        let verdict = merchant(KeyMode::PublicKey)
            .read_verdict::<BillUrlAnswer>(wire::BILL_DOWNLOAD_URL, &response(200, body))
            .expect("a refusal");
        assert!(matches!(
            &verdict,
            Verdict::Refused { outcome, signed: false } if outcome == &bill_not_exist()
        ));
        // Every other operation reads the same refusal through `wire::error_for`.
        assert!(matches!(
            verdict.into_result(),
            Err(ProviderError::Unreachable(m)) if m.contains("isp.bill_not_exist")
        ));
        let bad_date = r#"{"alipay_data_dataservice_bill_downloadurl_query_response":{"code":"40004","msg":"Business Failed","sub_code":"isv.invalid-parameter","sub_msg":"参数无效"}}"#;
        assert!(matches!(
            merchant(KeyMode::PublicKey)
                .read_answer::<BillUrlAnswer>(wire::BILL_DOWNLOAD_URL, &response(200, bad_date)),
            Err(ProviderError::Rejected(r)) if r.code == "isv.invalid-parameter"
        ));
    }

    #[test]
    fn the_bill_query_asks_for_the_trade_bill_of_the_day() {
        let biz = BillBiz {
            bill_type: wire::TRADE_BILL,
            bill_date: "2026-12-01",
        };
        assert_eq!(
            serde_json::to_string(&biz).expect("JSON"),
            r#"{"bill_type":"trade","bill_date":"2026-12-01"}"#
        );
        assert_eq!(
            protocol::response_key(wire::BILL_DOWNLOAD_URL),
            "alipay_data_dataservice_bill_downloadurl_query_response"
        );
    }

    #[test]
    fn a_failed_bill_download_keeps_its_address_credential_out_of_the_message() {
        let shown = "http://dwbillcenter.alipay.com/downloadBillFile.resource";
        for error in [
            http::Error::Denied("not allowed".into()),
            http::Error::Invalid("bad".into()),
            http::Error::Timeout,
            http::Error::Connection("refused".into()),
            http::Error::TooLarge,
        ] {
            let mapped = download_error(shown, error);
            let message = match &mapped {
                ProviderError::Config(m) | ProviderError::Unreachable(m) => m.clone(),
                other => panic!("unexpected {other:?}"),
            };
            assert!(
                message.contains(shown) && !message.contains("token"),
                "{message}"
            );
        }
        assert!(matches!(
            download_error(shown, http::Error::Denied("x".into())),
            ProviderError::Config(m) if m.contains("base-URL")
        ));
        assert!(matches!(
            download_error(shown, http::Error::Timeout),
            ProviderError::Unreachable(_)
        ));
    }

    /// A link as Alipay answers one (the docs' sample, with a token like the simulator's).
    const ALIPAY_LINK: &str = "http://dwbillcenter.alipay.com/downloadBillFile.resource?\
        bizType=trade&userId=2088123456789012&fileType=csv.zip&bizDates=20261201&\
        downloadFileName=2088123456789012_20261201.csv.zip&token=SECRETTOKEN";

    fn config_error(result: Result<BillFetch, ProviderError>) -> String {
        match result {
            Err(ProviderError::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn alipays_http_bill_link_is_fetched_over_https_from_the_configured_base() {
        let fetch = bill_fetch(ALIPAY_LINK, DEFAULT_GATEWAY, DEFAULT_BILL_DOWNLOAD_BASE);
        assert_eq!(
            fetch,
            Ok(BillFetch {
                url: "https://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&\
                      userId=2088123456789012&fileType=csv.zip&bizDates=20261201&\
                      downloadFileName=2088123456789012_20261201.csv.zip&token=SECRETTOKEN"
                    .into(),
                via: BILL_DOWNLOAD_BASE,
            })
        );
    }

    #[test]
    fn the_base_gives_scheme_host_and_port_and_the_link_gives_path_and_query() {
        let fetch = |link: &str, base: &str| {
            bill_fetch(link, DEFAULT_GATEWAY, base)
                .map(|f| f.url)
                .expect("fetched")
        };
        // The base's own path is not used; its port is, and a default port is left out.
        assert_eq!(
            fetch(ALIPAY_LINK, "https://DWBillCenter.alipay.com:8443/bills/"),
            fetch(ALIPAY_LINK, "https://dwbillcenter.alipay.com")
                .replace("alipay.com/", "alipay.com:8443/")
        );
        assert_eq!(
            fetch(
                "HTTP://dwbillcenter.alipay.com:80/d?token=t#part",
                "https://dwbillcenter.alipay.com:443/"
            ),
            "https://dwbillcenter.alipay.com/d?token=t"
        );
        // An https link (Alipay's `secure=true`) goes the same way; a link without a path
        // gets one.
        assert_eq!(
            fetch(
                "https://dwbillcenter.alipay.com/d?token=t",
                DEFAULT_BILL_DOWNLOAD_BASE
            ),
            "https://dwbillcenter.alipay.com/d?token=t"
        );
        assert_eq!(
            fetch(
                "http://dwbillcenter.alipay.com?token=t",
                DEFAULT_BILL_DOWNLOAD_BASE
            ),
            "https://dwbillcenter.alipay.com/?token=t"
        );
    }

    #[test]
    fn a_link_on_the_gateway_is_fetched_as_given() {
        let link = "http://127.0.0.1:9092/downloadBillFile.resource?bizType=trade&token=abc";
        for gateway in [
            "http://127.0.0.1:9092/gateway.do",
            "HTTP://127.0.0.1:9092",
            "http://127.0.0.1:9092?x=1",
        ] {
            assert_eq!(
                bill_fetch(link, gateway, DEFAULT_BILL_DOWNLOAD_BASE),
                Ok(BillFetch {
                    url: link.into(),
                    via: "gateway",
                }),
                "{gateway}"
            );
        }
        let v6 = "http://[::1]:9092/downloadBillFile.resource?token=abc";
        assert_eq!(
            bill_fetch(
                v6,
                "http://[0:0:0:0:0:0:0:1]:9092/gateway.do",
                DEFAULT_BILL_DOWNLOAD_BASE
            )
            .map(|f| f.url),
            Ok(v6.to_owned())
        );
        // Alipay's sandbox gateway, should it serve bills on its own origin.
        let sandbox = "https://openapi-sandbox.dl.alipaydev.com/download?token=abc";
        assert_eq!(
            bill_fetch(
                sandbox,
                "https://openapi-sandbox.dl.alipaydev.com/gateway.do",
                DEFAULT_BILL_DOWNLOAD_BASE
            )
            .map(|f| f.url),
            Ok(sandbox.to_owned())
        );
    }

    #[test]
    fn a_link_on_the_gateways_host_but_another_port_or_scheme_is_not_the_gateway() {
        let gateway = "http://127.0.0.1:9092/gateway.do";
        for link in [
            "http://127.0.0.1:9093/d?token=abc",
            "https://127.0.0.1:9092/d?token=abc",
        ] {
            let m = config_error(bill_fetch(link, gateway, DEFAULT_BILL_DOWNLOAD_BASE));
            assert!(
                m.contains("bill_download_base") && !m.contains("token"),
                "{m}"
            );
        }
    }

    #[test]
    fn a_link_on_another_host_is_refused_naming_the_setting() {
        for link in [
            "http://evil.example/downloadBillFile.resource?token=SECRETTOKEN",
            "https://dwbillcenter.alipay.com.evil.example/d?token=SECRETTOKEN",
            "http://billcenter.alipay.com/d?token=SECRETTOKEN",
        ] {
            let m = config_error(bill_fetch(
                link,
                DEFAULT_GATEWAY,
                DEFAULT_BILL_DOWNLOAD_BASE,
            ));
            let host = split_url(link).expect("a URL").0.host;
            assert!(
                m.contains(&host)
                    && m.contains("set `bill_download_base`")
                    && !m.contains("SECRETTOKEN"),
                "{m}"
            );
        }
    }

    #[test]
    fn a_link_paygate_cannot_read_as_an_origin_is_refused_without_its_query() {
        for link in [
            // User info: a parser could take either side of `@` for the host.
            "http://dwbillcenter.alipay.com@evil.example/d?token=SECRETTOKEN",
            "http://evil.example\\@dwbillcenter.alipay.com/d?token=SECRETTOKEN",
            "ftp://dwbillcenter.alipay.com/d?token=SECRETTOKEN",
            "dwbillcenter.alipay.com/d?token=SECRETTOKEN",
            "http://dwbillcenter.alipay.com:https/d?token=SECRETTOKEN",
            "http://dwbillcenter.alipay.com:+443/d?token=SECRETTOKEN",
            "http://dwbillcenter.alipay.com:99999/d?token=SECRETTOKEN",
            "http://dwbill%63enter.alipay.com/d?token=SECRETTOKEN",
            "http://dwbill\tcenter.alipay.com/d?token=SECRETTOKEN",
            "http:///d?token=SECRETTOKEN",
            "http://[fe80::1%25eth0]/d?token=SECRETTOKEN",
        ] {
            let m = config_error(bill_fetch(
                link,
                DEFAULT_GATEWAY,
                DEFAULT_BILL_DOWNLOAD_BASE,
            ));
            assert!(!m.contains("SECRETTOKEN"), "{m}");
        }
    }

    #[test]
    fn a_configuration_without_the_setting_downloads_from_alipays_default() {
        let config = |settings: &[(&str, &str)]| Config {
            merchant_id: "m1".into(),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let old = config(&[("app_id", "2021000000000000"), ("gateway", DEFAULT_GATEWAY)]);
        assert_eq!(bill_download_base(&old), "https://dwbillcenter.alipay.com");
        let empty = config(&[("bill_download_base", " ")]);
        assert_eq!(bill_download_base(&empty), DEFAULT_BILL_DOWNLOAD_BASE);
        let set = config(&[("bill_download_base", " https://bills.example:8443 ")]);
        assert_eq!(bill_download_base(&set), "https://bills.example:8443");
    }

    #[test]
    fn an_unreadable_base_is_a_config_error_naming_the_setting() {
        let m = config_error(bill_fetch(
            ALIPAY_LINK,
            DEFAULT_GATEWAY,
            "dwbillcenter.alipay.com",
        ));
        assert!(m.contains("`bill_download_base`"), "{m}");
    }

    #[test]
    fn origins_compare_as_the_hosts_allowlist_does() {
        let origin = |url| split_url(url).map(|(o, _)| o);
        assert_eq!(
            origin("HTTPS://DWBillCenter.Alipay.com:443/x"),
            origin("https://dwbillcenter.alipay.com")
        );
        assert_eq!(
            origin("http://localhost:/x"),
            origin("http://localhost:80/")
        );
        assert_ne!(origin("http://localhost/x"), origin("https://localhost/x"));
        assert_eq!(
            split_url("http://h.example:8080/p/q?x=1&y=2#frag").map(|(o, rest)| (o.prefix(), rest)),
            Some(("http://h.example:8080".to_owned(), "/p/q?x=1&y=2"))
        );
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
        let bills = info
            .settings
            .iter()
            .find(|s| s.name == "bill_download_base")
            .expect("the bill download setting");
        assert!(bills.is_base_url && !bills.required);
        assert_eq!(
            bills.default_value.as_deref(),
            Some("https://dwbillcenter.alipay.com")
        );
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
