//! `/gateway.do` as Alipay serves it: the parameters read, the app and the common
//! parameters checked, the certificate SNs (certificate mode) and the signature verified,
//! then the knobs, then the method. API methods answer JSON signed over the raw text of
//! their `*_response` member (refusals of an unknown app unsigned); page.pay and wap.pay
//! answer the buyer's browser with HTML (the cashier, or an error page).
//!
//! `checks.rs`: the common parameters and the signature; `trade.rs`: precreate, query,
//! close; `refund.rs`: refund and refund query; `cashier.rs`: page.pay / wap.pay.

mod bills;
mod cashier;
mod checks;
mod refund;
mod trade;

pub(crate) use cashier::path_segment;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::protocol;
use super::trades::{not_exist, Refusal, Trade};
use super::{notify, Failure, Sim};

type Shared = Arc<Sim>;

/// The largest request read; Alipay's own requests are a few kilobytes.
const MAX_BODY: usize = 1 << 20;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/gateway.do", get(handle).post(handle))
        .route("/cashier/{no}/pay", post(cashier::pay_button))
        .route("/downloadBillFile.resource", get(bills::download))
}

/// The methods served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Precreate,
    PagePay,
    WapPay,
    Query,
    Close,
    Refund,
    RefundQuery,
    BillDownloadUrl,
}

impl Method {
    fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "alipay.trade.precreate" => Method::Precreate,
            "alipay.trade.page.pay" => Method::PagePay,
            "alipay.trade.wap.pay" => Method::WapPay,
            "alipay.trade.query" => Method::Query,
            "alipay.trade.close" => Method::Close,
            "alipay.trade.refund" => Method::Refund,
            "alipay.trade.fastpay.refund.query" => Method::RefundQuery,
            "alipay.data.dataservice.bill.downloadurl.query" => Method::BillDownloadUrl,
            _ => return None,
        })
    }

    /// Answered to a browser, in HTML.
    fn is_browser(self) -> bool {
        matches!(self, Method::PagePay | Method::WapPay)
    }
}

/// A checked request: its parameters, method and `biz_content`.
struct Call {
    params: BTreeMap<String, String>,
    method: Method,
    name: String,
}

/// A refusal, and whether Alipay signs it (it does for any app it knows).
struct Refused {
    refusal: Refusal,
    signed: bool,
}

/// Every `/gateway.do` request.
async fn handle(State(sim): State<Shared>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let body = to_bytes(request.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    let params = protocol::read_params(&query, &body);
    let name = params.get("method").cloned().unwrap_or_default();
    let delay = {
        let mut state = sim.state();
        let counted = if name.is_empty() { "(none)" } else { &name };
        *state.stats.requests.entry(counted.to_owned()).or_default() += 1;
        state.knobs.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    // Expiries noticed now are notified by the ticker.
    notify::tick(&sim);
    let method = Method::parse(&name);
    let key = match method {
        Some(_) => protocol::response_key(&name),
        None => "error_response".to_owned(),
    };
    let call = match checks::check(&sim, params, method) {
        Ok(call) => call,
        Err(refused) => {
            tracing::info!(
                "alipay simulator: {name} refused {}",
                refused.refusal.sub_code
            );
            return match method {
                Some(m) if m.is_browser() => cashier::error_page(&refused.refusal),
                _ => json_answer(&sim, &key, &refused.refusal.json(), refused.signed),
            };
        }
    };
    if call.method.is_browser() {
        return cashier::open(&sim, &call);
    }
    let answer = if let Some(failure) = take_failure(&sim) {
        Err(failure)
    } else {
        dispatch(&sim, &call, &host)
    };
    let inner = match answer {
        Ok(inner) => inner,
        Err(refusal) => refusal.json(),
    };
    tracing::info!("alipay simulator: {} -> {}", call.name, inner["code"]);
    json_answer(&sim, &key, &inner, true)
}

fn dispatch(sim: &Shared, call: &Call, host: &str) -> Result<Value, Refusal> {
    let biz = biz_content(&call.params)?;
    match call.method {
        Method::Precreate => trade::precreate(sim, call, &biz),
        Method::Query => trade::query(sim, call, &biz),
        Method::Close => trade::close(sim, call, &biz),
        Method::Refund => refund::refund(sim, call, &biz),
        Method::RefundQuery => refund::query(sim, call, &biz),
        Method::BillDownloadUrl => bills::download_url(sim, &biz, host),
        Method::PagePay | Method::WapPay => Err(Refusal::invalid("a browser method")),
    }
}

/// `biz_content`, a JSON object.
fn biz_content(params: &BTreeMap<String, String>) -> Result<Value, Refusal> {
    let text = params
        .get("biz_content")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refusal::invalid("biz_content is missing"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Refusal {
            code: "40002",
            msg: "Invalid Arguments",
            sub_code: "isv.illegal-json".into(),
            sub_msg: "biz_content is not a JSON object".into(),
        }),
    }
}

/// The `fail_next` knob's failure for this (verified) call, if any; counts it down.
fn take_failure(sim: &Sim) -> Option<Refusal> {
    let mut state = sim.state();
    let knobs = &mut state.knobs;
    if knobs.fail_next == 0 {
        return None;
    }
    knobs.fail_next -= 1;
    Some(match knobs.fail_with {
        Failure::UnknowError => Refusal {
            code: "20000",
            msg: "Service Currently Unavailable",
            sub_code: "isp.unknow-error".into(),
            sub_msg: "系统繁忙".into(),
        },
        Failure::SystemError => Refusal::business("ACQ.SYSTEM_ERROR", "系统错误"),
    })
}

/// A required non-empty string of `biz_content`.
fn required<'a>(biz: &'a Value, field: &str) -> Result<&'a str, Refusal> {
    optional(biz, field).ok_or_else(|| Refusal::invalid(format!("{field} is missing")))
}

/// An optional string of `biz_content` (empty counts as absent).
fn optional<'a>(biz: &'a Value, field: &str) -> Option<&'a str> {
    biz.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The trade `biz_content` names (`trade_no` first, as Alipay: 「如果同时传了 out_trade_no 和
/// trade_no，则以 trade_no 为准」), if it exists at Alipay; counts the call on it.
fn existing<'a>(
    trades: &'a mut BTreeMap<String, Trade>,
    biz: &Value,
    method: &str,
) -> Result<&'a mut Trade, Refusal> {
    let trade = match (optional(biz, "trade_no"), optional(biz, "out_trade_no")) {
        (Some(no), _) => trades
            .values_mut()
            .find(|t| t.trade_no.as_deref() == Some(no)),
        (None, Some(no)) => trades.get_mut(no),
        (None, None) => {
            return Err(Refusal::invalid(
                "one of out_trade_no and trade_no is required",
            ))
        }
    };
    let trade = trade.ok_or_else(not_exist)?;
    trade.count_call(method);
    if trade.exists {
        Ok(trade)
    } else {
        Err(not_exist())
    }
}

/// The JSON answer: `inner` serialized once, signed as sent (with Alipay's key, or the wrong
/// one under the knob), embedded as that exact text.
fn json_answer(sim: &Sim, key: &str, inner: &Value, signed: bool) -> Response {
    let text = protocol::alipay_json(inner);
    let body = if signed {
        let wrong = sim.state().knobs.wrong_response_signature;
        let signer = if wrong { &sim.wrong } else { &sim.alipay };
        let sign = protocol::sign(signer, &text);
        let sn = sim.sns.as_ref().map(|s| s.alipay.as_str());
        protocol::envelope(key, &text, sn, Some(&sign))
    } else {
        protocol::envelope(key, &text, None, None)
    };
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    response
}

/// An HTML page for the buyer's browser.
fn html(status: StatusCode, page: String) -> Response {
    (status, Html(page)).into_response()
}

/// The success members every answer starts with.
fn success() -> Value {
    json!({"code": "10000", "msg": "Success"})
}
