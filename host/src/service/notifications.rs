//! Provider notifications: the adapter verifies and decodes them, settlement applies them
//! idempotently, and the provider gets the reply its protocol expects.

use tracing::Instrument;

use crate::runtime::contract::{NotificationEvent, Reply};
use crate::store::payments::{self, SettleOutcome};
use crate::store::{merchants, notifications};

use super::{Gateway, ServiceError};

impl Gateway {
    /// Handles one notification request and returns the reply to send. An error means no
    /// adapter reply is available (unknown merchant or provider).
    pub async fn handle_notification(
        &self,
        provider: &str,
        merchant_id: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Reply, ServiceError> {
        merchants::get(&self.db, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound("merchant"))?;
        let ctx = self.call_context(merchant_id, provider).await?;
        let parsed = self
            .runtime
            .parse_notification(provider, ctx.grants, &ctx.config, headers, body)
            .await?;
        let notification = match parsed {
            Ok(n) => n,
            Err(refusal) => {
                tracing::warn!(provider, merchant_id, error = ?refusal.error, "notification refused by the adapter; nothing changed");
                notifications::record(
                    &self.db,
                    provider,
                    merchant_id,
                    None,
                    false,
                    &format!("refused: {:?}", refusal.error),
                )
                .await?;
                return Ok(refusal.reply);
            }
        };
        let status = match &notification.event {
            NotificationEvent::Payment(status) => status,
            NotificationEvent::Refund(refund) => {
                tracing::info!(payment_no = %refund.payment_no, refund_no = %refund.refund_no, state = ?refund.state, "refund notification");
                if let Err(e) = self.apply_refund_status(merchant_id, refund).await {
                    tracing::error!(error = %e, "could not apply the refund notification; asking the provider to retry");
                    return Ok(notification.retry);
                }
                notifications::record(
                    &self.db,
                    provider,
                    merchant_id,
                    Some(&refund.payment_no),
                    true,
                    "refund event applied",
                )
                .await?;
                return Ok(notification.ack);
            }
        };
        // The payment must be this merchant's, at this provider: a valid signature for one
        // merchant's account proves nothing about another's payments.
        let owned = payments::get(&self.db, merchant_id, &status.payment_no)
            .await?
            .is_some_and(|p| p.provider == provider);
        if !owned {
            tracing::error!(payment_no = %status.payment_no, "verified notification for a payment that is not this merchant's at this provider");
            notifications::record(
                &self.db,
                provider,
                merchant_id,
                Some(&status.payment_no),
                true,
                "unknown payment",
            )
            .await?;
            return Ok(notification.ack);
        }
        let order_ids = payments::order_ids(&self.db, &status.payment_no)
            .await?
            .join(",");
        let span =
            tracing::info_span!("settle", order_id = %order_ids, payment_no = %status.payment_no);
        match self.apply_trade_status(status).instrument(span).await {
            Ok(outcome) => {
                let outcome_text = match &outcome {
                    SettleOutcome::Paid { .. } => "paid".to_owned(),
                    SettleOutcome::PaidWithConflict { .. } => {
                        "paid, double payment flagged".to_owned()
                    }
                    SettleOutcome::Closed => "closed".to_owned(),
                    SettleOutcome::Unchanged => "unchanged".to_owned(),
                    SettleOutcome::Flagged(f) => format!("flagged {f}"),
                    SettleOutcome::UnknownPayment => "unknown payment".to_owned(),
                    SettleOutcome::LatePayment => "late payment, refunded".to_owned(),
                };
                notifications::record(
                    &self.db,
                    provider,
                    merchant_id,
                    Some(&status.payment_no),
                    true,
                    &outcome_text,
                )
                .await?;
                // A report paygate refuses to apply (an amount that is not the payment's)
                // is not acknowledged: the provider keeps telling us while an operator
                // looks at the flagged payment.
                if let SettleOutcome::Flagged(_) = outcome {
                    return Ok(notification.retry);
                }
                Ok(notification.ack)
            }
            Err(e) => {
                // Not recorded: tell the provider to try again.
                tracing::error!(error = %e, "could not apply the notification; asking the provider to retry");
                Ok(notification.retry)
            }
        }
    }
}
