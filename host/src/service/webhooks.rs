//! Merchant webhooks: each outbox event is POSTed to its order's `notify_url` (or, for an
//! order without one, to its merchant's webhook endpoint), signed with
//! the merchant's webhook secret, and retried on the webhook schedule until a 2xx answer
//! or the schedule ends (the domain's delivery rule; then the delivery is `failed` and
//! listed for an operator). When Redis is configured the event is also appended to the
//! stream `{prefix}:events`.
//!
//! Destinations: every attempt connects only to addresses the destination rule passes
//! (`service::destinations`): the URL's host is resolved once, per attempt, and checked; a
//! refused destination is a failed attempt like an unreachable one (no answer, status 0),
//! with the reason in the log, and keeps its retry schedule: the operator may allow the
//! host meanwhile, or the merchant's DNS may be fixed, and when the schedule ends the
//! delivery is `failed` and listed for an operator like any other.
//!
//! Signature: header `Paygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, where the
//! HMAC key is the webhook secret and the message is `<t>.<raw body>`.
//!
//! Order: each event carries its order's sequence number (`sequence` in the body, header
//! `Paygate-Event-Sequence`, field `sequence` in the stream). An attempt that comes due
//! while an earlier event of the same order is still pending is held back, within the
//! order wait (the domain's `delivery::turn`): no attempt is made or counted, and it looks
//! again shortly. An event that leaves `pending` (delivered, failed, no endpoint) schedules
//! the order's next pending event at once, so a held event rarely waits for its recheck.
//! The stream is appended to at once, held or not: its consumers order by the sequence.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::delivery::{after_attempt, redeliver, turn, Attempt, Turn, HOLD_RECHECK};
use crate::domain::merchant::webhook_endpoint;
use crate::domain::{schedule, DeliveryState, Transition};
use crate::queue::DelayQueue;
use crate::store::events::{self, DeliveryRecord, OrderEvent};
use crate::store::Applied;
use crate::store::{merchants, orders};

use super::{ErrorCode, Gateway, ServiceError};

/// How long a merchant's endpoint may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How soon an attempt that could not be made (database, vault, stream) is made again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

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

/// What a delivery step leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStep {
    /// Nothing more to do for this event.
    Done,
    /// Come back at this time (ms).
    RetryAt(i64),
}

impl Gateway {
    /// One delivery attempt of `event_id` (and its stream append, once), unless an earlier
    /// event of its order holds it back.
    pub async fn deliver_event(&self, event_id: &str) -> DeliveryStep {
        let retry = DeliveryStep::RetryAt(self.now_ms() + schedule::millis(RETRY_AFTER));
        let (event, earlier_pending_since) = match events::due(&self.db, event_id).await {
            Ok(Some(due)) => (due.event, due.earlier_pending_since),
            Ok(None) => return DeliveryStep::Done,
            Err(e) => {
                tracing::error!(error = %e, "webhook event unreadable; retrying");
                return retry;
            }
        };
        if !event.streamed {
            if let Err(e) = self.stream(&event).await {
                tracing::warn!(error = %e, "could not append to the event stream; retrying");
                return retry;
            }
        }
        if event.delivery != DeliveryState::Pending {
            return DeliveryStep::Done;
        }
        let order_turn = turn(
            event.created_at,
            earlier_pending_since,
            self.now_ms(),
            self.timers.webhook_order_wait,
            HOLD_RECHECK,
        );
        if let Turn::Wait { recheck_at_ms } = order_turn {
            tracing::info!(
                seq = event.seq,
                recheck_at_ms,
                "an earlier event of the order is still pending; held back"
            );
            return DeliveryStep::RetryAt(recheck_at_ms);
        }
        let met = match self.post(&event).await {
            Ok(met) => met,
            Err(e) => {
                tracing::error!(error = %e, "webhook could not be prepared; retrying");
                return retry;
            }
        };
        let attempt = usize::try_from(event.attempts).unwrap_or(usize::MAX - 1) + 1;
        let next = after_attempt(attempt, met, &self.timers.webhook_schedule);
        let change = match next.change {
            Transition::To(c) => Some(c),
            Transition::Unchanged => None,
        };
        let status = match met {
            Attempt::Answered(s) => Some(s),
            // 0: no answer, as the events API has always shown it.
            Attempt::Unreachable => Some(0),
            Attempt::NoEndpoint => None,
        };
        let now = self.now_ms();
        let recorded = events::attempted(
            &self.db,
            &event.id,
            status,
            DeliveryState::Pending,
            change,
            now,
        )
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "could not record the webhook attempt; retrying");
            return retry;
        }
        if change.is_some() {
            // It left `pending`: the order's next event need not wait for its recheck.
            self.release_next(&event, now).await;
        }
        match (change.map(|c| c.to()), next.retry_in) {
            (Some(DeliveryState::Delivered), _) => tracing::info!(attempt, "webhook delivered"),
            (Some(DeliveryState::Failed), _) => {
                tracing::error!(attempt, "webhook schedule exhausted; delivery failed")
            }
            (_, Some(_)) => tracing::warn!(attempt, ?status, "webhook refused; will retry"),
            _ => {}
        }
        match next.retry_in {
            Some(delay) => DeliveryStep::RetryAt(now + schedule::millis(delay)),
            None => DeliveryStep::Done,
        }
    }

    /// An event, whatever its merchant, with its delivery history (for operators).
    pub async fn event_with_history(
        &self,
        event_id: &str,
    ) -> Result<(OrderEvent, Vec<DeliveryRecord>), ServiceError> {
        let event = events::get(&self.db, event_id)
            .await?
            .ok_or(ServiceError::NotFound("event"))?;
        let history = events::history(&self.db, event_id).await?;
        Ok((event, history))
    }

    /// An operator sends `event_id` again (`domain::delivery::redeliver`): a new round of
    /// attempts, the first now, the earlier rounds kept in its history with the operator's
    /// name. Errors: no such event (404); its delivery still under way (409
    /// `delivery_pending`).
    pub async fn redeliver_event(
        &self,
        event_id: &str,
        by: &str,
    ) -> Result<(OrderEvent, Vec<DeliveryRecord>), ServiceError> {
        let event = events::get(&self.db, event_id)
            .await?
            .ok_or(ServiceError::NotFound("event"))?;
        self.send_again(&event, by).await?;
        self.event_with_history(event_id).await
    }

    /// [`Gateway::redeliver_event`] for every failed delivery of `merchant_id`, oldest
    /// first; how many went back to pending (one the dispatcher took up meanwhile is left
    /// to it). Error: no such merchant (404 `merchant_not_found`).
    pub async fn redeliver_failed(
        &self,
        merchant_id: &str,
        by: &str,
    ) -> Result<usize, ServiceError> {
        if merchants::get(&self.db, merchant_id).await?.is_none() {
            return Err(ServiceError::NotFound("merchant"));
        }
        let failed =
            events::of_merchant_in_state(&self.db, merchant_id, DeliveryState::Failed).await?;
        let mut sent = 0;
        for event in failed {
            match self.send_again(&event, by).await {
                Ok(()) => sent += 1,
                Err(ServiceError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(merchant_id, sent, by, "failed webhooks sent again");
        Ok(sent)
    }

    /// Moves `event` back to pending as the rule says and schedules its first attempt now.
    async fn send_again(&self, event: &OrderEvent, by: &str) -> Result<(), ServiceError> {
        let change = redeliver(event.delivery)
            .map_err(|e| ServiceError::conflict(ErrorCode::DeliveryPending, e.to_string()))?;
        let now = self.now_ms();
        match events::redeliver(&self.db, &event.id, change, by, now).await? {
            Applied::Done(()) => {}
            Applied::LostRace => {
                return Err(ServiceError::conflict(
                    ErrorCode::DeliveryPending,
                    "the event's delivery changed meanwhile; read it again",
                ))
            }
        }
        tracing::info!(event = %event.id, from = %change.from(), by, "webhook sent again by an operator");
        // Pending in the database: if the queue refuses the task now, reconciliation puts
        // it back (PAYGATE_RECONCILE_INTERVAL).
        if let Err(e) = self.timers.schedule_webhook(&event.id, 0, now).await {
            tracing::warn!(event = %event.id, error = %e, "could not schedule the re-delivery; reconciliation will");
        }
        Ok(())
    }

    /// Schedules at once the order's next pending event after `event`, which an earlier
    /// attempt may have held back. Only one never tried: one that was tried went after the
    /// order wait, and keeps its own retry schedule. A failure only delays it until its
    /// own recheck.
    async fn release_next(&self, event: &OrderEvent, now: i64) {
        let next = match events::next_pending(&self.db, &event.order_id, event.seq).await {
            Ok(Some(next)) if next.attempts == 0 => next.id,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the order's next event; it goes at its recheck");
                return;
            }
        };
        if let Err(e) = self.timers.schedule_webhook(&next, 0, now).await {
            tracing::warn!(next, error = %e, "could not schedule the order's next event; it goes at its recheck");
        }
    }

    async fn stream(&self, event: &OrderEvent) -> Result<(), ServiceError> {
        let DelayQueue::Redis(q) = &self.timers.queue else {
            return Ok(());
        };
        let mut conn = q.connection();
        let key = format!("{}:events", q.prefix());
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
            .arg("sequence")
            .arg(event.seq)
            .arg("payload")
            .arg(&event.payload)
            .query_async(&mut conn)
            .await
            .map_err(|e| ServiceError::internal("appending to the event stream", e))?;
        Ok(events::mark_streamed(&self.db, &event.id).await?)
    }

    /// POSTs the signed event to its order's endpoint: the order's own `notify_url`, else
    /// the merchant's endpoint as it is now (a merchant that moves its endpoint gets the
    /// retries there).
    async fn post(&self, event: &OrderEvent) -> Result<Attempt, ServiceError> {
        let Some(order) = orders::get(&self.db, &event.merchant_id, &event.order_id).await? else {
            return Ok(Attempt::NoEndpoint);
        };
        let webhook = merchants::webhook(&self.db, &event.merchant_id).await?;
        let Some(url) =
            webhook_endpoint(order.notify_url.as_deref(), webhook.notify_url.as_deref())
        else {
            return Ok(Attempt::NoEndpoint);
        };
        let secret = self.vault.open(&webhook.sealed_secret).map_err(|_| {
            ServiceError::misconfigured(
                ErrorCode::WebhookSecretUnreadable,
                format!(
                    "the webhook secret of merchant {} does not open with the master key \
                     in force: it was sealed with another PAYGATE_MASTER_KEY; restart \
                     paygate with that key",
                    event.merchant_id
                ),
            )
        })?;
        if let Err(e) = self.destinations.check_literal(url) {
            tracing::warn!(event = %event.id, reason = %e, "webhook destination refused; no connection made");
            return Ok(Attempt::Unreachable);
        }
        let timestamp = self.now_ms() / 1000;
        let response = self
            .http
            .post(url)
            .timeout(WEBHOOK_TIMEOUT)
            .header("content-type", "application/json")
            .header("paygate-event-id", &event.id)
            .header("paygate-event-sequence", event.seq)
            .header(
                "paygate-signature",
                signature(&secret, timestamp, &event.payload),
            )
            .body(event.payload.clone())
            .send()
            .await;
        Ok(match response {
            Ok(r) => Attempt::Answered(r.status().as_u16()),
            Err(e) => {
                match super::destinations::refusal_in(&e) {
                    Some(reason) => {
                        tracing::warn!(event = %event.id, %reason, "webhook destination refused; no connection made")
                    }
                    None => {
                        tracing::warn!(event = %event.id, error = %e, "webhook endpoint unreachable")
                    }
                }
                Attempt::Unreachable
            }
        })
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
