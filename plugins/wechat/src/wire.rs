//! WeChat Pay API v3's JSON bodies (pay, transaction, close, refund, notification) and the
//! maps from its trade states, refund states and error codes to the contract's. Pure, and
//! unit-tested natively.

use serde::{Deserialize, Serialize};

use paygate_sdk::{
    Money, ProviderError, RefundState, RefundStatus, Rejection, TradeState, TradeStatus,
};

use crate::protocol::parse_time;

/// The only currency of WeChat Pay's domestic direct-merchant API.
pub const CURRENCY: &str = "CNY";

/// `description` is at most 127 characters.
pub const DESCRIPTION_MAX_CHARS: usize = 127;

/// The event types of a paid transaction and of a refund's outcome.
pub const TRANSACTION_SUCCESS: &str = "TRANSACTION.SUCCESS";
pub const REFUND_EVENT_PREFIX: &str = "REFUND.";

/// The only algorithm WeChat encrypts notification resources with.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";

/// An amount as WeChat sends it in requests: fen and `CNY`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Amount<'a> {
    pub total: u64,
    pub currency: &'a str,
}

/// The body of `POST /v3/pay/transactions/{native,jsapi,h5}`.
#[derive(Debug, Serialize)]
pub struct PayBody<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    pub description: String,
    pub out_trade_no: &'a str,
    pub time_expire: String,
    pub notify_url: &'a str,
    pub amount: Amount<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<PayerBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo<'a>>,
}

/// JSAPI: who pays, by openid under the merchant's app id.
#[derive(Debug, Serialize)]
pub struct PayerBody<'a> {
    pub openid: &'a str,
}

/// H5: where the payment starts.
#[derive(Debug, Serialize)]
pub struct SceneInfo<'a> {
    pub payer_client_ip: &'a str,
    pub h5_info: H5Info,
}

#[derive(Debug, Serialize)]
pub struct H5Info {
    /// `Wap`: a mobile web page (the other values are for apps, which paygate does not serve).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The answer to a pay request: one of the three, by channel.
#[derive(Debug, Deserialize)]
pub struct PayAnswer {
    pub code_url: Option<String>,
    pub prepay_id: Option<String>,
    pub h5_url: Option<String>,
}

/// A transaction, as a query answers it and as a `TRANSACTION.*` notification carries it.
#[derive(Debug, Deserialize)]
pub struct Transaction {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub trade_state: String,
    pub success_time: Option<String>,
    pub amount: Option<TransactionAmount>,
}

#[derive(Debug, Deserialize)]
pub struct TransactionAmount {
    /// What the order was for, in fen: what the merchant is paid (coupons included).
    pub total: Option<u64>,
    pub currency: Option<String>,
}

/// The body of `POST .../out-trade-no/{no}/close`.
#[derive(Debug, Serialize)]
pub struct CloseBody<'a> {
    pub mchid: &'a str,
}

/// The body of `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Serialize)]
pub struct RefundBody<'a> {
    pub out_trade_no: &'a str,
    pub out_refund_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub notify_url: &'a str,
    pub amount: RefundAmountBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct RefundAmountBody<'a> {
    pub refund: u64,
    pub total: u64,
    pub currency: &'a str,
}

/// A refund, as the refunds endpoint answers it.
#[derive(Debug, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub status: String,
    pub amount: RefundAmount,
}

#[derive(Debug, Deserialize)]
pub struct RefundAmount {
    pub refund: u64,
    pub currency: Option<String>,
}

/// A refund, as a `REFUND.*` notification carries it (`refund_status`, not `status`).
#[derive(Debug, Deserialize)]
pub struct RefundNotice {
    pub mchid: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: String,
    pub amount: RefundAmount,
}

/// A notification's envelope; what happened is in the encrypted `resource`.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    pub resource: Resource,
}

#[derive(Debug, Deserialize)]
pub struct Resource {
    pub algorithm: String,
    /// Base64 of the ciphertext followed by the 16-byte tag.
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: String,
    /// 12 characters, used as they are (their bytes) for the GCM nonce.
    pub nonce: String,
}

/// A refusal: `{"code", "message"}` with a 4xx or 5xx status.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// How long WeChat Pay honours what a pay call hands out, whatever the trade's
/// `time_expire`: `h5_url` 5 minutes; `code_url` and `prepay_id` 2 hours. `None` for a
/// channel this adapter does not offer.
///
/// Sources:
/// - `h5_url`: the H5 development guide,
///   https://pay.weixin.qq.com/docs/merchant/products/h5-payment/development.html: "h5_url有效期
///   为5分钟，超过5分钟，商户需要使用原下单参数重新请求下单接口，获取新的h5_url";
/// - `code_url`: WeChat Pay API v3 documentation, "Native调起支付": "code_url有效期为2小时，过期后
///   扫码不能再发起支付。" (the order API that hands it out:
///   https://pay.weixin.qq.com/doc/v3/merchant/4012791877);
/// - `prepay_id`: the unified order API (统一下单),
///   https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_1: "预支付交易会话标识，用于
///   后续接口调用中使用，该值有效期为2小时" (the v3 JSAPI order page,
///   https://pay.weixin.qq.com/doc/v3/merchant/4012791897, gives no number).
pub fn action_lifetime_secs(channel: &str) -> Option<i64> {
    match channel {
        "h5" => Some(5 * 60),
        "native" | "jsapi" => Some(2 * 60 * 60),
        _ => None,
    }
}

/// The subject as `description`: at most 127 characters (cut on a character boundary).
pub fn description(subject: &str) -> String {
    subject.chars().take(DESCRIPTION_MAX_CHARS).collect()
}

/// `/v3/pay/transactions/out-trade-no/{no}`. The number goes into a URL path, so it must be
/// what WeChat accepts and the contract promises (6-32 characters of `[0-9A-Za-z]`); anything
/// else is refused before a request is made.
pub fn trade_path(payment_no: &str) -> Result<String, ProviderError> {
    let well_formed = (6..=32).contains(&payment_no.len())
        && payment_no.bytes().all(|b| b.is_ascii_alphanumeric());
    if well_formed {
        Ok(format!("/v3/pay/transactions/out-trade-no/{payment_no}"))
    } else {
        Err(ProviderError::Unsupported(format!(
            "payment number `{payment_no}` is not 6-32 characters of [0-9A-Za-z], as WeChat \
             Pay's out_trade_no must be"
        )))
    }
}

/// `/v3/refund/domestic/refunds/{out_refund_no}`: the refund query, for a number of the
/// shape the contract promises (at most 32 characters of `[0-9A-Za-z]`).
pub fn refund_path(refund_no: &str) -> Result<String, ProviderError> {
    let well_formed = (1..=64).contains(&refund_no.len())
        && refund_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if well_formed {
        Ok(format!("/v3/refund/domestic/refunds/{refund_no}"))
    } else {
        Err(ProviderError::Unsupported(format!(
            "refund number `{refund_no}` is not 1-64 characters of [0-9A-Za-z_-|*@], as WeChat \
             Pay's out_refund_no must be"
        )))
    }
}

/// WeChat's `trade_state` as the contract's trade state.
pub fn trade_state(state: &str) -> Option<TradeState> {
    match state {
        "SUCCESS" => Some(TradeState::Paid),
        // Paid, then refunded (in part or in full): the payment did happen.
        "REFUND" => Some(TradeState::Refunded),
        // Waiting for the payer; USERPAYING is a payer entering a password.
        "NOTPAY" | "USERPAYING" => Some(TradeState::Open),
        // REVOKED: a payment-code trade cancelled; nothing was paid.
        "CLOSED" | "REVOKED" => Some(TradeState::Closed),
        "PAYERROR" => Some(TradeState::Failed),
        _ => None,
    }
}

/// WeChat's refund `status` / `refund_status` as the contract's refund state.
pub fn refund_state(state: &str) -> Option<RefundState> {
    match state {
        "SUCCESS" => Some(RefundState::Succeeded),
        "PROCESSING" => Some(RefundState::Processing),
        // CLOSED: the refund was closed; ABNORMAL: the money could not reach the payer.
        "CLOSED" | "ABNORMAL" => Some(RefundState::Failed),
        _ => None,
    }
}

/// A transaction as the contract reports it. It must be the merchant's and the trade that
/// was asked about (`expected_no`, when known): anything else is not an answer to trust.
pub fn trade_status(
    transaction: Transaction,
    mchid: &str,
    expected_no: Option<&str>,
) -> Result<TradeStatus, ProviderError> {
    if transaction.mchid != mchid {
        return Err(ProviderError::Rejected(Rejection {
            code: "MCHID_MISMATCH".into(),
            message: format!(
                "transaction of merchant {} reported to merchant {mchid}",
                transaction.mchid
            ),
        }));
    }
    if let Some(expected) = expected_no {
        if transaction.out_trade_no != expected {
            return Err(ProviderError::Unreachable(format!(
                "asked about {expected}, WeChat Pay answered about {}",
                transaction.out_trade_no
            )));
        }
    }
    let state = trade_state(&transaction.trade_state).ok_or_else(|| {
        ProviderError::Unreachable(format!(
            "WeChat Pay reported trade_state `{}`",
            transaction.trade_state
        ))
    })?;
    let paid = matches!(state, TradeState::Paid | TradeState::Refunded);
    let paid_amount = match (paid, &transaction.amount) {
        (
            true,
            Some(TransactionAmount {
                total: Some(total),
                currency,
            }),
        ) => Some(Money {
            minor: *total,
            currency: currency.clone().unwrap_or_else(|| CURRENCY.to_owned()),
        }),
        _ => None,
    };
    Ok(TradeStatus {
        payment_no: transaction.out_trade_no,
        state,
        provider_trade_id: transaction.transaction_id,
        paid_amount,
        paid_at: transaction.success_time.as_deref().and_then(parse_time),
    })
}

/// A refund as the contract reports it. An unknown state leaves the outcome unknown.
pub fn refund_status(
    payment_no: String,
    refund_no: String,
    refund_id: String,
    status: &str,
    amount: RefundAmount,
) -> Result<RefundStatus, ProviderError> {
    let state = refund_state(status).ok_or_else(|| {
        ProviderError::Unreachable(format!("WeChat Pay reported refund status `{status}`"))
    })?;
    Ok(RefundStatus {
        payment_no,
        refund_no,
        state,
        provider_refund_id: Some(refund_id),
        amount: Some(Money {
            minor: amount.refund,
            currency: amount.currency.unwrap_or_else(|| CURRENCY.to_owned()),
        }),
    })
}

/// What an answer that is not a 2xx means, read from WeChat's error body `{code, message}`
/// (sometimes with a `detail`); `signed` says whether the answer carried the `Wechatpay-*`
/// signature headers and verified (see `accept` in `lib.rs`: one that carries them and does
/// not verify never gets here).
///
/// WeChat signs an answer only when it verified the request's signature, so a refusal of
/// the request itself (`401 SIGN_ERROR`, some `400 PARAM_ERROR`) comes without `Wechatpay-*`
/// headers, and must still be read: WeChat Pay's signature rules
/// (https://pay.weixin.qq.com/wiki/doc/apiv3_partner/wechatpay/wechatpay3_3.shtml): "没有携带
/// 签名或者签名验证不通过的请求，都不会被执行，并返回401 Unauthorized" (a request without a valid
/// signature is not executed and gets 401) and "对于签名验证成功的请求，微信支付API v3会使用微信支付的
/// 平台私钥对应答进行签名" (answers to requests whose signature verified are signed). A captured
/// 401 with all its headers and none of `Wechatpay-*`:
/// https://developers.weixin.qq.com/community/pay/doc/0000220af80cf8681a3b5f02c5bc00. The
/// official SDKs read the status first: wechatpay-go's `doRequest` calls `core.CheckResponse`
/// (status 200-299, else an `APIError` with `Code` and `Message`) before its validator
/// (https://github.com/wechatpay-apiv3/wechatpay-go, `core/client.go`); wechatpay-java
/// throws a `ServiceException` for any status outside 2xx before `validator.validate`
/// (https://github.com/wechatpay-apiv3/wechatpay-java, `AbstractHttpClient.validateResponse`).
///
/// An unsigned answer is read but not trusted to tell the trade's state: an unsigned
/// `ORDERPAID`, `ORDER_CLOSED` or `ORDER_NOT_EXIST` / `RESOURCE_NOT_EXISTS` is only a
/// `rejected` with its code and message (the host asks again, and a signed answer decides).
/// Unsigned or signed, WeChat's own trouble (`SYSTEM_ERROR`, `BANK_ERROR`,
/// `FREQUENCY_LIMITED`, any other code with a 5xx) and an answer without a readable code (a
/// proxy's 502 page, an empty 503) leave the outcome unknown.
///
/// WeChat's `code` decides, not the HTTP status: the same code comes with different
/// statuses on different endpoints.
pub fn error_for(status: u16, body: &[u8], signed: bool) -> ProviderError {
    let error = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) if !error.code.trim().is_empty() => error,
        _ => {
            return ProviderError::Unreachable(format!(
                "WeChat Pay answered HTTP {status} without an error code"
            ))
        }
    };
    match error.code.as_str() {
        // Closing a paid trade: {"code":"ORDERPAID","message":"该订单已支付"}
        // (https://developers.weixin.qq.com/community/pay/doc/0002e4a890cf18ddfa619da7d6ac00).
        "ORDERPAID" if signed => ProviderError::AlreadyPaid,
        // "400 ORDER_CLOSED 订单已关闭" (the close-order page's error table,
        // https://pay.weixin.qq.com/doc/v3/merchant/4012556398).
        "ORDER_CLOSED" if signed => ProviderError::AlreadyClosed,
        // Query of an unknown trade (https://pay.weixin.qq.com/doc/v3/merchant/4013070356):
        // 404 {"code":"ORDER_NOT_EXIST","message":"订单不存在"}, as WeChat staff put it on its
        // developer community: "查单接口报错404是订单不存在，返回的body里面有说明的". Refund query of an
        // unknown refund: 404 {"code":"RESOURCE_NOT_EXISTS","message":"退款单不存在"}
        // (https://developers.weixin.qq.com/community/pay/doc/0002c252e18508fd4a71a4c666bc00,
        // https://developers.weixin.qq.com/community/develop/doc/000ec03d36c458d7bba2245a66bc00);
        // a refund of an unknown trade answers the same code, "订单不存在". ORDERNOTEXIST: the
        // code's older (v2) spelling, still seen on some endpoints.
        "ORDER_NOT_EXIST" | "ORDERNOTEXIST" | "RESOURCE_NOT_EXISTS" if signed => {
            ProviderError::NotFound
        }
        // WeChat's own trouble: the request may or may not have been acted on.
        "SYSTEM_ERROR" | "BANK_ERROR" | "FREQUENCY_LIMITED" => {
            ProviderError::Unreachable(format!("WeChat Pay: {} {}", error.code, error.message))
        }
        // The request itself was refused, whatever the status: SIGN_ERROR (401, unsigned),
        // PARAM_ERROR (400), INVALID_REQUEST (400 in the error tables, e.g.
        // https://pay.weixin.qq.com/doc/v3/merchant/4012556398; in v3 also "201 商户订单号重复",
        // the same out_trade_no with other parameters, as described at
        // https://www.daxiao.show/blog/technology/other/189-880.html). OUT_TRADE_NO_USED is
        // that refusal's v2 name, kept in case an endpoint still sends it.
        "SIGN_ERROR" | "PARAM_ERROR" | "INVALID_REQUEST" | "OUT_TRADE_NO_USED" => rejection(error),
        _ if status >= 500 => ProviderError::Unreachable(format!(
            "WeChat Pay answered HTTP {status}: {} {}",
            error.code, error.message
        )),
        // Any other refusal, and an unsigned ORDERPAID, ORDER_CLOSED or not-found.
        _ => rejection(error),
    }
}

fn rejection(error: ErrorBody) -> ProviderError {
    ProviderError::Rejected(Rejection {
        code: error.code,
        message: error.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(state: &str, total: Option<u64>) -> Transaction {
        Transaction {
            mchid: "1900009191".into(),
            out_trade_no: "P0123456789".into(),
            transaction_id: Some("4200000000000000000000000001".into()),
            trade_state: state.into(),
            success_time: (state == "SUCCESS").then(|| "2026-11-23T10:34:56+08:00".into()),
            amount: Some(TransactionAmount {
                total,
                currency: Some("CNY".into()),
            }),
        }
    }

    #[test]
    fn every_trade_state_maps_to_the_contract() {
        let cases = [
            ("SUCCESS", TradeState::Paid),
            ("REFUND", TradeState::Refunded),
            ("NOTPAY", TradeState::Open),
            ("USERPAYING", TradeState::Open),
            ("CLOSED", TradeState::Closed),
            ("REVOKED", TradeState::Closed),
            ("PAYERROR", TradeState::Failed),
        ];
        for (wechat, contract) in cases {
            assert_eq!(trade_state(wechat), Some(contract), "{wechat}");
        }
        assert_eq!(trade_state("success"), None);
        assert_eq!(trade_state("ACCEPT"), None);
    }

    #[test]
    fn a_paid_transaction_reports_its_total_and_payment_time() {
        let status = trade_status(
            transaction("SUCCESS", Some(1234)),
            "1900009191",
            Some("P0123456789"),
        )
        .expect("a paid transaction");
        assert_eq!(status.state, TradeState::Paid);
        assert_eq!(
            status.paid_amount,
            Some(Money {
                minor: 1234,
                currency: "CNY".into()
            })
        );
        assert_eq!(status.paid_at, Some(1_795_401_296));
        assert_eq!(
            status.provider_trade_id.as_deref(),
            Some("4200000000000000000000000001")
        );
    }

    #[test]
    fn an_unpaid_transaction_reports_no_amount() {
        for state in ["NOTPAY", "CLOSED", "PAYERROR", "USERPAYING", "REVOKED"] {
            let status = trade_status(transaction(state, Some(1234)), "1900009191", None)
                .expect("a transaction");
            assert_eq!(status.paid_amount, None, "{state}");
        }
        let refunded = trade_status(transaction("REFUND", Some(1234)), "1900009191", None)
            .expect("a refunded transaction");
        assert_eq!(refunded.paid_amount.map(|m| m.minor), Some(1234));
    }

    #[test]
    fn a_transaction_of_another_merchant_or_trade_is_not_trusted() {
        assert!(matches!(
            trade_status(transaction("SUCCESS", Some(1)), "1230000109", None),
            Err(ProviderError::Rejected(r)) if r.code == "MCHID_MISMATCH"
        ));
        assert!(matches!(
            trade_status(
                transaction("SUCCESS", Some(1)),
                "1900009191",
                Some("P999999")
            ),
            Err(ProviderError::Unreachable(_))
        ));
        assert!(matches!(
            trade_status(transaction("ACCEPT", Some(1)), "1900009191", None),
            Err(ProviderError::Unreachable(_))
        ));
    }

    #[test]
    fn every_refund_status_maps_to_the_contract() {
        for (wechat, contract) in [
            ("SUCCESS", RefundState::Succeeded),
            ("PROCESSING", RefundState::Processing),
            ("CLOSED", RefundState::Failed),
            ("ABNORMAL", RefundState::Failed),
        ] {
            assert_eq!(refund_state(wechat), Some(contract), "{wechat}");
        }
        assert_eq!(refund_state("DONE"), None);
    }

    fn error(status: u16, code: &str, signed: bool) -> ProviderError {
        error_for(
            status,
            format!(r#"{{"code":"{code}","message":"m"}}"#).as_bytes(),
            signed,
        )
    }

    #[test]
    fn signed_error_codes_map_to_what_the_host_can_do_next() {
        assert_eq!(error(400, "ORDERPAID", true), ProviderError::AlreadyPaid);
        assert_eq!(
            error(400, "ORDER_CLOSED", true),
            ProviderError::AlreadyClosed
        );
        assert_eq!(error(404, "ORDER_NOT_EXIST", true), ProviderError::NotFound);
        assert_eq!(error(404, "ORDERNOTEXIST", true), ProviderError::NotFound);
        assert_eq!(
            error(404, "RESOURCE_NOT_EXISTS", true),
            ProviderError::NotFound
        );
    }

    #[test]
    fn unsigned_state_codes_are_only_rejections() {
        for (status, code) in [
            (400, "ORDERPAID"),
            (400, "ORDER_CLOSED"),
            (404, "ORDER_NOT_EXIST"),
            (404, "ORDERNOTEXIST"),
            (404, "RESOURCE_NOT_EXISTS"),
        ] {
            assert_eq!(
                error(status, code, false),
                ProviderError::Rejected(Rejection {
                    code: code.into(),
                    message: "m".into()
                }),
                "{code}"
            );
            // With a 5xx, unsigned, the outcome is unknown.
            assert!(
                matches!(error(500, code, false), ProviderError::Unreachable(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn the_other_codes_mean_the_same_signed_or_not() {
        for signed in [true, false] {
            for code in ["SYSTEM_ERROR", "BANK_ERROR", "FREQUENCY_LIMITED"] {
                // Whatever the status WeChat sends them with.
                for status in [400, 429, 500] {
                    assert!(
                        matches!(error(status, code, signed), ProviderError::Unreachable(m) if m.contains(code)),
                        "{code} {status} {signed}"
                    );
                }
            }
            assert!(matches!(
                error(502, "BAD_GATEWAY", signed),
                ProviderError::Unreachable(_)
            ));
            for code in [
                "PARAM_ERROR",
                "SIGN_ERROR",
                "OUT_TRADE_NO_USED",
                "INVALID_REQUEST",
            ] {
                // Refusals of the request, whatever the status.
                for status in [400, 401, 403, 500] {
                    assert_eq!(
                        error(status, code, signed),
                        ProviderError::Rejected(Rejection {
                            code: code.into(),
                            message: "m".into()
                        }),
                        "{code} {status} {signed}"
                    );
                }
            }
            // Another code WeChat documents for a 4xx (NOT_ENOUGH: the balance cannot refund).
            assert!(matches!(
                error(403, "NOT_ENOUGH", signed),
                ProviderError::Rejected(r) if r.code == "NOT_ENOUGH"
            ));
        }
    }

    #[test]
    fn refusal_bodies_seen_in_the_field_are_rejections() {
        // Bodies of real, unsigned 401s: the one captured with its headers at
        // https://developers.weixin.qq.com/community/pay/doc/0000220af80cf8681a3b5f02c5bc00,
        // and the newer shape with `detail`, as posted on WeChat's developer community in
        // 2024 (the same shape, with another message:
        // https://github.com/TheNorthMemory/wechatpay-axios-plugin/issues/58).
        let captured = r#"{"code":"SIGN_ERROR","message":"签名信息错误，验签失败"}"#;
        assert_eq!(
            error_for(401, captured.as_bytes(), false),
            ProviderError::Rejected(Rejection {
                code: "SIGN_ERROR".into(),
                message: "签名信息错误，验签失败".into()
            })
        );
        let detailed = r#"{"code":"SIGN_ERROR","detail":{"detail":{"issue":"sign not match"},"field":"signature","location":"authorization","sign_information":{"method":"POST","sign_message_length":336,"truncated_sign_message":"POST\n/v3/pay/transactions/jsapi\n1717834061\ncg55d1ns.c25\n{\"appid\"\n","url":"/v3/pay/transactions/jsapi"}},"message":"签名错误，请检查后再试"}"#;
        assert!(matches!(
            error_for(401, detailed.as_bytes(), false),
            ProviderError::Rejected(r) if r.code == "SIGN_ERROR" && r.message == "签名错误，请检查后再试"
        ));
        // https://github.com/w7corp/easywechat/issues/2954
        let param = r#"{"code":"PARAM_ERROR","detail":{"location":"body","value":1},"message":"输入源“/body/out_trade_no”映射到值字段“商户订单号”字符串规则校验失败，字节数 1，小于最小值 6"}"#;
        assert!(matches!(
            error_for(400, param.as_bytes(), false),
            ProviderError::Rejected(r) if r.code == "PARAM_ERROR"
        ));
        let duplicate = r#"{"code":"INVALID_REQUEST","message":"201 商户订单号重复"}"#;
        assert!(matches!(
            error_for(400, duplicate.as_bytes(), true),
            ProviderError::Rejected(r) if r.code == "INVALID_REQUEST" && r.message.contains("201")
        ));
    }

    #[test]
    fn an_answer_without_an_error_code_leaves_the_outcome_unknown() {
        for signed in [true, false] {
            assert!(matches!(
                error_for(400, b"<html>", signed),
                ProviderError::Unreachable(_)
            ));
            for status in [500, 502, 503, 504] {
                for body in [
                    &b""[..],
                    b"<html>Bad Gateway</html>",
                    b"{}",
                    br#"{"code":""}"#,
                ] {
                    assert!(
                        matches!(error_for(status, body, signed), ProviderError::Unreachable(m) if m.contains(&status.to_string())),
                        "{status}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_description_is_cut_to_127_characters() {
        let long = "茶".repeat(200);
        assert_eq!(description(&long).chars().count(), 127);
        assert_eq!(description("Green tea"), "Green tea");
    }

    #[test]
    fn trade_paths_take_wechat_trade_numbers_only() {
        assert_eq!(
            trade_path("0193a1b2c3d4").as_deref(),
            Ok("/v3/pay/transactions/out-trade-no/0193a1b2c3d4")
        );
        for bad in ["", "12345", &"a".repeat(33), "abc/../x", "abc def"] {
            assert!(
                matches!(trade_path(bad), Err(ProviderError::Unsupported(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pay_body_is_what_wechat_documents() {
        let body = PayBody {
            appid: "wxd678efh567hg6787",
            mchid: "1900009191",
            description: description("Green tea"),
            out_trade_no: "0193a1b2c3d4",
            time_expire: "2026-11-23T10:34:56+08:00".into(),
            notify_url: "https://pay.example/v1/notify/wechat/m1",
            amount: Amount {
                total: 1234,
                currency: CURRENCY,
            },
            payer: None,
            scene_info: None,
        };
        assert_eq!(
            serde_json::to_value(&body).expect("JSON"),
            serde_json::json!({
                "appid": "wxd678efh567hg6787", "mchid": "1900009191", "description": "Green tea",
                "out_trade_no": "0193a1b2c3d4", "time_expire": "2026-11-23T10:34:56+08:00",
                "notify_url": "https://pay.example/v1/notify/wechat/m1",
                "amount": {"total": 1234, "currency": "CNY"}
            })
        );
    }
}
