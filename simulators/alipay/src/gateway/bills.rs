//! `alipay.data.dataservice.bill.downloadurl.query` (bill type `trade`): the address of a
//! day's bill, and the download it leads to: a zip of GBK CSV files, fetched with a plain
//! GET (the address is the credential), valid for 30 seconds.
//!
//! Source: opendocs.alipay.com, alipay.data.dataservice.bill.downloadurl.query
//! (「bill_download_url ... 30秒后失效」; a day's bill exists from 09:00 the next day, and a
//! day without one answers `isp.bill_not_exist` 账单不存在).

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use time::{Date, OffsetDateTime, UtcOffset};

use super::{required, success, Shared};
use crate::bills::{self, BillKnobs};
use crate::trades::Refusal;
use crate::{now_ms, BillFile};

/// How long a `bill_download_url` may be fetched (ms).
const DOWNLOAD_LIFETIME_MS: i64 = 30_000;

/// The hour (Beijing) from which the previous day's bill exists.
const BILL_READY_HOUR: u8 = 9;

fn not_exist() -> Refusal {
    Refusal::business("isp.bill_not_exist", "账单不存在")
}

/// `yyyy-MM-dd` as a date.
fn day(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// The method: `{bill_type: "trade", bill_date}` -> `bill_download_url` (`host`: where the
/// request was sent, which the address points back at).
pub(super) fn download_url(sim: &Shared, biz: &Value, host: &str) -> Result<Value, Refusal> {
    let bill_type = required(biz, "bill_type")?;
    if bill_type != "trade" {
        return Err(Refusal::business(
            "isv.invalid-parameter",
            format!("参数无效: bill_type `{bill_type}` (this simulator serves `trade`)"),
        ));
    }
    let date_text = required(biz, "bill_date")?;
    let date = day(date_text).ok_or_else(|| {
        Refusal::business(
            "isv.invalid-parameter",
            format!("参数无效: bill_date `{date_text}` is not yyyy-MM-dd"),
        )
    })?;
    let beijing = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    let now = OffsetDateTime::now_utc().to_offset(beijing);
    let mut state = sim.state();
    let at_once = state.knobs.bills_ready_at_once;
    let ready = date < now.date()
        && (at_once || date.next_day() < Some(now.date()) || now.hour() >= BILL_READY_HOUR);
    if !(ready || at_once && date == now.date()) {
        return Err(not_exist());
    }
    let knobs = BillKnobs {
        omit: &state.knobs.bill_omit,
        extra: &state.knobs.bill_extra,
        amounts: &state.knobs.bill_amounts,
    };
    let trades: Vec<_> = state.trades.values().collect();
    let pid = sim.config.seller_id.clone();
    let (detail, summary) =
        bills::trade_bill(date_text, &pid, &trades, &knobs).ok_or_else(not_exist)?;
    let zip = bills::zip_of(&pid, date_text, &detail, &summary)
        .map_err(|e| Refusal::business("ACQ.SYSTEM_ERROR", format!("系统错误 (zip: {e})")))?;
    let token = crate::protocol::random_alnum(32);
    let now_ms = now_ms();
    state.bill_files.retain(|_, f| f.expires_at_ms > now_ms);
    state.bill_files.insert(
        token.clone(),
        BillFile {
            bytes: zip,
            expires_at_ms: now_ms + DOWNLOAD_LIFETIME_MS,
        },
    );
    let compact = date_text.replace('-', "");
    let mut answer = success();
    answer["bill_download_url"] = Value::String(format!(
        "http://{host}/downloadBillFile.resource?bizType=trade&userId={pid}&fileType=csv.zip&bizDates={compact}&downloadFileName={pid}_{compact}.csv.zip&token={token}"
    ));
    Ok(answer)
}

#[derive(Deserialize)]
pub(super) struct DownloadQuery {
    #[serde(default)]
    token: String,
}

/// `GET /downloadBillFile.resource?...&token=`: the zip, while the address lives.
pub(super) async fn download(
    State(sim): State<Shared>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let state = sim.state();
    match state
        .bill_files
        .get(&q.token)
        .filter(|f| f.expires_at_ms > now_ms())
    {
        Some(file) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            file.bytes.clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "the bill_download_url has expired (it lives 30 seconds) or never was",
        )
            .into_response(),
    }
}
