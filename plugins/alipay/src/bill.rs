//! Alipay's trade bill (业务明细), read into the rows of `paygate:bills`: the zip that
//! `bill_download_url` serves, its detail CSV in GBK, the `#` comment lines around the table,
//! and what each column means. Pure, and unit-tested natively.
//!
//! Sources: `alipay.data.dataservice.bill.downloadurl.query` (查询对账单下载地址,
//! https://opendocs.alipay.com/open/02e7gr): `bill_type` `trade` is the merchant's trade bill,
//! `bill_date` `yyyy-MM-dd`, and `bill_download_url` a zip of CSV files, the detail (业务明细)
//! and its summary (业务明细(汇总)), valid for 30 seconds. The file's layout is the one
//! PROVIDERS.md ("Bills") and paygate's Alipay simulator (`simulators/alipay/src/bills.rs`)
//! write, and a real detail file as published at gxitsky.com/2020/07/27/Business-07-ali-pay-bill/
//! shows: four `#` lines, the 25-column header, one row per trade or refund with the text
//! fields padded with trailing blanks (spaces in that copy; tabs are reported too, and both
//! are read), then `#` lines of totals; CRLF line ends; 服务费 `-0.01` on a trade of `1.00`,
//! i.e. the fee is written as it moves the merchant's money.

use std::borrow::Cow;
use std::io::Read;

use paygate_sdk::money::parse_decimal;
use paygate_sdk::{BillKind, BillRow, BillState, Money, UnixSeconds};

use crate::money::CURRENCY;
use crate::protocol::parse_beijing_time;

/// What the detail file's name holds, and what only the summary's holds: Alipay names them
/// `{pid}_{yyyyMMdd}_业务明细.csv` and `{pid}_{yyyyMMdd}_业务明细(汇总).csv`.
const DETAIL: &str = "业务明细";
const SUMMARY: &str = "汇总";

/// The largest detail file read, uncompressed. The host caps the download (16 MiB
/// compressed) and the answer (16 MiB, some 50,000 rows), not what a zip inflates to: without
/// a cap, a small hostile zip would fill the adapter's memory. 64 MiB is over 200,000 rows of
/// Alipay's ~300 bytes, more than the host's answer cap lets through anyway.
pub const MAX_DETAIL_BYTES: u64 = 64 << 20;

/// The hour of the next day, Beijing time, from which Alipay holds a day's bill. Before it,
/// `isp.bill_not_exist` means "not produced yet"; after it, "no trades that day". The hour
/// the contract states for Alipay (`wit/bills/bills.wit`, `not-ready`: "Alipay before 09:00,
/// `isp.bill_not_exist`") and the simulator keeps (`BILL_READY_HOUR`).
pub const READY_HOUR: i64 = 9;

/// The columns a row is read from, as named in the header (25 columns in all; the others —
/// 商品名称, 创建时间, 门店编号, 门店名称, 操作员, 终端号, 对方账户, 商家实收（元）,
/// 支付宝红包（元）, 集分宝（元）, 支付宝优惠（元）, 商家优惠（元）, 券核销金额（元）, 券名称,
/// 商家红包消费金额（元）, 卡消费金额（元）, 分润（元）, 备注 — are not read). Found by name, not
/// position, so that a column Alipay adds or moves does not shift the others. Written here with
/// ASCII parentheses: the header's full-width ones are read as ASCII ([`column_name`]).
const TRADE_NO: &str = "支付宝交易号";
const OUT_TRADE_NO: &str = "商户订单号";
const KIND: &str = "业务类型";
const FINISHED: &str = "完成时间";
const ORDER_AMOUNT: &str = "订单金额(元)";
const REQUEST_NO: &str = "退款批次号/请求号";
const FEE: &str = "服务费(元)";

/// 业务类型 of a trade's payment and of a refund of it.
const PAYMENT: &str = "交易";
const REFUND: &str = "退款";

/// When Alipay's bill of `day` (`yyyy-MM-dd`, Beijing) exists: [`READY_HOUR`] the next day,
/// Beijing time (which has no daylight saving: the next day starts 24 hours later). `None`
/// if `day` is not such a date.
pub fn ready_at(day: &str) -> Option<UnixSeconds> {
    let start = parse_beijing_time(&format!("{day} 00:00:00"))?;
    start.checked_add((24 + READY_HOUR) * 60 * 60)
}

/// The rows of the bill `zip` (what `bill_download_url` serves), in the bill's order. The
/// error says what is wrong with the file (the caller reports it as `unreachable`: the host
/// asks again later).
pub fn parse(zip: &[u8]) -> Result<Vec<BillRow>, String> {
    rows(&detail_text(zip, MAX_DETAIL_BYTES)?)
}

/// The detail CSV of the bill `zip`, decoded from GBK: the one file whose name holds 业务明细
/// and not 汇总. Its CRC-32 is checked as it inflates (the zip crate refuses a mismatch): a
/// damaged download is refused, the only check Alipay's bill offers (no hash comes with
/// `bill_download_url`).
fn detail_text(zip: &[u8], max_bytes: u64) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("the bill is not a zip: {e}"))?;
    let mut details = Vec::new();
    for index in 0..archive.len() {
        // Raw: the entry's name and size, without inflating it.
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| format!("unreadable bill zip entry {index}: {e}"))?;
        let name = entry_name(entry.name_raw());
        if !entry.is_dir() && name.contains(DETAIL) && !name.contains(SUMMARY) {
            details.push((index, name.into_owned()));
        }
    }
    let index = match details.as_slice() {
        [(index, _)] => *index,
        [] => return Err(format!("the bill zip holds no {DETAIL} file")),
        several => {
            let names: Vec<&str> = several.iter().map(|(_, n)| n.as_str()).collect();
            return Err(format!(
                "the bill zip holds {} {DETAIL} files, not one: {}",
                several.len(),
                names.join(", ")
            ));
        }
    };
    let entry = archive
        .by_index(index)
        .map_err(|e| format!("unreadable {DETAIL} file: {e}"))?;
    let mut bytes = Vec::new();
    // One byte over the cap tells a file at the cap from a larger one.
    entry
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable {DETAIL} file: {e}"))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
        return Err(format!(
            "the {DETAIL} file is larger than the {max_bytes} bytes this adapter reads"
        ));
    }
    // Without replacement: a byte sequence that is not GBK is a damaged file, not a `�` in
    // a trade number.
    encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(&bytes)
        .map(Cow::into_owned)
        .ok_or_else(|| format!("the {DETAIL} file is not GBK text"))
}

/// A zip entry's name as text. The zip format marks UTF-8 names with a flag (the simulator's
/// zip library sets it); names without it are in the zipping system's code page, which for
/// Alipay's Chinese names is GBK. Text that is valid UTF-8 is taken as UTF-8 (GBK's Chinese
/// almost never is: `务` is `CE F1`, and `F1` is no UTF-8 continuation byte), anything else
/// as GBK.
fn entry_name(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::GBK.decode_without_bom_handling(raw).0,
    }
}

/// Where the columns a row is read from are.
struct Columns {
    trade_no: usize,
    out_trade_no: usize,
    kind: usize,
    finished: usize,
    amount: usize,
    request_no: usize,
    fee: usize,
    /// How many fields the header has: every row has as many.
    width: usize,
}

impl Columns {
    fn of(header: &[String]) -> Result<Columns, String> {
        let names: Vec<String> = header.iter().map(|n| column_name(n)).collect();
        let find = |wanted: &str| {
            names.iter().position(|n| n == wanted).ok_or_else(|| {
                format!(
                    "the {DETAIL} table has no column {wanted} (its header: {})",
                    header.join(",")
                )
            })
        };
        Ok(Columns {
            trade_no: find(TRADE_NO)?,
            out_trade_no: find(OUT_TRADE_NO)?,
            kind: find(KIND)?,
            finished: find(FINISHED)?,
            amount: find(ORDER_AMOUNT)?,
            request_no: find(REQUEST_NO)?,
            fee: find(FEE)?,
            width: header.len(),
        })
    }
}

/// A header name as compared: without its padding, full-width parentheses as ASCII (Alipay
/// writes `订单金额（元）`; copies of its files re-typed by people or tools often carry `(元)`).
fn column_name(name: &str) -> String {
    field(name).replace('（', "(").replace('）', ")")
}

/// A field without the blanks Alipay pads it with (spaces, tabs) and a stray byte-order mark.
fn field(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// The rows of the detail table `text`: the first record after the `#` lines is the header,
/// every later one a row; the `#` lines after the table (totals, export time) are skipped like
/// those before it.
fn rows(text: &str) -> Result<Vec<BillRow>, String> {
    let mut records = records(text)?.into_iter();
    let Some(header) = records.next() else {
        return Err(format!("the {DETAIL} file has no table"));
    };
    let columns = Columns::of(&header.fields)?;
    records
        .enumerate()
        .map(|(i, record)| {
            let n = i + 1;
            row(&record.fields, &columns)
                .map_err(|why| format!("unreadable bill row {n}: {why} (line {})", record.line))
        })
        .collect()
}

/// One row of the table as paygate's bill row.
///
/// - 业务类型 交易 is a payment, 退款 a refund; anything else is refused, not skipped: a row
///   of a kind this adapter does not know may be money it would otherwise not report.
/// - The bill lists only money that moved, so every row is `succeeded`.
/// - `amount` is 订单金额（元）: the order's amount on a payment (what paygate asked for; 商家实收
///   is less by the discounts), the refunded amount on a refund, which Alipay writes negative
///   (money leaving the merchant). A payment that is not above zero, or a refund that is not
///   below it, is refused.
/// - `refund_no` is 退款批次号/请求号 (`out_request_no`) of a refund row; Alipay's bill gives
///   no id of its own for a refund.
/// - `fee_minor` is 服务费（元） with its sign turned: Alipay writes the fee as it moves the
///   merchant's money, `-0.06` charged on a payment, `0.02` given back on a refund; the
///   contract's `fee-minor` is what was charged, negative where a refund returns part of it.
///   An empty 服务费 is no fee.
/// - `at` is 完成时间, Beijing time (the payment's or the refund's completion).
/// - 商户订单号 is passed on as written, even empty (a trade another system opened without
///   one): such a row is no paygate payment, and the host tells so.
fn row(fields: &[String], columns: &Columns) -> Result<BillRow, String> {
    if fields.len() != columns.width {
        return Err(format!(
            "{} fields where the header has {} (an unquoted comma in a field?)",
            fields.len(),
            columns.width
        ));
    }
    let get = |index: usize| field(&fields[index]);
    let kind = match get(columns.kind) {
        PAYMENT => BillKind::Payment,
        REFUND => BillKind::Refund,
        other => {
            return Err(format!(
                "业务类型 `{other}` is neither {PAYMENT} nor {REFUND}"
            ))
        }
    };
    let trade_no = get(columns.trade_no);
    if trade_no.is_empty() {
        return Err(format!("{TRADE_NO} is empty"));
    }
    let finished = get(columns.finished);
    let at = parse_beijing_time(finished)
        .ok_or_else(|| format!("{FINISHED} `{finished}` is not yyyy-MM-dd HH:mm:ss"))?;
    let amount = signed_fen(get(columns.amount)).map_err(|why| format!("订单金额（元） {why}"))?;
    let minor = match kind {
        BillKind::Payment if amount > 0 => amount.unsigned_abs(),
        BillKind::Refund if amount < 0 => amount.unsigned_abs(),
        BillKind::Payment => {
            return Err(format!("a payment of {amount} fen: not above zero"));
        }
        BillKind::Refund => {
            return Err(format!(
                "a refund of {amount} fen: Alipay writes refunds below zero"
            ));
        }
    };
    let fee = match get(columns.fee) {
        "" => 0,
        text => signed_fen(text).map_err(|why| format!("服务费（元） {why}"))?,
    };
    let request_no = get(columns.request_no);
    Ok(BillRow {
        payment_no: get(columns.out_trade_no).to_owned(),
        provider_trade_id: trade_no.to_owned(),
        kind,
        refund_no: match kind {
            BillKind::Refund if !request_no.is_empty() => Some(request_no.to_owned()),
            _ => None,
        },
        provider_refund_id: None,
        amount: Money {
            minor,
            currency: CURRENCY.to_owned(),
        },
        // `signed_fen` keeps within ±i64::MAX: the negation cannot overflow.
        fee_minor: -fee,
        state: BillState::Succeeded,
        at,
    })
}

/// Yuan as Alipay writes them in the bill (`1.00`, `-3.00`, `0.1`) as signed fen, by digits
/// (the SDK's [`parse_decimal`], never a float). Refused: an empty field, `+`, more than two
/// decimals, anything but digits, more than an `i64` of fen.
fn signed_fen(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let fen = parse_decimal(digits, CURRENCY).map_err(|e| format!("`{text}`: {e}"))?;
    let fen = i64::try_from(fen).map_err(|_| format!("`{text}` is too much money"))?;
    Ok(if negative { -fen } else { fen })
}

/// One CSV record and the line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// The records of CSV `text` (RFC 4180, comma-separated): a field may be quoted, holding
/// commas, line breaks and `""` for a quote, padded with blanks after the closing quote;
/// lines end in CRLF or LF. Lines that start with `#` (Alipay's comments) and empty lines are
/// no records. Fields are returned as written, blanks included.
fn records(text: &str) -> Result<Vec<Record>, String> {
    // Byte offsets: every delimiter is ASCII, which never occurs inside a UTF-8 sequence, so
    // slicing at them is slicing at character boundaries.
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut at = 0;
    let mut line = 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\r' | b'\n' => {
                at = line_end(bytes, at, &mut line);
                continue;
            }
            b'#' => {
                while at < bytes.len() && !matches!(bytes[at], b'\r' | b'\n') {
                    at += 1;
                }
                continue;
            }
            _ => {}
        }
        let start_line = line;
        let mut fields = Vec::new();
        loop {
            let (value, next) = field_at(text, at, &mut line)?;
            fields.push(value);
            at = next;
            match bytes.get(at) {
                Some(b',') => at += 1,
                Some(_) => {
                    at = line_end(bytes, at, &mut line);
                    break;
                }
                None => break,
            }
        }
        records.push(Record {
            line: start_line,
            fields,
        });
    }
    Ok(records)
}

/// The offset after the line break at `at` (CRLF, LF or a lone CR), counting the line.
fn line_end(bytes: &[u8], at: usize, line: &mut usize) -> usize {
    *line += 1;
    if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
        at + 2
    } else {
        at + 1
    }
}

/// The field starting at `at` and the offset of what ends it (a comma, a line break, the
/// end of the text).
fn field_at(text: &str, at: usize, line: &mut usize) -> Result<(String, usize), String> {
    let bytes = text.as_bytes();
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut quote = at;
    while quote < bytes.len() && blank(bytes[quote]) {
        quote += 1;
    }
    if bytes.get(quote) != Some(&b'"') {
        let mut end = at;
        while end < bytes.len() && !matches!(bytes[end], b',' | b'\r' | b'\n') {
            end += 1;
        }
        return Ok((text[at..end].to_owned(), end));
    }
    let opened_on = *line;
    let mut value = String::new();
    let mut from = quote + 1;
    let mut i = from;
    loop {
        match bytes.get(i) {
            None => {
                return Err(format!(
                    "a quoted field opened on line {opened_on} never closes"
                ))
            }
            Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                value.push_str(&text[from..=i]);
                i += 2;
                from = i;
            }
            Some(b'"') => {
                value.push_str(&text[from..i]);
                i += 1;
                break;
            }
            Some(b'\n') => {
                *line += 1;
                i += 1;
            }
            Some(_) => i += 1,
        }
    }
    while i < bytes.len() && blank(bytes[i]) {
        i += 1;
    }
    match bytes.get(i) {
        None | Some(b',' | b'\r' | b'\n') => Ok((value, i)),
        Some(_) => Err(format!(
            "text after the closing quote of a field on line {}",
            *line
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The header the simulator writes (`simulators/alipay/src/bills.rs`, `HEADER`).
    const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

    /// A trade of 10.00 paid on 2026-12-01, with Alipay's 0.6% fee charged (`-0.06`), as
    /// the simulator writes it.
    const PAID: &str = "2026120122001400000000000001,P100001,交易,tea,2026-12-01 10:00:00,2026-12-01 10:00:05,,,,,buy***@example.com,10.00,10.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.06,0.00,";
    /// A refund of 3.00 of that trade, request number RQ1, its fee share given back (`0.02`).
    const REFUNDED: &str = "2026120122001400000000000001,P100001,退款,tea,2026-12-01 10:00:00,2026-12-01 15:30:00,,,,,buy***@example.com,-3.00,-3.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RQ1,0.02,0.00,";

    /// The detail file of 2026-12-01 around `rows`, framed as the simulator frames it.
    fn detail(rows: &[&str]) -> String {
        let mut text = String::from(
            "#支付宝业务明细查询\r\n#账号：[2088102000000001]\r\n#起始日期：[2026-12-01 00:00:00]   终止日期：[2026-12-01 23:59:59]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n",
        );
        text.push_str(HEADER);
        text.push_str("\r\n");
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        text.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔，商家实收：10.00元，商家优惠：0.00元\r\n#退款合计：1笔，商家实收：-3.00元，商家优惠：0.00元\r\n#导出时间：[2026-12-01 23:59:59]\r\n");
        text
    }

    /// The summary file the simulator writes beside it: a table of its own, which parses as
    /// no bill rows.
    const SUMMARY_FILE: &str = "#支付宝业务汇总查询\r\n#账号：[2088102000000001]\r\n#-----------------------------------------业务汇总列表----------------------------------------\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,服务费（元）,实收净额（元）\r\n,合计,1,1,7.00,7.00,-0.04,6.96\r\n#-----------------------------------------业务汇总列表结束------------------------------------\r\n#导出时间：[20261201]\r\n";

    const DETAIL_NAME: &str = "2088102000000001_20261201_业务明细.csv";
    const SUMMARY_NAME: &str = "2088102000000001_20261201_业务明细(汇总).csv";

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable, "GBK holds the test's text");
        bytes.into_owned()
    }

    /// A zip of `files` (name, bytes), deflated, as the simulator's `zip_of` makes it (UTF-8
    /// names, flagged as such).
    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(*name, options).expect("an entry");
            zip.write_all(bytes).expect("written");
        }
        zip.finish().expect("a zip").into_inner()
    }

    /// The simulator's bill: the detail and the summary, in GBK.
    fn bill(rows: &[&str]) -> Vec<u8> {
        zip_of(&[
            (DETAIL_NAME, gbk(&detail(rows))),
            (SUMMARY_NAME, gbk(SUMMARY_FILE)),
        ])
    }

    fn cny(minor: u64) -> Money {
        Money {
            minor,
            currency: "CNY".into(),
        }
    }

    /// The error of parsing a bill of `rows`.
    fn refused(rows: &[&str]) -> String {
        parse(&bill(rows)).expect_err("an unreadable bill")
    }

    /// `PAID` with field `index` replaced by `value`.
    fn paid_with(index: usize, value: &str) -> String {
        let mut fields: Vec<&str> = PAID.split(',').collect();
        fields[index] = value;
        fields.join(",")
    }

    #[test]
    fn a_payment_row_becomes_a_succeeded_payment_with_the_fee_charged() {
        assert_eq!(
            parse(&bill(&[PAID])),
            Ok(vec![BillRow {
                payment_no: "P100001".into(),
                provider_trade_id: "2026120122001400000000000001".into(),
                kind: BillKind::Payment,
                refund_no: None,
                provider_refund_id: None,
                amount: cny(1000),
                fee_minor: 6,
                state: BillState::Succeeded,
                // 2026-12-01 10:00:05 in Beijing is 02:00:05 UTC.
                at: 1_796_090_405,
            }])
        );
    }

    #[test]
    fn a_refund_row_becomes_a_refund_with_its_request_number() {
        let rows = parse(&bill(&[PAID, REFUNDED])).expect("a bill");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            BillRow {
                payment_no: "P100001".into(),
                provider_trade_id: "2026120122001400000000000001".into(),
                kind: BillKind::Refund,
                refund_no: Some("RQ1".into()),
                provider_refund_id: None,
                amount: cny(300),
                // Given back: negative, as the contract counts fees.
                fee_minor: -2,
                state: BillState::Succeeded,
                // 2026-12-01 15:30:00 in Beijing.
                at: 1_796_110_200,
            }
        );
    }

    #[test]
    fn rows_keep_the_bill_s_order() {
        let rows = parse(&bill(&[REFUNDED, PAID])).expect("a bill");
        let kinds: Vec<BillKind> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [BillKind::Refund, BillKind::Payment]);
    }

    #[test]
    fn comment_lines_around_the_table_are_skipped() {
        let text = detail(&[PAID]);
        assert!(text.starts_with('#') && text.trim_end().ends_with(']'));
        let rows = rows(&text).expect("a table");
        assert_eq!(rows.len(), 1, "the totals after the table are no rows");
        // LF line ends and blank lines read the same.
        let lf = text.replace("\r\n", "\n\n");
        assert_eq!(super::rows(&lf), Ok(rows));
    }

    #[test]
    fn a_table_without_rows_is_an_empty_bill() {
        assert_eq!(parse(&bill(&[])), Ok(vec![]));
    }

    #[test]
    fn the_summary_file_is_not_read_as_details() {
        // Summary first in the zip: still the detail is read.
        let zip = zip_of(&[
            (SUMMARY_NAME, gbk(SUMMARY_FILE)),
            (DETAIL_NAME, gbk(&detail(&[PAID]))),
        ]);
        assert_eq!(parse(&zip).map(|r| r.len()), Ok(1));
        // A zip with the summary alone has no detail to read.
        let only_summary = zip_of(&[(SUMMARY_NAME, gbk(SUMMARY_FILE))]);
        assert!(
            parse(&only_summary).is_err_and(|e| e.contains("no 业务明细 file")),
            "{:?}",
            parse(&only_summary)
        );
    }

    #[test]
    fn file_names_written_in_gbk_without_the_utf8_flag_are_recognised() {
        // Zipped on a Chinese system, the names are GBK bytes and the UTF-8 flag is unset:
        // write the entries under ASCII placeholders of the same length (no flag), then put
        // the GBK bytes in their place (the CRC covers the data, not the name).
        let detail_gbk = gbk(DETAIL_NAME);
        let summary_gbk = gbk(SUMMARY_NAME);
        let detail_placeholder = "d".repeat(detail_gbk.len());
        let summary_placeholder = "s".repeat(summary_gbk.len());
        let mut zip = zip_of(&[
            (&summary_placeholder, gbk(SUMMARY_FILE)),
            (&detail_placeholder, gbk(&detail(&[PAID, REFUNDED]))),
        ]);
        for (placeholder, name) in [
            (detail_placeholder.as_bytes(), &detail_gbk),
            (summary_placeholder.as_bytes(), &summary_gbk),
        ] {
            let mut replaced = 0;
            while let Some(at) = zip.windows(name.len()).position(|w| w == placeholder) {
                zip[at..at + name.len()].copy_from_slice(name);
                replaced += 1;
            }
            assert_eq!(replaced, 2, "the local header and the central directory");
        }
        assert!(std::str::from_utf8(&detail_gbk).is_err(), "GBK, not UTF-8");
        assert_eq!(entry_name(&detail_gbk), DETAIL_NAME);
        assert_eq!(parse(&zip).map(|r| r.len()), Ok(2));
    }

    #[test]
    fn fields_padded_with_spaces_and_tabs_are_read_without_them() {
        // As real bills pad their text fields (tabs) and as copies show them (spaces).
        let padded = "2026120122001400000000000001\t,P100001\t,交易\t,tea\t,2026-12-01 10:00:00,2026-12-01 10:00:05,\t,\t,\t,\t,buy***@example.com\t,10.00,10.00,0.00,0.00,0.00,0.00,0.00,\t,0.00    ,0.00,\t,-0.06,0.00,\t";
        let spaced = padded.replace('\t', "    ");
        let expected = parse(&bill(&[PAID]));
        assert_eq!(parse(&bill(&[padded])), expected);
        assert_eq!(parse(&bill(&[&spaced])), expected);
        let header_padded =
            detail(&[PAID]).replace("支付宝交易号,商户订单号", "支付宝交易号\t,商户订单号  ");
        assert_eq!(rows(&header_padded), expected);
    }

    #[test]
    fn columns_are_found_by_name_whatever_their_order_or_parentheses() {
        let text = "#x\r\n服务费(元),业务类型,完成时间,订单金额(元),退款批次号/请求号,商户订单号,支付宝交易号\r\n-0.06,交易,2026-12-01 10:00:05,10.00,,P100001,2026120122001400000000000001\r\n";
        assert_eq!(rows(text), parse(&bill(&[PAID])));
        let missing = detail(&[PAID]).replace("服务费（元）", "手续费（元）");
        assert!(
            rows(&missing).is_err_and(|e| e.contains("no column 服务费(元)")),
            "{:?}",
            rows(&missing)
        );
    }

    #[test]
    fn a_quoted_field_may_hold_commas_quotes_and_line_breaks() {
        let quoted = paid_with(3, "\"tea, \"\"green\"\"\r\nand cake\"  ");
        assert_eq!(parse(&bill(&[&quoted])), parse(&bill(&[PAID])));
        let fields = records("a,\"b,\"\"c\"\"\",\"d\ne\"\nf").expect("records");
        assert_eq!(fields[0].fields, ["a", "b,\"c\"", "d\ne"]);
        assert_eq!(
            (fields[1].line, fields[1].fields.as_slice()),
            (3, &["f".to_owned()][..])
        );
    }

    #[test]
    fn amounts_are_read_as_fen_by_digits() {
        assert_eq!(signed_fen("10.00"), Ok(1000));
        assert_eq!(signed_fen("0.1"), Ok(10));
        assert_eq!(signed_fen("-3.00"), Ok(-300));
        assert_eq!(signed_fen("-0.01"), Ok(-1));
        assert_eq!(signed_fen("-0.00"), Ok(0));
        assert_eq!(signed_fen("100000000.00"), Ok(10_000_000_000));
        for bad in [
            "",
            "-",
            "+1.00",
            "1.005",
            "--1",
            "1e2",
            "1,00",
            "¥1",
            "92233720368547758.08",
        ] {
            assert!(signed_fen(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_fee_is_no_fee() {
        let no_fee = paid_with(22, "");
        assert_eq!(parse(&bill(&[&no_fee])).map(|r| r[0].fee_minor), Ok(0));
        let zero = paid_with(22, "0.00");
        assert_eq!(parse(&bill(&[&zero])).map(|r| r[0].fee_minor), Ok(0));
    }

    #[test]
    fn a_refund_without_a_request_number_has_none() {
        let mut fields: Vec<&str> = REFUNDED.split(',').collect();
        fields[21] = "\t";
        let row = fields.join(",");
        assert_eq!(
            parse(&bill(&[&row])).map(|r| r[0].refund_no.clone()),
            Ok(None)
        );
    }

    #[test]
    fn a_malformed_row_is_refused_with_its_number() {
        let short = PAID.rsplit_once(',').expect("fields").0.to_owned();
        let long = format!("{PAID},extra");
        let cases: Vec<(String, &str)> = vec![
            (short, "24 fields where the header has 25"),
            (long, "26 fields"),
            (paid_with(2, "撤销"), "业务类型 `撤销`"),
            (paid_with(0, " "), "支付宝交易号 is empty"),
            (paid_with(5, "2026-12-01T10:00:05"), "完成时间"),
            (paid_with(5, ""), "完成时间"),
            (paid_with(11, "10.005"), "订单金额"),
            (paid_with(11, "ten"), "订单金额"),
            (paid_with(11, "-10.00"), "not above zero"),
            (paid_with(11, "0.00"), "not above zero"),
            (paid_with(22, "-0.0x"), "服务费"),
            (
                REFUNDED.replace(",-3.00,-3.00,", ",3.00,3.00,"),
                "below zero",
            ),
        ];
        for (bad, says) in cases {
            let error = refused(&[PAID, &bad]);
            assert!(
                error.starts_with("unreadable bill row 2: ") && error.contains(says),
                "{bad}: {error}"
            );
            assert!(error.contains("(line 7)"), "{error}");
        }
        let unclosed = paid_with(3, "\"tea");
        assert!(refused(&[&unclosed]).contains("never closes"));
        let after_quote = paid_with(3, "\"tea\" cake");
        assert!(refused(&[&after_quote]).contains("after the closing quote"));
    }

    #[test]
    fn a_file_that_is_not_the_bill_is_refused() {
        assert!(parse(b"PK\x03\x04 not really").is_err_and(|e| e.contains("not a zip")));
        assert!(parse(b"").is_err());
        let two = zip_of(&[
            (DETAIL_NAME, gbk(&detail(&[PAID]))),
            (
                "2088102000000002_20261201_业务明细.csv",
                gbk(&detail(&[PAID])),
            ),
        ]);
        assert!(parse(&two).is_err_and(|e| e.contains("2 业务明细 files")));
        // UTF-8 bytes of Chinese text are no GBK.
        let utf8 = zip_of(&[(DETAIL_NAME, detail(&[PAID]).into_bytes())]);
        assert!(
            parse(&utf8).is_err_and(|e| e.contains("not GBK")),
            "{:?}",
            parse(&utf8)
        );
        let no_table = zip_of(&[(
            DETAIL_NAME,
            gbk("#支付宝业务明细查询\r\n#导出时间：[x]\r\n"),
        )]);
        assert!(parse(&no_table).is_err_and(|e| e.contains("no table")));
    }

    #[test]
    fn a_damaged_download_fails_its_crc() {
        let text = gbk(&detail(&[PAID]));
        // Stored, not deflated, so that one byte of the data can be changed in place.
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(DETAIL_NAME, options).expect("an entry");
        zip.write_all(&text).expect("written");
        let mut bytes = zip.finish().expect("a zip").into_inner();
        let at = bytes
            .windows(5)
            .position(|w| w == b"10.00")
            .expect("the amount");
        bytes[at] = b'9';
        assert!(
            parse(&bytes).is_err_and(|e| e.contains("checksum")),
            "{:?}",
            parse(&bytes)
        );
    }

    #[test]
    fn a_detail_file_larger_than_the_cap_is_refused() {
        let zip = bill(&[PAID]);
        let size = gbk(&detail(&[PAID])).len() as u64;
        assert!(detail_text(&zip, size).is_ok());
        assert!(detail_text(&zip, size - 1).is_err_and(|e| e.contains("larger than")));
    }

    #[test]
    fn a_day_s_bill_is_ready_at_nine_the_next_morning_beijing_time() {
        // 2026-12-02 09:00:00 in Beijing is 01:00:00 UTC.
        assert_eq!(ready_at("2026-12-01"), Some(1_796_173_200));
        assert_eq!(
            ready_at("2026-12-31"),
            Some(1_798_765_200),
            "into the next year"
        );
        for bad in [
            "2026-12-1",
            "2026-13-01",
            "2026-02-30",
            "20261201",
            "2026-12-01 00:00:00",
            "",
        ] {
            assert_eq!(ready_at(bad), None, "{bad:?}");
        }
    }
}
