//! Operations endpoints: liveness, readiness (database and Redis reachable) and
//! Prometheus metrics (queue depth and in-flight sampled at scrape time).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::jobs::QUEUES;
use crate::queue::DelayQueue;

/// `GET /healthz`: the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database (and Redis, if configured) answer, else 503.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match sqlx::query("SELECT 1")
        .execute(&state.gateway.db.pool)
        .await
    {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("unreachable: {e}"),
    };
    let queue = &state.gateway.timers.queue;
    let redis = match queue {
        DelayQueue::Redis(q) => {
            let mut conn = q.connection();
            match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("unreachable: {e}"),
            }
        }
        DelayQueue::Sql(_) => "not configured".to_owned(),
    };
    let ready = database == "ok" && (redis == "ok" || redis == "not configured");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"ready": ready, "database": database, "redis": redis, "queue": queue.backend()}),
        ),
    )
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let queue = &state.gateway.timers.queue;
    for name in QUEUES {
        match queue.stats(name).await {
            Ok(s) => {
                metrics::gauge!("paygate_queue_ready", "queue" => name).set(s.ready as f64);
                metrics::gauge!("paygate_queue_scheduled", "queue" => name).set(s.scheduled as f64);
                metrics::gauge!("paygate_queue_in_flight", "queue" => name).set(s.in_flight as f64);
            }
            Err(e) => tracing::warn!(queue = name, error = %e, "queue stats unavailable"),
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
