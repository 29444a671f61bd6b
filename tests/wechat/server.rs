//! The simulator's HTTP side: WeChat's `/v3` endpoints (verified requests, signed answers)
//! and the unsigned `/sim` control endpoints and demo page.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::notify::{self, Fault};
use super::protocol::{self, AUTH_SCHEME};
use super::trades::{Counters, Refund, Refusal, Repeat, Trade};
use super::{KnobsChange, Sim};

type Shared = Arc<Sim>;

pub(super) fn router(sim: Shared) -> Router {
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
        .route("/sim/trades/{no}/notify", post(notify_now))
        .fallback(v3)
        .with_state(sim)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Closes expired trades and settles refunds whose time has come (and notifies them).
pub(super) fn tick(sim: &Shared) {
    let settled: Vec<Refund> = {
        let mut state = sim.state();
        let now = now();
        for trade in state.trades.values_mut() {
            trade.expire(now);
        }
        let text = protocol::beijing_time(now);
        state
            .refunds
            .values_mut()
            .filter_map(|r| r.settle(now_ms(), &text).then(|| r.clone()))
            .collect()
    };
    for refund in settled {
        notify::refund_settled(sim, &refund);
    }
}

// ---------------------------------------------------------------- /v3 (WeChat's API)

/// A WeChat answer: status and JSON body (none for 204), signed on the way out.
struct Answer {
    status: u16,
    body: Option<Value>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body: Some(body),
        }
    }

    fn no_content() -> Answer {
        Answer {
            status: 204,
            body: None,
        }
    }
}

impl From<Refusal> for Answer {
    fn from(r: Refusal) -> Answer {
        Answer {
            status: r.status,
            body: Some(json!({"code": r.code, "message": r.message})),
        }
    }
}

/// Every `/v3` request: knobs, signature check, dispatch, signed answer.
async fn v3(State(sim): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();

    let endpoint = format!("{method} {}", endpoint_name(&path));
    let (delay, fail, wrong) = {
        let mut state = sim.state();
        *state.stats.requests.entry(endpoint.clone()).or_default() += 1;
        let knobs = &mut state.knobs;
        let fail = knobs.fail_next > 0;
        if fail {
            knobs.fail_next -= 1;
        }
        (knobs.delay_ms, fail, knobs.wrong_response_signature)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let answer = if !path.starts_with("/v3/") {
        Refusal::new(404, "NOT_FOUND", format!("no such endpoint: {endpoint}")).into()
    } else if fail {
        Refusal::new(500, "SYSTEM_ERROR", "系统错误 (the fail_next knob)").into()
    } else {
        match check_signature(
            &sim,
            &method,
            &path_and_query,
            authorization.as_deref(),
            &body,
        ) {
            Err(reason) => {
                sim.state().stats.signature_failures += 1;
                Refusal::new(401, "SIGN_ERROR", format!("签名错误: {reason}")).into()
            }
            Ok(()) => route(&sim, &method, &path, &query, &body),
        }
    };
    eprintln!("wechat simulator: {endpoint} -> {}", answer.status);
    signed_response(&sim, answer, wrong)
}

/// The endpoint a path belongs to, with trade and refund numbers left out (for stats).
fn endpoint_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "v3", "pay", "transactions", "out-trade-no", _, rest @ ..] => {
            format!(
                "/v3/pay/transactions/out-trade-no/{{no}}{}",
                rest.iter().map(|p| format!("/{p}")).collect::<String>()
            )
        }
        ["", "v3", "refund", "domestic", "refunds", _] => "/v3/refund/domestic/refunds/{no}".into(),
        _ => path.to_owned(),
    }
}

fn check_signature(
    sim: &Shared,
    method: &Method,
    path_and_query: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let header = authorization.ok_or("no Authorization header")?;
    let auth = protocol::parse_authorization(header)?;
    protocol::verify_request(
        &auth,
        &sim.merchant,
        (&sim.config.mchid, &sim.config.merchant_serial_no),
        (method.as_str(), path_and_query, body),
        now(),
    )
}

fn route(sim: &Shared, method: &Method, path: &str, query: &str, body: &[u8]) -> Answer {
    let parts: Vec<&str> = path.split('/').collect();
    let result = match (method, parts.as_slice()) {
        (&Method::POST, ["", "v3", "pay", "transactions", kind @ ("native" | "jsapi" | "h5")]) => {
            json_body(body).and_then(|b| create(sim, kind, &b))
        }
        (&Method::GET, ["", "v3", "pay", "transactions", "out-trade-no", no]) => {
            query_trade(sim, no, query)
        }
        (&Method::POST, ["", "v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
            json_body(body).and_then(|b| close(sim, no, &b))
        }
        (&Method::POST, ["", "v3", "refund", "domestic", "refunds"]) => {
            json_body(body).and_then(|b| refund(sim, &b))
        }
        (&Method::GET, ["", "v3", "refund", "domestic", "refunds", no]) => {
            let state = sim.state();
            state
                .refunds
                .get(*no)
                .map(|r| Answer::ok(refund_json(r)))
                .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "退款单不存在"))
        }
        _ => Err(Refusal::new(
            404,
            "NOT_FOUND",
            format!("no such endpoint: {method} {path}"),
        )),
    };
    result.unwrap_or_else(Answer::from)
}

fn json_body(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, "PARAM_ERROR", format!("the body is not JSON: {e}")))
}

fn param(message: impl Into<String>) -> Refusal {
    Refusal::new(400, "PARAM_ERROR", message)
}

fn text<'a>(body: &'a Value, pointer: &str, field: &str) -> Result<&'a str, Refusal> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            param(format!(
                "输入源“/body/{field}”映射到值字段“{field}”: missing or not a string"
            ))
        })
}

/// `POST /v3/pay/transactions/{native,jsapi,h5}`.
fn create(sim: &Shared, kind: &str, body: &Value) -> Result<Answer, Refusal> {
    let appid = text(body, "/appid", "appid")?;
    let mchid = text(body, "/mchid", "mchid")?;
    if mchid != sim.config.mchid {
        return Err(param(format!(
            "mchid {mchid} is not the merchant that signed the request"
        )));
    }
    let description = text(body, "/description", "description")?;
    if description.chars().count() > 127 {
        return Err(param("description is longer than 127 characters"));
    }
    let out_trade_no = text(body, "/out_trade_no", "out_trade_no")?;
    let well_formed = (6..=32).contains(&out_trade_no.len())
        && out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
    if !well_formed {
        return Err(param(format!(
            "out_trade_no `{out_trade_no}` is not 6-32 of [A-Za-z0-9_-|*]"
        )));
    }
    let time_expire = text(body, "/time_expire", "time_expire")?;
    let expires_at = protocol::parse_time(time_expire).ok_or_else(|| {
        param(format!(
            "time_expire `{time_expire}` is not RFC 3339 with an offset"
        ))
    })?;
    let notify_url = text(body, "/notify_url", "notify_url")?;
    let url =
        reqwest::Url::parse(notify_url).map_err(|_| param("notify_url is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(param(
            "notify_url must be an http(s) URL without a query string",
        ));
    }
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .ok_or_else(|| param("amount.total must be an integer number of fen above 0"))?;
    let currency = body
        .pointer("/amount/currency")
        .and_then(Value::as_str)
        .unwrap_or("CNY");
    if currency != "CNY" {
        return Err(param(format!("currency {currency}: CNY only")));
    }
    let openid = match kind {
        "jsapi" => Some(text(body, "/payer/openid", "payer.openid")?.to_owned()),
        _ => None,
    };
    if kind == "h5" {
        text(
            body,
            "/scene_info/payer_client_ip",
            "scene_info.payer_client_ip",
        )?;
        text(body, "/scene_info/h5_info/type", "scene_info.h5_info.type")?;
    }
    let trade_type = match kind {
        "native" => "NATIVE",
        "jsapi" => "JSAPI",
        _ => "MWEB",
    };
    // What must be the same for a repeated request to be the same order.
    let params = json!({"trade_type": trade_type, "appid": appid, "mchid": mchid, "description": description,
        "time_expire": expires_at, "notify_url": notify_url, "amount": total, "attach": body.get("attach"),
        "payer": body.get("payer"), "scene_info": body.get("scene_info")});
    let mut state = sim.state();
    if let Some(existing) = state.trades.get_mut(out_trade_no) {
        existing.expire(now());
        existing.counters.pay_requests += 1;
        return match existing.repeat(&params) {
            Repeat::SameAnswer => Ok(Answer::ok(pay_answer(existing))),
            Repeat::Refused(r) => Err(r),
        };
    }
    let prepay_id = format!(
        "wx{}{}",
        protocol::random_digits(14),
        protocol::random_alnum(18).to_lowercase()
    );
    let trade = Trade {
        out_trade_no: out_trade_no.to_owned(),
        trade_type: trade_type.to_owned(),
        params,
        appid: appid.to_owned(),
        description: description.to_owned(),
        total,
        currency: currency.to_owned(),
        time_expire: time_expire.to_owned(),
        expires_at,
        notify_url: notify_url.to_owned(),
        attach: body.get("attach").and_then(Value::as_str).map(str::to_owned),
        openid,
        trade_state: "NOTPAY".into(),
        code_url: (kind == "native")
            .then(|| format!("weixin://wxpay/bizpayurl?pr={}", protocol::random_alnum(7))),
        h5_url: (kind == "h5").then(|| {
            format!(
                "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package={}",
                protocol::random_digits(10)
            )
        }),
        prepay_id: (kind == "jsapi").then_some(prepay_id),
        transaction_id: None,
        success_time: None,
        refunded: 0,
        counters: Counters {
            pay_requests: 1,
            ..Counters::default()
        },
        notifications: Vec::new(),
    };
    let answer = pay_answer(&trade);
    state.trades.insert(out_trade_no.to_owned(), trade);
    Ok(Answer::ok(answer))
}

fn pay_answer(trade: &Trade) -> Value {
    match (&trade.code_url, &trade.prepay_id, &trade.h5_url) {
        (Some(code_url), _, _) => json!({"code_url": code_url}),
        (_, Some(prepay_id), _) => json!({"prepay_id": prepay_id}),
        (_, _, Some(h5_url)) => json!({"h5_url": h5_url}),
        _ => json!({}),
    }
}

/// The transaction as WeChat's query answers it (and notifications carry it).
pub(super) fn transaction_json(sim: &Sim, trade: &Trade) -> Value {
    let paid = trade.transaction_id.is_some();
    let mut tx = json!({
        "appid": trade.appid, "mchid": sim.config.mchid, "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type, "trade_state": trade.trade_state,
        "trade_state_desc": trade_state_desc(&trade.trade_state),
        "attach": trade.attach.clone().unwrap_or_default(),
        "payer": {"openid": trade.openid.clone().unwrap_or_default()},
        "amount": {"total": trade.total, "currency": trade.currency,
                   "payer_total": if paid { trade.total } else { 0 }, "payer_currency": trade.currency},
    });
    if paid {
        tx["transaction_id"] = json!(trade.transaction_id);
        tx["bank_type"] = json!("OTHERS");
        tx["success_time"] = json!(trade.success_time);
    }
    tx
}

fn trade_state_desc(state: &str) -> &'static str {
    match state {
        "SUCCESS" => "支付成功",
        "REFUND" => "转入退款",
        "NOTPAY" => "未支付",
        "CLOSED" => "已关闭",
        "REVOKED" => "已撤销",
        "USERPAYING" => "用户支付中",
        _ => "支付失败",
    }
}

fn query_trade(sim: &Shared, no: &str, query: &str) -> Result<Answer, Refusal> {
    let mchid = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("mchid="))
        .ok_or_else(|| param("the mchid query parameter is missing"))?;
    if mchid != sim.config.mchid {
        return Err(param(format!(
            "mchid {mchid} is not the merchant that signed the request"
        )));
    }
    let mut state = sim.state();
    let trade = state
        .trades
        .get_mut(no)
        .ok_or_else(|| Refusal::new(404, "ORDER_NOT_EXIST", "订单不存在"))?;
    trade.expire(now());
    trade.counters.queries += 1;
    let trade = trade.clone();
    drop(state);
    Ok(Answer::ok(transaction_json(sim, &trade)))
}

fn close(sim: &Shared, no: &str, body: &Value) -> Result<Answer, Refusal> {
    if text(body, "/mchid", "mchid")? != sim.config.mchid {
        return Err(param("mchid is not the merchant that signed the request"));
    }
    let mut state = sim.state();
    let trade = state
        .trades
        .get_mut(no)
        .ok_or_else(|| Refusal::new(404, "ORDER_NOT_EXIST", "订单不存在"))?;
    trade.expire(now());
    trade.counters.closes += 1;
    trade.close().map(|()| Answer::no_content())
}

fn refund(sim: &Shared, body: &Value) -> Result<Answer, Refusal> {
    let out_trade_no = text(body, "/out_trade_no", "out_trade_no")?;
    let out_refund_no = text(body, "/out_refund_no", "out_refund_no")?;
    if out_refund_no.len() > 64 {
        return Err(param("out_refund_no is longer than 64 characters"));
    }
    let amount = body
        .pointer("/amount/refund")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.refund is missing"))?;
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.total is missing"))?;
    let mut state = sim.state();
    if let Some(existing) = state.refunds.get(out_refund_no) {
        // The same refund number is the same refund: never refunded twice.
        return if existing.refund == amount && existing.out_trade_no == out_trade_no {
            Ok(Answer::ok(refund_json(existing)))
        } else {
            Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                "out_refund_no was used for another refund",
            ))
        };
    }
    let processing_ms = state.knobs.refund_processing_ms;
    let trade = state
        .trades
        .get_mut(out_trade_no)
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    trade.counters.refunds += 1;
    trade.take_refund(amount, total)?;
    let created = protocol::beijing_time(now());
    let mut refund = Refund {
        refund_id: format!("5030{}", protocol::random_digits(25)),
        out_refund_no: out_refund_no.to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: trade.transaction_id.clone().unwrap_or_default(),
        reason: body
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        notify_url: body
            .get("notify_url")
            .and_then(Value::as_str)
            .map(str::to_owned),
        refund: amount,
        total,
        currency: "CNY".into(),
        status: "PROCESSING".into(),
        settles_at_ms: now_ms() + processing_ms as i64,
        create_time: created.clone(),
        success_time: None,
    };
    let settled_now = processing_ms == 0 && refund.settle(now_ms(), &created);
    let answer = refund_json(&refund);
    state
        .refunds
        .insert(out_refund_no.to_owned(), refund.clone());
    drop(state);
    if settled_now {
        notify::refund_settled(sim, &refund);
    }
    Ok(Answer::ok(answer))
}

pub(super) fn refund_json(r: &Refund) -> Value {
    json!({
        "refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
        "create_time": r.create_time, "success_time": r.success_time, "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": {"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund,
                   "settlement_total": r.total, "settlement_refund": r.refund, "discount_refund": 0,
                   "currency": r.currency},
    })
}

/// Signs `answer` with the platform key (or the wrong key) and adds WeChat's headers.
fn signed_response(sim: &Sim, answer: Answer, wrong_key: bool) -> Response {
    let body = answer
        .body
        .map(|b| serde_json::to_vec(&b).unwrap_or_default())
        .unwrap_or_default();
    let timestamp = now().to_string();
    let nonce = protocol::random_alnum(32);
    let key = if wrong_key { &sim.wrong } else { &sim.platform };
    let signature = protocol::sign(key, &protocol::response_message(&timestamp, &nonce, &body));
    let mut response = Response::new(Body::from(body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("wechatpay-timestamp", &timestamp);
    put("wechatpay-nonce", &nonce);
    put("wechatpay-signature", &signature);
    put("wechatpay-serial", &sim.config.platform_public_key_id);
    put("wechatpay-signature-type", AUTH_SCHEME);
    put("request-id", &format!("08{}", protocol::random_alnum(30)));
    if !body.is_empty() {
        put("content-type", "application/json");
    }
    response
}

// ---------------------------------------------------------------- /sim (control)

fn not_found(no: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no trade {no}")})),
    )
        .into_response()
}

async fn knobs(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(sim.state().knobs))
}

async fn set_knobs(State(sim): State<Shared>, body: Bytes) -> Response {
    let change: KnobsChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.to_string()})),
            )
                .into_response()
        }
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
    Json(json!(k)).into_response()
}

async fn stats(State(sim): State<Shared>) -> Json<Value> {
    Json(json!(sim.state().stats))
}

fn trade_view(sim: &Sim, no: &str) -> Option<Value> {
    let mut state = sim.state();
    let trade = state.trades.get_mut(no)?;
    trade.expire(now());
    let mut view = json!(trade);
    view["amount"] = json!({"total": trade.total, "currency": trade.currency});
    let refunds: Vec<Value> = state
        .refunds
        .values()
        .filter(|r| r.out_trade_no == no)
        .map(refund_json)
        .collect();
    view["refunds"] = json!(refunds);
    Some(view)
}

async fn trades(State(sim): State<Shared>) -> Json<Value> {
    let numbers: Vec<String> = sim.state().trades.keys().cloned().collect();
    Json(json!(numbers
        .iter()
        .filter_map(|n| trade_view(&sim, n))
        .collect::<Vec<_>>()))
}

async fn trade(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    match trade_view(&sim, &no) {
        Some(view) => Json(view).into_response(),
        None => not_found(&no),
    }
}

#[derive(Debug, Default, Deserialize)]
struct PayerChoice {
    openid: Option<String>,
}

/// The payer pays: the trade becomes SUCCESS and its notification goes out.
fn pay(sim: &Shared, no: &str, choice: PayerChoice) -> Result<Value, (StatusCode, String)> {
    let trade = {
        let mut state = sim.state();
        let trade = state
            .trades
            .get_mut(no)
            .ok_or((StatusCode::NOT_FOUND, format!("no trade {no}")))?;
        trade.expire(now());
        trade.payable().map_err(|why| (StatusCode::CONFLICT, why))?;
        trade.trade_state = "SUCCESS".into();
        trade.transaction_id = Some(format!("4200{}", protocol::random_digits(24)));
        trade.success_time = Some(protocol::beijing_time(now()));
        if trade.openid.is_none() {
            trade.openid = Some(
                choice
                    .openid
                    .unwrap_or_else(|| format!("o{}", protocol::random_alnum(27))),
            );
        }
        trade.clone()
    };
    notify::trade_paid(sim, &trade);
    trade_view(sim, no).ok_or((StatusCode::NOT_FOUND, format!("no trade {no}")))
}

async fn pay_trade(State(sim): State<Shared>, Path(no): Path<String>, body: Bytes) -> Response {
    let choice = serde_json::from_slice::<PayerChoice>(&body).unwrap_or_default();
    match pay(&sim, &no, choice) {
        Ok(view) => Json(view).into_response(),
        Err((status, why)) => (status, Json(json!({"error": why}))).into_response(),
    }
}

async fn pay_form(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    match pay(&sim, &no, PayerChoice::default()) {
        Ok(_) => Redirect::to("/").into_response(),
        Err((status, why)) => (status, why).into_response(),
    }
}

fn set_state(sim: &Shared, no: &str, from: &[&str], to: &str) -> Response {
    let mut state = sim.state();
    let Some(trade) = state.trades.get_mut(no) else {
        return not_found(no);
    };
    trade.expire(now());
    if !from.contains(&trade.trade_state.as_str()) {
        let why = format!(
            "the trade is {}, not {}",
            trade.trade_state,
            from.join(" or ")
        );
        return (StatusCode::CONFLICT, Json(json!({"error": why}))).into_response();
    }
    trade.trade_state = to.into();
    drop(state);
    trade_view(sim, no).map_or_else(|| not_found(no), |v| Json(v).into_response())
}

async fn userpaying(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    set_state(&sim, &no, &["NOTPAY"], "USERPAYING")
}

async fn payerror(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    set_state(&sim, &no, &["NOTPAY", "USERPAYING"], "PAYERROR")
}

async fn revoke(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    set_state(&sim, &no, &["NOTPAY", "USERPAYING"], "REVOKED")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyNow {
    #[serde(default)]
    fault: Fault,
    amount_total: Option<u64>,
}

/// Sends one notification of the trade now, with a fault, and answers the receiver's reply.
async fn notify_now(State(sim): State<Shared>, Path(no): Path<String>, body: Bytes) -> Response {
    let ask: NotifyNow = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": e.to_string()})),
            )
                .into_response()
        }
    };
    let Some(mut trade) = sim.state().trades.get(&no).cloned() else {
        return not_found(&no);
    };
    if trade.transaction_id.is_none() {
        trade.transaction_id = Some(format!("4200{}", protocol::random_digits(24)));
        trade.success_time = Some(protocol::beijing_time(now()));
    }
    trade.trade_state = "SUCCESS".into();
    let mut transaction = transaction_json(&sim, &trade);
    if let Some(total) = ask.amount_total {
        transaction["amount"]["total"] = json!(total);
        transaction["amount"]["payer_total"] = json!(total);
    }
    let note = notify::Note::new(
        &sim,
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
        ask.fault == Fault::Undecryptable,
    );
    let (status, reply) = notify::deliver(&sim, &no, &trade.notify_url, &note, ask.fault).await;
    Json(json!({"status": status, "body": reply})).into_response()
}

/// A plain page for demos: the trades, and a button to pay each payable one.
async fn page(State(sim): State<Shared>) -> Html<String> {
    let state = sim.state();
    let mut rows = String::new();
    for t in state.trades.values().rev() {
        let button =
            if matches!(t.trade_state.as_str(), "NOTPAY" | "USERPAYING") && now() < t.expires_at {
                format!(
                "<form method=post action=\"/sim/trades/{}/pay-form\"><button>Pay</button></form>",
                t.out_trade_no
            )
            } else {
                String::new()
            };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}.{:02} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.out_trade_no),
            escape(&t.description),
            t.total / 100,
            t.total % 100,
            escape(&t.currency),
            escape(&t.trade_state),
            escape(&t.time_expire),
            t.notifications.len(),
            button
        ));
    }
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>WeChat Pay simulator</title>\
         <h1>WeChat Pay simulator</h1><p>merchant {}; test keys only.</p>\
         <table border=1 cellpadding=4><tr><th>out_trade_no</th><th>description</th><th>amount</th>\
         <th>state</th><th>time_expire</th><th>notifications</th><th></th></tr>{rows}</table>",
        escape(&sim.config.mchid)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
