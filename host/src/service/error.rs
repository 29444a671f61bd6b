//! The use cases' error type: what went wrong, with a machine-readable [`ErrorCode`] the
//! compiler checks, which the API maps to a status once. Messages are for the people who
//! read the API's answers; the source of an internal error stays inside (logged, never
//! shown).

use crate::runtime::CallError;
use crate::store::StoreError;

macro_rules! error_codes {
    ($( $(#[$m:meta])* $variant:ident = $text:literal, )+) => {
        /// Every error code paygate answers with (the README's error table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$m])* $variant, )+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $text, )+
                }
            }
        }
    };
}

error_codes! {
    // 400 and 401: the request itself.
    MalformedJson = "malformed_json",
    InvalidBody = "invalid_body",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    InvalidQuery = "invalid_query",
    AmountNotAllowed = "amount_not_allowed",
    Unauthorized = "unauthorized",
    AdminDisabled = "admin_disabled",
    // 404
    NotFound = "not_found",
    MerchantNotFound = "merchant_not_found",
    // 422: well-formed, breaks a rule.
    InvalidAmount = "invalid_amount",
    InvalidCurrency = "invalid_currency",
    InvalidSubject = "invalid_subject",
    InvalidTtl = "invalid_ttl",
    /// `ttl_seconds` does not outlast the pay cut-off: the order could never be paid.
    TtlBelowCutoff = "ttl_below_cutoff",
    InvalidNotifyUrl = "invalid_notify_url",
    InvalidOutTradeNo = "invalid_out_trade_no",
    InvalidTransition = "invalid_transition",
    InvalidOrderIds = "invalid_order_ids",
    InvalidCombination = "invalid_combination",
    InvalidPayer = "invalid_payer",
    InvalidReason = "invalid_reason",
    InvalidName = "invalid_name",
    InvalidSetting = "invalid_setting",
    InvalidSecret = "invalid_secret",
    MissingSetting = "missing_setting",
    MissingSecret = "missing_secret",
    UnknownSetting = "unknown_setting",
    UnknownSecret = "unknown_secret",
    UnknownProvider = "unknown_provider",
    UnknownChannel = "unknown_channel",
    ProviderNotConfigured = "provider_not_configured",
    ProviderTestFailed = "provider_test_failed",
    IdempotencyKeyReused = "idempotency_key_reused",
    RefundExceedsPaid = "refund_exceeds_paid",
    Unsupported = "unsupported",
    /// An uploaded adapter component does not compile, does not export a contract this
    /// host runs, or fails its self-test.
    InvalidAdapter = "invalid_adapter",
    /// An uploaded component names another provider than the one it was uploaded for.
    AdapterNameMismatch = "adapter_name_mismatch",
    /// An uploaded component imports an interface its contract does not grant.
    AdapterImportNotGranted = "adapter_import_not_granted",
    /// A sha256 prefix that names several adapter versions.
    AmbiguousVersion = "ambiguous_version",
    // 409: the current state says no.
    OrderPaid = "order_paid",
    OrderClosed = "order_closed",
    OrderCancelled = "order_cancelled",
    OrderRefunded = "order_refunded",
    OrderPending = "order_pending",
    OrderExpiring = "order_expiring",
    PaymentInProgress = "payment_in_progress",
    PaymentNotPaid = "payment_not_paid",
    OutTradeNoExists = "out_trade_no_exists",
    IdempotencyKeyInUse = "idempotency_key_in_use",
    ConfigurationChanged = "configuration_changed",
    /// Another build of the provider holds the uploaded component's version string.
    AdapterVersionExists = "adapter_version_exists",
    /// A roll back with no version to return to.
    NoPreviousVersion = "no_previous_version",
    /// Another activation of the provider came between reading and writing.
    ActivationConflict = "activation_conflict",
    // 413
    /// An uploaded component over `PAYGATE_ADAPTER_MAX_COMPONENT_MB`.
    AdapterTooLarge = "adapter_too_large",
    // 429
    /// A rate limit (per API key, per client IP, per IP on notifications) refused the
    /// request; `Retry-After` says when to try again.
    RateLimited = "rate_limited",
    // 502 and 503: the provider or the adapter.
    ProviderRejected = "provider_rejected",
    ProviderMisconfigured = "provider_misconfigured",
    ProviderUnreachable = "provider_unreachable",
    AdapterFailed = "adapter_failed",
    // 500 and 503: paygate itself.
    StorageUnavailable = "storage_unavailable",
    /// A merchant's stored provider secrets do not open with the master key in force (or no
    /// longer parse as their kind): 500 until an operator fixes the key or the configuration.
    ProviderSecretsUnreadable = "provider_secrets_unreadable",
    /// A merchant's stored provider settings are no longer usable (a base URL paygate will
    /// not call): 500 until the configuration is stored again.
    ProviderSettingsUnusable = "provider_settings_unusable",
    /// A merchant's webhook secret does not open with the master key in force.
    WebhookSecretUnreadable = "webhook_secret_unreadable",
    Internal = "internal",
    // Named operators and API keys (issue 16).
    /// 403: the operator's role does not allow the request (`read` < `operate` < `admin`).
    ForbiddenRole = "forbidden_role",
    /// 422: an API key's label is over 64 characters or not printable.
    InvalidLabel = "invalid_label",
    /// 422: a role other than `read`, `operate`, `admin`.
    InvalidRole = "invalid_role",
    /// 409: a live operator already has that name (revoke it first).
    OperatorExists = "operator_exists",
    // Operator actions (issue 15).
    /// 409: the payment carries no flag to resolve (resolved already, or never flagged).
    FlagNotSet = "flag_not_set",
    /// 409: the payment carries another flag than the one being resolved; read it again.
    FlagChanged = "flag_changed",
    /// 422: a resolution's note is blank or over 1,000 characters.
    InvalidNote = "invalid_note",
    /// 422: a flag name other than the six paygate sets.
    InvalidFlag = "invalid_flag",
    /// 409: the event's delivery is under way (pending): it is not sent a second time.
    DeliveryPending = "delivery_pending",
    /// 409: only a failed refund is retried.
    RefundNotFailed = "refund_not_failed",
    // The operator console.
    /// 403: a state-changing request of a console session came without the session's CSRF
    /// token, or from another origin.
    CsrfRejected = "csrf_rejected",
    // Reconciliation (issue 17).
    /// 422: a bill day that is not `YYYY-MM-DD`, or one that has not ended yet.
    InvalidDay = "invalid_day",
    /// 422: the provider's active adapter does not export `paygate:bills`.
    ProviderCannotReconcile = "provider_cannot_reconcile",
    /// 409: the difference was resolved already.
    DifferenceResolved = "difference_resolved",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is well-formed but breaks a rule (422).
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    /// The thing does not exist, or belongs to another merchant (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// The provider refused or could not be reached (502); `retryable` says whether the
    /// same request may succeed later.
    #[error("{message}")]
    Provider {
        code: ErrorCode,
        message: String,
        retryable: bool,
    },
    /// Authentication failed (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// paygate's own configuration or stored data is wrong in a way only an operator can
    /// fix (500 with a named code; the message says what to do).
    #[error("{message}")]
    Misconfigured { code: ErrorCode, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of paygate's own (a broken stored row, a queue that refused work): the
    /// source with its context, for the log only.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ServiceError {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn provider(code: ErrorCode, message: impl Into<String>, retryable: bool) -> Self {
        ServiceError::Provider {
            code,
            message: message.into(),
            retryable,
        }
    }

    pub fn misconfigured(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Misconfigured {
            code,
            message: message.into(),
        }
    }

    pub fn internal(context: &'static str, source: impl Into<anyhow::Error>) -> Self {
        ServiceError::Internal(source.into().context(context))
    }

    pub fn unknown_provider(provider: &str) -> Self {
        ServiceError::invalid(
            ErrorCode::UnknownProvider,
            format!("no adapter is active for provider `{provider}`"),
        )
    }

    /// The code, when the error has one the caller may act on.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ServiceError::Invalid { code, .. }
            | ServiceError::Conflict { code, .. }
            | ServiceError::Provider { code, .. }
            | ServiceError::Misconfigured { code, .. } => Some(*code),
            ServiceError::NotFound(what) => Some(not_found_code(what)),
            ServiceError::Unauthorized(_) => Some(ErrorCode::Unauthorized),
            ServiceError::Store(_) => Some(ErrorCode::StorageUnavailable),
            ServiceError::Internal(_) => Some(ErrorCode::Internal),
        }
    }
}

/// The code of a missing `what`: a merchant, which operators name in every admin path, has
/// its own, so that a wrong merchant id is told apart from a missing thing under it.
pub fn not_found_code(what: &str) -> ErrorCode {
    match what {
        "merchant" => ErrorCode::MerchantNotFound,
        _ => ErrorCode::NotFound,
    }
}

impl From<CallError> for ServiceError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::UnknownAdapter(p) => ServiceError::unknown_provider(&p),
            e @ CallError::NoBills { .. } => {
                ServiceError::invalid(ErrorCode::ProviderCannotReconcile, e.to_string())
            }
            other => ServiceError::provider(ErrorCode::AdapterFailed, other.to_string(), true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_are_distinct_snake_case_names() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
    }
}
