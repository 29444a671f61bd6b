//! The sandbox's error type and its mapping to the protocol's `{"code", "message"}` bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why a sandbox call failed. The first group are the refusals of PROTOCOL.md (4xx with their
/// documented code); the rest are the sandbox's own failures, answered with a 5xx because the
/// outcome is then unknown to the caller.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    ParamMismatch(String),
    #[error("{0}")]
    SignatureInvalid(&'static str),
    #[error("no trade with this payment_no for this account")]
    TradeNotFound,
    #[error("the trade is paid")]
    TradePaid,
    #[error("the trade is closed")]
    TradeClosed,
    #[error("the trade is not paid")]
    TradeNotPaid,
    #[error("refunds would exceed the paid amount")]
    RefundAmountExceeded,
    /// The notification receiver could not be reached or did not answer in time.
    #[error("notification not delivered: {0}")]
    NotifyFailed(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The sandbox's database could not be brought to its schema (at [`crate::Sandbox::open`]).
    #[error("sandbox database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row that the sandbox itself could not have written (an unknown state...).
    #[error("corrupt sandbox row: {0}")]
    Corrupt(String),
}

impl SandboxError {
    /// The HTTP status and the protocol's error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use SandboxError::*;
        match self {
            InvalidRequest(_) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
            ParamMismatch(_) => (StatusCode::BAD_REQUEST, "PARAM_MISMATCH"),
            SignatureInvalid(_) => (StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID"),
            TradeNotFound => (StatusCode::NOT_FOUND, "TRADE_NOT_FOUND"),
            TradePaid => (StatusCode::CONFLICT, "TRADE_PAID"),
            TradeClosed => (StatusCode::CONFLICT, "TRADE_CLOSED"),
            TradeNotPaid => (StatusCode::CONFLICT, "TRADE_NOT_PAID"),
            RefundAmountExceeded => (StatusCode::BAD_REQUEST, "REFUND_AMOUNT_EXCEEDED"),
            NotifyFailed(_) => (StatusCode::BAD_GATEWAY, "NOTIFY_FAILED"),
            Database(_) | Migrate(_) | Corrupt(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
            }
        }
    }
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Internal details stay in the log; the caller only needs to know the outcome is unknown.
        let message = if status.is_server_error() && !matches!(self, SandboxError::NotifyFailed(_))
        {
            tracing::error!(error = %self, "sandbox request failed");
            "internal error; the outcome is unknown".to_owned()
        } else {
            self.to_string()
        };
        (
            status,
            Json(serde_json::json!({ "code": code, "message": message })),
        )
            .into_response()
    }
}
