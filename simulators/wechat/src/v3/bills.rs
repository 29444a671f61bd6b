//! The trade bill: `GET /v3/bill/tradebill` answers where to fetch a day's bill (signed, as
//! every answer to a verified request), and `GET /v3/billdownload/file` serves it: a
//! request signed like any other, answered with the file itself, unsigned (the caller
//! checks `hash_value` instead), gzipped when asked. The address lives 5 minutes.
//!
//! Source: pay.weixin.qq.com/docs/merchant/apis/bill-download/trade-bill/get-trade-bill.html
//! and .../download-bill.html; a day's bill exists from 10:00 Beijing time the next day
//! (STATEMENT_CREATING before), and a day without trades has none (NO_STATEMENT_EXIST,
//! wechatpay-java issue #238).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use sha1::{Digest, Sha1};
use time::{Date, OffsetDateTime, UtcOffset};

use super::{param, Answer, Shared};
use crate::bills::{self, BillKnobs, BillType};
use crate::protocol;
use crate::trades::Refusal;
use crate::{now_ms, BillFile};

/// How long a `download_url` may be fetched (ms).
const DOWNLOAD_LIFETIME_MS: i64 = 5 * 60 * 1000;

/// The hour (Beijing) from which the previous day's bill exists.
const BILL_READY_HOUR: u8 = 10;

/// `YYYY-MM-DD` as a date.
fn day(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// `GET /v3/bill/tradebill?bill_date=&bill_type=&tar_type=`.
pub(super) fn trade_bill(sim: &Shared, query: &str, host: &str) -> Result<Answer, Refusal> {
    let date_text = protocol::query_param(query, "bill_date")
        .ok_or_else(|| param("the bill_date query parameter is missing"))?;
    let date = day(&date_text).ok_or_else(|| {
        param(format!(
            "bill_date `{date_text}` is not a date as YYYY-MM-DD"
        ))
    })?;
    let kind = match protocol::query_param(query, "bill_type") {
        None => BillType::All,
        Some(t) => BillType::parse(&t)
            .ok_or_else(|| param(format!("bill_type `{t}` is not ALL, SUCCESS or REFUND")))?,
    };
    let gzip = match protocol::query_param(query, "tar_type").as_deref() {
        None => false,
        Some("GZIP") => true,
        Some(other) => return Err(param(format!("tar_type `{other}` is not GZIP"))),
    };
    let beijing = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    let now = OffsetDateTime::now_utc().to_offset(beijing);
    let mut state = sim.state();
    let at_once = state.knobs.bills_ready_at_once;
    if date > now.date() || (date == now.date() && !at_once) {
        return Err(param(format!("bill_date {date_text} has not ended yet")));
    }
    let ready = at_once || date.next_day() < Some(now.date()) || now.hour() >= BILL_READY_HOUR;
    if !ready {
        return Err(Refusal::new(
            400,
            "STATEMENT_CREATING",
            "账单生成中，请在次日10点后再下载",
        ));
    }
    let knobs = BillKnobs {
        omit: &state.knobs.bill_omit,
        extra: &state.knobs.bill_extra,
        amounts: &state.knobs.bill_amounts,
    };
    let trades: Vec<_> = state.trades.values().collect();
    let refunds: Vec<_> = state.refunds.values().collect();
    let Some(bill) = bills::trade_bill(
        &date_text,
        kind,
        &sim.config.mchid,
        &trades,
        &refunds,
        &knobs,
    ) else {
        return Err(Refusal::new(
            400,
            "NO_STATEMENT_EXIST",
            "请求的账单文件不存在",
        ));
    };
    let hash = hex(&Sha1::digest(bill.as_bytes()));
    let bytes = if gzip {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(bill.as_bytes())
            .and_then(|()| encoder.finish())
            .map_err(|e| Refusal::new(500, "SYSTEM_ERROR", format!("gzip: {e}")))?
    } else {
        bill.into_bytes()
    };
    let token = protocol::random_alnum(32);
    let now_ms = now_ms();
    state.bill_files.retain(|_, f| f.expires_at_ms > now_ms);
    state.bill_files.insert(
        token.clone(),
        BillFile {
            bytes,
            expires_at_ms: now_ms + DOWNLOAD_LIFETIME_MS,
        },
    );
    Ok(Answer::ok(json!({
        "hash_type": "SHA1",
        "hash_value": hash,
        "download_url": format!("http://{host}/v3/billdownload/file?token={token}"),
    })))
}

/// `GET /v3/billdownload/file?token=`: the file, unsigned.
pub(super) fn download(sim: &Shared, query: &str) -> Result<Answer, Refusal> {
    let token = protocol::query_param(query, "token")
        .ok_or_else(|| param("the token query parameter is missing"))?;
    let state = sim.state();
    let file = state
        .bill_files
        .get(&token)
        .filter(|f| f.expires_at_ms > now_ms())
        .ok_or_else(|| {
            Refusal::new(
                400,
                "INVALID_REQUEST",
                "下载地址已失效 (a download_url lives 5 minutes)",
            )
        })?;
    Ok(Answer::file(file.bytes.clone()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
