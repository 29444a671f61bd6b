//! The swap test adapter: the smallest adapter that tells which of its versions answered.
//! It is built twice from this one file (`v1/` as 1.0.0, `v2/` as 2.0.0, by
//! `tests/build.rs`), so a test can activate one version over the other in a running
//! paygate and see which one served a call: `info().version` is the package's version, and
//! so is the `v` parameter of its pay URL, `https://swap.example/pay/{payment_no}?v=1.0.0`.
//!
//! It calls no provider: no settings, no secrets, no network. Channel `web` only.

use paygate_sdk::{
    channel, AdapterInfo, Config, Headers, Notification, PayAction, PayRequest, PayResponse,
    Provider, ProviderError, RefundRequest, RefundStatus, Refusal, Reply, TradeState, TradeStatus,
    CONTRACT_VERSION,
};

/// Which build this is: `1.0.0` or `2.0.0`, from the building crate's Cargo.toml.
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Swap;

impl Provider for Swap {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "swap".into(),
            version: VERSION.into(),
            contract_version: CONTRACT_VERSION.into(),
            channels: vec![channel("web", &[])],
            settings: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn pay(_config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        if request.channel != "web" {
            return Err(ProviderError::Unsupported(format!(
                "channel `{}`: the swap adapter offers `web`",
                request.channel
            )));
        }
        Ok(PayResponse {
            action: PayAction::Redirect(format!(
                "https://swap.example/pay/{}?v={VERSION}",
                request.payment_no
            )),
            provider_trade_id: None,
            action_expires_at: None,
        })
    }

    fn query(_config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        // There is no provider: every trade it handed out waits for a payer forever.
        Ok(TradeStatus {
            payment_no,
            state: TradeState::Open,
            provider_trade_id: None,
            paid_amount: None,
            paid_at: None,
        })
    }

    fn close(_config: Config, _payment_no: String) -> Result<(), ProviderError> {
        // Nothing was opened anywhere, so there is nothing to close.
        Ok(())
    }

    fn refund(_config: Config, _request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        Err(ProviderError::Unsupported(
            "the swap adapter takes no payments to refund".into(),
        ))
    }

    fn query_refund(
        _config: Config,
        _payment_no: String,
        _refund_no: String,
    ) -> Result<RefundStatus, ProviderError> {
        Err(ProviderError::Unsupported(
            "the swap adapter takes no payments to refund".into(),
        ))
    }

    fn parse_notification(
        _config: Config,
        _headers: Headers,
        _body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        Err(Refusal {
            error: ProviderError::Unsupported("the swap adapter sends no notifications".into()),
            reply: Reply {
                status: 400,
                headers: Vec::new(),
                body: Vec::new(),
            },
        })
    }
}

paygate_sdk::export_adapter!(Swap);
