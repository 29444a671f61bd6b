//! Talking to the provider about a payment's trade: asking its state, closing it, and the
//! words paygate uses for the provider's refusals. What a report does to the payment is
//! `settlement`'s.

use crate::domain::{PaymentEvent, Transition};
use crate::runtime::contract::{ProviderError, RefundStatus, TradeState, TradeStatus};
use crate::store::payments::{self, PaymentRecord};
use crate::store::Applied;

use super::calls::About;
use super::settlement::Settled;
use super::{ErrorCode, Gateway, ServiceError};

/// A provider's refusal in words fit for the merchant and the operator (never the
/// adapter's debug text).
pub fn describe(e: &ProviderError) -> String {
    match e {
        ProviderError::Unreachable(m) => format!("the provider could not be reached: {m}"),
        ProviderError::Rejected(r) => format!("the provider refused: {} {}", r.code, r.message),
        ProviderError::AlreadyPaid => "the provider reports the trade already paid".into(),
        ProviderError::AlreadyClosed => "the provider has closed the trade".into(),
        ProviderError::NotFound => "the provider does not know the trade".into(),
        ProviderError::BadSignature(m) => format!("signature problem: {m}"),
        ProviderError::Config(m) => {
            format!("the merchant's provider configuration is wrong: {m}")
        }
        ProviderError::Unsupported(m) => format!("not supported by this provider: {m}"),
    }
}

impl Gateway {
    /// What the provider says of a trade of `merchant_id`, asked through the adapter's
    /// `query` with the merchant's configuration; nothing is recorded or changed. For the
    /// adapter conformance check and for diagnostics.
    pub async fn ask_provider_about_trade(
        &self,
        merchant_id: &str,
        provider: &str,
        payment_no: &str,
    ) -> Result<Result<TradeStatus, ProviderError>, ServiceError> {
        let ctx = self.call_context(merchant_id, provider).await?;
        Ok(self
            .runtime
            .query(provider, ctx.grants.clone(), &ctx.config, payment_no)
            .await?)
    }

    /// What the provider says of a refund, through the adapter's `query-refund`; nothing is
    /// recorded or changed. As [`Gateway::ask_provider_about_trade`].
    pub async fn ask_provider_about_refund(
        &self,
        merchant_id: &str,
        provider: &str,
        payment_no: &str,
        refund_no: &str,
    ) -> Result<Result<RefundStatus, ProviderError>, ServiceError> {
        let ctx = self.call_context(merchant_id, provider).await?;
        Ok(self
            .runtime
            .query_refund(
                provider,
                ctx.grants.clone(),
                &ctx.config,
                payment_no,
                refund_no,
            )
            .await?)
    }

    /// Closes an open payment's trade at its provider, then locally. "Already paid" at the
    /// provider settles the payment as paid instead and refuses with `order_paid`.
    ///
    /// A refused close is never taken at its word: providers do not all pin the code for
    /// "closing a paid trade" (WeChat Pay's documentation does not), so any refusal other
    /// than "already closed" or "unknown trade" is followed by a query, and the trade's
    /// real state decides.
    pub(super) async fn close_at_provider(
        &self,
        payment: &PaymentRecord,
    ) -> Result<(), ServiceError> {
        let ctx = self
            .call_context(&payment.merchant_id, &payment.provider)
            .await?;
        let refusal = match self
            .recorded(
                About::payment(payment),
                "close",
                self.runtime.close(
                    &payment.provider,
                    ctx.grants.clone(),
                    &ctx.config,
                    &payment.payment_no,
                ),
            )
            .await?
        {
            Ok(()) | Err(ProviderError::AlreadyClosed) | Err(ProviderError::NotFound) => {
                return self.closed_at_provider(payment).await;
            }
            Err(ProviderError::Unreachable(m)) => {
                return Err(ServiceError::provider(
                    ErrorCode::ProviderUnreachable,
                    format!("could not close the open payment: {m}"),
                    true,
                ))
            }
            Err(refusal) => refusal,
        };
        tracing::info!(payment_no = %payment.payment_no, refusal = %describe(&refusal), "close refused; asking the provider for the trade's state");
        let status = match self.query_trade(payment).await? {
            Ok(status) => status,
            Err(ProviderError::NotFound) => return self.closed_at_provider(payment).await,
            Err(e) => {
                return Err(ServiceError::provider(
                    ErrorCode::ProviderUnreachable,
                    format!(
                        "the provider refused to close the payment ({}) and its state could \
                         not be read ({})",
                        describe(&refusal),
                        describe(&e)
                    ),
                    true,
                ))
            }
        };
        match status.state {
            TradeState::Paid | TradeState::Refunded => {
                self.apply_report(&status, None).await?;
                Err(ServiceError::conflict(
                    ErrorCode::OrderPaid,
                    "the provider reports this payment paid",
                ))
            }
            TradeState::Closed | TradeState::Failed => self.closed_at_provider(payment).await,
            // Still payable there: nothing may close locally (the money could still come).
            TradeState::Open => Err(ServiceError::provider(
                ErrorCode::ProviderRejected,
                format!(
                    "the provider refused to close the open payment and reports it still \
                     open: {}",
                    describe(&refusal)
                ),
                true,
            )),
        }
    }

    /// Records that the payment's trade can no longer be paid at its provider (the payment
    /// state machine's close), freeing its orders.
    async fn closed_at_provider(&self, payment: &PaymentRecord) -> Result<(), ServiceError> {
        if let Ok(Transition::To(change)) = payment.state.apply(PaymentEvent::Close) {
            if let Applied::LostRace =
                payments::end_unpaid(&self.db, &payment.payment_no, change, self.now_ms()).await?
            {
                tracing::info!(payment_no = %payment.payment_no, "the payment moved while it was closed at the provider");
            }
        }
        tracing::info!(payment_no = %payment.payment_no, "payment closed at the provider");
        Ok(())
    }

    /// The provider's answer about the payment's trade.
    pub(super) async fn query_trade(
        &self,
        payment: &PaymentRecord,
    ) -> Result<Result<TradeStatus, ProviderError>, ServiceError> {
        let ctx = self
            .call_context(&payment.merchant_id, &payment.provider)
            .await?;
        Ok(self
            .recorded(
                About::payment(payment),
                "query",
                self.runtime.query(
                    &payment.provider,
                    ctx.grants.clone(),
                    &ctx.config,
                    &payment.payment_no,
                ),
            )
            .await?)
    }

    /// Asks the provider for the payment's state and settles it.
    pub(super) async fn sync_payment(
        &self,
        payment: &PaymentRecord,
    ) -> Result<Settled, ServiceError> {
        match self.query_trade(payment).await? {
            Ok(status) => self.apply_report(&status, None).await,
            Err(e) => Err(ServiceError::provider(
                ErrorCode::ProviderUnreachable,
                format!("status query failed: {}", describe(&e)),
                true,
            )),
        }
    }
}
