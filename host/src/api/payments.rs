//! `/v1/payments`: start or resume payment of orders; read a payment.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::Instrument;

use super::auth::AuthMerchant;
use super::error::{ApiError, ErrorBody};
use super::views::{PayBody, PaymentView, RefundBody, RefundView};
use super::{json, AppState};
use crate::runtime::contract::Payer;
use crate::service::pay::PayCommand;

/// Starts payment of one or more orders at a provider, or resumes the open one: the same
/// orders, provider and channel while the stored action is valid return it again
/// (`reused: true`) without calling the provider. The amount is the orders' sum from
/// paygate's database; a request carrying `amount` is refused.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = PayBody,
    responses(
        (status = 201, description = "payment started or resumed", body = PaymentView),
        (status = 404, description = "an order does not exist or is another merchant's", body = ErrorBody),
        (status = 409, description = "order_paid, order_closed, order_cancelled, order_expiring", body = ErrorBody),
        (status = 422, description = "amount_not_allowed, unknown_provider, unknown_channel, invalid_body", body = ErrorBody),
        (status = 502, description = "the provider refused", body = ErrorBody),
        (status = 503, description = "the provider could not be reached; retry", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    body: Bytes,
) -> Result<(StatusCode, Json<PaymentView>), ApiError> {
    if let Ok(serde_json::Value::Object(fields)) =
        serde_json::from_slice::<serde_json::Value>(&body)
    {
        if fields.contains_key("amount") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                crate::service::ErrorCode::AmountNotAllowed,
                "a pay request must not carry an amount: paygate takes it from the orders",
            ));
        }
    }
    let req: PayBody = json::parse(&body)?;
    let payer = req.payer.unwrap_or_default();
    let cmd = PayCommand {
        order_ids: req.order_ids,
        provider: req.provider,
        channel: req.channel,
        payer: Payer {
            open_id: payer.open_id,
            client_ip: payer.client_ip,
            return_url: payer.return_url,
        },
    };
    let span = tracing::info_span!("pay", merchant_id = %merchant.id, order_id = %cmd.order_ids.join(","),
        provider = %cmd.provider, channel = %cmd.channel, payment_no = tracing::field::Empty);
    let outcome = state
        .gateway
        .pay(&merchant.id, cmd)
        .instrument(span)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PaymentView::from_outcome(&outcome)),
    ))
}

/// Reads one of the merchant's payments.
#[utoipa::path(get, path = "/v1/payments/{payment_no}", tag = "payments", params(("payment_no" = String, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(payment_no): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let payment = state
        .gateway
        .payment_record(&merchant.id, &payment_no)
        .await?;
    let orders = state.gateway.payment_orders(&payment).await?;
    let expires_at = orders.iter().map(|o| o.expires_at).min();
    let mut view = PaymentView::new(&payment, expires_at, false);
    view.refunds = state
        .gateway
        .payment_refunds(&payment)
        .await?
        .iter()
        .map(RefundView::from)
        .collect();
    Ok(Json(view))
}

/// Refunds (part of) a paid payment. With an `Idempotency-Key`, a retry answers the same
/// refund; the same key with another amount or reason is 422. Refunds never add up past
/// what was paid (422 `refund_exceeds_paid`); an unpaid payment is 409 `payment_not_paid`.
#[utoipa::path(post, path = "/v1/payments/{payment_no}/refunds", tag = "payments", request_body = RefundBody,
    params(("payment_no" = String, Path), ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "makes a retry answer the same refund: 1 to 255 visible ASCII characters")),
    responses((status = 201, body = RefundView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(payment_no): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<RefundView>), ApiError> {
    let req: RefundBody = json::parse(&body)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| {
                    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        crate::service::ErrorCode::InvalidIdempotencyKey,
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?,
        ),
        None => None,
    };
    let ask = crate::service::refunds::RefundAsk {
        amount: req.amount,
        reason: req.reason.as_deref(),
        idempotency_key: key,
    };
    let span = tracing::info_span!("refund", merchant_id = %merchant.id, payment_no = %payment_no);
    let refund = state
        .gateway
        .refund_payment(&merchant.id, &payment_no, ask)
        .instrument(span)
        .await?;
    Ok((StatusCode::CREATED, Json(RefundView::from(&refund))))
}
