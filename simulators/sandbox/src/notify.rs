//! Paid notifications (sandbox -> the trade's `notify_url`): one signed attempt
//! (`send_notification`, the step tests and `POST /trades/{payment_no}/notify` drive) and the
//! background delivery that retries it on the configured delays until acknowledged.
//!
//! Where a notification may go: a trade's `notify_url` is whatever its creator said, so
//! paygate serves its built-in sandbox with its webhook destination rule (no internal
//! addresses, no redirects; paygate's own address allowed): a [`DestinationCheck`] for
//! URLs whose host is a literal address, and a `reqwest::Client` whose resolver checks the
//! addresses of a name. A refused destination fails the attempt without sending it, and
//! its reason (for the client's refusals, the error's source chain) is in the log and the
//! error.

use std::sync::Arc;

use serde_json::Value;

use crate::accounts::{self, random_token};
use crate::error::SandboxError;
use crate::sign::{self, now_secs};
use crate::trades;
use crate::wire::PaidNotification;
use crate::Sandbox;

/// How much of a receiver's answer is kept: enough for `{"code": ...}` and an error text,
/// not enough for a misbehaving receiver to fill memory.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Judges a notification URL before it is sent: `Err` says why it is refused.
#[derive(Clone)]
pub struct DestinationCheck(pub Arc<CheckFn>);

/// Checks one destination URL: `Err` says why it is refused.
pub type CheckFn = dyn Fn(&str) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for DestinationCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DestinationCheck")
    }
}

/// What the receiver answered to one notification.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: u16,
    pub body: String,
    /// `200 {"code": "SUCCESS"}`: the receiver recorded the notification.
    pub acknowledged: bool,
}

impl Sandbox {
    /// Delivers the paid notification of `payment_no` in the background. The task is tracked
    /// by [`Sandbox::notification_tasks`] so shutdown can wait for deliveries under way.
    pub fn spawn_notification(&self, payment_no: String) {
        let sandbox = self.clone();
        self.tasks.spawn(async move {
            let span = sandbox.trade_span(&payment_no).await;
            tracing::Instrument::instrument(sandbox.deliver_notification(&payment_no), span).await;
        });
    }

    /// Sends the notification now and again after each retry delay until the receiver
    /// acknowledges it; whether it ever did.
    pub async fn deliver_notification(&self, payment_no: &str) -> bool {
        let mut delays = self.notify_delays.iter();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.send_notification(payment_no, attempt).await {
                Ok(delivery) if delivery.acknowledged => return true,
                Ok(_) => {}
                // Unreachable receiver or a database hiccup: worth another attempt.
                Err(SandboxError::NotifyFailed(_) | SandboxError::Database(_)) => {}
                // The trade is gone or unpaid: no attempt can succeed.
                Err(e) => {
                    tracing::warn!(payment_no, attempt, error = %e, "sandbox notification abandoned");
                    return false;
                }
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(*delay).await,
                None => {
                    tracing::warn!(
                        payment_no,
                        attempt,
                        "sandbox notification never acknowledged"
                    );
                    return false;
                }
            }
        }
    }

    /// One signed POST of the paid notification to the trade's `notify_url`, counted in the
    /// trade's `notifications` counters. `attempt` is for the log only.
    pub async fn send_notification(
        &self,
        payment_no: &str,
        attempt: u32,
    ) -> Result<Delivery, SandboxError> {
        let trade = trades::get(&self.pool, payment_no).await?;
        let (Some(paid_amount), Some(paid_at_ms)) = (trade.paid_amount, trade.paid_at_ms) else {
            return Err(SandboxError::TradeNotPaid);
        };
        let key = accounts::api_key(&self.pool, &trade.account_id)
            .await?
            .ok_or_else(|| SandboxError::Corrupt(format!("trade {payment_no} has no account")))?;
        let body = serde_json::to_vec(&PaidNotification {
            event: "trade.paid",
            payment_no: &trade.payment_no,
            trade_id: &trade.trade_id,
            state: "paid",
            amount: trade.amount,
            currency: &trade.currency,
            paid_amount,
            paid_at: super::wire::secs(paid_at_ms),
        })
        .map_err(|e| SandboxError::Corrupt(format!("notification not serializable: {e}")))?;
        let timestamp = now_secs().to_string();
        let nonce = random_token(24);
        let signature = sign::sign(&key, &sign::notification_message(&timestamp, &nonce, &body))?;

        if let Some(check) = &self.destination_check {
            if let Err(reason) = (check.0)(&trade.notify_url) {
                tracing::warn!(payment_no, attempt, %reason, "sandbox notification destination refused; not sent");
                return Err(SandboxError::NotifyFailed(format!(
                    "destination refused: {reason}"
                )));
            }
        }
        let answer = self
            .http
            .post(&trade.notify_url)
            .timeout(self.notify_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::ACCOUNT_HEADER, &trade.account_id)
            .header(sign::TIMESTAMP_HEADER, &timestamp)
            .header(sign::NONCE_HEADER, &nonce)
            .header(sign::SIGNATURE_HEADER, &signature)
            .body(body)
            .send()
            .await;
        let answer = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                read_capped(response).await.map(|body| (status, body))
            }
            Err(e) => Err(e),
        };
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                // An attempt that got no answer was still sent: the receiver may have acted.
                trades::count_notification(&self.pool, payment_no, false).await?;
                let reason = with_sources(&e);
                tracing::warn!(payment_no, attempt, status = "no answer", error = %reason, "sandbox notification failed");
                return Err(SandboxError::NotifyFailed(reason));
            }
        };
        let acknowledged = status == 200
            && serde_json::from_slice::<Value>(&body)
                .is_ok_and(|v| v.get("code").and_then(Value::as_str) == Some("SUCCESS"));
        trades::count_notification(&self.pool, payment_no, acknowledged).await?;
        tracing::info!(
            payment_no,
            attempt,
            status,
            acknowledged,
            "sandbox notification answered"
        );
        Ok(Delivery {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            acknowledged,
        })
    }
}

/// An error and its sources, `: `-separated: `reqwest` shows only its own level, and the
/// reason a connection was refused is a source of it.
fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The answer's body, cut at [`MAX_ANSWER_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}
