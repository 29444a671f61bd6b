//! The read use cases the API and the operators need beside the commands: an order's
//! events, a payment's refunds, what waits for an operator, the adapters, readiness and
//! queue metrics.

use std::sync::Arc;

use crate::queue::DelayQueue;
use crate::runtime::LoadedAdapter;
use crate::store::events::{self, OrderEvent};
use crate::store::payments::PaymentRecord;
use crate::store::refunds::{self, RefundRecord};
use crate::store::{merchants, orders::OrderRecord};

use super::timers::QUEUES;
use super::{Gateway, ServiceError};

/// The longest one readiness check waits for its answer: `/readyz` answers within about
/// twice this, whatever its dependencies do.
const READY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `ok`, or why `check` failed or did not answer within [`READY_CHECK_TIMEOUT`].
async fn bounded(check: impl std::future::Future<Output = Result<(), String>>) -> String {
    match tokio::time::timeout(READY_CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("unreachable: {e}"),
        Err(_) => format!(
            "unreachable: no answer within {} s",
            READY_CHECK_TIMEOUT.as_secs()
        ),
    }
}

/// Whether paygate can serve: its database and Redis (when configured) answer.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub ready: bool,
    /// `ok`, or why not.
    pub database: String,
    /// `ok`, `not configured`, or why not.
    pub redis: String,
    /// The delay queue's backend: `redis` or `sql`.
    pub queue: &'static str,
    /// Set when the queue's backend may drop paygate's keys on its own (Redis's
    /// `maxmemory-policy` evicts keys without expiry): paygate stays ready (it puts lost
    /// work back at its next reconciliation), but the operator should change it.
    pub queue_warning: Option<String>,
}

impl Gateway {
    /// The events of one of the merchant's orders, oldest first.
    pub async fn order_events(&self, order: &OrderRecord) -> Result<Vec<OrderEvent>, ServiceError> {
        Ok(events::of_order(&self.db, &order.id).await?)
    }

    /// The orders a payment pays.
    pub async fn payment_orders(
        &self,
        payment: &PaymentRecord,
    ) -> Result<Vec<OrderRecord>, ServiceError> {
        Ok(
            crate::store::orders::get_many(&self.db, &payment.merchant_id, &payment.order_ids)
                .await?,
        )
    }

    /// A payment's refunds, oldest first.
    pub async fn payment_refunds(
        &self,
        payment: &PaymentRecord,
    ) -> Result<Vec<RefundRecord>, ServiceError> {
        Ok(refunds::of_payment(&self.db, &payment.payment_no).await?)
    }

    /// Events whose webhook delivery is in `state`, newest first (at most 500), whatever
    /// their merchant: the console's deliveries page.
    pub async fn events_in_delivery(
        &self,
        state: crate::domain::DeliveryState,
    ) -> Result<Vec<OrderEvent>, ServiceError> {
        Ok(events::in_state(&self.db, state).await?)
    }

    /// The active adapters.
    pub fn adapters(&self) -> Vec<Arc<LoadedAdapter>> {
        self.runtime.adapters()
    }

    /// Whether a merchant exists yet (the demo merchant is created at the first start).
    pub async fn has_merchants(&self) -> Result<bool, ServiceError> {
        Ok(merchants::count(&self.db).await? > 0)
    }

    pub async fn readiness(&self) -> Readiness {
        let database = bounded(async {
            sqlx::query("SELECT 1")
                .execute(&self.db.pool)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        let queue = &self.timers.queue;
        let redis = match queue {
            DelayQueue::Redis(q) => {
                let mut conn = q.connection();
                bounded(async move {
                    redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
                .await
            }
            DelayQueue::Sql(_) => "not configured".to_owned(),
        };
        let queue_warning = match redis.as_str() {
            "ok" => tokio::time::timeout(READY_CHECK_TIMEOUT, self.queue_eviction_warning())
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        Readiness {
            queue_warning,
            ready: database == "ok" && (redis == "ok" || redis == "not configured"),
            database,
            redis,
            queue: queue.backend(),
        }
    }

    /// Samples every queue's depth into the `paygate_queue_*` gauges.
    pub async fn sample_queue_metrics(&self) {
        let queue = &self.timers.queue;
        for name in QUEUES {
            match queue.stats(name).await {
                Ok(s) => {
                    metrics::gauge!("paygate_queue_ready", "queue" => name).set(s.ready as f64);
                    metrics::gauge!("paygate_queue_scheduled", "queue" => name)
                        .set(s.scheduled as f64);
                    metrics::gauge!("paygate_queue_in_flight", "queue" => name)
                        .set(s.in_flight as f64);
                }
                Err(e) => tracing::warn!(queue = name, error = %e, "queue stats unavailable"),
            }
        }
    }
}
