//! `/v1/orders`: create, read, cancel.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::auth::AuthMerchant;
use super::error::{ApiError, ErrorBody};
use super::views::{CreateOrderBody, EventView, OrderView};
use super::{json, AppState};
use crate::domain::NewOrder;
use crate::service::orders::{Created, IdempotencyKey};

/// Creates an order. With an `Idempotency-Key` header, the same key and body return the
/// first response; the same key with another body is 422 `idempotency_key_reused`. The same
/// `out_trade_no` with the same content returns the existing order (200); with other
/// content it is 409 `out_trade_no_exists`.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = CreateOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry return the first response")),
    responses(
        (status = 201, description = "created", body = OrderView),
        (status = 200, description = "this out_trade_no exists with the same content", body = OrderView),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or bad API key", body = ErrorBody),
        (status = 409, description = "out_trade_no exists with other content", body = ErrorBody),
        (status = 422, description = "invalid field (`ttl_below_cutoff`: ttl_seconds does not outlast the pay cut-off) or reused idempotency key", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateOrderBody = json::parse(&body)?;
    let order = NewOrder::validate(
        &req.out_trade_no,
        req.amount,
        &req.currency,
        &req.subject,
        req.ttl_seconds,
        req.notify_url.as_deref(),
    )?;
    let idem = idempotency_key(&headers, "POST /v1/orders", &body)?;
    let span = tracing::info_span!("create_order", merchant_id = %merchant.id, out_trade_no = %order.out_trade_no);
    let created = state
        .gateway
        .create_order(&merchant.id, order, idem, |o| {
            serde_json::to_string(&OrderView::from(o)).unwrap_or_default()
        })
        .instrument(span)
        .await?;
    Ok(match created {
        Created::New(o) => (StatusCode::CREATED, Json(OrderView::from(&o))).into_response(),
        Created::Existing(o) => (StatusCode::OK, Json(OrderView::from(&o))).into_response(),
        Created::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    })
}

/// Reads the `Idempotency-Key` header (1-255 visible ASCII characters) and fingerprints the
/// request with it.
fn idempotency_key(
    headers: &HeaderMap,
    operation: &str,
    body: &[u8],
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::service::ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )
        })?;
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update(b"\n");
    h.update(body);
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        fingerprint: hex::encode(h.finalize()),
    }))
}

/// Reads one of the merchant's orders; another merchant's order is 404.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let order = state.gateway.order(&merchant.id, &id).await?;
    Ok(Json(OrderView::from(&order)))
}

/// Cancels a pending order; an open payment is closed at its provider first. Cancelling a
/// cancelled order answers it again; a paid or closed order is 409.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, description = "the provider could not be reached to close the open payment", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let span = tracing::info_span!("cancel_order", merchant_id = %merchant.id, order_id = %id);
    let order = state
        .gateway
        .cancel_order(&merchant.id, &id)
        .instrument(span)
        .await?;
    Ok(Json(OrderView::from(&order)))
}

/// An order's state changes, oldest first, with the delivery of each to the notify_url.
#[utoipa::path(get, path = "/v1/orders/{id}/events", tag = "orders", params(("id" = String, Path)),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(id): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let order = state.gateway.order(&merchant.id, &id).await?;
    let events = state.gateway.order_events(&order).await?;
    Ok(Json(events.iter().map(EventView::from).collect()))
}
