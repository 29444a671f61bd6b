//! WeChat Pay's trade bill (交易账单) of one day, type ALL: the path that asks where it is,
//! the checks on the file it serves (origin, gzip, SHA1), and its rows as paygate's bill rows.
//! Pure, and unit-tested natively on bills in the simulator's format and in the shapes seen
//! in the field; `lib.rs` makes the two calls.
//!
//! Sources:
//! - 申请交易账单 (https://pay.weixin.qq.com/docs/merchant/apis/bill-download/trade-bill/get-trade-bill.html,
//!   also https://pay.weixin.qq.com/doc/v3/merchant/4012556654): `GET /v3/bill/tradebill`
//!   with `bill_date` (yyyy-MM-DD), `bill_type` (ALL by default) and `tar_type=GZIP`; the
//!   answer `{hash_type: "SHA1", hash_value, download_url}`, where `hash_value` is "原始账单
//!   （gzip需要解压缩）的摘要值" (the digest of the original bill, after gunzip);
//! - 下载账单 (https://pay.weixin.qq.com/docs/merchant/apis/bill-download/download-bill.html):
//!   `download_url` is fetched with a request signed like any API call, and "该接口响应的信息请求头
//!   中不包含微信接口响应的签名值，因此需要跳过验签的流程" (the file's answer is not signed): the
//!   hash is checked instead, as the official Java SDK does over the gunzipped stream
//!   (wechatpay-java `BillDownloadServiceExtension.getBillStream`, `DigestBillEntity.verifyHash`);
//! - 交易账单详细说明 (https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html):
//!   the 27 columns of ALL, "明细数据和汇总数据每个字段前会增加1个(`)字符", refunds listed on the
//!   day they were asked for (交易时间 "发起退款成功时间", their state as it was then), and the
//!   early format some merchants still get (总金额 where newer bills have 应结订单金额 and
//!   订单金额, no 申请退款金额).

use flate2::read::GzDecoder;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use std::io::Read;

use paygate_sdk::datetime::{parse_local_time, BEIJING};
use paygate_sdk::money::{exponent, parse_decimal};
use paygate_sdk::{hex_encode, BillKind, BillRow, BillState, Money, ProviderError, UnixSeconds};

/// WeChat's refusal while the day's bill is being produced (before 10:00 Beijing time the
/// next day): "400 STATEMENT_CREATING 账单生成中".
pub const NOT_READY: &str = "STATEMENT_CREATING";
/// WeChat's refusal for a day without any trade: `{"code":"NO_STATEMENT_EXIST","message":
/// "请求的账单文件不存在"}`, in an answer whose signature verified
/// (https://github.com/wechatpay-apiv3/wechatpay-java/issues/238: "验签通过了，但接口返回…").
pub const NO_BILL: &str = "NO_STATEMENT_EXIST";

/// The only digest WeChat documents for `hash_type`.
const SHA1: &str = "SHA1";

/// The gunzipped bill's size cap. The host caps the gzip at 16 MiB and the answer at about
/// 50,000 rows; a row is about 300 bytes of text, so 64 MiB is far more than any bill the
/// host can take, and far less than the adapter's memory.
pub const MAX_BILL_BYTES: u64 = 64 << 20;

/// The first column of the summary header (汇总数据表头): where the rows end.
const SUMMARY_HEADER_START: &str = "总交易单数";

/// The columns read, by their header names (交易账单详细说明). Looked up by name, not
/// position: the early format has fewer columns, and WeChat has added columns before.
const TRADE_TIME: &str = "交易时间";
const TRANSACTION_ID: &str = "微信订单号";
const OUT_TRADE_NO: &str = "商户订单号";
const TRADE_STATE: &str = "交易状态";
const CURRENCY: &str = "货币种类";
const REFUND_ID: &str = "微信退款单号";
const OUT_REFUND_NO: &str = "商户退款单号";
const REFUND_STATE: &str = "退款状态";
const FEE: &str = "手续费";
/// What a payment row collected: 订单金额 (the order's total, coupons included: the
/// transaction's `amount.total`, which paygate records as paid), or 总金额 in the early format.
const ORDER_AMOUNTS: &[&str] = &["订单金额", "总金额"];
/// What a refund row returns: 申请退款金额 (what the merchant asked, the refund's
/// `amount.refund`, which paygate records), or 退款金额 in the early format.
const REFUND_AMOUNTS: &[&str] = &["申请退款金额", "退款金额"];

/// `/v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL&tar_type=GZIP`: every payment and
/// refund of `day`, gzipped (a bill is text that shrinks about tenfold, and the host caps
/// the download). `day` must be a real date written `YYYY-MM-DD`; anything else goes into
/// no URL.
pub fn trade_bill_path(day: &str) -> Result<String, ProviderError> {
    day_end(day)?;
    Ok(format!(
        "/v3/bill/tradebill?bill_date={day}&bill_type=ALL&tar_type=GZIP"
    ))
}

/// When `day` (`YYYY-MM-DD`, Beijing time, WeChat Pay's bill days) ends: its bill cannot
/// exist before.
pub fn day_end(day: &str) -> Result<UnixSeconds, ProviderError> {
    const DAY_SECS: i64 = 24 * 60 * 60;
    Some(day)
        .filter(|d| d.len() == 10)
        .and_then(|d| parse_local_time(&format!("{d} 00:00:00"), BEIJING))
        .and_then(|start| start.checked_add(DAY_SECS))
        .ok_or_else(|| {
            ProviderError::Unsupported(format!("bill day `{day}` is not a date written YYYY-MM-DD"))
        })
}

/// The answer to `GET /v3/bill/tradebill`: where the file is, and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BillLocation {
    pub hash_type: String,
    /// Hex, of the bill after gunzip.
    pub hash_value: String,
    /// Lives 5 minutes (the 30 seconds of older pages).
    pub download_url: String,
}

/// Refuses a `download_url` that is not on the configured API's origin (scheme, host and
/// port): the signed request for the file goes only where every other call goes. (The host
/// allows only the base URL's origin anyway; refusing here says why.) WeChat's own is
/// `https://api.mch.weixin.qq.com/v3/billdownload/file?token=...`.
pub fn check_download_url(download_url: &str, api_base: &str) -> Result<(), ProviderError> {
    match (origin(download_url), origin(api_base)) {
        (Some(file), Some(api)) if file == api => Ok(()),
        _ => Err(ProviderError::Unreachable(format!(
            "WeChat Pay's bill download_url `{download_url}` is not on {api_base}"
        ))),
    }
}

/// (scheme, host, port) of an absolute http(s) URL, lower case, the port made explicit.
/// `None` for anything else, and for a URL with user information (`https://a@b/`), which
/// would make the host ambiguous to a reader.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty() && !a.contains('@'))?
        .to_ascii_lowercase();
    // A bracketed IPv6 host has colons of its own: the port follows the bracket.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host.to_owned(), port.parse().ok()?),
        _ => (authority, default_port),
    };
    (!host.is_empty()).then_some((scheme, host, port))
}

/// The bill's text from the downloaded file: gunzipped if it is gzip (what `tar_type=GZIP`
/// asks for; a file that is not, such as one an HTTP layer already inflated, is read as it
/// is), then checked against the announced SHA1, which is of the plain bill. A file that
/// does not pass is `unreachable`: the host asks again later, for a new download.
pub fn bill_text(file: &[u8], location: &BillLocation) -> Result<String, ProviderError> {
    if !location.hash_type.eq_ignore_ascii_case(SHA1) {
        return Err(ProviderError::Unreachable(format!(
            "WeChat Pay's bill hash_type is `{}`, not SHA1, the only one it documents",
            location.hash_type
        )));
    }
    let plain = if file.starts_with(&[0x1f, 0x8b]) {
        gunzip(file, MAX_BILL_BYTES)?
    } else {
        file.to_vec()
    };
    let digest = hex_encode(&Sha1::digest(&plain));
    if !digest.eq_ignore_ascii_case(location.hash_value.trim()) {
        return Err(ProviderError::Unreachable(format!(
            "WeChat Pay's bill does not match its hash: SHA1 {digest}, announced {}",
            location.hash_value
        )));
    }
    // Bills downloaded through the API are UTF-8 (some start with a byte-order mark, which
    // `parse_bill` drops).
    String::from_utf8(plain)
        .map_err(|e| ProviderError::Unreachable(format!("WeChat Pay's bill is not UTF-8: {e}")))
}

/// `file` gunzipped, at most `cap` bytes of it.
fn gunzip(file: &[u8], cap: u64) -> Result<Vec<u8>, ProviderError> {
    let mut plain = Vec::new();
    GzDecoder::new(file)
        .take(cap.saturating_add(1))
        .read_to_end(&mut plain)
        .map_err(|e| ProviderError::Unreachable(format!("WeChat Pay's bill is not gzip: {e}")))?;
    if plain.len() as u64 > cap {
        return Err(ProviderError::Unreachable(format!(
            "WeChat Pay's bill is more than {cap} bytes once gunzipped"
        )));
    }
    Ok(plain)
}

/// Where each column read is in a row.
struct Columns {
    count: usize,
    trade_time: usize,
    transaction_id: usize,
    out_trade_no: usize,
    trade_state: usize,
    currency: usize,
    refund_id: usize,
    out_refund_no: usize,
    refund_state: usize,
    fee: usize,
    order_amount: usize,
    refund_amount: usize,
}

impl Columns {
    /// Finds the columns in the header row (plain names separated by commas).
    fn of(header: &str) -> Result<Columns, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let find = |wanted: &[&str]| {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n == w))
                .ok_or_else(|| format!("the header has no column {}", wanted.join(" or ")))
        };
        Ok(Columns {
            count: names.len(),
            trade_time: find(&[TRADE_TIME])?,
            transaction_id: find(&[TRANSACTION_ID])?,
            out_trade_no: find(&[OUT_TRADE_NO])?,
            trade_state: find(&[TRADE_STATE])?,
            currency: find(&[CURRENCY])?,
            refund_id: find(&[REFUND_ID])?,
            out_refund_no: find(&[OUT_REFUND_NO])?,
            refund_state: find(&[REFUND_STATE])?,
            fee: find(&[FEE])?,
            order_amount: find(ORDER_AMOUNTS)?,
            refund_amount: find(REFUND_AMOUNTS)?,
        })
    }
}

/// Every payment and refund row of the bill, in its order. The first line is the header;
/// each row after it starts every field with a backtick (so fields are split on ",`", and a
/// comma inside a product name or `attach` stays in its field); the summary header
/// (总交易单数,...) ends the rows, and it and the summary row are not rows. Blank lines are
/// skipped. Any row that cannot be read fails the whole bill, naming its line (the header
/// is line 1): a bill read in part would reconcile as money missing.
pub fn parse_bill(text: &str) -> Result<Vec<BillRow>, ProviderError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let unreadable = |line: usize, reason: String| {
        ProviderError::Unreachable(format!("unreadable bill row {line}: {reason}"))
    };
    let header = lines
        .next()
        .map(|(_, h)| h)
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| ProviderError::Unreachable("WeChat Pay's bill is empty".into()))?;
    let columns = Columns::of(header).map_err(|e| {
        ProviderError::Unreachable(format!("unreadable bill header: {e}: `{header}`"))
    })?;
    let mut rows = Vec::new();
    for (index, line) in lines {
        let number = index + 1;
        if line.starts_with(SUMMARY_HEADER_START) {
            return Ok(rows);
        }
        if line.trim().is_empty() {
            continue;
        }
        rows.push(row(line, &columns).map_err(|reason| unreadable(number, reason))?);
    }
    Err(ProviderError::Unreachable(format!(
        "WeChat Pay's bill has no summary ({SUMMARY_HEADER_START},...): it may be cut short"
    )))
}

/// One detail row.
fn row(line: &str, columns: &Columns) -> Result<BillRow, String> {
    let fields: Vec<&str> = line
        .strip_prefix('`')
        // Not the line itself in the error: it may carry the payer's openid.
        .ok_or_else(|| "the row does not start with a backtick".to_owned())?
        .split(",`")
        .collect();
    if fields.len() != columns.count {
        return Err(format!(
            "{} fields where the header has {}",
            fields.len(),
            columns.count
        ));
    }
    // Every index is below `columns.count`, which is `fields.len()`.
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let required = |i: usize, what: &str| {
        Some(field(i))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("no {what}"))
    };
    let payment_no = required(columns.out_trade_no, OUT_TRADE_NO)?.to_owned();
    let provider_trade_id = required(columns.transaction_id, TRANSACTION_ID)?.to_owned();
    let time = field(columns.trade_time);
    let at = parse_local_time(time, BEIJING)
        .ok_or_else(|| format!("{TRADE_TIME} `{time}` is not yyyy-MM-dd HH:mm:ss"))?;
    let currency = field(columns.currency);
    exponent(currency).map_err(|e| format!("{CURRENCY}: {e}"))?;
    let fee_minor = fee(field(columns.fee), currency)?;
    let amount = |i: usize, what: &str| -> Result<Money, String> {
        let text = field(i);
        match minor(text, currency)? {
            0 => Err(format!("{what} `{text}` is not above zero")),
            minor => Ok(Money {
                minor,
                currency: currency.to_owned(),
            }),
        }
    };
    match field(columns.trade_state) {
        // Money collected: the bill lists paid trades only (交易账单详细说明: "当天支付成功的
        // 订单"), so a payment row has succeeded.
        "SUCCESS" => Ok(BillRow {
            payment_no,
            provider_trade_id,
            kind: BillKind::Payment,
            refund_no: None,
            provider_refund_id: None,
            amount: amount(columns.order_amount, "the order amount")?,
            fee_minor,
            state: BillState::Succeeded,
            at,
        }),
        "REFUND" => {
            let state_text = field(columns.refund_state);
            let state = refund_state(state_text).ok_or_else(|| {
                format!("{REFUND_STATE} `{state_text}` is not one WeChat Pay documents")
            })?;
            Ok(BillRow {
                payment_no,
                provider_trade_id,
                kind: BillKind::Refund,
                refund_no: Some(required(columns.out_refund_no, OUT_REFUND_NO)?.to_owned()),
                provider_refund_id: Some(field(columns.refund_id))
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned),
                amount: amount(columns.refund_amount, "the refund amount")?,
                fee_minor,
                state,
                at,
            })
        }
        // REVOKED (a payment-code trade revoked after payment; paygate makes none) and any
        // state WeChat may add: not a row paygate knows how to count.
        other => Err(format!(
            "{TRADE_STATE} `{other}` is neither SUCCESS (a payment) nor REFUND (a refund)"
        )),
    }
}

/// A refund row's 退款状态, as the bill wrote it on the day the refund was asked for. The
/// bill writes the v2 names (SUCCESS, PROCESSING, REFUNDCLOSE 退款关闭, CHANGE 退款异常: the
/// v2 refund query's `refund_status_$n`, https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5);
/// the v3 names of the same states (CLOSED, ABNORMAL) and FAIL are read too.
fn refund_state(text: &str) -> Option<BillState> {
    match text {
        "SUCCESS" => Some(BillState::Succeeded),
        "PROCESSING" => Some(BillState::Processing),
        "REFUNDCLOSE" | "CLOSED" | "CHANGE" | "ABNORMAL" | "FAIL" => Some(BillState::Failed),
        _ => None,
    }
}

/// An amount of the bill (yuan, `6.68`; older bills write `0` or `0.0`) in minor units of
/// `currency`. Zeros past the currency's decimals are dropped: bills in the field write fees
/// with five decimals (`0.32000`, `-0.27000`, `0.00000`), rounded to the fen and padded, as
/// a guide to the bill puts it ("手续费: 精确到小数点后2位,四舍五入。末尾填充3个0",
/// https://blog.csdn.net/weixin_39940425/article/details/115635963). Any other digit there
/// is money paygate cannot hold, and is refused rather than rounded.
fn minor(text: &str, currency: &str) -> Result<u64, String> {
    let not_money = |e: String| format!("`{text}` is not an amount in {currency}: {e}");
    let decimals = exponent(currency).map_err(|e| not_money(e.to_string()))? as usize;
    let trimmed = match text.split_once('.') {
        Some((_, fraction)) if fraction.len() > decimals => {
            // Digits only before splitting by bytes (found by the `wechat_bill` fuzz target:
            // a fraction with a multi-byte character panicked here).
            if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_money("the decimals are not digits".into()));
            }
            let (kept, extra) = fraction.split_at(decimals);
            if !extra.bytes().all(|b| b == b'0') {
                return Err(not_money(format!("more than {decimals} decimals")));
            }
            // `1.000` of a currency without decimals is `1`.
            let whole_len = text.len() - fraction.len() - 1;
            let whole = &text[..whole_len];
            if kept.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{kept}")
            }
        }
        _ => text.to_owned(),
    };
    parse_decimal(&trimmed, currency).map_err(|e| not_money(e.to_string()))
}

/// The 手续费 column, in minor units: positive on a payment, negative (`-0.02`) where a
/// refund returns part of the fee.
fn fee(text: &str, currency: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = i64::try_from(minor(digits, currency)?)
        .map_err(|_| format!("{FEE} `{text}` is more than paygate's fees hold"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    /// The header of a bill of type ALL, as the simulator and WeChat write it.
    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    const SUMMARY_HEADER: &str =
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

    const PAYMENT: &str = "`2026-12-01 10:00:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`6.68,`0.00,`0,`0,`0.00,`0.00,`,`,`Green tea,`,`0.04,`0.60%,`6.68,`0.00,`";
    const REFUND: &str = "`2026-12-01 11:30:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012026120100000000001,`R0123456789,`3.00,`0.00,`ORIGINAL,`SUCCESS,`Green tea,`,`-0.02,`0.60%,`0.00,`3.00,`";
    const PROCESSING: &str = "`2026-12-01 12:15:30,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000002,`P0123456790,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012026120100000000002,`R0123456790,`1.00,`0.00,`ORIGINAL,`PROCESSING,`Black tea,`,`0.00,`0.60%,`0.00,`1.00,`";
    const SUMMARY: &str = "`3,`6.68,`3.00,`0.00,`0.02,`6.68,`3.00";

    #[test]
    fn decimals_that_are_not_digits_are_not_money_never_a_panic() {
        // The `wechat_bill` fuzz target's crash: a multi-byte character among the decimals.
        for text in ["0.0\u{4e00}2", "1.\u{4ea4}\u{6613}", "-0.0\u{00e9}0"] {
            assert!(fee(text, "CNY").is_err(), "{text}");
            assert!(
                minor(text.trim_start_matches('-'), "CNY").is_err(),
                "{text}"
            );
        }
    }

    /// A bill as the simulator writes it: CRLF line ends, the summary last.
    fn bill(rows: &[&str]) -> String {
        let mut text = format!("{HEADER}\r\n");
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        text.push_str(&format!("{SUMMARY_HEADER}\r\n{SUMMARY}\r\n"));
        text
    }

    fn cny(minor: u64) -> Money {
        Money {
            minor,
            currency: "CNY".into(),
        }
    }

    fn parsed(rows: &[&str]) -> Vec<BillRow> {
        parse_bill(&bill(rows)).expect("a readable bill")
    }

    fn unreadable_reason(rows: &[&str]) -> String {
        match parse_bill(&bill(rows)) {
            Err(ProviderError::Unreachable(m)) => m,
            other => panic!("expected an unreadable bill, got {other:?}"),
        }
    }

    fn location(hash: &str) -> BillLocation {
        BillLocation {
            hash_type: "SHA1".into(),
            hash_value: hash.into(),
            download_url: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=t".into(),
        }
    }

    fn sha1_hex(bytes: &[u8]) -> String {
        hex_encode(&Sha1::digest(bytes))
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn a_payment_row_becomes_a_succeeded_payment_in_minor_units_at_beijing_time() {
        assert_eq!(
            parsed(&[PAYMENT]),
            vec![BillRow {
                payment_no: "P0123456789".into(),
                provider_trade_id: "4200000001202612010000000001".into(),
                kind: BillKind::Payment,
                refund_no: None,
                provider_refund_id: None,
                amount: cny(668),
                fee_minor: 4,
                state: BillState::Succeeded,
                // 2026-12-01 10:00:00 in Beijing is 02:00:00 UTC.
                at: 1_796_090_400,
            }]
        );
    }

    #[test]
    fn a_refund_row_becomes_a_refund_with_its_refund_number() {
        let rows = parsed(&[PAYMENT, REFUND]);
        assert_eq!(
            rows[1],
            BillRow {
                payment_no: "P0123456789".into(),
                provider_trade_id: "4200000001202612010000000001".into(),
                kind: BillKind::Refund,
                refund_no: Some("R0123456789".into()),
                provider_refund_id: Some("50300000012026120100000000001".into()),
                amount: cny(300),
                fee_minor: -2,
                state: BillState::Succeeded,
                at: 1_796_095_800,
            }
        );
    }

    #[test]
    fn a_refund_fee_returned_is_negative() {
        assert_eq!(parsed(&[REFUND])[0].fee_minor, -2);
        assert_eq!(fee("-0.00", "CNY"), Ok(0));
        assert_eq!(fee("0.00", "CNY"), Ok(0));
    }

    #[test]
    fn refund_states_map_to_succeeded_processing_or_failed() {
        assert_eq!(parsed(&[PROCESSING])[0].state, BillState::Processing);
        for (wechat, state) in [
            ("SUCCESS", BillState::Succeeded),
            ("PROCESSING", BillState::Processing),
            ("REFUNDCLOSE", BillState::Failed),
            ("CHANGE", BillState::Failed),
            ("CLOSED", BillState::Failed),
            ("ABNORMAL", BillState::Failed),
            ("FAIL", BillState::Failed),
        ] {
            let row = REFUND.replace("`ORIGINAL,`SUCCESS,", &format!("`ORIGINAL,`{wechat},"));
            assert_eq!(parsed(&[&row])[0].state, state, "{wechat}");
        }
        let unknown = REFUND.replace("`ORIGINAL,`SUCCESS,", "`ORIGINAL,`DONE,");
        assert!(unreadable_reason(&[&unknown]).contains("`DONE`"));
    }

    #[test]
    fn the_summary_lines_are_not_rows() {
        let rows = parsed(&[PAYMENT, REFUND, PROCESSING]);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter()
                .map(|r| r.payment_no.as_str())
                .collect::<Vec<_>>(),
            ["P0123456789", "P0123456789", "P0123456790"],
            "in the bill's order"
        );
        // Nothing after the summary header is read, whatever it is.
        let text = format!("{}{PAYMENT}\r\n", bill(&[]));
        assert_eq!(parse_bill(&text), Ok(vec![]));
    }

    #[test]
    fn a_bill_without_rows_is_an_empty_list() {
        assert_eq!(parsed(&[]), vec![]);
    }

    #[test]
    fn a_bill_cut_before_its_summary_is_unreadable() {
        let text = format!("{HEADER}\r\n{PAYMENT}\r\n");
        assert!(matches!(
            parse_bill(&text),
            Err(ProviderError::Unreachable(m)) if m.contains("no summary")
        ));
        assert!(matches!(parse_bill(""), Err(ProviderError::Unreachable(_))));
    }

    #[test]
    fn a_malformed_row_names_its_line() {
        let cut = &PAYMENT[..PAYMENT.len() - 20];
        let m = unreadable_reason(&[PAYMENT, cut]);
        assert!(m.starts_with("unreadable bill row 3: "), "{m}");
        assert!(m.contains("fields where the header has 27"), "{m}");
        let no_backtick = PAYMENT.trim_start_matches('`');
        assert!(unreadable_reason(&[no_backtick]).starts_with("unreadable bill row 2: "));
    }

    #[test]
    fn malformed_fields_are_unreadable_never_a_panic() {
        let cases = [
            ("`2026-12-01 10:00:00,", "`2026-12-01T10:00:00,", "交易时间"),
            ("`2026-12-01 10:00:00,", "`2026-02-30 10:00:00,", "交易时间"),
            ("`P0123456789,", "`,", "商户订单号"),
            ("`4200000001202612010000000001,", "`,", "微信订单号"),
            ("`CNY,", "`RMB,", "货币种类"),
            ("`0.04,`0.60%,`6.68,", "`0.04,`0.60%,`6.685,", "6.685"),
            ("`0.04,`0.60%,`6.68,", "`0.04,`0.60%,`-6.68,", "-6.68"),
            (
                "`0.04,`0.60%,`6.68,",
                "`0.04,`0.60%,`0.00,",
                "not above zero",
            ),
            ("`0.04,`0.60%,`6.68,", "`0.04,`0.60%,`1e3,", "1e3"),
            ("`0.04,", "`0.041,", "0.041"),
            ("`0.04,", "`abc,", "abc"),
            ("`SUCCESS,`OTHERS", "`NOTPAY,`OTHERS", "NOTPAY"),
            ("`SUCCESS,`OTHERS", "`REVOKED,`OTHERS", "REVOKED"),
        ];
        for (from, to, reason) in cases {
            let row = PAYMENT.replacen(from, to, 1);
            assert_ne!(row, PAYMENT, "{from} is in the row");
            let m = unreadable_reason(&[&row]);
            assert!(
                m.starts_with("unreadable bill row 2: ") && m.contains(reason),
                "{to}: {m}"
            );
        }
        // A refund row without its merchant refund number cannot be matched.
        let m = unreadable_reason(&[&REFUND.replace("`R0123456789,", "`,")]);
        assert!(m.contains("商户退款单号"), "{m}");
        let zero = REFUND.replace("`0.00,`3.00,`", "`0.00,`0.00,`");
        assert!(unreadable_reason(&[&zero]).contains("not above zero"));
    }

    #[test]
    fn a_comma_inside_the_product_name_stays_in_its_field() {
        let row = PAYMENT.replace("`Green tea,`,", "`Tea, green,`{\"a\":1,\"b\":2},");
        assert_eq!(parsed(&[&row])[0].amount, cny(668));
    }

    #[test]
    fn the_payment_amount_is_the_order_amount_and_the_refund_amount_what_was_asked() {
        // A trade paid partly with a merchant coupon: 应结订单金额 5.68 of an order of 6.68.
        let coupon = PAYMENT.replace("`6.68,`0.00,`0,", "`5.68,`1.00,`0,");
        assert_eq!(parsed(&[&coupon])[0].amount, cny(668));
        // A refund of 3.00 asked, 2.50 of it settled (the rest was the coupon's).
        let settled = REFUND.replace("`3.00,`0.00,`ORIGINAL", "`2.50,`0.00,`ORIGINAL");
        assert_eq!(parsed(&[&settled])[0].amount, cny(300));
    }

    #[test]
    fn a_bill_as_the_api_serves_it_with_a_bom_lf_and_five_decimal_fees_is_read() {
        // Seen in the field: a byte-order mark, `\n` line ends, fees padded to five
        // decimals ("0.32000", "-0.27000"), an empty 商户数据包 and 费率备注.
        let payment = PAYMENT.replace("`0.04,", "`0.04000,");
        let refund = REFUND.replace("`-0.02,", "`-0.02000,");
        let text = format!(
            "\u{feff}{HEADER}\n{payment}\n{refund}\n{SUMMARY_HEADER}\n`2,`6.68,`3.00,`0.00,`0.02000,`6.68,`3.00\n"
        );
        let rows = parse_bill(&text).expect("a readable bill");
        assert_eq!(
            rows.iter().map(|r| r.fee_minor).collect::<Vec<_>>(),
            [4, -2]
        );
    }

    #[test]
    fn an_early_format_bill_is_read_by_its_total_and_refund_columns() {
        // 交易账单详细说明: some merchants still get the early format, with 总金额 and
        // 企业红包金额 and neither 订单金额 nor 申请退款金额.
        let header = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,企业红包金额,微信退款单号,商户退款单号,退款金额,企业红包退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率";
        let payment = "`2026-12-01 10:00:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8u,`NATIVE,`SUCCESS,`OTHERS,`CNY,`6.68,`0.0,`0,`0,`0,`0,`,`,`Green tea,`,`0.04,`0.60%";
        let refund = "`2026-12-01 11:30:00,`wxd678efh567hg6787,`1900009191,`0,`,`4200000001202612010000000001,`P0123456789,`oUpF8u,`NATIVE,`REFUND,`OTHERS,`CNY,`0,`0.0,`50300000012026120100000000001,`R0123456789,`3.00,`0,`ORIGINAL,`SUCCESS,`Green tea,`,`-0.02,`0.60%";
        let text = format!(
            "{header}\r\n{payment}\r\n{refund}\r\n总交易单数,总交易额,总退款金额,总企业红包退款金额,手续费总金额\r\n`2,`6.68,`3.00,`0,`0.02\r\n"
        );
        let rows = parse_bill(&text).expect("a readable bill");
        assert_eq!(
            rows.iter()
                .map(|r| (r.kind, r.amount.minor))
                .collect::<Vec<_>>(),
            [(BillKind::Payment, 668), (BillKind::Refund, 300)]
        );
    }

    #[test]
    fn a_header_without_a_needed_column_is_unreadable() {
        let header = HEADER.replace("商户订单号,", "");
        let text = bill(&[]).replacen(HEADER, &header, 1);
        assert!(matches!(
            parse_bill(&text),
            Err(ProviderError::Unreachable(m)) if m.contains("unreadable bill header") && m.contains("商户订单号")
        ));
    }

    #[test]
    fn amounts_are_read_by_digits_with_zeros_past_the_fen_dropped() {
        for (text, minor_units) in [
            ("6.68", 668),
            ("0.01", 1),
            ("0", 0),
            ("0.0", 0),
            ("10", 1000),
            ("0.32000", 32),
            ("1000000.00", 100_000_000),
        ] {
            assert_eq!(minor(text, "CNY"), Ok(minor_units), "{text}");
        }
        assert_eq!(minor("100.000", "JPY"), Ok(100));
        for bad in [
            "",
            ".",
            "6.685",
            "6.6800001",
            "-1",
            "+1",
            "1,000.00",
            " 1.00",
            "1.0.0",
        ] {
            assert!(minor(bad, "CNY").is_err(), "{bad:?}");
        }
        assert_eq!(fee("-0.27000", "CNY"), Ok(-27));
        assert!(fee("--1", "CNY").is_err());
        assert!(fee("-", "CNY").is_err());
    }

    #[test]
    fn a_day_ends_at_midnight_beijing_time() {
        // 2026-12-02 00:00:00 in Beijing.
        assert_eq!(day_end("2026-12-01"), Ok(1_796_140_800));
        assert!(day_end("2026-13-01").is_err());
    }

    #[test]
    fn the_bill_path_asks_for_the_whole_day_gzipped() {
        assert_eq!(
            trade_bill_path("2026-12-01").as_deref(),
            Ok("/v3/bill/tradebill?bill_date=2026-12-01&bill_type=ALL&tar_type=GZIP")
        );
        for bad in [
            "",
            "20261201",
            "2026-12-1",
            "2026-02-30",
            "2026-12-01&x=1",
            "2026-12-01 ",
        ] {
            assert!(
                matches!(trade_bill_path(bad), Err(ProviderError::Unsupported(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_hash_is_of_the_bill_after_gunzip() {
        let text = bill(&[PAYMENT, REFUND]);
        let file = gzip(text.as_bytes());
        let read = bill_text(&file, &location(&sha1_hex(text.as_bytes()))).expect("a good bill");
        assert_eq!(read, text);
        // Upper-case hex is the same digest.
        let upper = sha1_hex(text.as_bytes()).to_uppercase();
        assert!(bill_text(&file, &location(&upper)).is_ok());
        // The digest of the gzip itself is not WeChat's hash.
        assert!(bill_text(&file, &location(&sha1_hex(&file))).is_err());
    }

    #[test]
    fn a_hash_mismatch_is_unreachable() {
        let text = bill(&[PAYMENT]);
        let tampered = text.replace("`6.68,`0.00,`", "`66.80,`0.00,`");
        let file = gzip(tampered.as_bytes());
        match bill_text(&file, &location(&sha1_hex(text.as_bytes()))) {
            Err(ProviderError::Unreachable(m)) => assert!(m.contains("does not match"), "{m}"),
            other => panic!("expected unreachable, got {other:?}"),
        }
        let mut other_kind = location(&sha1_hex(text.as_bytes()));
        other_kind.hash_type = "MD5".into();
        assert!(matches!(
            bill_text(&gzip(text.as_bytes()), &other_kind),
            Err(ProviderError::Unreachable(m)) if m.contains("MD5")
        ));
    }

    #[test]
    fn a_file_already_inflated_is_read_as_it_is() {
        let text = bill(&[PAYMENT]);
        let read =
            bill_text(text.as_bytes(), &location(&sha1_hex(text.as_bytes()))).expect("a bill");
        assert_eq!(read, text);
    }

    #[test]
    fn a_broken_gzip_or_text_that_is_not_utf8_is_unreachable() {
        let text = bill(&[PAYMENT]);
        let file = gzip(text.as_bytes());
        let cut = &file[..file.len() / 2];
        assert!(matches!(
            bill_text(cut, &location(&sha1_hex(text.as_bytes()))),
            Err(ProviderError::Unreachable(m)) if m.contains("gzip")
        ));
        let latin1 = b"\xbd\xbb\xd2\xd7";
        assert!(matches!(
            bill_text(latin1, &location(&sha1_hex(latin1))),
            Err(ProviderError::Unreachable(m)) if m.contains("UTF-8")
        ));
    }

    #[test]
    fn the_download_url_must_be_on_the_api_origin() {
        let api = "https://api.mch.weixin.qq.com";
        for good in [
            "https://api.mch.weixin.qq.com/v3/billdownload/file?token=6XIv5TUP",
            "https://API.mch.weixin.qq.com:443/v3/billdownload/file?token=x&tartype=gzip",
        ] {
            assert_eq!(check_download_url(good, api), Ok(()), "{good}");
        }
        // A simulator: plain http on loopback, a port, a path prefix on the base.
        assert_eq!(
            check_download_url(
                "http://127.0.0.1:9090/v3/billdownload/file?token=x",
                "http://127.0.0.1:9090/wechat"
            ),
            Ok(())
        );
        for bad in [
            "https://evil.example/v3/billdownload/file?token=x",
            "http://api.mch.weixin.qq.com/v3/billdownload/file?token=x",
            "https://api.mch.weixin.qq.com:8443/v3/billdownload/file",
            "https://api.mch.weixin.qq.com@evil.example/v3/billdownload/file",
            "https://api.mch.weixin.qq.com.evil.example/v3/billdownload/file",
            "ftp://api.mch.weixin.qq.com/file",
            "/v3/billdownload/file?token=x",
            "",
        ] {
            assert!(
                matches!(
                    check_download_url(bad, api),
                    Err(ProviderError::Unreachable(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            check_download_url("http://[::1]:9090/v3/x", "http://[::1]:9090"),
            Ok(())
        );
        assert!(check_download_url("http://[::1]:9091/v3/x", "http://[::1]:9090").is_err());
    }

    #[test]
    fn a_file_larger_than_the_cap_once_gunzipped_is_refused() {
        let file = gzip(&[b'0'; 4097]);
        assert_eq!(gunzip(&file, 4097).map(|p| p.len()), Ok(4097));
        assert!(matches!(
            gunzip(&file, 4096),
            Err(ProviderError::Unreachable(m)) if m.contains("once gunzipped")
        ));
    }
}
