//! `/v1/notify/{provider}/{merchant_id}`: provider callbacks, handed byte for byte to the
//! adapter, answered with the reply the adapter chose.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::service::ErrorCode;

/// Receives a provider's notification for one merchant's payments.
#[utoipa::path(post, path = "/v1/notify/{provider}/{merchant_id}", tag = "providers",
    params(("provider" = String, Path), ("merchant_id" = String, Path)),
    request_body(content = String, description = "the provider's notification, passed byte for byte to its adapter", content_type = "application/octet-stream"),
    responses((status = 200, description = "the provider's expected reply, as the adapter chose it"),
        (status = 404, description = "unknown merchant, or provider not configured", body = ErrorBody),
        (status = "4XX", description = "the provider's expected reply to a notification paygate refuses (a signature that does not verify, a malformed body), as the adapter chose it: the provider sends it again"),
        (status = "5XX", description = "the provider's expected reply when paygate could not take the notification now: the provider sends it again")))]
pub async fn receive(
    State(state): State<AppState>,
    Path((provider, merchant_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let span = tracing::info_span!("notify", provider = %provider, merchant_id = %merchant_id);
    let reply = tracing::Instrument::instrument(
        state
            .gateway
            .handle_notification(&provider, &merchant_id, headers, body.to_vec()),
        span,
    )
    .await
    .map_err(|e| match e {
        crate::service::ServiceError::Invalid {
            code: ErrorCode::ProviderNotConfigured | ErrorCode::UnknownProvider,
            message,
        } => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message),
        other => other.into(),
    })?;
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    Ok(response)
}
