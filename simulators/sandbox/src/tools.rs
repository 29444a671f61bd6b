//! The unsigned endpoints for people and tests under `/trades/`: look at a trade with its
//! counters, pay it (optionally late, optionally without notification), notify again.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::error::SandboxError;
use crate::trades;
use crate::wire::{NotifyAnswer, TradeDetail};
use crate::Sandbox;

/// `?notify=false&late=true`; both optional.
#[derive(Debug, Deserialize)]
pub struct PayParams {
    #[serde(default = "default_notify")]
    notify: bool,
    #[serde(default)]
    late: bool,
}

fn default_notify() -> bool {
    true
}

/// `GET /trades/{payment_no}`.
pub async fn get_trade(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
) -> Result<Json<TradeDetail>, SandboxError> {
    let trade = trades::get(&sandbox.pool, &payment_no).await?;
    Ok(Json(TradeDetail::from(&trade)))
}

/// `POST /trades/{payment_no}/pay?notify=false&late=true`: pays, then (unless notify=false)
/// delivers the notification in the background; answers the trade as `GET` does.
pub async fn pay_trade(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
    params: Result<Query<PayParams>, QueryRejection>,
) -> Result<Json<TradeDetail>, SandboxError> {
    // Axum's own rejection is plain text; the protocol wants its JSON error body.
    let Query(params) = params.map_err(|e| SandboxError::InvalidRequest(e.body_text()))?;
    let trade = trades::pay(&sandbox.pool, &payment_no, params.late).await?;
    if params.notify {
        sandbox.spawn_notification(trade.payment_no.clone());
    }
    Ok(Json(TradeDetail::from(&trade)))
}

/// `POST /trades/{payment_no}/notify`: one synchronous attempt, answering what the receiver
/// said. An unreachable receiver is a 502 `NOTIFY_FAILED`.
pub async fn notify_trade(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
) -> Result<Json<NotifyAnswer>, SandboxError> {
    let delivery = sandbox.send_notification(&payment_no, 1).await?;
    let body =
        serde_json::from_str(&delivery.body).unwrap_or(serde_json::Value::String(delivery.body));
    Ok(Json(NotifyAnswer {
        status: delivery.status,
        body,
    }))
}
