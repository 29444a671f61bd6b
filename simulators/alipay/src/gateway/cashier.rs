//! `alipay.trade.page.pay` and `alipay.trade.wap.pay`: the buyer's browser arrives at the
//! gateway with the merchant's signed parameters (an auto-submitting form, or a GET URL); a
//! verified order opens Alipay's cashier, where the trade exists from then on, and its Pay
//! button pays it and sends the browser back to `return_url` with signed parameters.
//! Refusals are HTML pages, as Alipay shows them (「错误代码 invalid-signature 错误原因:
//! 验签出错…」, alipay/alipay-sdk-nodejs-all#114 and yansongda/pay#491).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::trade::order;
use super::{biz_content, html, Call, Method, Shared};
use crate::protocol::{self, escape_html};
use crate::trades::{Product, Refusal, Trade};
use crate::{control, now, PayOptions};

/// The cashier page of a verified page.pay / wap.pay order, or the refusal's page.
pub(super) fn open(sim: &Shared, call: &Call) -> Response {
    let product = match call.method {
        Method::WapPay => Product::WapPay,
        _ => Product::PagePay,
    };
    let opened = biz_content(&call.params)
        .and_then(|biz| order(sim, call, &biz, product))
        .and_then(|no| {
            let mut state = sim.state();
            let trade = state
                .trades
                .get_mut(&no)
                .ok_or_else(crate::trades::not_exist)?;
            trade
                .come_to_exist(now())
                .map_err(|why| Refusal::business("ACQ.TRADE_HAS_CLOSE", why))?;
            Ok(trade.clone())
        });
    match opened {
        Ok(trade) => {
            tracing::info!("alipay simulator: cashier for {}", trade.out_trade_no);
            html(StatusCode::OK, cashier_page(&trade))
        }
        Err(refusal) => error_page(&refusal),
    }
}

/// Alipay's error page: 「错误代码 <sub_code without isv.> 错误原因: <sub_msg>」.
pub(super) fn error_page(refusal: &Refusal) -> Response {
    let code = refusal
        .sub_code
        .strip_prefix("isv.")
        .unwrap_or(&refusal.sub_code);
    html(
        StatusCode::OK,
        format!(
            "<!doctype html><meta charset=utf-8><title>支付宝 - 网上支付 安全快速！</title>\
             <h1>抱歉，您的操作出错了</h1><p data-sub-code=\"{}\">错误代码 {} 错误原因: {}</p>",
            escape_html(&refusal.sub_code),
            escape_html(code),
            escape_html(&refusal.sub_msg)
        ),
    )
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn cashier_page(trade: &Trade) -> String {
    format!(
        "<!doctype html><meta charset=utf-8><title>支付宝 收银台 (simulator)</title>\
         <h1>支付宝收银台 (simulator)</h1><p>{}</p><p>¥ <b>{}</b></p>\
         <p>out_trade_no {} · trade_no {}</p>\
         <form method=post action=\"/cashier/{}/pay\"><button>Pay ¥{}</button></form>",
        escape_html(&trade.subject),
        escape_html(&trade.total_amount),
        escape_html(&trade.out_trade_no),
        escape_html(trade.trade_no.as_deref().unwrap_or_default()),
        path_segment(&trade.out_trade_no),
        escape_html(&trade.total_amount),
    )
}

/// The cashier's Pay button: pays (as `/sim/trades/{no}/pay` does), then back to the
/// merchant's `return_url` with the signed return parameters, or a receipt page.
pub(super) async fn pay_button(State(sim): State<Shared>, Path(no): Path<String>) -> Response {
    if let Err(e) = control::pay(&sim, &no, PayOptions::default()) {
        return html(
            StatusCode::CONFLICT,
            format!(
                "<!doctype html><meta charset=utf-8><h1>支付失败</h1><p>{}</p>",
                escape_html(&e.to_string())
            ),
        );
    }
    let Some(trade) = sim.state().trades.get(&no).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match return_url(&sim, &trade) {
        Some(url) => Redirect::to(&url).into_response(),
        None => html(
            StatusCode::OK,
            format!(
                "<!doctype html><meta charset=utf-8><h1>支付成功</h1><p>{} ¥{}</p>",
                escape_html(&trade.subject),
                escape_html(&trade.total_amount)
            ),
        ),
    }
}

/// The `return_url` with the synchronous return parameters, signed like a notification.
///
/// Source: the page.pay / wap.pay docs' 同步通知参数 (charset, out_trade_no, method
/// `alipay.trade.page.pay.return` / `alipay.trade.wap.pay.return`, total_amount, sign,
/// trade_no, auth_app_id, version, app_id, sign_type, seller_id, timestamp), verified as the
/// asynchronous ones are (`AlipaySignature.rsaCheckV1`).
fn return_url(sim: &Shared, trade: &Trade) -> Option<String> {
    let url = trade.return_url.as_ref()?;
    let method = match trade.product {
        Product::WapPay => "alipay.trade.wap.pay.return",
        _ => "alipay.trade.page.pay.return",
    };
    let mut params = std::collections::BTreeMap::new();
    for (k, v) in [
        ("charset", "utf-8"),
        ("out_trade_no", trade.out_trade_no.as_str()),
        ("method", method),
        ("total_amount", trade.total_amount.as_str()),
        ("trade_no", trade.trade_no.as_deref().unwrap_or_default()),
        ("auth_app_id", sim.config.app_id.as_str()),
        ("version", "1.0"),
        ("app_id", sim.config.app_id.as_str()),
        ("sign_type", "RSA2"),
        ("seller_id", sim.config.seller_id.as_str()),
    ] {
        params.insert(k.to_owned(), v.to_owned());
    }
    params.insert("timestamp".into(), protocol::beijing_time(now()));
    let sign = protocol::sign(&sim.alipay, &protocol::notification_sign_content(&params));
    params.insert("sign".into(), sign);
    let query = protocol::form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}{query}"))
}
