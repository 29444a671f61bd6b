//! WeChat's `/v3` endpoints as the simulator serves them: the knobs applied first, the
//! request's signature verified, the request dispatched to pay / query / close / refund /
//! refund query, and every answer (errors, 204s and unknown routes included) signed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::notify;
use super::protocol::{self, AUTH_SCHEME};
use super::trades::{
    Counters, Refund, RefundStatus, Refusal, Repeat, Trade, TradeState, TradeType,
};
use super::{now, now_ms, Sim};

type Shared = Arc<Sim>;

/// The largest request body read; WeChat's own bodies are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// Closes expired trades and settles refunds whose time has come (and notifies those).
pub(super) fn tick(sim: &Shared) {
    let settled: Vec<Refund> = {
        let mut state = sim.state();
        let now = now();
        for trade in state.trades.values_mut() {
            trade.expire(now);
        }
        let now_ms = now_ms();
        state
            .refunds
            .values_mut()
            .filter_map(|r| r.settle(now_ms).then(|| r.clone()))
            .collect()
    };
    for refund in settled {
        notify::refund_settled(sim, &refund);
    }
}

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

/// Every request the control routes do not take: knobs, signature check, dispatch, signed
/// answer.
pub(super) async fn handle(State(sim): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    // The signature covers the path and query exactly as the client sent them.
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
        .map(|v| v.to_str().map(str::to_owned));
    let body = to_bytes(request.into_body(), MAX_BODY).await;

    let endpoint = format!("{method} {}", endpoint_name(&path));
    let (delay, fail, wrong_key) = {
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
        match body {
            Err(e) => Refusal::new(400, "PARAM_ERROR", format!("unreadable body: {e}")).into(),
            Ok(body) => {
                let checked = match authorization {
                    None => Err("no Authorization header".to_owned()),
                    Some(Err(_)) => Err("the Authorization header is not ASCII".to_owned()),
                    Some(Ok(header)) => {
                        check_signature(&sim, &method, &path_and_query, &header, &body)
                    }
                };
                match checked {
                    Err(reason) => {
                        sim.state().stats.signature_failures += 1;
                        Refusal::new(401, "SIGN_ERROR", format!("签名错误: {reason}")).into()
                    }
                    Ok(()) => route(&sim, &method, &path, &query, &body),
                }
            }
        }
    };
    tracing::info!("wechat simulator: {endpoint} -> {}", answer.status);
    signed_response(&sim, answer, wrong_key)
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
    header: &str,
    body: &[u8],
) -> Result<(), String> {
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
    let number = |segment: &str| {
        protocol::percent_decode(segment)
            .ok_or_else(|| param(format!("`{segment}` is not a well-formed path segment")))
    };
    let result = match (method, parts.as_slice()) {
        (&Method::POST, ["", "v3", "pay", "transactions", kind]) => {
            match TradeType::from_endpoint(kind) {
                Some(trade_type) => json_body(body).and_then(|b| create(sim, trade_type, &b)),
                None => Err(not_found(method, path)),
            }
        }
        (&Method::GET, ["", "v3", "pay", "transactions", "out-trade-no", no]) => {
            number(no).and_then(|no| query_trade(sim, &no, query))
        }
        (&Method::POST, ["", "v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
            number(no).and_then(|no| json_body(body).and_then(|b| close(sim, &no, &b)))
        }
        (&Method::POST, ["", "v3", "refund", "domestic", "refunds"]) => {
            json_body(body).and_then(|b| refund(sim, &b))
        }
        (&Method::GET, ["", "v3", "refund", "domestic", "refunds", no]) => {
            number(no).and_then(|no| query_refund(sim, &no))
        }
        _ => Err(not_found(method, path)),
    };
    result.unwrap_or_else(Answer::from)
}

fn not_found(method: &Method, path: &str) -> Refusal {
    Refusal::new(
        404,
        "NOT_FOUND",
        format!("no such endpoint: {method} {path}"),
    )
}

fn json_body(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, "PARAM_ERROR", format!("the body is not JSON: {e}")))
}

fn param(message: impl Into<String>) -> Refusal {
    Refusal::new(400, "PARAM_ERROR", message)
}

/// A required non-empty string at `pointer` (`/payer/openid`), named `field` in the error
/// the way WeChat names it.
fn text<'a>(body: &'a Value, pointer: &str, field: &str) -> Result<&'a str, Refusal> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            param(format!(
                "输入源“/body{pointer}”映射到值字段“{field}”: missing, empty or not a string"
            ))
        })
}

/// `POST /v3/pay/transactions/{native,jsapi,h5}`.
fn create(sim: &Shared, trade_type: TradeType, body: &Value) -> Result<Answer, Refusal> {
    let appid = text(body, "/appid", "appid")?;
    if appid != sim.config.appid {
        return Err(param(format!(
            "appid {appid} is not bound to merchant {} (appid和mch_id不匹配)",
            sim.config.mchid
        )));
    }
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
    let url = reqwest::Url::parse(notify_url)
        .map_err(|_| param(format!("notify_url `{notify_url}` is not an absolute URL")))?;
    // WeChat wants https; http is allowed because the tests run on loopback.
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(param(format!(
            "notify_url `{notify_url}` must be an http(s) URL without a query string"
        )));
    }
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .ok_or_else(|| param("amount.total must be an integer number of fen above 0"))?;
    let currency = match body.pointer("/amount/currency") {
        None | Some(Value::Null) => "CNY",
        Some(v) => v
            .as_str()
            .ok_or_else(|| param("amount.currency is not a string"))?,
    };
    if currency != "CNY" {
        return Err(param(format!("amount.currency {currency}: CNY only")));
    }
    let attach = match body.get("attach") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| param("attach is not a string"))?
                .to_owned(),
        ),
    };
    let openid = match trade_type {
        TradeType::Jsapi => Some(text(body, "/payer/openid", "payer.openid")?.to_owned()),
        _ => None,
    };
    if trade_type == TradeType::Mweb {
        text(
            body,
            "/scene_info/payer_client_ip",
            "scene_info.payer_client_ip",
        )?;
        text(body, "/scene_info/h5_info/type", "scene_info.h5_info.type")?;
    }
    // What must be the same for a repeated request to be the same order; time_expire as an
    // instant, since SDKs write the same one in several forms.
    let params = json!({"trade_type": trade_type, "appid": appid, "mchid": mchid,
        "description": description, "time_expire": expires_at, "notify_url": notify_url,
        "amount": total, "currency": currency, "attach": attach,
        "payer": body.get("payer"), "scene_info": body.get("scene_info")});
    let now = now();
    let mut state = sim.state();
    if let Some(existing) = state.trades.get_mut(out_trade_no) {
        existing.expire(now);
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
        trade_type,
        params,
        appid: appid.to_owned(),
        description: description.to_owned(),
        total,
        currency: currency.to_owned(),
        time_expire: time_expire.to_owned(),
        expires_at,
        notify_url: notify_url.to_owned(),
        attach,
        openid,
        trade_state: TradeState::NotPay,
        closed_by: None,
        code_url: (trade_type == TradeType::Native)
            .then(|| format!("weixin://wxpay/bizpayurl?pr={}", protocol::random_alnum(7))),
        h5_url: (trade_type == TradeType::Mweb).then(|| {
            format!(
                "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package={}",
                protocol::random_digits(10)
            )
        }),
        prepay_id: (trade_type == TradeType::Jsapi).then_some(prepay_id),
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

/// The transaction as WeChat's query answers it (and its notification carries it).
pub(super) fn transaction_json(sim: &Sim, trade: &Trade) -> Value {
    let paid = trade.transaction_id.is_some();
    let mut tx = json!({
        "appid": trade.appid, "mchid": sim.config.mchid, "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type, "trade_state": trade.trade_state,
        "trade_state_desc": trade.trade_state.desc(),
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

/// The trade under `no`, closed first if its `time_expire` has passed, or WeChat's 404.
fn known_trade<'a>(
    trades: &'a mut std::collections::BTreeMap<String, Trade>,
    no: &str,
) -> Result<&'a mut Trade, Refusal> {
    let trade = trades
        .get_mut(no)
        .ok_or_else(|| Refusal::new(404, "ORDER_NOT_EXIST", "订单不存在"))?;
    trade.expire(now());
    Ok(trade)
}

/// `GET /v3/pay/transactions/out-trade-no/{no}?mchid=`.
fn query_trade(sim: &Shared, no: &str, query: &str) -> Result<Answer, Refusal> {
    let mchid = protocol::query_param(query, "mchid")
        .ok_or_else(|| param("the mchid query parameter is missing"))?;
    if mchid != sim.config.mchid {
        return Err(param(format!(
            "mchid {mchid} is not the merchant that signed the request"
        )));
    }
    let mut state = sim.state();
    let trade = known_trade(&mut state.trades, no)?;
    trade.counters.queries += 1;
    let trade = trade.clone();
    drop(state);
    Ok(Answer::ok(transaction_json(sim, &trade)))
}

/// `POST /v3/pay/transactions/out-trade-no/{no}/close`.
fn close(sim: &Shared, no: &str, body: &Value) -> Result<Answer, Refusal> {
    if text(body, "/mchid", "mchid")? != sim.config.mchid {
        return Err(param("mchid is not the merchant that signed the request"));
    }
    let mut state = sim.state();
    let trade = known_trade(&mut state.trades, no)?;
    trade.counters.closes += 1;
    trade.close().map(|()| Answer::no_content())
}

/// `POST /v3/refund/domestic/refunds`.
fn refund(sim: &Shared, body: &Value) -> Result<Answer, Refusal> {
    let out_trade_no = body.get("out_trade_no").and_then(Value::as_str);
    let transaction_id = body.get("transaction_id").and_then(Value::as_str);
    if out_trade_no.is_none() && transaction_id.is_none() {
        return Err(param("one of out_trade_no and transaction_id is required"));
    }
    let out_refund_no = text(body, "/out_refund_no", "out_refund_no")?;
    if out_refund_no.len() > 64 {
        return Err(param("out_refund_no is longer than 64 characters"));
    }
    let amount = body
        .pointer("/amount/refund")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.refund must be an integer number of fen"))?;
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.total must be an integer number of fen"))?;
    let optional = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut state = sim.state();
    let processing_ms = state.knobs.refund_processing_ms;
    let trade = state
        .trades
        .values_mut()
        .find(|t| {
            out_trade_no.is_none_or(|no| t.out_trade_no == no)
                && transaction_id.is_none_or(|id| t.transaction_id.as_deref() == Some(id))
        })
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    trade.counters.refunds += 1;
    let trade_no = trade.out_trade_no.clone();
    if let Some(existing) = state.refunds.get(out_refund_no) {
        // The same refund number is the same refund: never refunded twice.
        return if existing.refund == amount && existing.out_trade_no == trade_no {
            Ok(Answer::ok(refund_json(existing)))
        } else {
            Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                format!(
                    "out_refund_no {out_refund_no} was used for another refund ({} of trade {})",
                    existing.refund, existing.out_trade_no
                ),
            ))
        };
    }
    let Some(trade) = state.trades.get_mut(&trade_no) else {
        return Err(Refusal::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"));
    };
    trade.take_refund(amount, total)?;
    let now_ms = now_ms();
    let mut refund = Refund {
        refund_id: format!("5030{}", protocol::random_digits(25)),
        out_refund_no: out_refund_no.to_owned(),
        out_trade_no: trade_no,
        transaction_id: trade.transaction_id.clone().unwrap_or_default(),
        reason: optional("reason"),
        notify_url: optional("notify_url"),
        refund: amount,
        total,
        currency: trade.currency.clone(),
        status: RefundStatus::Processing,
        settles_at_ms: now_ms.saturating_add(i64::try_from(processing_ms).unwrap_or(i64::MAX)),
        create_time: protocol::beijing_time(now_ms.div_euclid(1000)),
        success_time: None,
    };
    let settled_now = refund.settle(now_ms);
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

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`: settles the refund first if its time
/// has come (the ticker may not have run yet).
fn query_refund(sim: &Shared, no: &str) -> Result<Answer, Refusal> {
    let mut state = sim.state();
    let refund = state
        .refunds
        .get_mut(no)
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "退款单不存在"))?;
    let settled_now = refund.settle(now_ms());
    let refund = refund.clone();
    drop(state);
    if settled_now {
        notify::refund_settled(sim, &refund);
    }
    Ok(Answer::ok(refund_json(&refund)))
}

/// A refund as WeChat's refund endpoints answer it.
pub(super) fn refund_json(r: &Refund) -> Value {
    json!({
        "refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no, "channel": "ORIGINAL", "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": r.create_time, "success_time": r.success_time, "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": {"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund,
                   "settlement_total": r.total, "settlement_refund": r.refund, "discount_refund": 0,
                   "currency": r.currency},
    })
}

/// Where an original-channel refund of a balance payment goes.
pub(super) const USER_RECEIVED_ACCOUNT: &str = "支付用户零钱";

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
    let has_body = !body.is_empty();
    let mut response = Response::new(Body::from(body));
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
    if has_body {
        put("content-type", "application/json");
    }
    response
}
