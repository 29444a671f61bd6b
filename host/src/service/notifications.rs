//! Provider notifications: the adapter verifies and decodes them, settlement applies them
//! idempotently (recording the notification in the same transaction), and the provider
//! gets the reply its protocol expects.

use tracing::Instrument;

use crate::runtime::contract::{NotificationEvent, Reply};
use crate::store::merchants;
use crate::store::notifications::{self, Received};

use super::settlement::Notified;
use super::trade::describe;
use super::{ErrorCode, Gateway, ServiceError};

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
        let ctx = match self.call_context(merchant_id, provider).await {
            Ok(ctx) => ctx,
            Err(e) if e.code() == Some(ErrorCode::ProviderNotConfigured) => {
                // Say which is unknown: the merchant, or its configuration.
                merchants::get(&self.db, merchant_id)
                    .await?
                    .ok_or(ServiceError::NotFound("merchant"))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let parsed = self
            .runtime
            .parse_notification(provider, ctx.grants.clone(), &ctx.config, headers, body)
            .await?;
        let notification = match parsed {
            Ok(n) => n,
            Err(refusal) => {
                let why = describe(&refusal.error);
                tracing::warn!(provider, merchant_id, error = %why, "notification refused by the adapter; nothing changed");
                let received = Received {
                    provider,
                    merchant_id,
                    payment_no: None,
                    verified: false,
                    outcome: format!("refused: {why}"),
                };
                notifications::save(&self.db, &received, self.now_ms()).await?;
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
                let received = Received {
                    provider,
                    merchant_id,
                    payment_no: Some(&refund.payment_no),
                    verified: true,
                    outcome: "refund event applied".into(),
                };
                notifications::save(&self.db, &received, self.now_ms()).await?;
                return Ok(notification.ack);
            }
        };
        let span = tracing::info_span!("settle", payment_no = %status.payment_no);
        let notified = Notified {
            provider,
            merchant_id,
        };
        match self
            .apply_report(status, Some(notified))
            .instrument(span)
            .await
        {
            // A report paygate refuses to apply (an amount that is not the payment's) is not
            // acknowledged: the provider keeps telling us while an operator looks.
            Ok(settled) if settled.acknowledged() => Ok(notification.ack),
            Ok(_) => Ok(notification.retry),
            Err(e) => {
                // Not recorded: tell the provider to try again.
                tracing::error!(error = %e, "could not apply the notification; asking the provider to retry");
                Ok(notification.retry)
            }
        }
    }
}
