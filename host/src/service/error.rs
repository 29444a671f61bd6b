//! The use cases' error type: what went wrong, in terms the API maps to a status and a
//! machine-readable code once.

use crate::runtime::CallError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is well-formed but breaks a rule (422).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The thing does not exist, or belongs to another merchant (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The provider refused or could not be reached (502); `retryable` says whether the
    /// same request may succeed later.
    #[error("{message}")]
    Provider {
        code: &'static str,
        message: String,
        retryable: bool,
    },
    /// Authentication failed (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn unknown_provider(provider: &str) -> Self {
        ServiceError::invalid(
            "unknown_provider",
            format!("no adapter is active for provider `{provider}`"),
        )
    }
}

impl From<CallError> for ServiceError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::UnknownAdapter(p) => ServiceError::unknown_provider(&p),
            other => ServiceError::Provider {
                code: "adapter_failed",
                message: other.to_string(),
                retryable: true,
            },
        }
    }
}
