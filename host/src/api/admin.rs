//! `/admin/...`: operators create merchants, configure their providers, and see what waits
//! for them (flags).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::merchants::{ConfiguredView, Params, ProviderTestView};
use super::views::{
    CreateMerchantBody, CreatedMerchantView, EventDetailView, FlagResolutionView, FlagsView,
    ProviderConfigBody, ProviderConfigView, RedeliveredView, RefundView, ResolveFlagBody,
};
use super::{json, AppState};
use crate::service::flags::parse_flag;
use crate::service::provider_test::TestFirst;

/// Creates a merchant; its API key is in this response only.
#[utoipa::path(post, path = "/admin/merchants", tag = "admin", request_body = CreateMerchantBody,
    responses((status = 201, body = CreatedMerchantView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn create_merchant(
    State(state): State<AppState>,
    _: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedMerchantView>), ApiError> {
    let req: CreateMerchantBody = json::parse(&body)?;
    let created = state
        .gateway
        .create_merchant(&req.name, req.notify_url.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedMerchantView {
            id: created.merchant.id,
            name: created.merchant.name,
            api_key: created.api_key,
            webhook_secret: created.webhook_secret,
            notify_url: created.merchant.notify_url,
        }),
    ))
}

/// Stores a merchant's configuration for a provider, checked against what the adapter
/// declares, then tested with a harmless query to the provider (as `POST .../test` does):
/// a failed test stores nothing and answers 422 `provider_test_failed` with the provider's
/// words. `?test=false` stores it untested. Secrets are sealed and never returned.
#[utoipa::path(put, path = "/admin/merchants/{id}/providers/{provider}", tag = "admin", request_body = ProviderConfigBody,
    params(("id" = String, Path), ("provider" = String, Path), ("test" = Option<bool>, Query, description = "test the configuration before storing it (default true)")),
    responses((status = 200, body = ConfiguredView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn put_provider(
    State(state): State<AppState>,
    _: Admin,
    Path((id, provider)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<ConfiguredView>, ApiError> {
    let test = match Params::parse(query.as_deref(), &["test"])?.flag("test", true)? {
        true => TestFirst::Yes,
        false => TestFirst::No,
    };
    let req: ProviderConfigBody = json::parse(&body)?;
    let configured = state
        .gateway
        .configure_provider(&id, &provider, req.settings, req.secrets, test)
        .await?;
    Ok(Json(ConfiguredView {
        config: ProviderConfigView::from(&configured.config),
        test: configured.test.as_ref().map(ProviderTestView::from),
    }))
}

/// Reads a merchant's configuration for a provider: settings and secret names only.
#[utoipa::path(get, path = "/admin/merchants/{id}/providers/{provider}", tag = "admin",
    params(("id" = String, Path), ("provider" = String, Path)),
    responses((status = 200, body = ProviderConfigView), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn get_provider(
    State(state): State<AppState>,
    _: Admin,
    Path((id, provider)): Path<(String, String)>,
) -> Result<Json<ProviderConfigView>, ApiError> {
    Ok(Json(ProviderConfigView::from(
        &state.gateway.provider_config(&id, &provider).await?,
    )))
}

/// Lists what an operator must look at: payments with amount mismatches, late and double
/// payments, refunds that failed; webhooks whose retries ran out.
#[utoipa::path(get, path = "/admin/flags", tag = "admin", responses((status = 200, body = FlagsView)), security(("admin_token" = [])))]
pub async fn flags(State(state): State<AppState>, _: Admin) -> Result<Json<FlagsView>, ApiError> {
    Ok(Json(FlagsView::from(&state.gateway.flags().await?)))
}

/// Resolves a payment's flag with a note saying why; the operator and the time are kept with
/// it, and the request is in the audit log. Only the flag named is resolved: if the payment
/// carries another by now (a late payment whose refund then failed), nothing changes and the
/// answer names it. Needs `operate`.
#[utoipa::path(post, path = "/admin/payments/{payment_no}/flag/resolve", tag = "admin",
    request_body = ResolveFlagBody,
    params(("payment_no" = String, Path, description = "The flagged payment's number")),
    responses((status = 200, body = FlagResolutionView),
        (status = 400, body = ErrorBody, description = "malformed_json"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "not_found: no such payment"),
        (status = 409, body = ErrorBody, description = "flag_not_set, flag_changed"),
        (status = 422, body = ErrorBody, description = "invalid_body, invalid_flag, invalid_note")),
    security(("admin_token" = [])))]
pub async fn resolve_flag(
    State(state): State<AppState>,
    admin: Admin,
    Path(payment_no): Path<String>,
    body: Bytes,
) -> Result<Json<FlagResolutionView>, ApiError> {
    let req: ResolveFlagBody = json::parse(&body)?;
    let flag = parse_flag(&req.flag)?;
    let resolved = state
        .gateway
        .resolve_flag(&payment_no, flag, &req.note, admin.name())
        .await?;
    Ok(Json(FlagResolutionView::from(&resolved)))
}

/// One event, whatever its merchant, with its delivery history: every attempt (its HTTP
/// status) and every re-delivery (who asked). Needs `read`.
#[utoipa::path(get, path = "/admin/events/{event_id}", tag = "admin",
    params(("event_id" = String, Path, description = "The event's id (`evt_...`)")),
    responses((status = 200, body = EventDetailView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "not_found")),
    security(("admin_token" = [])))]
pub async fn event(
    State(state): State<AppState>,
    _: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<EventDetailView>, ApiError> {
    let (event, history) = state.gateway.event_with_history(&event_id).await?;
    Ok(Json(EventDetailView::of(&event, &history)))
}

/// Sends an event again: a new round of attempts with the whole retry schedule, the first
/// now, whatever became of the last (failed, delivered, or `none` for an order that had no
/// endpoint then); the earlier attempts stay in its history with the operator's name.
/// Refused while its delivery is under way. Needs `operate`.
#[utoipa::path(post, path = "/admin/events/{event_id}/redeliver", tag = "admin",
    params(("event_id" = String, Path, description = "The event's id (`evt_...`)")),
    responses((status = 200, body = EventDetailView, description = "Pending again; its first attempt is due now"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "delivery_pending")),
    security(("admin_token" = [])))]
pub async fn redeliver(
    State(state): State<AppState>,
    admin: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<EventDetailView>, ApiError> {
    let (event, history) = state
        .gateway
        .redeliver_event(&event_id, admin.name())
        .await?;
    Ok(Json(EventDetailView::of(&event, &history)))
}

/// Sends again every failed delivery of a merchant (after its endpoint was fixed), oldest
/// first, each as `POST /admin/events/{event_id}/redeliver` does. Needs `operate`.
#[utoipa::path(post, path = "/admin/merchants/{id}/events/redeliver", tag = "admin",
    params(("id" = String, Path, description = "The merchant's id")),
    responses((status = 200, body = RedeliveredView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "merchant_not_found")),
    security(("admin_token" = [])))]
pub async fn redeliver_failed(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<RedeliveredView>, ApiError> {
    let redelivered = state.gateway.redeliver_failed(&id, admin.name()).await?;
    Ok(Json(RedeliveredView { redelivered }))
}

/// Retries a failed refund: back to pending, its amount reserved again on its payment, and
/// submitted to the provider at once under its own refund number (as WeChat Pay asks: a
/// failed refund is resubmitted without changing its number). The answer is the refund after
/// that submission: `succeeded`, `failed` again (with the provider's words in `error`), or
/// `pending` while the provider processes it. A payment flagged `refund_failed` keeps its
/// flag until an operator resolves it. Needs `operate`.
#[utoipa::path(post, path = "/admin/refunds/{refund_no}/retry", tag = "admin",
    params(("refund_no" = String, Path, description = "The failed refund's number")),
    responses((status = 200, body = RefundView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "refund_not_failed"),
        (status = 422, body = ErrorBody, description = "refund_exceeds_paid: another refund took what was left")),
    security(("admin_token" = [])))]
pub async fn retry_refund(
    State(state): State<AppState>,
    admin: Admin,
    Path(refund_no): Path<String>,
) -> Result<Json<RefundView>, ApiError> {
    let refund = state
        .gateway
        .retry_failed_refund(&refund_no, admin.name())
        .await?;
    Ok(Json(RefundView::from(&refund)))
}
