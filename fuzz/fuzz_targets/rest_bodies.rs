//! The REST API's request bodies, read as the handlers read them: `api::json::parse` (400
//! `malformed_json` / 422 `invalid_body`), then the checks the API runs before the service
//! is called (a new order's fields, the payer details of a pay request, a webhook URL, a
//! page of merchants), and the error answer rendered.
//!
//! Input: the endpoint on the first line (`orders`, `payments`, `refunds`, `merchants`,
//! `providers`, `webhook`, `activate`, `page`; else picked by the line's length), then the
//! body.
#![no_main]

use axum::http::StatusCode;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use paygate::api::adapters::ActivateBody;
use paygate::api::error::ApiError;
use paygate::api::json::parse;
use paygate::api::merchants::WebhookBody;
use paygate::api::views::{
    CreateMerchantBody, CreateOrderBody, PayBody, ProviderConfigBody, RefundBody,
};
use paygate::domain::merchant::{webhook_url, PageRequest};
use paygate::domain::payment::check_payer;
use paygate::domain::NewOrder;

const ENDPOINTS: [&str; 8] = [
    "orders",
    "payments",
    "refunds",
    "merchants",
    "providers",
    "webhook",
    "activate",
    "page",
];

/// A refusal of outside input is a 4xx with a code, never a 5xx, and renders.
fn refused(e: ApiError) {
    assert!(
        e.status.is_client_error(),
        "{} {}: {}",
        e.status,
        e.code.as_str(),
        e.message
    );
    let _ = e.into_response();
}

fn check<T>(result: Result<T, ApiError>) -> Option<T> {
    result.map_err(refused).ok()
}

fuzz_target!(|data: &[u8]| {
    let (endpoint, body) = paygate_fuzz::first_line(data);
    let endpoint = ENDPOINTS
        .iter()
        .find(|e| **e == endpoint.trim())
        .copied()
        .unwrap_or(ENDPOINTS[endpoint.len() % ENDPOINTS.len()]);
    match endpoint {
        "orders" => {
            if let Some(req) = check(parse::<CreateOrderBody>(body)) {
                check(
                    NewOrder::validate(
                        &req.out_trade_no,
                        req.amount,
                        &req.currency,
                        &req.subject,
                        req.ttl_seconds,
                        req.notify_url.as_deref(),
                    )
                    .map_err(ApiError::from),
                );
            }
        }
        "payments" => {
            if let Some(req) = check(parse::<PayBody>(body)) {
                let payer = req.payer.unwrap_or_default();
                let _ = check_payer(
                    payer.open_id.as_deref(),
                    payer.client_ip.as_deref(),
                    payer.return_url.as_deref(),
                );
            }
        }
        "refunds" => {
            check(parse::<RefundBody>(body));
        }
        "merchants" => {
            if let Some(req) = check(parse::<CreateMerchantBody>(body)) {
                let _ = webhook_url(req.notify_url.as_deref());
            }
        }
        "providers" => {
            check(parse::<ProviderConfigBody>(body));
        }
        "webhook" => {
            if let Some(req) = check(parse::<WebhookBody>(body)) {
                let _ = webhook_url(req.notify_url.as_deref());
            }
        }
        "activate" => {
            check(parse::<ActivateBody>(body));
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let (limit, after) = text.split_once('\n').unwrap_or((&text, ""));
            let limit = limit.trim().parse::<i64>().ok();
            let after = Some(after).filter(|a| !a.is_empty());
            let _ = PageRequest::new(limit, after);
        }
    }
    // Whatever the body, an error renders as a 4xx.
    if let Err(e) = parse::<serde_json::Value>(body) {
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
});
