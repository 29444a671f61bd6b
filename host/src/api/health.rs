//! Operations endpoints: liveness, readiness (database and Redis reachable) and
//! Prometheus metrics (queue depth and in-flight sampled at scrape time).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::AppState;

/// `GET /healthz`: the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database (and Redis, if configured) answer, else 503.
/// `queue_warning` is set when Redis's eviction policy may drop paygate's keys: paygate is
/// ready all the same (it puts lost work back), and says so to whoever looks.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let r = state.gateway.readiness().await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": r.ready,
            "database": r.database,
            "redis": r.redis,
            "queue": r.queue,
            "queue_warning": r.queue_warning,
        })),
    )
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.gateway.sample_queue_metrics().await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
