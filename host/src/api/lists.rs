//! `GET /v1/orders`, `/v1/payments`, `/v1/refunds`: a merchant's own lists, newest first,
//! a page at a time (`?limit=&cursor=`), narrowed by `state`, `created_from` /
//! `created_to` (RFC 3339) and `provider`. Every parameter is checked: an unknown or
//! malformed one is 400 `invalid_query`, naming it.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AuthMerchant;
use super::error::{ApiError, ErrorBody};
use super::merchants::{invalid_query, Params};
use super::views::{OrderView, PaymentView, RefundView};
use super::AppState;
use crate::domain::listing::ListRequest;
use crate::domain::{OrderState, PaymentState, RefundState};

const KNOWN: &[&str] = &[
    "limit",
    "cursor",
    "state",
    "created_from",
    "created_to",
    "provider",
];

/// The page request and provider of a list's query; `state` is the caller's to read.
fn request(query: Option<&str>) -> Result<(Params, ListRequest, Option<String>), ApiError> {
    let params = Params::parse(query, KNOWN)?;
    let request = ListRequest::new(
        params.get("limit"),
        params.get("cursor"),
        params.get("created_from"),
        params.get("created_to"),
    )
    .map_err(|e| invalid_query(e.to_string()))?;
    let provider = params
        .get("provider")
        .map(|p| {
            let ok = (1..=32).contains(&p.len())
                && p.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && p.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            ok.then(|| p.to_owned()).ok_or_else(|| {
                invalid_query(format!(
                    "`provider` must be a provider's name (`wechat`, `alipay`, ...), not `{p}`"
                ))
            })
        })
        .transpose()?;
    Ok((params, request, provider))
}

/// `state` read as one of `T`'s states.
fn state<T: Copy>(
    params: &Params,
    all: &[T],
    parse: fn(&str) -> Option<T>,
    name: fn(&T) -> &'static str,
) -> Result<Option<T>, ApiError> {
    params
        .get("state")
        .map(|s| {
            parse(s).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(name).collect();
                invalid_query(format!(
                    "`state` must be one of {}, not `{s}`",
                    names.join(", ")
                ))
            })
        })
        .transpose()
}

/// A page of the merchant's orders, newest first.
#[derive(Serialize, ToSchema)]
pub struct OrderListView {
    pub orders: Vec<OrderView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the merchant's payments, newest first.
#[derive(Serialize, ToSchema)]
pub struct PaymentListView {
    /// Each as `GET /v1/payments/{payment_no}` shows it, less `expires_at` and `refunds`
    /// (null and empty here: read the payment, or `GET /v1/refunds`).
    pub payments: Vec<PaymentView>,
    pub next_cursor: Option<String>,
}

/// A page of the merchant's refunds, newest first.
#[derive(Serialize, ToSchema)]
pub struct RefundListView {
    pub refunds: Vec<RefundView>,
    pub next_cursor: Option<String>,
}

/// Lists the merchant's orders, newest first. `provider` keeps the orders a payment of
/// that provider paid.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "items a page holds (default 50)"),
        ("cursor" = Option<String>, Query, max_length = 200, description = "the previous page's `next_cursor`"),
        ("state" = Option<String>, Query, pattern = "^(pending|paid|closed|cancelled|refunded)$"),
        ("created_from" = Option<String>, Query, format = DateTime, description = "created at or after (RFC 3339)"),
        ("created_to" = Option<String>, Query, format = DateTime, description = "created before (RFC 3339); after `created_from`"),
        ("provider" = Option<String>, Query, pattern = "^[a-z][a-z0-9_-]{0,31}$", description = "orders paid through this provider")),
    responses((status = 200, body = OrderListView),
        (status = 400, body = ErrorBody, description = "invalid_query: a parameter unknown, repeated or malformed")),
    security(("api_key" = [])))]
pub async fn orders(
    State(state_): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    RawQuery(query): RawQuery,
) -> Result<Json<OrderListView>, ApiError> {
    let (params, request, provider) = request(query.as_deref())?;
    let wanted = state(&params, OrderState::ALL, OrderState::parse, |s| s.as_str())?;
    let page = state_
        .gateway
        .list_orders(&merchant.id, &request, wanted, provider.as_deref())
        .await?;
    Ok(Json(OrderListView {
        orders: page.items.iter().map(OrderView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Lists the merchant's payments, newest first.
#[utoipa::path(get, path = "/v1/payments", tag = "payments",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "items a page holds (default 50)"),
        ("cursor" = Option<String>, Query, max_length = 200, description = "the previous page's `next_cursor`"),
        ("state" = Option<String>, Query, pattern = "^(open|paid|closed|failed|refunded)$"),
        ("created_from" = Option<String>, Query, format = DateTime, description = "created at or after (RFC 3339)"),
        ("created_to" = Option<String>, Query, format = DateTime, description = "created before (RFC 3339); after `created_from`"),
        ("provider" = Option<String>, Query, pattern = "^[a-z][a-z0-9_-]{0,31}$")),
    responses((status = 200, body = PaymentListView),
        (status = 400, body = ErrorBody, description = "invalid_query: a parameter unknown, repeated or malformed")),
    security(("api_key" = [])))]
pub async fn payments(
    State(state_): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    RawQuery(query): RawQuery,
) -> Result<Json<PaymentListView>, ApiError> {
    let (params, request, provider) = request(query.as_deref())?;
    let wanted = state(&params, PaymentState::ALL, PaymentState::parse, |s| {
        s.as_str()
    })?;
    let page = state_
        .gateway
        .list_payments(&merchant.id, &request, wanted, provider.as_deref())
        .await?;
    Ok(Json(PaymentListView {
        payments: page
            .items
            .iter()
            .map(|p| PaymentView::new(p, None, false))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Lists the merchant's refunds, its own and paygate's (late and double payments), newest
/// first. `provider` keeps the refunds of that provider's payments.
#[utoipa::path(get, path = "/v1/refunds", tag = "payments",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "items a page holds (default 50)"),
        ("cursor" = Option<String>, Query, max_length = 200, description = "the previous page's `next_cursor`"),
        ("state" = Option<String>, Query, pattern = "^(pending|succeeded|failed)$"),
        ("created_from" = Option<String>, Query, format = DateTime, description = "created at or after (RFC 3339)"),
        ("created_to" = Option<String>, Query, format = DateTime, description = "created before (RFC 3339); after `created_from`"),
        ("provider" = Option<String>, Query, pattern = "^[a-z][a-z0-9_-]{0,31}$")),
    responses((status = 200, body = RefundListView),
        (status = 400, body = ErrorBody, description = "invalid_query: a parameter unknown, repeated or malformed")),
    security(("api_key" = [])))]
pub async fn refunds(
    State(state_): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    RawQuery(query): RawQuery,
) -> Result<Json<RefundListView>, ApiError> {
    let (params, request, provider) = request(query.as_deref())?;
    let wanted = state(&params, RefundState::ALL, RefundState::parse, |s| {
        s.as_str()
    })?;
    let page = state_
        .gateway
        .list_refunds(&merchant.id, &request, wanted, provider.as_deref())
        .await?;
    Ok(Json(RefundListView {
        refunds: page.items.iter().map(RefundView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
