//! The simulator's control side, unsigned and without authentication: `/sim/...` for tests
//! (scan, pay and finish trades, send a chosen notification, knobs, stats) and a plain HTML
//! page at `/` for demos by hand. [`super::AlipaySimulator`]'s methods call the same
//! functions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::gateway::path_segment;
use super::notify::{self, Note};
use super::protocol::{self, escape_html};
use super::trades::{Trade, TradeStatus};
use super::{now, now_ms, Failure, NotifyRequest, PayOptions, Sim, SimError};

type Shared = Arc<Sim>;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(page))
        .route("/sim/knobs", get(knobs).put(set_knobs))
        .route("/sim/stats", get(stats))
        .route("/sim/trades", get(trades))
        .route("/sim/trades/{no}", get(trade))
        .route("/sim/trades/{no}/scan", post(scan_trade))
        .route("/sim/trades/{no}/pay", post(pay_trade))
        .route("/sim/trades/{no}/pay-form", post(pay_form))
        .route("/sim/trades/{no}/finish", post(finish_trade))
        .route("/sim/trades/{no}/notify", post(notify_trade))
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            SimError::UnknownTrade(_) => StatusCode::NOT_FOUND,
            SimError::NotAllowed(_) => StatusCode::CONFLICT,
            SimError::NoAnswer(_) => StatusCode::BAD_GATEWAY,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// A control request body that is not the expected JSON: 422.
struct BadBody(String);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        let error = Json(json!({"error": self.0}));
        (StatusCode::UNPROCESSABLE_ENTITY, error).into_response()
    }
}

/// A control request's JSON body; an empty body is the default.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, BadBody> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| BadBody(e.to_string()))
}

/// A partial change of the knobs (`PUT /sim/knobs`): what is absent stays.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnobsChange {
    drop_notifications: Option<bool>,
    delay_ms: Option<u64>,
    fail_next: Option<u32>,
    fail_with: Option<Failure>,
    wrong_response_signature: Option<bool>,
    bills_ready_at_once: Option<bool>,
    bill_omit: Option<Vec<String>>,
    bill_extra: Option<Vec<crate::bills::ExtraRow>>,
    bill_amounts: Option<std::collections::BTreeMap<String, u64>>,
}

async fn knobs(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(sim.state().knobs))
}

async fn set_knobs(State(sim): State<Shared>, bytes: Bytes) -> Response {
    let change: KnobsChange = match body(&bytes) {
        Ok(c) => c,
        Err(refused) => return refused.into_response(),
    };
    let mut state = sim.state();
    let k = &mut state.knobs;
    k.drop_notifications = change.drop_notifications.unwrap_or(k.drop_notifications);
    k.delay_ms = change.delay_ms.unwrap_or(k.delay_ms);
    k.fail_next = change.fail_next.unwrap_or(k.fail_next);
    k.fail_with = change.fail_with.unwrap_or(k.fail_with);
    k.wrong_response_signature = change
        .wrong_response_signature
        .unwrap_or(k.wrong_response_signature);
    k.bills_ready_at_once = change.bills_ready_at_once.unwrap_or(k.bills_ready_at_once);
    if let Some(v) = change.bill_omit {
        k.bill_omit = v;
    }
    if let Some(v) = change.bill_extra {
        k.bill_extra = v;
    }
    if let Some(v) = change.bill_amounts {
        k.bill_amounts = v;
    }
    tracing::info!("alipay simulator: knobs {k:?}");
    Json(json!(k)).into_response()
}

async fn stats(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(sim.state().stats))
}

/// A trade as tests see it: its own fields (state, `trade_no`, buyer, times, refunds, calls
/// by method, notification attempts), amounts both as Alipay's yuan text and as fen, whether
/// each `qr_code` has expired, and notification totals.
pub(super) fn trade_view(sim: &Sim, no: &str) -> Option<Value> {
    let mut state = sim.state();
    let trade = state.trades.get_mut(no)?;
    trade.expire(now());
    let mut view = json!(trade);
    view["refund_fee"] = json!(crate::money::yuan(trade.refunded_fen));
    let now_ms = now_ms();
    let qr_codes: Vec<Value> = trade
        .qr_codes
        .iter()
        .map(|q| json!({"qr_code": q.qr_code, "expires_at_ms": q.expires_at_ms, "expired": now_ms >= q.expires_at_ms}))
        .collect();
    view["qr_codes"] = json!(qr_codes);
    let sent = trade.notifications.iter().filter(|n| !n.dropped).count();
    let acknowledged = trade
        .notifications
        .iter()
        .filter(|n| n.acknowledged)
        .count();
    view["notifications_sent"] = json!(sent);
    view["notifications_acknowledged"] = json!(acknowledged);
    Some(view)
}

pub(super) fn trade_views(sim: &Sim) -> Vec<Value> {
    let numbers: Vec<String> = sim.state().trades.keys().cloned().collect();
    numbers.iter().filter_map(|n| trade_view(sim, n)).collect()
}

async fn trades(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(trade_views(&sim)))
}

async fn trade(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    match trade_view(&sim, &no) {
        Some(view) => Json(view).into_response(),
        None => SimError::UnknownTrade(no).into_response(),
    }
}

/// Runs `change` on the trade under `no` (within the lock), then returns its clone.
fn with_trade(
    sim: &Sim,
    no: &str,
    change: impl FnOnce(&mut Trade) -> Result<(), String>,
) -> Result<Trade, SimError> {
    let mut state = sim.state();
    let trade = state
        .trades
        .get_mut(no)
        .ok_or_else(|| SimError::UnknownTrade(no.to_owned()))?;
    change(trade).map_err(SimError::NotAllowed)?;
    Ok(trade.clone())
}

fn view(sim: &Sim, no: &str) -> Result<Value, SimError> {
    trade_view(sim, no).ok_or_else(|| SimError::UnknownTrade(no.to_owned()))
}

/// The buyer scans (through `options.qr_code` if given): the trade exists from now on.
pub(super) fn scan(sim: &Shared, no: &str, options: PayOptions) -> Result<Value, SimError> {
    with_trade(sim, no, |t| {
        if let Some(qr) = &options.qr_code {
            t.check_qr(qr, now_ms())?;
        }
        t.come_to_exist(now())
    })?;
    tracing::info!("alipay simulator: {no} scanned");
    view(sim, no)
}

/// The buyer pays (scanning first if needed, through `options.qr_code` if given): the trade
/// becomes `TRADE_SUCCESS` and its notification goes out (unless the knob drops it).
pub(super) fn pay(sim: &Shared, no: &str, options: PayOptions) -> Result<Value, SimError> {
    let trade = with_trade(sim, no, |t| {
        if let Some(qr) = &options.qr_code {
            t.check_qr(qr, now_ms())?;
        }
        t.come_to_exist(now())?;
        t.pay(now())
    })?;
    tracing::info!("alipay simulator: {no} paid");
    notify::send(sim, &trade, None);
    view(sim, no)
}

/// The refund period ends now: `TRADE_FINISHED`, notified.
pub(super) fn finish(sim: &Shared, no: &str) -> Result<Value, SimError> {
    let trade = with_trade(sim, no, Trade::finish)?;
    tracing::info!("alipay simulator: {no} finished");
    notify::send(sim, &trade, None);
    view(sim, no)
}

/// Sends one notification of the trade now, outside the retry schedule, with the requested
/// fault; the receiver's status and body. A trade not paid is notified as if paid now
/// (`TRADE_SUCCESS`), without changing it; a paid one as it is (after its last refund).
pub(super) async fn notify_now(
    sim: &Shared,
    no: &str,
    request: NotifyRequest,
) -> Result<(u16, String), SimError> {
    let mut trade = with_trade(sim, no, |_| Ok(()))?;
    let paid = matches!(
        trade.trade_status,
        TradeStatus::TradeSuccess | TradeStatus::TradeFinished
    ) || trade.gmt_payment.is_some();
    if !paid {
        let at = now();
        trade.trade_no.get_or_insert_with(|| protocol::trade_no(at));
        trade
            .gmt_create
            .get_or_insert_with(|| protocol::beijing_time(at));
        trade
            .buyer_user_id
            .get_or_insert_with(|| format!("2088{}", protocol::random_digits(12)));
        trade.trade_status = TradeStatus::TradeSuccess;
        trade.gmt_payment = Some(protocol::beijing_time(at));
        trade.gmt_close = None;
    }
    let refund = trade.refunds.last().cloned();
    let note = Note::of(&sim.config, &trade, refund.as_ref())
        .ok_or_else(|| SimError::NotAllowed(format!("trade {no} has no notify_url")))?;
    match notify::deliver(sim, &note, request.fault).await {
        (Some(status), body) => Ok((status, body)),
        (None, why) => Err(SimError::NoAnswer(why)),
    }
}

async fn scan_trade(State(sim): State<Shared>, Path(no): Path<String>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(options) => respond(scan(&sim, &no, options)),
        Err(refused) => refused.into_response(),
    }
}

async fn pay_trade(State(sim): State<Shared>, Path(no): Path<String>, bytes: Bytes) -> Response {
    match body(&bytes) {
        Ok(options) => respond(pay(&sim, &no, options)),
        Err(refused) => refused.into_response(),
    }
}

async fn finish_trade(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    respond(finish(&sim, &no))
}

fn respond(result: Result<Value, SimError>) -> Response {
    match result {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The demo page's button: pays, then back to the page.
async fn pay_form(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    match pay(&sim, &no, PayOptions::default()) {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn notify_trade(State(sim): State<Shared>, Path(no): Path<String>, bytes: Bytes) -> Response {
    let request: NotifyRequest = match body(&bytes) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    match notify_now(&sim, &no, request).await {
        Ok((status, reply)) => Json(json!({"status": status, "body": reply})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A plain page for demos (no JavaScript): the trades, newest number first, and a button to
/// pay each waiting one (scanning it first, as a buyer would).
async fn page(State(sim): State<Shared>) -> Html<String> {
    let now = now();
    let mut state = sim.state();
    let mut rows = String::new();
    for t in state.trades.values_mut().rev() {
        t.expire(now);
        let button = if t.trade_status == TradeStatus::WaitBuyerPay {
            format!(
                "<form method=post action=\"/sim/trades/{}/pay-form\"><button>Pay</button></form>",
                path_segment(&t.out_trade_no)
            )
        } else {
            String::new()
        };
        let status = if t.exists {
            t.trade_status.as_str()
        } else {
            "(not scanned)"
        };
        let acknowledged = t.notifications.iter().filter(|n| n.acknowledged).count();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{} CNY</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{} sent, {} acknowledged</td><td>{}</td></tr>",
            escape_html(&t.out_trade_no),
            t.product,
            escape_html(&t.subject),
            t.total_amount,
            status,
            escape_html(t.trade_no.as_deref().unwrap_or_default()),
            escape_html(t.time_expire.as_deref().unwrap_or_default()),
            t.notifications.len(),
            acknowledged,
            button
        ));
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Alipay simulator</title>\
         <h1>Alipay simulator</h1><p>App {}, seller {}, {} mode. Test keys only. \
         Reload the page to see new trades.</p>\
         <table border=1 cellpadding=4><tr><th>out_trade_no</th><th>product</th><th>subject</th>\
         <th>amount</th><th>trade_status</th><th>trade_no</th><th>time_expire</th>\
         <th>notifications</th><th></th></tr>{rows}</table>",
        escape_html(&sim.config.app_id),
        escape_html(&sim.config.seller_id),
        sim.config.key_mode
    ))
}
