//! The API's one error type, mapped once to an HTTP status and a JSON body
//! `{"error": {"code", "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::{ErrorCode, ServiceError};
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_amount`, `order_paid`, `provider_unreachable`...
    pub code: String,
    /// For people.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // For the admin gate's audit log: the code answered, without parsing the body.
        response.extensions_mut().insert(self.code);
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid {
                code: code @ ErrorCode::AdapterTooLarge,
                message,
            } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message),
            ServiceError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ServiceError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                crate::service::not_found_code(what),
                format!("{what} not found"),
            ),
            ServiceError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            ServiceError::Provider {
                code,
                message,
                retryable,
            } => {
                let status = if retryable {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                };
                ApiError::new(status, code, message)
            }
            ServiceError::Misconfigured { code, message } => {
                tracing::error!(%code, error = %message, "paygate is misconfigured");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
            }
            ServiceError::Unauthorized(m) => ApiError::unauthorized(m),
            ServiceError::Store(e) => e.into(),
            ServiceError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "internal error; see the server log",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StorageUnavailable,
            "the database is unavailable; try again",
        )
    }
}

impl From<crate::domain::OrderError> for ApiError {
    fn from(e: crate::domain::OrderError) -> Self {
        use crate::domain::{MoneyError, OrderError};
        let code = match &e {
            OrderError::Money(MoneyError::UnknownCurrency(_)) => ErrorCode::InvalidCurrency,
            OrderError::Money(_) => ErrorCode::InvalidAmount,
            OrderError::Invalid {
                field: "subject", ..
            } => ErrorCode::InvalidSubject,
            OrderError::Invalid {
                field: "ttl_seconds",
                ..
            } => ErrorCode::InvalidTtl,
            OrderError::Invalid {
                field: "notify_url",
                ..
            } => ErrorCode::InvalidNotifyUrl,
            OrderError::Invalid {
                field: "out_trade_no",
                ..
            } => ErrorCode::InvalidOutTradeNo,
            OrderError::Invalid { .. } => ErrorCode::InvalidBody,
            OrderError::InvalidTransition { .. } => ErrorCode::InvalidTransition,
            OrderError::TtlBelowCutoff { .. } => ErrorCode::TtlBelowCutoff,
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    }
}
