//! The REST API: checkout clients (`/v1/...`, API key), operators (`/admin/...`, admin
//! token), providers (`/v1/notify/...`), and the OpenAPI document (`/openapi.json`, read
//! on `/docs`).

pub mod adapters;
mod admin;
mod auth;
mod bills;
pub mod console;
mod doc;
pub mod error;
mod health;
// Public (hidden) for the fuzz targets in `fuzz/`, which run every body through it.
#[doc(hidden)]
pub mod json;
pub mod limits;
mod lists;
pub mod merchants;
mod notify;
pub mod operators;
mod orders;
mod payments;
pub mod views;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use utoipa::OpenApi;

use self::doc::{ErrorAnswers, SecuritySchemes};

use crate::config::Secret;
use crate::service::Gateway;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub adapters: Arc<crate::service::adapters::AdapterRegistry>,
    pub admin_token: Option<Secret>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// Largest request body the API reads; a provider notification or an order is far smaller.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "paygate", description = "Payment gateway hub: orders, payments, provider adapters."),
    paths(orders::create, lists::orders, lists::payments, lists::refunds, orders::get, orders::cancel, orders::events, payments::create, payments::get, payments::refund, notify::receive,
          admin::create_merchant, admin::put_provider, admin::get_provider, admin::flags, admin::resolve_flag, admin::event, admin::redeliver, admin::redeliver_failed, admin::retry_refund,
          adapters::active, adapters::versions, adapters::show, adapters::upload, adapters::check, adapters::activate, adapters::rollback,
          merchants::list, merchants::show, merchants::set_webhook, merchants::test_provider,
          merchants::create_key, merchants::list_keys, merchants::revoke_key,
          operators::create, operators::list, operators::revoke, operators::audit,
          bills::run, bills::day, bills::resolve, bills::settlement),
    modifiers(&SecuritySchemes, &ErrorAnswers),
    tags((name = "orders"), (name = "payments"), (name = "settlements"), (name = "providers"), (name = "admin"))
)]
pub struct ApiDoc;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/orders", post(orders::create).get(lists::orders))
        .route("/v1/orders/{id}", get(orders::get))
        .route("/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/v1/orders/{id}/events", get(orders::events))
        .route("/v1/payments", post(payments::create).get(lists::payments))
        .route("/v1/refunds", get(lists::refunds))
        .route("/v1/payments/{payment_no}", get(payments::get))
        .route("/v1/payments/{payment_no}/refunds", post(payments::refund))
        .route("/v1/settlements/{date}", get(bills::settlement))
        .route("/v1/notify/{provider}/{merchant_id}", post(notify::receive))
        .route(
            "/admin/merchants",
            get(merchants::list).post(admin::create_merchant),
        )
        .route("/admin/merchants/{id}", get(merchants::show))
        .route("/admin/merchants/{id}/webhook", put(merchants::set_webhook))
        .route(
            "/admin/merchants/{id}/providers/{provider}",
            get(admin::get_provider).put(admin::put_provider),
        )
        .route(
            "/admin/merchants/{id}/providers/{provider}/test",
            post(merchants::test_provider),
        )
        .route("/admin/adapters", get(adapters::active))
        .route(
            "/admin/adapters/versions",
            get(adapters::versions).post(adapters::upload),
        )
        .route("/admin/adapters/check", post(adapters::check))
        .route("/admin/adapters/{provider}", get(adapters::show))
        .route(
            "/admin/adapters/{provider}/activate",
            post(adapters::activate),
        )
        .route(
            "/admin/adapters/{provider}/rollback",
            post(adapters::rollback),
        )
        .route("/admin/flags", get(admin::flags))
        .route(
            "/admin/payments/{payment_no}/flag/resolve",
            post(admin::resolve_flag),
        )
        .route("/admin/events/{event_id}", get(admin::event))
        .route(
            "/admin/refunds/{refund_no}/retry",
            post(admin::retry_refund),
        )
        .route("/admin/events/{event_id}/redeliver", post(admin::redeliver))
        .route(
            "/admin/merchants/{id}/events/redeliver",
            post(admin::redeliver_failed),
        )
        .route(
            "/admin/merchants/{id}/keys",
            get(merchants::list_keys).post(merchants::create_key),
        )
        .route(
            "/admin/merchants/{id}/keys/{key_id}/revoke",
            post(merchants::revoke_key),
        )
        .route(
            "/admin/operators",
            get(operators::list).post(operators::create),
        )
        .route("/admin/operators/{id}/revoke", post(operators::revoke))
        .route("/admin/audit", get(operators::audit))
        .route("/admin/reconciliations", post(bills::run))
        .route("/admin/reconciliations/{date}", get(bills::day))
        .route("/admin/bill-differences/{id}/resolve", post(bills::resolve))
        // Every /admin route passes the admin gate: operator, role, audit log.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::admin_gate,
        ))
        // The API document, and a page people read it on (Swagger UI, served from files
        // built into paygate: it works without internet).
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url(
            "/openapi.json",
            doc::for_deployment(state.gateway.min_order_ttl_seconds()),
        ))
        .merge(console::routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                crate::service::ErrorCode::NotFound,
                "no such endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
