//! The trade bill (业务明细) as Alipay serves it for one day (pure): a zip holding a detail
//! CSV and a summary CSV, both in GBK, each table framed by comment lines starting with
//! `#`. Amounts in yuan with two decimals; times and the day in Beijing time.
//!
//! Sources: opendocs.alipay.com, `alipay.data.dataservice.bill.downloadurl.query` (bill
//! type `trade`, `bill_date` as `yyyy-MM-dd`, `bill_download_url` valid for 30 seconds, a
//! zip of CSV files) and its 业务明细 sample (the columns below; 业务类型 交易 / 退款, a
//! refund's amounts negative with its 退款批次号/请求号; the 服务费 column as charged: negative
//! on a trade, returned on a refund); PROVIDERS.md, "Bills" (GBK, `#` comment lines).

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::money::yuan;
use super::trades::Trade;

/// A row for a trade the simulator does not hold (the `bill_extra` knob): another system's
/// trade on the same Alipay account.
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
    /// Trades (by `out_trade_no`) whose trade row the bill leaves out.
    pub omit: &'a [String],
    pub extra: &'a [ExtraRow],
    /// Amounts (fen) a trade's row shows instead of its own.
    pub amounts: &'a BTreeMap<String, u64>,
}

/// The detail table's columns.
const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

/// The fee: 0.6% of `fen`, rounded half up to the fen.
pub fn fee(fen: u64) -> u64 {
    (fen * 60 + 5_000) / 10_000
}

/// `fen` signed, as yuan: `-3.00`.
fn signed_yuan(fen: i64) -> String {
    let text = yuan(fen.unsigned_abs());
    if fen < 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// One detail row.
struct Row {
    at: String,
    text: String,
}

#[allow(clippy::too_many_arguments)] // the columns that vary, each once
fn row(
    trade_no: &str,
    out_trade_no: &str,
    kind: &str,
    subject: &str,
    (created, finished): (&str, &str),
    buyer: &str,
    (ordered, received): (i64, i64),
    request_no: &str,
    fee: i64,
) -> String {
    let fields = [
        trade_no,
        out_trade_no,
        kind,
        subject,
        created,
        finished,
        "",
        "",
        "",
        "",
        buyer,
        &signed_yuan(ordered),
        &signed_yuan(received),
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "",
        "0.00",
        "0.00",
        request_no,
        &signed_yuan(fee),
        "0.00",
        "",
    ];
    fields.join(",")
}

/// The two CSV files of `day` (`yyyy-MM-dd`, Beijing) for account `pid`, as text (the
/// caller encodes them): (detail, summary); `None` when the day has no row.
pub fn trade_bill(
    day: &str,
    pid: &str,
    trades: &[&Trade],
    knobs: &BillKnobs<'_>,
) -> Option<(String, String)> {
    let mut rows: Vec<Row> = Vec::new();
    let (mut paid_count, mut paid_sum, mut refund_count, mut refund_sum, mut fees) =
        (0u32, 0i64, 0u32, 0i64, 0i64);
    for t in trades {
        let buyer = t.buyer_logon_id.as_deref().unwrap_or("");
        let trade_no = t.trade_no.as_deref().unwrap_or("");
        let created = t.gmt_create.as_deref().unwrap_or("");
        if let Some(paid) = t.gmt_payment.as_deref() {
            if paid.starts_with(day) && !knobs.omit.contains(&t.out_trade_no) {
                let total = knobs
                    .amounts
                    .get(&t.out_trade_no)
                    .copied()
                    .unwrap_or(t.total_fen) as i64;
                let charged = fee(total.unsigned_abs()) as i64;
                paid_count += 1;
                paid_sum += total;
                fees -= charged;
                rows.push(Row {
                    at: paid.to_owned(),
                    text: row(
                        trade_no,
                        &t.out_trade_no,
                        "交易",
                        &t.subject,
                        (created, paid),
                        buyer,
                        (total, total),
                        "",
                        -charged,
                    ),
                });
            }
        }
        for r in &t.refunds {
            if !r.gmt_refund.starts_with(day) {
                continue;
            }
            let amount = -(r.refund_fen as i64);
            let returned = fee(r.refund_fen) as i64;
            refund_count += 1;
            refund_sum += amount;
            fees += returned;
            rows.push(Row {
                at: r.gmt_refund.clone(),
                text: row(
                    trade_no,
                    &t.out_trade_no,
                    "退款",
                    &t.subject,
                    (created, &r.gmt_refund),
                    buyer,
                    (amount, amount),
                    &r.out_request_no,
                    returned,
                ),
            });
        }
    }
    for (i, extra) in knobs.extra.iter().enumerate() {
        let at = format!("{day} 12:00:{:02}", i % 60);
        let total = extra.total as i64;
        let charged = fee(extra.total) as i64;
        paid_count += 1;
        paid_sum += total;
        fees -= charged;
        rows.push(Row {
            text: row(
                &format!("2099{:024}", i),
                &extra.out_trade_no,
                "交易",
                "another system's trade",
                (&at, &at),
                "oth***@example.com",
                (total, total),
                "",
                -charged,
            ),
            at,
        });
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| a.at.cmp(&b.at));
    let compact = day.replace('-', "");
    let mut detail = format!(
        "#支付宝业务明细查询\r\n#账号：[{pid}]\r\n#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n{HEADER}\r\n"
    );
    for r in &rows {
        detail.push_str(&r.text);
        detail.push_str("\r\n");
    }
    detail.push_str(&format!(
        "#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：{paid_count}笔，商家实收：{}元，商家优惠：0.00元\r\n#退款合计：{refund_count}笔，商家实收：{}元，商家优惠：0.00元\r\n#导出时间：[{day} 23:59:59]\r\n",
        signed_yuan(paid_sum),
        signed_yuan(refund_sum)
    ));
    let summary = format!(
        "#支付宝业务汇总查询\r\n#账号：[{pid}]\r\n#起始日期：[{day} 00:00:00]   终止日期：[{day} 23:59:59]\r\n#-----------------------------------------业务汇总列表----------------------------------------\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,服务费（元）,实收净额（元）\r\n,合计,{paid_count},{refund_count},{},{},{},{}\r\n#-----------------------------------------业务汇总列表结束------------------------------------\r\n#导出时间：[{compact}]\r\n",
        signed_yuan(paid_sum + refund_sum),
        signed_yuan(paid_sum + refund_sum),
        signed_yuan(fees),
        signed_yuan(paid_sum + refund_sum + fees),
    );
    Some((detail, summary))
}

/// The zip Alipay serves for `day`: the two files in GBK, named as Alipay names them
/// (`{pid}_{yyyyMMdd}_业务明细.csv`, `..._业务明细(汇总).csv`).
pub fn zip_of(pid: &str, day: &str, detail: &str, summary: &str) -> std::io::Result<Vec<u8>> {
    let compact = day.replace('-', "");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in [
        (format!("{pid}_{compact}_业务明细.csv"), detail),
        (format!("{pid}_{compact}_业务明细(汇总).csv"), summary),
    ] {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        zip.write_all(&gbk)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_fees_read_as_alipay_writes_them() {
        assert_eq!(signed_yuan(-300), "-3.00");
        assert_eq!(signed_yuan(1000), "10.00");
        assert_eq!(fee(1000), 6);
        assert_eq!(fee(250), 2);
    }

    #[test]
    fn an_extra_row_makes_a_bill_of_gbk_files_in_a_zip() {
        let extra = [ExtraRow {
            out_trade_no: "OTHER-1".into(),
            total: 1200,
        }];
        let amounts = BTreeMap::new();
        let knobs = BillKnobs {
            omit: &[],
            extra: &extra,
            amounts: &amounts,
        };
        let (detail, summary) =
            trade_bill("2026-12-01", "2088102000000001", &[], &knobs).expect("a row");
        let lines: Vec<&str> = detail.lines().collect();
        assert_eq!(lines[4], HEADER);
        assert_eq!(lines[4].split(',').count(), 25);
        assert_eq!(lines[5].split(',').count(), 25);
        assert!(
            lines[5].contains(",OTHER-1,交易,") && lines[5].contains(",12.00,12.00,"),
            "{}",
            lines[5]
        );
        assert!(
            detail.contains("#交易合计：1笔，商家实收：12.00元"),
            "{detail}"
        );
        assert!(
            summary.contains(",合计,1,0,12.00,12.00,-0.07,11.93"),
            "{summary}"
        );
        let zip = zip_of("2088102000000001", "2026-12-01", &detail, &summary).expect("zip");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
        let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "2088102000000001_20261201_业务明细(汇总).csv",
                "2088102000000001_20261201_业务明细.csv"
            ]
        );
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut archive
                .by_name("2088102000000001_20261201_业务明细.csv")
                .expect("detail"),
            &mut bytes,
        )
        .expect("read");
        assert!(std::str::from_utf8(&bytes).is_err(), "GBK, not UTF-8");
        let (text, _, errors) = encoding_rs::GBK.decode(&bytes);
        assert!(!errors);
        assert_eq!(text, detail);
        assert_eq!(
            trade_bill(
                "2026-12-01",
                "p",
                &[],
                &BillKnobs {
                    omit: &[],
                    extra: &[],
                    amounts: &amounts
                }
            ),
            None
        );
    }
}
