//! Merchant webhooks: each outbox event is POSTed to its order's `notify_url`, signed with
//! the merchant's webhook secret, and retried on the webhook schedule until a 2xx answer
//! or the schedule ends (then the delivery is `failed` and listed for an operator). When
//! Redis is configured the event is also appended to the stream `{prefix}:events`.
//!
//! Signature: header `Paygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, where the
//! HMAC key is the webhook secret and the message is `<t>.<raw body>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Timers, WebhookTask};
use crate::queue::{Claimed, DelayQueue, Handler, Outcome};
use crate::service::Gateway;
use crate::store::{events, merchants, now_ms, orders};

/// How long a merchant's endpoint may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub struct WebhookHandler {
    pub gateway: Arc<Gateway>,
    pub timers: Timers,
    pub http: reqwest::Client,
    /// Redis key prefix, when the queue (and so the stream) is on Redis.
    pub redis_prefix: String,
}

impl WebhookHandler {
    async fn stream(&self, event: &events::OrderEvent) -> Result<(), String> {
        let DelayQueue::Redis(q) = &self.timers.queue else {
            return Ok(());
        };
        let mut conn = q.connection();
        let key = format!("{}:events", self.redis_prefix);
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(100_000)
            .arg("*")
            .arg("id")
            .arg(&event.id)
            .arg("type")
            .arg(&event.kind)
            .arg("order_id")
            .arg(&event.order_id)
            .arg("merchant_id")
            .arg(&event.merchant_id)
            .arg("payload")
            .arg(&event.payload)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        events::mark_streamed(&self.gateway.db, &event.id)
            .await
            .map_err(|e| e.to_string())
    }

    async fn deliver(&self, event: &events::OrderEvent) -> Result<Option<u16>, String> {
        let order = orders::get(&self.gateway.db, &event.merchant_id, &event.order_id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(url) = order.and_then(|o| o.notify_url) else {
            return Ok(None);
        };
        let sealed = merchants::webhook_secret(&self.gateway.db, &event.merchant_id)
            .await
            .map_err(|e| e.to_string())?;
        let secret = self
            .gateway
            .vault
            .open(&sealed)
            .map_err(|e| e.to_string())?;
        let timestamp = now_ms() / 1000;
        let response = self
            .http
            .post(&url)
            .timeout(WEBHOOK_TIMEOUT)
            .header("content-type", "application/json")
            .header("paygate-event-id", &event.id)
            .header(
                "paygate-signature",
                signature(&secret, timestamp, &event.payload),
            )
            .body(event.payload.clone())
            .send()
            .await;
        Ok(Some(match response {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                tracing::warn!(event = %event.id, error = %e, "webhook endpoint unreachable");
                0
            }
        }))
    }
}

impl Handler for WebhookHandler {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let Ok(t) = serde_json::from_str::<WebhookTask>(&task.payload) else {
                return Outcome::Done;
            };
            let retry = || Outcome::RetryAt {
                due_ms: now_ms() + 10_000,
                payload: task.payload.clone(),
            };
            let event = match events::get(&self.gateway.db, &t.event_id).await {
                Ok(Some(e)) => e,
                Ok(None) => return Outcome::Done,
                Err(_) => return retry(),
            };
            let span = tracing::info_span!("webhook", event = %event.id, order_id = %event.order_id, kind = %event.kind);
            tracing::Instrument::instrument(self.attempt(task, event), span).await
        })
    }
}

impl WebhookHandler {
    /// One delivery attempt (and the stream append, once), deciding when to come back.
    async fn attempt(&self, task: &Claimed, event: events::OrderEvent) -> Outcome {
        let retry = || Outcome::RetryAt {
            due_ms: now_ms() + 10_000,
            payload: task.payload.clone(),
        };
        if !event.streamed {
            if let Err(e) = self.stream(&event).await {
                tracing::warn!(error = %e, "could not append to the event stream; retrying");
                return retry();
            }
        }
        if event.delivery != "pending" {
            return Outcome::Done;
        }
        let status = match self.deliver(&event).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "webhook could not be prepared; retrying");
                return retry();
            }
        };
        let attempts = event.attempts as usize + 1;
        let (delivery, outcome) = match status {
            None => ("none", Outcome::Done),
            Some(s) if (200..300).contains(&s) => ("delivered", Outcome::Done),
            Some(_) if attempts > self.timers.webhook_schedule.len() => ("failed", Outcome::Done),
            Some(_) => {
                let delay = self.timers.webhook_schedule[attempts - 1];
                (
                    "pending",
                    Outcome::RetryAt {
                        due_ms: now_ms() + delay.as_millis() as i64,
                        payload: task.payload.clone(),
                    },
                )
            }
        };
        if let Err(e) = events::attempted(&self.gateway.db, &event.id, status, delivery).await {
            tracing::error!(error = %e, "could not record the webhook attempt; retrying");
            return retry();
        }
        match delivery {
            "delivered" => tracing::info!(attempts, "webhook delivered"),
            "failed" => {
                tracing::error!(attempts, "webhook schedule exhausted; delivery failed")
            }
            "pending" => tracing::warn!(
                attempts,
                status = status.unwrap_or(0),
                "webhook refused; will retry"
            ),
            _ => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
