//! The simulator's control side, unsigned and without authentication: `/sim/...` for tests
//! (pay a trade, move it to another state, send a chosen notification, knobs, stats) and a
//! plain HTML page at `/` for demos by hand. [`super::WechatSimulator`]'s methods call the
//! same functions.

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

use super::notify::{self, Fault, Note};
use super::protocol;
use super::trades::TradeState;
use super::v3::{refund_json, transaction_json};
use super::{
    now, now_ms, NotificationSigner, NotifyRequest, PayOptions, RefundOutcome, Sim, SimError,
};

type Shared = Arc<Sim>;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(page))
        .route("/sim/knobs", get(knobs).put(set_knobs))
        .route("/sim/stats", get(stats))
        .route("/sim/trades", get(trades))
        .route("/sim/trades/{no}", get(trade))
        .route("/sim/trades/{no}/pay", post(pay_trade))
        .route("/sim/trades/{no}/pay-form", post(pay_form))
        .route("/sim/trades/{no}/userpaying", post(userpaying))
        .route("/sim/trades/{no}/payerror", post(payerror))
        .route("/sim/trades/{no}/revoke", post(revoke))
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
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": self.0})),
        )
            .into_response()
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
    wrong_response_signature: Option<bool>,
    refund_processing_ms: Option<u64>,
    refund_outcome: Option<RefundOutcome>,
    notification_signer: Option<NotificationSigner>,
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
    if let Some(v) = change.drop_notifications {
        k.drop_notifications = v;
    }
    if let Some(v) = change.delay_ms {
        k.delay_ms = v;
    }
    if let Some(v) = change.fail_next {
        k.fail_next = v;
    }
    if let Some(v) = change.wrong_response_signature {
        k.wrong_response_signature = v;
    }
    if let Some(v) = change.refund_processing_ms {
        k.refund_processing_ms = v;
    }
    if let Some(v) = change.refund_outcome {
        k.refund_outcome = v;
    }
    if let Some(v) = change.notification_signer {
        k.notification_signer = v;
    }
    if let Some(v) = change.bills_ready_at_once {
        k.bills_ready_at_once = v;
    }
    if let Some(v) = change.bill_omit {
        k.bill_omit = v;
    }
    if let Some(v) = change.bill_extra {
        k.bill_extra = v;
    }
    if let Some(v) = change.bill_amounts {
        k.bill_amounts = v;
    }
    tracing::info!("wechat simulator: knobs {k:?}");
    Json(json!(k)).into_response()
}

async fn stats(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(sim.state().stats))
}

/// A trade as tests see it: the trade's own fields (state, counters, notifications, the
/// latest code_url / prepay_id / h5_url...), `amount`, every action handed out
/// (`{kind, value, expires_at_ms, expired}`), and its refunds as WeChat answers them.
pub(super) fn trade_view(sim: &Sim, no: &str) -> Option<Value> {
    let mut state = sim.state();
    let trade = state.trades.get_mut(no)?;
    trade.expire(now());
    let mut view = json!(trade);
    view["amount"] = json!({"total": trade.total, "currency": trade.currency});
    let now_ms = now_ms();
    let actions: Vec<Value> = trade.actions.iter().map(|a| a.view(now_ms)).collect();
    view["actions"] = json!(actions);
    let refunds: Vec<Value> = state
        .refunds
        .values()
        .filter(|r| r.out_trade_no == no)
        .map(refund_json)
        .collect();
    view["refunds"] = json!(refunds);
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

/// The payer pays, through `options.action` if given (refused, leaving the trade unpaid,
/// if that action may not be used): the trade becomes `SUCCESS` and its notification goes
/// out (unless the knob drops it). The trade's view.
pub(super) fn pay(sim: &Shared, no: &str, options: PayOptions) -> Result<Value, SimError> {
    let trade = {
        let mut state = sim.state();
        let trade = state
            .trades
            .get_mut(no)
            .ok_or_else(|| SimError::UnknownTrade(no.to_owned()))?;
        if let Some(action) = &options.action {
            trade
                .check_action(
                    action,
                    options.openid.as_deref(),
                    options.client_ip.as_deref(),
                    now_ms(),
                )
                .map_err(SimError::NotAllowed)?;
        }
        let openid = options
            .openid
            .unwrap_or_else(|| format!("o{}", protocol::random_alnum(27)));
        trade
            .pay(now(), transaction_id(), openid)
            .map_err(SimError::NotAllowed)?;
        trade.clone()
    };
    tracing::info!("wechat simulator: {no} paid");
    notify::trade_paid(sim, &trade);
    trade_view(sim, no).ok_or_else(|| SimError::UnknownTrade(no.to_owned()))
}

/// A WeChat transaction number: `4200` and 24 more digits.
fn transaction_id() -> String {
    format!("4200{}", protocol::random_digits(24))
}

async fn pay_trade(State(sim): State<Shared>, Path(no): Path<String>, bytes: Bytes) -> Response {
    let options = match body(&bytes) {
        Ok(o) => o,
        Err(refused) => return refused.into_response(),
    };
    match pay(&sim, &no, options) {
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

/// Moves the trade to `to` (`USERPAYING`, `PAYERROR`, `REVOKED`); the trade's view.
pub(super) fn mark(sim: &Shared, no: &str, to: TradeState) -> Result<Value, SimError> {
    {
        let mut state = sim.state();
        let trade = state
            .trades
            .get_mut(no)
            .ok_or_else(|| SimError::UnknownTrade(no.to_owned()))?;
        trade.mark(to, now()).map_err(SimError::NotAllowed)?;
    }
    trade_view(sim, no).ok_or_else(|| SimError::UnknownTrade(no.to_owned()))
}

fn marked(sim: &Shared, no: &str, to: TradeState) -> Response {
    match mark(sim, no, to) {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn userpaying(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    marked(&sim, &no, TradeState::UserPaying)
}

async fn payerror(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    marked(&sim, &no, TradeState::PayError)
}

async fn revoke(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    marked(&sim, &no, TradeState::Revoked)
}

/// Sends one `TRANSACTION.SUCCESS` notification of the trade now, outside the retry
/// schedule, with the requested fault; the receiver's status and body. An unpaid trade is
/// notified as if paid (its current data, `SUCCESS`), without changing it.
pub(super) async fn notify_now(
    sim: &Shared,
    no: &str,
    request: NotifyRequest,
) -> Result<(u16, String), SimError> {
    let mut trade = sim
        .state()
        .trades
        .get(no)
        .cloned()
        .ok_or_else(|| SimError::UnknownTrade(no.to_owned()))?;
    if trade.transaction_id.is_none() {
        trade.transaction_id = Some(transaction_id());
        trade.success_time = Some(protocol::beijing_time(now()));
    }
    trade.trade_state = TradeState::Success;
    let mut transaction = transaction_json(sim, &trade);
    if let Some(total) = request.amount_total {
        transaction["amount"]["total"] = json!(total);
        transaction["amount"]["payer_total"] = json!(total);
    }
    let note = Note::new(
        sim,
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
        request.fault == Fault::Undecryptable,
    );
    match notify::deliver(sim, no, &trade.notify_url, &note, request.fault).await {
        (Some(status), body) => Ok((status, body)),
        (None, why) => Err(SimError::NoAnswer(why)),
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
/// pay each payable one.
async fn page(State(sim): State<Shared>) -> Html<String> {
    let now = now();
    let mut state = sim.state();
    let mut rows = String::new();
    for t in state.trades.values_mut().rev() {
        t.expire(now);
        let button = if t.trade_state.is_open() {
            format!(
                "<form method=post action=\"/sim/trades/{}/pay-form\"><button>Pay</button></form>",
                escape(&t.out_trade_no)
            )
        } else {
            String::new()
        };
        let acknowledged = t
            .notifications
            .iter()
            .filter(|n| matches!(n.status, Some(200 | 204)))
            .count();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}.{:02} {}</td><td>{}</td><td>{}</td>\
             <td>{} sent, {} acknowledged</td><td>{}</td></tr>",
            escape(&t.out_trade_no),
            t.trade_type,
            escape(&t.description),
            t.total / 100,
            t.total % 100,
            escape(&t.currency),
            t.trade_state.as_str(),
            escape(&t.time_expire),
            t.notifications.len(),
            acknowledged,
            button
        ));
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>WeChat Pay simulator</title>\
         <h1>WeChat Pay simulator</h1><p>Merchant {}, appid {}. Test keys only. \
         Reload the page to see new trades.</p>\
         <table border=1 cellpadding=4><tr><th>out_trade_no</th><th>type</th><th>description</th>\
         <th>amount</th><th>state</th><th>time_expire</th><th>notifications</th><th></th></tr>\
         {rows}</table>",
        escape(&sim.config.mchid),
        escape(&sim.config.appid)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
