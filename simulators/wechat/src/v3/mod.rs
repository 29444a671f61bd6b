//! WeChat's `/v3` endpoints as the simulator serves them: the request's signature verified
//! first, then the knobs, then the request dispatched; answers to verified requests (errors
//! and 204s included) are signed, refusals of the request itself are not.
//!
//! `orders.rs`: pay, query, close; `refunds.rs`: refund and refund query;
//! `certificates.rs`: the platform certificate list.

mod bills;
mod certificates;
mod orders;
mod refunds;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::notify;
use super::protocol::{self, AUTH_SCHEME};
use super::trades::{Refusal, TradeType};
use super::verification::{self, Signer};
use super::{now, now_ms, Sim};

pub(super) use orders::transaction_json;
pub(super) use refunds::{refund_json, USER_RECEIVED_ACCOUNT};

type Shared = Arc<Sim>;

/// The largest request body read; WeChat's own bodies are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;

/// Closes expired trades and settles refunds whose time has come (and notifies those).
pub(super) fn tick(sim: &Shared) {
    let settled = {
        let mut state = sim.state();
        let now = now();
        for trade in state.trades.values_mut() {
            trade.expire(now);
        }
        refunds::settle_due(&mut state, now_ms())
    };
    for refund in settled {
        notify::refund_settled(sim, &refund);
    }
}

/// A WeChat answer: status and JSON body (none for 204), or a file's bytes.
struct Answer {
    status: u16,
    body: Option<Value>,
    /// A downloaded file: served as it is, and unsigned (its hash is checked instead).
    file: Option<Vec<u8>>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body: Some(body),
            file: None,
        }
    }

    fn no_content() -> Answer {
        Answer {
            status: 204,
            body: None,
            file: None,
        }
    }

    fn file(bytes: Vec<u8>) -> Answer {
        Answer {
            status: 200,
            body: None,
            file: Some(bytes),
        }
    }
}

impl From<Refusal> for Answer {
    fn from(r: Refusal) -> Answer {
        Answer {
            status: r.status,
            body: Some(json!({"code": r.code, "message": r.message})),
            file: None,
        }
    }
}

/// An answer and whether WeChat signs it.
enum Reply {
    /// To a request whose signature verified.
    Signed(Answer),
    /// A refusal of the request itself.
    ///
    /// Source: pay.weixin.qq.com/wiki/doc/apiv3_partner/wechatpay/wechatpay3_3.shtml
    /// (「对于签名验证成功的请求，微信支付API v3会使用微信支付的平台私钥对应答进行签名」: only
    /// answers to verified requests are signed) and the 401 captured with all its headers at
    /// developers.weixin.qq.com/community/pay/doc/0000220af80cf8681a3b5f02c5bc00 (401
    /// SIGN_ERROR answers carry no Wechatpay-* headers).
    Unsigned(Answer),
}

/// What [`handle`] reads of a request besides its body.
struct Incoming {
    method: Method,
    /// As the client sent it: the signature covers it.
    path_and_query: String,
    path: String,
    query: String,
    /// `None`: absent; `Some(Err(()))`: not ASCII.
    authorization: Option<Result<String, ()>>,
    /// The key the merchant asks answers to be signed with (the public key id, during a
    /// migration); wechatpay-go sends it on every request (PR #226).
    wechatpay_serial: Option<String>,
    /// The `Host` the request was sent to: a bill's `download_url` points back at it.
    host: String,
}

/// Every request the control routes do not take: signature check, knobs, dispatch, answer.
pub(super) async fn handle(State(sim): State<Shared>, request: Request) -> Response {
    // A block, so that the closure borrowing the request ends before the await.
    let incoming = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().map(str::to_owned))
        };
        Incoming {
            method: request.method().clone(),
            path_and_query: request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            authorization: header("authorization").map(|h| h.map_err(|_| ())),
            wechatpay_serial: header("wechatpay-serial").and_then(Result::ok),
            host: header("host")
                .and_then(Result::ok)
                .unwrap_or_else(|| "localhost".to_owned()),
        }
    };
    let body = to_bytes(request.into_body(), MAX_BODY).await;

    let endpoint = format!("{} {}", incoming.method, endpoint_name(&incoming.path));
    let delay = {
        let mut state = sim.state();
        *state.stats.requests.entry(endpoint.clone()).or_default() += 1;
        state.knobs.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match reply(&sim, &incoming, body) {
        Reply::Signed(answer) => {
            tracing::info!("wechat simulator: {endpoint} -> {}", answer.status);
            let signer = verification::answer_signer(
                sim.config.verification,
                incoming.wechatpay_serial.as_deref(),
                &sim.config.platform_public_key_id,
            );
            let wrong_key = sim.state().knobs.wrong_response_signature;
            signed_response(&sim, answer, signer, wrong_key)
        }
        Reply::Unsigned(answer) => {
            tracing::info!(
                "wechat simulator: {endpoint} -> {} (unsigned)",
                answer.status
            );
            let body = body_bytes(&answer);
            response(answer.status, body, &[])
        }
    }
}

/// The answer to a request, signed only if its signature verified.
fn reply(sim: &Shared, incoming: &Incoming, body: Result<Bytes, axum::Error>) -> Reply {
    let Incoming { method, path, .. } = incoming;
    if !path.starts_with("/v3/") {
        return Reply::Unsigned(not_found(method, path).into());
    }
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let refusal = Refusal::new(400, "PARAM_ERROR", format!("unreadable body: {e}"));
            return Reply::Unsigned(refusal.into());
        }
    };
    let checked = match &incoming.authorization {
        None => Err("no Authorization header".to_owned()),
        Some(Err(())) => Err("the Authorization header is not ASCII".to_owned()),
        Some(Ok(header)) => check_signature(sim, method, &incoming.path_and_query, header, &body),
    };
    match checked {
        Err(reason) => {
            sim.state().stats.signature_failures += 1;
            let message = format!("签名错误，请检查后再试 ({reason})");
            Reply::Unsigned(Refusal::new(401, "SIGN_ERROR", message).into())
        }
        Ok(()) if take_failure(sim) => {
            Reply::Signed(Refusal::new(500, "SYSTEM_ERROR", "系统错误 (the fail_next knob)").into())
        }
        Ok(()) => {
            let answer = route(sim, incoming, &body);
            // A file is served unsigned: the caller checks the bill's hash.
            if answer.file.is_some() {
                Reply::Unsigned(answer)
            } else {
                Reply::Signed(answer)
            }
        }
    }
}

/// Whether the `fail_next` knob fails this (verified) request; counts it down.
fn take_failure(sim: &Sim) -> bool {
    let mut state = sim.state();
    let knobs = &mut state.knobs;
    let fail = knobs.fail_next > 0;
    if fail {
        knobs.fail_next -= 1;
    }
    fail
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

fn route(sim: &Shared, incoming: &Incoming, body: &[u8]) -> Answer {
    let (method, path, query) = (
        &incoming.method,
        incoming.path.as_str(),
        incoming.query.as_str(),
    );
    let parts: Vec<&str> = path.split('/').collect();
    let number = |segment: &str| {
        protocol::percent_decode(segment)
            .ok_or_else(|| param(format!("`{segment}` is not a well-formed path segment")))
    };
    let result = match (method, parts.as_slice()) {
        (&Method::POST, ["", "v3", "pay", "transactions", kind]) => {
            match TradeType::from_endpoint(kind) {
                Some(trade_type) => {
                    json_body(body).and_then(|b| orders::create(sim, trade_type, &b))
                }
                None => Err(not_found(method, path)),
            }
        }
        (&Method::GET, ["", "v3", "pay", "transactions", "out-trade-no", no]) => {
            number(no).and_then(|no| orders::query(sim, &no, query))
        }
        (&Method::POST, ["", "v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
            number(no).and_then(|no| json_body(body).and_then(|b| orders::close(sim, &no, &b)))
        }
        (&Method::POST, ["", "v3", "refund", "domestic", "refunds"]) => {
            json_body(body).and_then(|b| refunds::refund(sim, &b))
        }
        (&Method::GET, ["", "v3", "refund", "domestic", "refunds", no]) => {
            number(no).and_then(|no| refunds::query(sim, &no))
        }
        (&Method::GET, ["", "v3", "certificates"]) => certificates::list(sim),
        (&Method::GET, ["", "v3", "bill", "tradebill"]) => {
            bills::trade_bill(sim, query, &incoming.host)
        }
        (&Method::GET, ["", "v3", "billdownload", "file"]) => bills::download(sim, query),
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

/// Signs `answer` with `signer`'s key (or the wrong key) and adds WeChat's headers, the
/// serial naming `signer`'s key.
fn signed_response(sim: &Sim, answer: Answer, signer: Signer, wrong_key: bool) -> Response {
    let body = body_bytes(&answer);
    let timestamp = now().to_string();
    let nonce = protocol::random_alnum(32);
    let (key, serial) = sim.keys.key(signer);
    let key = if wrong_key { &sim.wrong } else { key };
    let signature = protocol::sign(key, &protocol::response_message(&timestamp, &nonce, &body));
    response(
        answer.status,
        body,
        &[
            ("wechatpay-timestamp", &timestamp),
            ("wechatpay-nonce", &nonce),
            ("wechatpay-signature", &signature),
            ("wechatpay-serial", serial),
            ("wechatpay-signature-type", AUTH_SCHEME),
        ],
    )
}

fn body_bytes(answer: &Answer) -> Vec<u8> {
    if let Some(file) = &answer.file {
        return file.clone();
    }
    answer
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default()
}

/// The HTTP answer with `headers` (none: unsigned), a `Request-ID` and the content type.
fn response(status: u16, body: Vec<u8>, headers: &[(&'static str, &str)]) -> Response {
    let has_body = !body.is_empty();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.insert(name, v);
        }
    };
    for (name, value) in headers {
        put(name, value);
    }
    put("request-id", &format!("08{}", protocol::random_alnum(30)));
    if has_body {
        put("content-type", "application/json");
    }
    response
}
