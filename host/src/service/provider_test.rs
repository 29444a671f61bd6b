//! Testing a merchant's provider configuration before customers do: one harmless round
//! trip to the provider, the contract's `query` of a payment number that cannot exist.
//!
//! The adapters take a provider's "no such trade" only from an answer they trust: WeChat
//! Pay's `ORDER_NOT_EXIST` and Alipay's `ACQ.TRADE_NOT_EXIST` only when signed and verified
//! with the configured platform key, the sandbox's `TRADE_NOT_FOUND` only after it verified
//! the request's signature. So a `not-found` answer proves the URL, the merchant's ids, its
//! signing key and serial number and the provider's key at once; anything else is reported
//! in the provider's own words, with the code a payment would have failed with.
//!
//! `configure` runs the test on the configuration it is about to store (not the stored
//! one) and stores nothing when it fails.

use std::sync::Arc;
use std::time::Instant;

use crate::runtime::contract::{self, ProviderError, TradeState, TradeStatus};
use crate::runtime::{Allowlist, CallError, Grants, KeyRing, Runtime};
use crate::store::provider_configs::{self, ProviderConfig};
use crate::store::{merchants, Db};
use crate::vault::Vault;

use super::trade::describe;
use super::{CallContext, ErrorCode, Gateway, ServiceError};

/// Test payment numbers start with this: it has letters outside the hexadecimal digits of
/// paygate's own payment numbers, so it can never name a real payment, and a provider's
/// log shows what it was.
pub const PROBE_PREFIX: &str = "pgtest";

/// Whether `configure` tests the configuration before it stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFirst {
    /// Test it and store it only if the test passes (the default).
    Yes,
    /// Store it untested (a provider not reachable from here yet; a test that sets up a
    /// broken configuration on purpose; the demo merchant, before paygate serves).
    No,
}

/// What a test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub merchant_id: String,
    pub provider: String,
    /// The payment number the test asked about.
    pub probe: String,
    /// Wall time of the adapter call (ms).
    pub elapsed_ms: u64,
    pub outcome: TestOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    /// The provider answered and the adapter trusted the answer: the configuration works.
    Passed { detail: String },
    /// What is wrong: the code a payment would fail with, and the provider's words.
    Failed { code: ErrorCode, message: String },
}

impl TestReport {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, TestOutcome::Passed { .. })
    }
}

/// A fresh payment number no payment can have: [`PROBE_PREFIX`] and 26 random hex digits
/// (32 characters of `[0-9a-z]`, the longest every provider takes).
pub fn probe_payment_no() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{PROBE_PREFIX}{}", &random[..32 - PROBE_PREFIX.len()])
}

/// Reads the answer to the test query of `probe`.
pub fn judge(
    probe: &str,
    answer: Result<Result<TradeStatus, ProviderError>, CallError>,
) -> TestOutcome {
    let passed = |detail: String| TestOutcome::Passed { detail };
    let failed = |code, message: String| TestOutcome::Failed { code, message };
    match answer {
        Ok(Err(ProviderError::NotFound)) => passed(format!(
            "the provider answered the test query: no trade {probe}, in an answer the adapter \
             verified; the configuration works"
        )),
        // Not expected for a number nobody used, but the provider did answer, verified.
        Ok(Ok(status)) => passed(format!(
            "the provider answered the test query with a trade {probe} in state {}; the \
             configuration works",
            state_name(status.state)
        )),
        Ok(Err(e @ (ProviderError::AlreadyPaid | ProviderError::AlreadyClosed))) => {
            passed(format!(
                "the provider answered the test query ({}); the configuration works",
                describe(&e)
            ))
        }
        Ok(Err(e @ (ProviderError::Config(_) | ProviderError::BadSignature(_)))) => {
            failed(ErrorCode::ProviderMisconfigured, describe(&e))
        }
        Ok(Err(e @ ProviderError::Rejected(_))) => {
            failed(ErrorCode::ProviderRejected, describe(&e))
        }
        Ok(Err(e @ ProviderError::Unreachable(_))) => {
            failed(ErrorCode::ProviderUnreachable, describe(&e))
        }
        Ok(Err(e @ ProviderError::Unsupported(_))) => failed(
            ErrorCode::Unsupported,
            format!("{}: this adapter cannot be tested by a query", describe(&e)),
        ),
        Err(CallError::UnknownAdapter(p)) => failed(
            ErrorCode::UnknownProvider,
            format!("no adapter is active for provider `{p}`"),
        ),
        Err(e) => failed(ErrorCode::AdapterFailed, e.to_string()),
    }
}

fn state_name(state: TradeState) -> &'static str {
    match state {
        TradeState::Open => "open",
        TradeState::Paid => "paid",
        TradeState::Closed => "closed",
        TradeState::Failed => "failed",
        TradeState::Refunded => "refunded",
    }
}

/// `cfg` as an adapter call sees it, built as the pay path builds it from the stored
/// configuration: the sealed secrets opened into a key ring, the base-URL settings as the
/// outbound allowlist.
fn call_context(
    runtime: &Runtime,
    vault: &Vault,
    cfg: &ProviderConfig,
) -> Result<CallContext, ServiceError> {
    let adapter = runtime
        .adapter(&cfg.provider)
        .ok_or_else(|| ServiceError::unknown_provider(&cfg.provider))?;
    let mut keys = KeyRing::default();
    for (name, secret) in &cfg.secrets {
        let kind = crate::runtime::parse_kind(&secret.kind).ok_or_else(|| {
            ServiceError::internal(
                "a secret to test",
                anyhow::anyhow!("secret `{name}` has unknown kind `{}`", secret.kind),
            )
        })?;
        let value = vault
            .open(&secret.sealed)
            .map_err(|e| ServiceError::internal("opening a secret to test", e))?;
        keys.insert(name, kind, &value)
            .map_err(|e| ServiceError::internal("a secret to test", e))?;
    }
    let settings = super::effective_settings(&adapter.info, &cfg.settings);
    let mut allowlist = Allowlist::default();
    for spec in adapter.info.settings.iter().filter(|s| s.is_base_url) {
        if let Some(url) = settings.get(&spec.name) {
            allowlist.allow_base_url(url).map_err(|e| {
                ServiceError::invalid(
                    ErrorCode::InvalidSetting,
                    format!("setting `{}`: {e}", spec.name),
                )
            })?;
        }
    }
    Ok(CallContext {
        config: contract::Config {
            merchant_id: cfg.merchant_id.clone(),
            settings: settings.into_iter().collect(),
        },
        grants: Grants {
            keys: Arc::new(keys),
            allowlist,
        },
        adapter_sha256: adapter.sha256.clone(),
    })
}

/// Tests `cfg` (stored or about to be) with one query of a fresh [`probe_payment_no`].
/// Errors are paygate's own (a secret it cannot open); what the provider says is in the
/// report.
pub async fn test_config(
    runtime: &Runtime,
    vault: &Vault,
    cfg: &ProviderConfig,
) -> Result<TestReport, ServiceError> {
    let ctx = call_context(runtime, vault, cfg)?;
    let probe = probe_payment_no();
    let started = Instant::now();
    let answer = runtime
        .test_query(&cfg.provider, ctx.grants.clone(), &ctx.config, &probe)
        .await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = judge(&probe, answer);
    match &outcome {
        TestOutcome::Passed { .. } => {
            tracing::info!(merchant_id = %cfg.merchant_id, provider = %cfg.provider, %probe, elapsed_ms, "provider configuration test passed")
        }
        TestOutcome::Failed { code, message } => {
            tracing::warn!(merchant_id = %cfg.merchant_id, provider = %cfg.provider, %probe, elapsed_ms, %code, %message, "provider configuration test failed")
        }
    }
    Ok(TestReport {
        merchant_id: cfg.merchant_id.clone(),
        provider: cfg.provider.clone(),
        probe,
        elapsed_ms,
        outcome,
    })
}

/// Tests the merchant's stored configuration for `provider`: 404 `merchant_not_found` for
/// an unknown merchant, 422 `unknown_provider` without an active adapter, 422
/// `provider_not_configured` when nothing is stored. Needs the database, the vault and the
/// adapters only, so `paygate providers test` works beside a running server.
pub async fn test_stored(
    db: &Db,
    vault: &Vault,
    runtime: &Runtime,
    merchant_id: &str,
    provider: &str,
) -> Result<TestReport, ServiceError> {
    merchants::get(db, merchant_id)
        .await?
        .ok_or(ServiceError::NotFound("merchant"))?;
    if runtime.adapter(provider).is_none() {
        return Err(ServiceError::unknown_provider(provider));
    }
    let cfg = provider_configs::get(db, merchant_id, provider)
        .await?
        .ok_or_else(|| {
            ServiceError::invalid(
                ErrorCode::ProviderNotConfigured,
                format!(
                    "provider `{provider}` is not configured for merchant {merchant_id}: \
                     configure it first"
                ),
            )
        })?;
    test_config(runtime, vault, &cfg).await
}

/// The error `configure` answers when the test of the configuration it was given failed:
/// 422 `provider_test_failed`, with the test's code and the provider's words.
pub fn refusal(report: &TestReport) -> Option<ServiceError> {
    let TestOutcome::Failed { code, message } = &report.outcome else {
        return None;
    };
    Some(ServiceError::invalid(
        ErrorCode::ProviderTestFailed,
        format!(
            "the configuration was not stored: its test query failed with {code}: {message} \
             (fix it, or store it untested with `?test=false` / `--no-test`)"
        ),
    ))
}

impl Gateway {
    /// See [`test_stored`].
    pub async fn test_provider(
        &self,
        merchant_id: &str,
        provider: &str,
    ) -> Result<TestReport, ServiceError> {
        test_stored(&self.db, &self.vault, &self.runtime, merchant_id, provider).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::contract::Rejection;

    const PROBE: &str = "pgtest0123456789abcdef0123456789";

    fn failed(outcome: TestOutcome) -> (ErrorCode, String) {
        match outcome {
            TestOutcome::Failed { code, message } => (code, message),
            passed => panic!("expected a failure, got {passed:?}"),
        }
    }

    #[test]
    fn probes_are_fresh_32_characters_that_no_payment_number_can_be() {
        let (a, b) = (probe_payment_no(), probe_payment_no());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.starts_with(PROBE_PREFIX));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        // paygate's payment numbers are 32 hex digits: `p`, `g`, `t` and `s` are not.
        assert!(!a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_verified_not_found_passes_and_so_does_any_verified_answer() {
        let outcome = judge(PROBE, Ok(Err(ProviderError::NotFound)));
        assert!(
            matches!(&outcome, TestOutcome::Passed { detail } if detail.contains(PROBE)),
            "{outcome:?}"
        );
        let status = TradeStatus {
            payment_no: PROBE.into(),
            state: TradeState::Closed,
            provider_trade_id: None,
            paid_amount: None,
            paid_at: None,
        };
        assert!(matches!(
            judge(PROBE, Ok(Ok(status))),
            TestOutcome::Passed { detail } if detail.contains("closed")
        ));
        assert!(matches!(
            judge(PROBE, Ok(Err(ProviderError::AlreadyClosed))),
            TestOutcome::Passed { .. }
        ));
    }

    #[test]
    fn a_refusal_fails_with_the_code_a_payment_would_get_and_the_providers_words() {
        let rejected = ProviderError::Rejected(Rejection {
            code: "SIGN_ERROR".into(),
            message: "签名错误".into(),
        });
        let (code, message) = failed(judge(PROBE, Ok(Err(rejected))));
        assert_eq!(code, ErrorCode::ProviderRejected);
        assert!(message.contains("SIGN_ERROR 签名错误"), "{message}");

        for (error, expected) in [
            (
                ProviderError::Config("check app_id".into()),
                ErrorCode::ProviderMisconfigured,
            ),
            (
                ProviderError::BadSignature("no key".into()),
                ErrorCode::ProviderMisconfigured,
            ),
            (
                ProviderError::Unreachable("refused".into()),
                ErrorCode::ProviderUnreachable,
            ),
            (
                ProviderError::Unsupported("no query".into()),
                ErrorCode::Unsupported,
            ),
        ] {
            let words = match &error {
                ProviderError::Config(m)
                | ProviderError::BadSignature(m)
                | ProviderError::Unreachable(m)
                | ProviderError::Unsupported(m) => m.clone(),
                _ => unreachable!("the cases above carry words"),
            };
            let (code, message) = failed(judge(PROBE, Ok(Err(error))));
            assert_eq!(code, expected);
            assert!(message.contains(&words), "{message}");
        }
    }

    #[test]
    fn an_adapter_that_fails_fails_the_test_as_adapter_failed() {
        let trap = CallError::Trap {
            adapter: "mock".into(),
            message: "unreachable executed".into(),
        };
        let (code, message) = failed(judge(PROBE, Err(trap)));
        assert_eq!(code, ErrorCode::AdapterFailed);
        assert!(message.contains("trapped"), "{message}");
    }

    #[test]
    fn a_failed_test_refuses_the_configuration_with_both_codes_and_the_words() {
        let report = TestReport {
            merchant_id: "m_1".into(),
            provider: "wechat".into(),
            probe: PROBE.into(),
            elapsed_ms: 3,
            outcome: TestOutcome::Failed {
                code: ErrorCode::ProviderRejected,
                message: "the provider refused: SIGN_ERROR 签名错误".into(),
            },
        };
        let refused = refusal(&report).expect("refused");
        assert_eq!(refused.code(), Some(ErrorCode::ProviderTestFailed));
        let text = refused.to_string();
        assert!(
            text.contains("provider_rejected") && text.contains("SIGN_ERROR 签名错误"),
            "{text}"
        );
        let passed = TestReport {
            outcome: TestOutcome::Passed {
                detail: "ok".into(),
            },
            ..report
        };
        assert!(refusal(&passed).is_none());
    }
}
