//! The Alipay gateway's methods, their `biz_content` bodies and answers, and the maps from
//! Alipay's trade states, refund answers and error codes to the contract's. Pure, and
//! unit-tested natively.

use serde::{Deserialize, Deserializer, Serialize};

use paygate_sdk::{Money, ProviderError, RefundState, Rejection, TradeState};

use crate::money::{is_positive, parse_yuan, CURRENCY};

/// The gateway methods this adapter calls.
pub const PRECREATE: &str = "alipay.trade.precreate";
pub const PAGE_PAY: &str = "alipay.trade.page.pay";
pub const WAP_PAY: &str = "alipay.trade.wap.pay";
pub const QUERY: &str = "alipay.trade.query";
pub const CLOSE: &str = "alipay.trade.close";
pub const REFUND: &str = "alipay.trade.refund";
pub const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";
/// The address of a day's bill (查询对账单下载地址, https://opendocs.alipay.com/open/02e7gr).
pub const BILL_DOWNLOAD_URL: &str = "alipay.data.dataservice.bill.downloadurl.query";

/// `bill_type` of the merchant's trade bill (业务账单: the trades and refunds it collected
/// through Alipay), as against `signcustomer` (the account's money movements).
pub const TRADE_BILL: &str = "trade";

/// `sub_code` of a bill Alipay does not hold: not produced yet, or a day without trades
/// (see `fetch_bill` in `lib.rs`).
pub const BILL_NOT_EXIST: &str = "isp.bill_not_exist";

/// `product_code` of a computer-website payment (电脑网站支付) and of a mobile-website
/// payment (手机网站支付).
pub const PAGE_PRODUCT: &str = "FAST_INSTANT_TRADE_PAY";
pub const WAP_PRODUCT: &str = "QUICK_WAP_WAY";

/// `subject` is a String(256).
pub const SUBJECT_MAX_CHARS: usize = 256;

/// `biz_content` of `alipay.trade.precreate`, `.page.pay` and `.wap.pay`.
#[derive(Debug, Serialize)]
pub struct PayBiz<'a> {
    pub out_trade_no: &'a str,
    /// Yuan, two decimals.
    pub total_amount: String,
    pub subject: String,
    /// Page and WAP only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<&'static str>,
    /// The absolute deadline, `yyyy-MM-dd HH:mm:ss` in Beijing time.
    pub time_expire: String,
}

/// `biz_content` of `alipay.trade.query` and `alipay.trade.close`.
#[derive(Debug, Serialize)]
pub struct TradeBiz<'a> {
    pub out_trade_no: &'a str,
}

/// `biz_content` of `alipay.trade.refund`.
#[derive(Debug, Serialize)]
pub struct RefundBiz<'a> {
    pub out_trade_no: &'a str,
    pub refund_amount: String,
    /// Tells the refunds of one trade apart; the same number is the same refund.
    pub out_request_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<&'a str>,
}

/// `biz_content` of `alipay.trade.fastpay.refund.query`.
#[derive(Debug, Serialize)]
pub struct RefundQueryBiz<'a> {
    pub out_trade_no: &'a str,
    pub out_request_no: &'a str,
}

/// `biz_content` of `alipay.data.dataservice.bill.downloadurl.query`.
#[derive(Debug, Serialize)]
pub struct BillBiz<'a> {
    pub bill_type: &'static str,
    /// `yyyy-MM-dd`, a day in Beijing time.
    pub bill_date: &'a str,
}

/// The answer to `alipay.data.dataservice.bill.downloadurl.query`.
#[derive(Debug, Deserialize)]
pub struct BillUrlAnswer {
    /// Where the day's bill (a zip) is fetched, with a plain GET, within 30 seconds.
    pub bill_download_url: Option<String>,
}

/// What every answer says: `code` `10000` is success, anything else a refusal with a
/// `sub_code`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    pub sub_code: Option<String>,
    pub sub_msg: Option<String>,
}

pub const SUCCESS: &str = "10000";

/// The answer to `alipay.trade.precreate`.
#[derive(Debug, Deserialize)]
pub struct PrecreateAnswer {
    pub out_trade_no: Option<String>,
    pub qr_code: Option<String>,
}

/// The answer to `alipay.trade.query`.
#[derive(Debug, Default, Deserialize)]
pub struct QueryAnswer {
    pub out_trade_no: Option<String>,
    pub trade_no: Option<String>,
    pub trade_status: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub total_amount: Option<String>,
    /// When the money reached the merchant: present once the trade was paid.
    pub send_pay_date: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub buyer_pay_amount: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub receipt_amount: Option<String>,
    /// Not in the query's documented answer, but what notifications show refunds with.
    #[serde(default, deserialize_with = "text")]
    pub refund_fee: Option<String>,
}

/// The answer to `alipay.trade.refund`.
#[derive(Debug, Deserialize)]
pub struct RefundAnswer {
    pub out_trade_no: Option<String>,
    /// `Y`: this call moved money back to the payer.
    pub fund_change: Option<String>,
}

/// The answer to `alipay.trade.fastpay.refund.query`.
#[derive(Debug, Deserialize)]
pub struct RefundQueryAnswer {
    pub out_trade_no: Option<String>,
    pub out_request_no: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub refund_amount: Option<String>,
    pub refund_status: Option<String>,
}

/// A text field that Alipay writes as a JSON string; an integer is taken as its digits.
/// A number with a fraction is refused rather than read through a float.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Integer(u64),
    }
    Ok(Option::<Text>::deserialize(deserializer)?.map(|t| match t {
        Text::String(s) => s,
        Text::Integer(n) => n.to_string(),
    }))
}

/// `subject` cut to Alipay's 256 characters, on a character boundary.
pub fn subject(text: &str) -> String {
    text.chars().take(SUBJECT_MAX_CHARS).collect()
}

/// A trade number as Alipay's `out_trade_no` / `out_request_no` takes it: 1-64 characters of
/// letters, digits and `_` ("64个字符以内、只能包含字母、数字、下划线", alipay.trade.precreate).
/// Anything else is refused before a request is made.
pub fn trade_number<'a>(what: &str, number: &'a str) -> Result<&'a str, ProviderError> {
    let well_formed = (1..=64).contains(&number.len())
        && number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(number)
    } else {
        Err(ProviderError::Unsupported(format!(
            "{what} `{number}` is not 1-64 characters of [0-9A-Za-z_], as Alipay takes it"
        )))
    }
}

/// The contract's state for Alipay's `trade_status`, given what else the message shows:
/// whether a refund happened (`refund_fee` above zero, a `gmt_refund`) and whether the
/// trade was paid (a payment date or amount).
///
/// `WAIT_BUYER_PAY` is open; `TRADE_SUCCESS` / `TRADE_FINISHED` paid, or refunded once a
/// refund shows (a partial refund leaves the trade `TRADE_SUCCESS` and notifies with
/// `refund_fee`: not a new payment); `TRADE_CLOSED` is "未付款交易超时关闭，或支付完成后全额退款"
/// (Java SDK `AlipayTradeQueryResponse.tradeStatus`): closed, or refunded if it was paid or
/// refunded. The notification page, https://opendocs.alipay.com/open/270/105902, lists the
/// same states, and `refund_fee` (the total refunded) and `gmt_refund` among a
/// notification's fields.
pub fn trade_state(status: &str, refund_shown: bool, payment_shown: bool) -> Option<TradeState> {
    match status {
        "WAIT_BUYER_PAY" => Some(TradeState::Open),
        "TRADE_SUCCESS" | "TRADE_FINISHED" if refund_shown => Some(TradeState::Refunded),
        "TRADE_SUCCESS" | "TRADE_FINISHED" => Some(TradeState::Paid),
        "TRADE_CLOSED" if refund_shown || payment_shown => Some(TradeState::Refunded),
        "TRADE_CLOSED" => Some(TradeState::Closed),
        _ => None,
    }
}

/// The state a query answer reports.
pub fn queried_state(answer: &QueryAnswer) -> Option<TradeState> {
    let refund_shown = is_positive(answer.refund_fee.as_deref());
    let payment_shown = answer
        .send_pay_date
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
        || is_positive(answer.buyer_pay_amount.as_deref())
        || is_positive(answer.receipt_amount.as_deref());
    trade_state(answer.trade_status.as_deref()?, refund_shown, payment_shown)
}

/// `total_amount` as paid money: the order's amount, which the host compares with the
/// payment's. Missing or not money, the report cannot be trusted.
pub fn paid_amount(total_amount: Option<&str>) -> Result<Money, ProviderError> {
    let text = total_amount.unwrap_or_default();
    parse_yuan(text)
        .map(|minor| Money {
            minor,
            currency: CURRENCY.to_owned(),
        })
        .ok_or_else(|| {
            ProviderError::Unreachable(format!("Alipay reported a paid trade of `{text}` yuan"))
        })
}

/// A refund's state from `alipay.trade.refund`'s answer: `fund_change` `Y` means the money
/// went back; anything else is still to be confirmed by the refund query. Alipay support:
/// "code 10000 只是表示退款接口调用成功，实际是否退款成功需要依据同步返回参数中的 fund_change…
/// 如果fund_change返回的参数是Y那么就可以确定为退款成功" (developer.aliyun.com/article/707647).
/// A repeated `out_request_no` answers `N` (no money moved this time). The refund query is
/// left to the host's next ask rather than made at once: "发起退款查询接口的时间不能离退款请求时间
/// 太短，建议之间间隔10秒以上" (the refund query's doc, as quoted at blog.csdn.net/qq_42700766/
/// article/details/118274488).
pub fn refund_state(fund_change: Option<&str>) -> RefundState {
    if fund_change == Some("Y") {
        RefundState::Succeeded
    } else {
        RefundState::Processing
    }
}

/// A refund's state from `alipay.trade.fastpay.refund.query`. Its doc: "该接口的返回码10000，
/// 仅代表本次查询操作成功，不代表退款成功。如果该接口返回了查询数据，则代表退款成功，如果没有查询到则代表
/// 未退款成功，可以调用退款接口进行重试。重试时请务必保证退款请求号一致" (docs.open.alipay.com/api_1/
/// alipay.trade.fastpay.refund.query); for refunds made with alipay.trade.refund, "返回了业务信息
/// (trade_no、out_request_no和refund_amount不为空)，表示退款成功", and `refund_status`
/// `REFUND_SUCCESS` (or none) with data is success. No data: no such refund (`not-found`,
/// and the host submits it again with the same number). Another status leaves it unknown.
pub fn queried_refund_state(answer: &RefundQueryAnswer) -> Result<RefundState, ProviderError> {
    let has_data = answer
        .refund_amount
        .as_deref()
        .is_some_and(|a| !a.trim().is_empty());
    match answer
        .refund_status
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        Some("REFUND_SUCCESS") => Ok(RefundState::Succeeded),
        None if has_data => Ok(RefundState::Succeeded),
        None => Err(ProviderError::NotFound),
        Some(other) => Err(ProviderError::Unreachable(format!(
            "Alipay reported refund_status `{other}`"
        ))),
    }
}

/// What a refusal means, from its `code` and `sub_code`; `signed` says whether the answer
/// carried a signature that verified.
///
/// - `20000` (service unavailable), `ACQ.SYSTEM_ERROR` and `isp.*`: Alipay's own trouble;
///   the outcome is unknown.
/// - `40004` (business failure) by `sub_code`: `ACQ.TRADE_NOT_EXIST` not-found,
///   `ACQ.TRADE_HAS_SUCCESS` already-paid, `ACQ.TRADE_HAS_CLOSE` already-closed;
///   `ACQ.TRADE_STATUS_ERROR` (closing a paid trade; the close API's error codes,
///   https://opendocs.alipay.com/open/02e7gn) and the rest are refusals
///   (the host queries after a refused close).
/// - `40001` (missing argument) and `40002` (invalid argument) are refusals of the request;
///   those that say the merchant's configuration is wrong — `isv.invalid-app-id`,
///   `isv.invalid-signature` (the app private key does not match the key uploaded to
///   Alipay), `isv.missing-signature-config` ("未配置对应签名算法的公钥或者证书") — are
///   `config`, and so are `20001` (authorisation) and `40006` (the app lacks the permission).
///
/// Alipay does not sign every refusal: a `40002 isv.invalid-app-id` comes without `sign`
/// (github.com/fzlee/alipay/issues/20, shadowsocks/shadowsocks-manager#139), and the Java SDK
/// verifies a failed answer only "if it has a sign" (`AbstractAlipayClient.checkResponseSign`:
/// `responseIsSucess || (!responseIsSucess && !StringUtils.isEmpty(signItem.getSign()))`).
/// An unsigned refusal is read, as WeChat's unsigned `401 SIGN_ERROR` is; but it is not
/// trusted to tell the trade's state: an unsigned not-found, already-paid or already-closed
/// is only a refusal (the host then asks again, and a signed answer decides).
pub fn error_for(outcome: &Outcome, signed: bool) -> ProviderError {
    let sub_code = outcome.sub_code.as_deref().unwrap_or_default();
    let code = outcome.code.as_str();
    let unknown = || {
        ProviderError::Unreachable(format!(
            "Alipay: {code} {sub_code} {}",
            outcome.sub_msg.as_deref().unwrap_or(&outcome.msg)
        ))
    };
    let config = || {
        ProviderError::Config(format!(
            "Alipay refused the merchant's credentials: {code} {sub_code} {}",
            outcome.sub_msg.as_deref().unwrap_or(&outcome.msg)
        ))
    };
    if code == "20000"
        || sub_code == "ACQ.SYSTEM_ERROR"
        || sub_code.ends_with(".ACQ.SYSTEM_ERROR")
        || sub_code.starts_with("isp.")
    {
        return unknown();
    }
    let state = match (code, sub_code) {
        ("40004", "ACQ.TRADE_NOT_EXIST") => Some(ProviderError::NotFound),
        ("40004", "ACQ.TRADE_HAS_SUCCESS") => Some(ProviderError::AlreadyPaid),
        ("40004", "ACQ.TRADE_HAS_CLOSE") => Some(ProviderError::AlreadyClosed),
        _ => None,
    };
    match state {
        Some(state) if signed => return state,
        Some(_) => {
            return ProviderError::Rejected(Rejection {
                code: sub_code.to_owned(),
                message: format!(
                    "{} (an unsigned answer, not taken as the trade's state)",
                    outcome.sub_msg.as_deref().unwrap_or(&outcome.msg)
                ),
            })
        }
        None => {}
    }
    match (code, sub_code) {
        ("20001" | "40006", _)
        | (
            "40002",
            "isv.invalid-app-id" | "isv.invalid-signature" | "isv.missing-signature-config",
        ) => config(),
        _ => ProviderError::Rejected(Rejection {
            code: if sub_code.is_empty() {
                code.to_owned()
            } else {
                sub_code.to_owned()
            },
            message: outcome
                .sub_msg
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| outcome.msg.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: &str, sub_code: Option<&str>) -> Outcome {
        Outcome {
            code: code.into(),
            msg: "Business Failed".into(),
            sub_code: sub_code.map(Into::into),
            sub_msg: sub_code.map(|_| "交易不存在".into()),
        }
    }

    #[test]
    fn pay_bodies_are_what_alipay_documents() {
        let body = PayBiz {
            out_trade_no: "P0123456789",
            total_amount: "88.88".into(),
            subject: subject("Iphone6 16G"),
            product_code: Some(PAGE_PRODUCT),
            time_expire: "2026-11-23 10:34:56".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).expect("JSON"),
            r#"{"out_trade_no":"P0123456789","total_amount":"88.88","subject":"Iphone6 16G","product_code":"FAST_INSTANT_TRADE_PAY","time_expire":"2026-11-23 10:34:56"}"#
        );
        let precreate = PayBiz {
            product_code: None,
            ..body
        };
        assert!(!serde_json::to_string(&precreate)
            .expect("JSON")
            .contains("product_code"));
        let refund = RefundBiz {
            out_trade_no: "P1",
            refund_amount: "0.10".into(),
            out_request_no: "R1",
            refund_reason: None,
        };
        assert_eq!(
            serde_json::to_string(&refund).expect("JSON"),
            r#"{"out_trade_no":"P1","refund_amount":"0.10","out_request_no":"R1"}"#
        );
    }

    #[test]
    fn the_subject_is_cut_to_256_characters() {
        assert_eq!(subject(&"茶".repeat(300)).chars().count(), 256);
        assert_eq!(subject("Green tea"), "Green tea");
    }

    #[test]
    fn trade_numbers_are_up_to_64_letters_digits_and_underscores() {
        assert!(trade_number("payment number", "0193a1b2c3d4").is_ok());
        assert!(trade_number("payment number", &"a_1".repeat(21)).is_ok());
        for bad in ["", "a-b", "a b", "茶", &"a".repeat(65)] {
            assert!(
                matches!(trade_number("n", bad), Err(ProviderError::Unsupported(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_trade_status_maps_to_the_contract() {
        assert_eq!(
            trade_state("WAIT_BUYER_PAY", false, false),
            Some(TradeState::Open)
        );
        assert_eq!(
            trade_state("TRADE_SUCCESS", false, true),
            Some(TradeState::Paid)
        );
        assert_eq!(
            trade_state("TRADE_FINISHED", false, true),
            Some(TradeState::Paid)
        );
        assert_eq!(
            trade_state("TRADE_CLOSED", false, false),
            Some(TradeState::Closed)
        );
        assert_eq!(trade_state("trade_success", false, false), None);
        assert_eq!(trade_state("TRADE_PENDING", false, false), None);
    }

    #[test]
    fn a_paid_trade_with_a_refund_is_refunded_not_a_new_payment() {
        assert_eq!(
            trade_state("TRADE_SUCCESS", true, true),
            Some(TradeState::Refunded)
        );
        assert_eq!(
            trade_state("TRADE_FINISHED", true, true),
            Some(TradeState::Refunded)
        );
    }

    #[test]
    fn a_closed_trade_that_was_paid_is_refunded_not_closed_unpaid() {
        assert_eq!(
            trade_state("TRADE_CLOSED", true, false),
            Some(TradeState::Refunded)
        );
        assert_eq!(
            trade_state("TRADE_CLOSED", false, true),
            Some(TradeState::Refunded)
        );
    }

    #[test]
    fn a_query_shows_payment_by_its_date_or_amounts_compared_as_money() {
        let answer = |date: Option<&str>, paid: Option<&str>, status: &str| QueryAnswer {
            trade_status: Some(status.into()),
            send_pay_date: date.map(Into::into),
            buyer_pay_amount: paid.map(Into::into),
            receipt_amount: paid.map(Into::into),
            ..QueryAnswer::default()
        };
        assert_eq!(
            queried_state(&answer(None, Some("0.00"), "TRADE_CLOSED")),
            Some(TradeState::Closed)
        );
        assert_eq!(
            queried_state(&answer(Some("2014-11-27 15:45:57"), None, "TRADE_CLOSED")),
            Some(TradeState::Refunded)
        );
        assert_eq!(
            queried_state(&answer(None, Some("0.01"), "TRADE_CLOSED")),
            Some(TradeState::Refunded)
        );
        let mut refunded = answer(Some("2014-11-27 15:45:57"), Some("1.00"), "TRADE_SUCCESS");
        assert_eq!(queried_state(&refunded), Some(TradeState::Paid));
        refunded.refund_fee = Some("0.10".into());
        assert_eq!(queried_state(&refunded), Some(TradeState::Refunded));
        refunded.refund_fee = Some("0.00".into());
        assert_eq!(queried_state(&refunded), Some(TradeState::Paid));
        assert_eq!(queried_state(&QueryAnswer::default()), None);
    }

    #[test]
    fn amounts_are_read_as_text_and_integers_but_never_floats() {
        let read = |json: &str| serde_json::from_str::<QueryAnswer>(json).map(|a| a.total_amount);
        assert_eq!(
            read(r#"{"total_amount":"88.88"}"#)
                .ok()
                .flatten()
                .as_deref(),
            Some("88.88")
        );
        assert_eq!(
            read(r#"{"total_amount":88}"#).ok().flatten().as_deref(),
            Some("88")
        );
        assert_eq!(read(r#"{}"#).ok().flatten(), None);
        assert_eq!(read(r#"{"total_amount":null}"#).ok().flatten(), None);
        assert!(read(r#"{"total_amount":88.88}"#).is_err());
    }

    #[test]
    fn a_paid_amount_is_money_or_the_report_is_not_trusted() {
        assert_eq!(
            paid_amount(Some("0.1")),
            Ok(Money {
                minor: 10,
                currency: "CNY".into()
            })
        );
        for bad in [None, Some(""), Some("1.001"), Some("-1.00")] {
            assert!(
                matches!(paid_amount(bad), Err(ProviderError::Unreachable(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_refund_succeeded_when_money_moved_and_is_confirmed_otherwise() {
        assert_eq!(refund_state(Some("Y")), RefundState::Succeeded);
        assert_eq!(refund_state(Some("N")), RefundState::Processing);
        assert_eq!(refund_state(None), RefundState::Processing);
    }

    #[test]
    fn a_refund_query_with_data_is_success_and_without_it_no_such_refund() {
        let answer = |amount: Option<&str>, status: Option<&str>| RefundQueryAnswer {
            out_trade_no: Some("P1".into()),
            out_request_no: Some("R1".into()),
            refund_amount: amount.map(Into::into),
            refund_status: status.map(Into::into),
        };
        assert_eq!(
            queried_refund_state(&answer(Some("0.01"), Some("REFUND_SUCCESS"))),
            Ok(RefundState::Succeeded)
        );
        assert_eq!(
            queried_refund_state(&answer(Some("0.01"), None)),
            Ok(RefundState::Succeeded)
        );
        assert_eq!(
            queried_refund_state(&answer(None, None)),
            Err(ProviderError::NotFound)
        );
        assert_eq!(
            queried_refund_state(&answer(Some(""), Some(""))),
            Err(ProviderError::NotFound)
        );
        assert!(matches!(
            queried_refund_state(&answer(Some("0.01"), Some("REFUND_PROCESSING"))),
            Err(ProviderError::Unreachable(m)) if m.contains("REFUND_PROCESSING")
        ));
    }

    #[test]
    fn signed_business_failures_say_the_trades_state() {
        let e = |sub| error_for(&outcome("40004", Some(sub)), true);
        assert_eq!(e("ACQ.TRADE_NOT_EXIST"), ProviderError::NotFound);
        assert_eq!(e("ACQ.TRADE_HAS_SUCCESS"), ProviderError::AlreadyPaid);
        assert_eq!(e("ACQ.TRADE_HAS_CLOSE"), ProviderError::AlreadyClosed);
        assert!(matches!(
            e("ACQ.TRADE_STATUS_ERROR"),
            ProviderError::Rejected(r) if r.code == "ACQ.TRADE_STATUS_ERROR"
        ));
        assert!(matches!(
            e("ACQ.SELLER_BALANCE_NOT_ENOUGH"),
            ProviderError::Rejected(r) if r.code == "ACQ.SELLER_BALANCE_NOT_ENOUGH" && r.message == "交易不存在"
        ));
    }

    #[test]
    fn an_unsigned_refusal_is_read_but_never_taken_as_the_trades_state() {
        for sub in [
            "ACQ.TRADE_NOT_EXIST",
            "ACQ.TRADE_HAS_SUCCESS",
            "ACQ.TRADE_HAS_CLOSE",
        ] {
            assert!(
                matches!(
                    error_for(&outcome("40004", Some(sub)), false),
                    ProviderError::Rejected(r) if r.code == sub && r.message.contains("unsigned")
                ),
                "{sub}"
            );
        }
    }

    #[test]
    fn alipays_own_trouble_leaves_the_outcome_unknown() {
        for (code, sub) in [
            ("20000", Some("isp.unknow-error")),
            ("20000", None),
            ("40004", Some("ACQ.SYSTEM_ERROR")),
            ("40004", Some("aop.ACQ.SYSTEM_ERROR")),
        ] {
            for signed in [true, false] {
                assert!(
                    matches!(
                        error_for(&outcome(code, sub), signed),
                        ProviderError::Unreachable(_)
                    ),
                    "{code} {sub:?}"
                );
            }
        }
    }

    #[test]
    fn credential_refusals_are_the_merchants_configuration() {
        for (code, sub) in [
            ("40002", Some("isv.invalid-app-id")),
            ("40002", Some("isv.invalid-signature")),
            ("40002", Some("isv.missing-signature-config")),
            ("40006", Some("isv.insufficient-isv-permissions")),
            ("20001", Some("aop.invalid-auth-token")),
        ] {
            assert!(
                matches!(error_for(&outcome(code, sub), false), ProviderError::Config(m) if m.contains(code)),
                "{code} {sub:?}"
            );
        }
    }

    #[test]
    fn other_argument_refusals_are_rejections_with_alipays_code() {
        assert_eq!(
            error_for(
                &Outcome {
                    code: "40002".into(),
                    msg: "Invalid Arguments".into(),
                    sub_code: Some("isv.invalid-timestamp".into()),
                    sub_msg: Some("非法的时间戳参数".into()),
                },
                true
            ),
            ProviderError::Rejected(Rejection {
                code: "isv.invalid-timestamp".into(),
                message: "非法的时间戳参数".into()
            })
        );
        assert_eq!(
            error_for(
                &Outcome {
                    code: "40001".into(),
                    msg: "Missing Required Arguments".into(),
                    sub_code: None,
                    sub_msg: None,
                },
                false
            ),
            ProviderError::Rejected(Rejection {
                code: "40001".into(),
                message: "Missing Required Arguments".into()
            })
        );
    }
}
