//! How an adapter call ended, as the contract has it: the `outcome` label of
//! `paygate_adapter_calls_total`. A provider that answered with an error is not a call that
//! went well, so an operator can alert on providers refusing, unreachable or misconfigured.

use super::call::CallError;
use super::contract::{AdapterInfo, BillError, BillRow, Notification, ProviderError, Refusal};

/// The outcome of one adapter call. A closed set: every label value the metric takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// The provider answered: a result, or a fact about the trade (`already-paid`,
    /// `already-closed`, `not-found`), which is an answer, not a failure.
    Ok,
    /// The provider refused the request (`rejected`), or the adapter refused what was
    /// presented as the provider's message (`bad-signature`).
    Rejected,
    /// No usable answer: network failure, timeout, provider 5xx, an answer that did not
    /// verify (`unreachable`).
    Unreachable,
    /// The merchant's configuration is missing or wrong (`config`).
    Misconfigured,
    /// The adapter or provider does not support the operation or channel (`unsupported`).
    Unsupported,
    /// The adapter itself failed: a trap, the CPU budget, the memory cap, the wall-clock
    /// timeout (no answer of the contract at all), or an answer over the size cap.
    Failed,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Ok,
        CallOutcome::Rejected,
        CallOutcome::Unreachable,
        CallOutcome::Misconfigured,
        CallOutcome::Unsupported,
        CallOutcome::Failed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Unreachable => "unreachable",
            CallOutcome::Misconfigured => "misconfigured",
            CallOutcome::Unsupported => "unsupported",
            CallOutcome::Failed => "failed",
        }
    }

    /// The outcome of a call answered with `e` (both contract versions: a 1.0.0 error is
    /// converted to this type first, case by case).
    pub fn of_error(e: &ProviderError) -> CallOutcome {
        match e {
            ProviderError::AlreadyPaid | ProviderError::AlreadyClosed | ProviderError::NotFound => {
                CallOutcome::Ok
            }
            ProviderError::Rejected(_) | ProviderError::BadSignature(_) => CallOutcome::Rejected,
            ProviderError::Unreachable(_) => CallOutcome::Unreachable,
            ProviderError::Config(_) => CallOutcome::Misconfigured,
            ProviderError::Unsupported(_) => CallOutcome::Unsupported,
        }
    }

    /// The outcome of a whole call: what the adapter answered, or `failed`.
    pub fn of_call<R: Answer>(result: &Result<R, CallError>) -> CallOutcome {
        match result {
            Ok(answer) => answer.outcome(),
            Err(_) => CallOutcome::Failed,
        }
    }
}

/// What an adapter function returns, read as an outcome.
pub trait Answer {
    fn outcome(&self) -> CallOutcome;
}

impl<T> Answer for Result<T, ProviderError> {
    fn outcome(&self) -> CallOutcome {
        match self {
            Ok(_) => CallOutcome::Ok,
            Err(e) => CallOutcome::of_error(e),
        }
    }
}

impl Answer for Result<Notification, Refusal> {
    fn outcome(&self) -> CallOutcome {
        match self {
            Ok(_) => CallOutcome::Ok,
            Err(refusal) => CallOutcome::of_error(&refusal.error),
        }
    }
}

impl Answer for Result<Vec<BillRow>, BillError> {
    fn outcome(&self) -> CallOutcome {
        match self {
            Ok(_) | Err(BillError::NotReady(_)) => CallOutcome::Ok,
            Err(BillError::Failed(e)) => CallOutcome::of_error(e),
        }
    }
}

impl Answer for AdapterInfo {
    fn outcome(&self) -> CallOutcome {
        CallOutcome::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Rejection, Reply};

    #[test]
    fn each_contract_error_counts_under_its_own_outcome() {
        let rejection = Rejection {
            code: "SIGN_ERROR".into(),
            message: "signature".into(),
        };
        let cases = [
            (ProviderError::Config("api_key".into()), "misconfigured"),
            (ProviderError::Rejected(rejection), "rejected"),
            (ProviderError::BadSignature("x".into()), "rejected"),
            (ProviderError::Unreachable("reset".into()), "unreachable"),
            (ProviderError::Unsupported("h5".into()), "unsupported"),
            (ProviderError::AlreadyPaid, "ok"),
            (ProviderError::AlreadyClosed, "ok"),
            (ProviderError::NotFound, "ok"),
        ];
        for (error, label) in cases {
            let shown = format!("{error:?}");
            let answer: Result<(), ProviderError> = Err(error);
            assert_eq!(CallOutcome::of_call(&Ok(answer)).as_str(), label, "{shown}");
        }
        let fine: Result<(), ProviderError> = Ok(());
        assert_eq!(CallOutcome::of_call(&Ok(fine)), CallOutcome::Ok);
    }

    #[test]
    fn a_refused_notification_counts_as_the_error_it_carries() {
        let refused: Result<Notification, Refusal> = Err(Refusal {
            error: ProviderError::Config("apiv3_key".into()),
            reply: Reply {
                status: 500,
                headers: Vec::new(),
                body: Vec::new(),
            },
        });
        assert_eq!(
            CallOutcome::of_call(&Ok(refused)),
            CallOutcome::Misconfigured
        );
    }

    #[test]
    fn an_adapter_that_fails_the_call_counts_as_failed() {
        for e in [
            CallError::Timeout {
                adapter: "mock".into(),
                timeout_ms: 30_000,
            },
            CallError::UnknownAdapter("nope".into()),
            CallError::AnswerTooLarge {
                adapter: "chaos".into(),
                bytes: 4 << 20,
                cap_bytes: 256 << 10,
            },
        ] {
            let result: Result<Result<(), ProviderError>, CallError> = Err(e);
            assert_eq!(CallOutcome::of_call(&result), CallOutcome::Failed);
        }
    }

    #[test]
    fn the_labels_are_distinct() {
        let labels: std::collections::HashSet<&str> =
            CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(labels.len(), CallOutcome::ALL.len());
    }
}
