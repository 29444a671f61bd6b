//! The trade bill (交易账单) as WeChat Pay writes it for one day (pure): a header row, one
//! row per paid trade and per refund whose every field starts with a backtick, then a
//! summary header and a summary row. Amounts in yuan with two decimals; times and the day
//! in Beijing time.
//!
//! Sources: pay.weixin.qq.com/docs/merchant/apis/bill-download/trade-bill/get-trade-bill.html
//! (`bill_type` ALL / SUCCESS / REFUND, `hash_type` SHA1 over the bill before gzip,
//! `download_url` valid for 5 minutes) and the format of the v2 `downloadbill` it kept
//! (pay.weixin.qq.com/wiki/doc/api/native.php?chapter=9_6: the backticks, the 27 columns of
//! ALL, the summary). wechatpay-java issue #238: a day without a trade answers
//! `NO_STATEMENT_EXIST` 请求的账单文件不存在, in a signed answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::trades::{Refund, RefundStatus, Trade};

/// Which rows a bill holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillType {
    /// Paid trades and refunds.
    All,
    /// Paid trades.
    Success,
    /// Refunds.
    Refund,
}

impl BillType {
    pub fn parse(text: &str) -> Option<BillType> {
        match text {
            "ALL" => Some(BillType::All),
            "SUCCESS" => Some(BillType::Success),
            "REFUND" => Some(BillType::Refund),
            _ => None,
        }
    }
}

/// A row the bill lists for a trade the simulator does not hold (the `bill_extra` knob):
/// another system's trade on the same merchant account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRow {
    pub out_trade_no: String,
    /// Fen.
    pub total: u64,
}

/// What the bill knobs change in a day's bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillKnobs<'a> {
    /// Trades (by `out_trade_no`) whose payment row the bill leaves out.
    pub omit: &'a [String],
    /// Rows of trades the simulator does not hold.
    pub extra: &'a [ExtraRow],
    /// Amounts (fen) a trade's payment row shows instead of its own.
    pub amounts: &'a BTreeMap<String, u64>,
}

/// The header of a bill of type ALL (27 columns).
const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// The fee rate the simulated merchant pays, in basis points of a thousandth: 0.60%,
/// WeChat's usual rate for ordinary merchants.
const FEE_PER_MILLE_TENTHS: u64 = 60;

/// The fee of `fen`, rounded half up to the fen.
pub fn fee(fen: u64) -> u64 {
    (fen * FEE_PER_MILLE_TENTHS + 5_000) / 10_000
}

/// `fen` as WeChat writes amounts: yuan with two decimals (`6.68`), a minus sign when
/// negative.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`) of an RFC 3339 time, in Beijing time.
fn day_and_time(rfc3339: &str) -> Option<(String, String)> {
    let beijing = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()?
        .to_offset(beijing);
    let day = format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    let time = format!("{day} {:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    Some((day, time))
}

/// One row, every field led by a backtick.
fn row(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A payment row's values: a trade's, or another system's (the `bill_extra` knob).
struct Paid<'a> {
    at: String,
    appid: &'a str,
    transaction_id: String,
    out_trade_no: &'a str,
    openid: &'a str,
    trade_type: &'a str,
    currency: &'a str,
    /// Fen.
    total: u64,
    description: &'a str,
    attach: &'a str,
}

/// A row and when it happened (for the bill's order).
struct Line {
    at: String,
    text: String,
}

/// The bill of `day` (`YYYY-MM-DD`, Beijing) of type `kind` for merchant `mchid`, over
/// `trades` and `refunds`, changed by `knobs`; `None` when no row falls on that day (WeChat
/// answers `NO_STATEMENT_EXIST`).
pub fn trade_bill(
    day: &str,
    kind: BillType,
    mchid: &str,
    trades: &[&Trade],
    refunds: &[&Refund],
    knobs: &BillKnobs<'_>,
) -> Option<String> {
    let mut lines: Vec<Line> = Vec::new();
    let (mut settled, mut refunded, mut fees, mut ordered) = (0i64, 0i64, 0i64, 0i64);
    if kind != BillType::Refund {
        let mut paid: Vec<Paid<'_>> = Vec::new();
        for t in trades {
            if knobs.omit.contains(&t.out_trade_no) {
                continue;
            }
            let Some((d, at)) = t.success_time.as_deref().and_then(day_and_time) else {
                continue;
            };
            if d != day {
                continue;
            }
            paid.push(Paid {
                at,
                appid: &t.appid,
                transaction_id: t.transaction_id.clone().unwrap_or_default(),
                out_trade_no: &t.out_trade_no,
                openid: t.openid.as_deref().unwrap_or(""),
                trade_type: t.trade_type.as_str(),
                currency: &t.currency,
                total: knobs
                    .amounts
                    .get(&t.out_trade_no)
                    .copied()
                    .unwrap_or(t.total),
                description: &t.description,
                attach: t.attach.as_deref().unwrap_or(""),
            });
        }
        for (i, extra) in knobs.extra.iter().enumerate() {
            paid.push(Paid {
                at: format!("{day} 12:00:{:02}", i % 60),
                appid: "wx0000000000000000",
                transaction_id: format!("42000000{i:020}"),
                out_trade_no: &extra.out_trade_no,
                openid: "oUpF8uOtherSystemPayer",
                trade_type: "NATIVE",
                currency: "CNY",
                total: extra.total,
                description: "another system's trade",
                attach: "",
            });
        }
        for p in paid {
            let charged = fee(p.total);
            settled += p.total as i64;
            ordered += p.total as i64;
            fees += charged as i64;
            let text = row(&[
                &p.at,
                p.appid,
                mchid,
                "0",
                "",
                &p.transaction_id,
                p.out_trade_no,
                p.openid,
                p.trade_type,
                "SUCCESS",
                "OTHERS",
                p.currency,
                &yuan(p.total as i64),
                "0.00",
                "0",
                "0",
                "0.00",
                "0.00",
                "",
                "",
                p.description,
                p.attach,
                &yuan(charged as i64),
                "0.60%",
                &yuan(p.total as i64),
                "0.00",
                "",
            ]);
            lines.push(Line { at: p.at, text });
        }
    }
    if kind != BillType::Success {
        for r in refunds {
            // A settled refund is billed on the day it settled, one still processing on the
            // day it was asked for.
            let when = r.success_time.as_deref().unwrap_or(&r.create_time);
            let Some((d, at)) = day_and_time(when) else {
                continue;
            };
            if d != day {
                continue;
            }
            let status = match r.status {
                RefundStatus::Success => "SUCCESS",
                RefundStatus::Processing => "PROCESSING",
                RefundStatus::Closed => "REFUNDCLOSE",
                RefundStatus::Abnormal => "CHANGE",
            };
            // The refund returns its share of the fee (a negative fee on the row).
            let returned = if r.status == RefundStatus::Success {
                -(fee(r.refund) as i64)
            } else {
                0
            };
            if r.status == RefundStatus::Success {
                refunded += r.refund as i64;
                fees += returned;
            }
            let trade = trades.iter().find(|t| t.out_trade_no == r.out_trade_no);
            let text = row(&[
                &at,
                trade.map_or("", |t| t.appid.as_str()),
                mchid,
                "0",
                "",
                &r.transaction_id,
                &r.out_trade_no,
                trade.and_then(|t| t.openid.as_deref()).unwrap_or(""),
                trade.map_or("", |t| t.trade_type.as_str()),
                "REFUND",
                "OTHERS",
                &r.currency,
                "0.00",
                "0.00",
                &r.refund_id,
                &r.out_refund_no,
                &yuan(r.refund as i64),
                "0.00",
                "ORIGINAL",
                status,
                trade.map_or("", |t| t.description.as_str()),
                "",
                &yuan(returned),
                "0.60%",
                "0.00",
                &yuan(r.refund as i64),
                "",
            ]);
            lines.push(Line { at, text });
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.sort_by(|a, b| a.at.cmp(&b.at));
    let count = lines.len();
    let mut bill = String::from(HEADER);
    bill.push_str("\r\n");
    for line in lines {
        bill.push_str(&line.text);
        bill.push_str("\r\n");
    }
    bill.push_str(SUMMARY_HEADER);
    bill.push_str("\r\n");
    bill.push_str(&row(&[
        &count.to_string(),
        &yuan(settled),
        &yuan(refunded),
        "0.00",
        &yuan(fees),
        &yuan(ordered),
        &yuan(refunded),
    ]));
    bill.push_str("\r\n");
    Some(bill)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_yuan_with_two_decimals_and_fees_round_half_up_to_the_fen() {
        assert_eq!(yuan(668), "6.68");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-4), "-0.04");
        assert_eq!(yuan(100_000), "1000.00");
        assert_eq!(fee(668), 4, "0.6% of 6.68 is 0.04008");
        assert_eq!(fee(250), 2, "1.5 fen rounds up");
        assert_eq!(fee(83), 0, "0.498 fen rounds down");
    }

    #[test]
    fn a_time_is_billed_on_its_beijing_day() {
        assert_eq!(
            day_and_time("2026-12-01T16:30:00Z"),
            Some(("2026-12-02".into(), "2026-12-02 00:30:00".into()))
        );
        assert_eq!(
            day_and_time("2026-12-01T23:59:59+08:00"),
            Some(("2026-12-01".into(), "2026-12-01 23:59:59".into()))
        );
        assert_eq!(day_and_time("yesterday"), None);
    }

    #[test]
    fn every_field_of_a_row_starts_with_a_backtick() {
        assert_eq!(row(&["a", "", "6.68"]), "`a,`,`6.68");
    }

    #[test]
    fn a_day_with_only_extra_rows_is_billed_and_totalled() {
        let extra = [ExtraRow {
            out_trade_no: "OTHER-1".into(),
            total: 1000,
        }];
        let amounts = BTreeMap::new();
        let knobs = BillKnobs {
            omit: &[],
            extra: &extra,
            amounts: &amounts,
        };
        let bill =
            trade_bill("2026-12-01", BillType::All, "1900000001", &[], &[], &knobs).expect("a row");
        let lines: Vec<&str> = bill.lines().collect();
        assert_eq!(lines.len(), 4, "{bill}");
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[0].split(',').count(), 27);
        assert_eq!(lines[1].split(',').count(), 27);
        assert!(
            lines[1].contains("`OTHER-1,") && lines[1].contains("`10.00,"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], SUMMARY_HEADER);
        assert_eq!(lines[3], "`1,`10.00,`0.00,`0.00,`0.06,`10.00,`0.00");
        assert_eq!(
            trade_bill(
                "2026-12-01",
                BillType::Refund,
                "1900000001",
                &[],
                &[],
                &knobs
            ),
            None,
            "a refund bill of a day without refunds does not exist"
        );
    }
}
