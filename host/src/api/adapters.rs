//! `/admin/adapters...`: the adapter registry for operators. What every active adapter needs
//! from a merchant's configuration; every stored version; one provider's versions and
//! activations; upload (the component's bytes as the body), check without storing,
//! activate and roll back. The views are public: `paygate adapters ... --json` prints the
//! same shapes.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::views::{rfc3339, ChannelView, SecretSpecView, SettingSpecView};
use super::{json, AppState};
use crate::runtime::{contract, LoadedAdapter};
use crate::service::adapters::{Activated, Checked, ProviderAdapters, Uploaded};
use crate::service::ErrorCode;
use crate::store::adapters::{ActivationRecord, VersionRecord};

/// The header naming the operator behind a request made with the bootstrap token
/// (`PAYGATE_ADMIN_TOKEN`), for `uploaded_by` and `activated_by`; `admin` when absent. A
/// named operator's token names its operator, and the header is ignored.
pub const OPERATOR_HEADER: &str = "x-paygate-operator";

/// An active adapter and what a merchant's configuration for it carries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdapterView {
    pub provider: String,
    pub version: String,
    pub contract_version: String,
    pub sha256: String,
    /// Whether it exports the optional `paygate:bills@1.0.0` (`wit/bills`): paygate
    /// reconciles this provider against its daily bills.
    pub reconciles: bool,
    pub channels: Vec<ChannelView>,
    /// What a merchant's configuration for this provider carries.
    pub settings: Vec<SettingSpecView>,
    pub secrets: Vec<SecretSpecView>,
}

impl From<&LoadedAdapter> for AdapterView {
    fn from(a: &LoadedAdapter) -> Self {
        AdapterView {
            provider: a.info.name.clone(),
            version: a.info.version.clone(),
            contract_version: a.info.contract_version.clone(),
            sha256: a.sha256.clone(),
            reconciles: a.reconciles(),
            channels: a
                .info
                .channels
                .iter()
                .map(|c| ChannelView {
                    name: c.name.clone(),
                    binds: c
                        .binds
                        .iter()
                        .map(|b| contract::binding_name(*b).to_owned())
                        .collect(),
                })
                .collect(),
            settings: a
                .info
                .settings
                .iter()
                .map(|s| SettingSpecView {
                    name: s.name.clone(),
                    required: s.required,
                    description: s.description.clone(),
                    base_url: s.is_base_url,
                    default: s.default_value.clone(),
                })
                .collect(),
            secrets: a
                .info
                .secrets
                .iter()
                .map(|s| SecretSpecView {
                    name: s.name.clone(),
                    kind: crate::runtime::kind_name(s.kind).to_owned(),
                    required: s.required,
                    description: s.description.clone(),
                })
                .collect(),
        }
    }
}

/// A stored adapter version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdapterVersionView {
    pub provider: String,
    /// From the adapter's `info()`; a rebuilt bundled adapter whose version string another
    /// build holds carries build metadata (`0.2.0+0a1b2c3d4e5f`).
    pub version: String,
    pub contract_version: String,
    /// Lower-case hex SHA-256 of the component: the version's identity.
    pub sha256: String,
    pub size_bytes: i64,
    /// RFC 3339.
    pub uploaded_at: String,
    /// `paygate` for an adapter bundled in the binary.
    pub uploaded_by: String,
    /// `active` (its provider's calls run on it) or `inactive`.
    pub status: String,
}

impl From<&VersionRecord> for AdapterVersionView {
    fn from(v: &VersionRecord) -> Self {
        AdapterVersionView {
            provider: v.provider.clone(),
            version: v.version.clone(),
            contract_version: v.contract_version.clone(),
            sha256: v.sha256.clone(),
            size_bytes: v.size_bytes,
            uploaded_at: rfc3339(v.uploaded_at),
            uploaded_by: v.uploaded_by.clone(),
            status: v.status.as_str().to_owned(),
        }
    }
}

/// One activation of a provider's adapter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActivationView {
    pub sha256: String,
    /// The version active before it: what a roll back returns to.
    pub previous_sha256: Option<String>,
    /// `bundled` (a start activated the adapter paygate ships), `activate` or `rollback`.
    pub reason: String,
    /// RFC 3339.
    pub activated_at: String,
    pub activated_by: String,
}

impl From<&ActivationRecord> for ActivationView {
    fn from(a: &ActivationRecord) -> Self {
        ActivationView {
            sha256: a.activation.sha256.clone(),
            previous_sha256: a.activation.previous_sha256.clone(),
            reason: a.activation.reason.as_str().to_owned(),
            activated_at: rfc3339(a.activated_at),
            activated_by: a.activated_by.clone(),
        }
    }
}

/// A provider's adapter versions and recent activations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdapterDetailView {
    pub provider: String,
    /// The active version; `null` if none is.
    pub active: Option<AdapterVersionView>,
    /// The sha256 of the version the paygate process that answered runs: another process's
    /// activation reaches it within `PAYGATE_ADAPTER_FOLLOW_INTERVAL`.
    pub running_here: Option<String>,
    /// Newest upload first.
    pub versions: Vec<AdapterVersionView>,
    /// Newest first, the last 20.
    pub activations: Vec<ActivationView>,
}

impl From<&ProviderAdapters> for AdapterDetailView {
    fn from(p: &ProviderAdapters) -> Self {
        let versions: Vec<AdapterVersionView> =
            p.versions.iter().map(AdapterVersionView::from).collect();
        AdapterDetailView {
            provider: p.provider.clone(),
            active: versions.iter().find(|v| v.status == "active").cloned(),
            running_here: p.running_here.clone(),
            versions,
            activations: p.activations.iter().map(ActivationView::from).collect(),
        }
    }
}

/// What an upload stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadedView {
    /// `false` when these exact bytes were stored before (nothing changed).
    pub created: bool,
    pub version: AdapterVersionView,
}

impl From<&Uploaded> for UploadedView {
    fn from(u: &Uploaded) -> Self {
        UploadedView {
            created: u.created,
            version: AdapterVersionView::from(&u.version),
        }
    }
}

/// What a component says of itself, checked as an upload checks it; nothing stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckedView {
    pub size_bytes: usize,
    pub adapter: AdapterView,
}

impl From<&Checked> for CheckedView {
    fn from(c: &Checked) -> Self {
        CheckedView {
            size_bytes: c.size_bytes,
            adapter: AdapterView::from(c.adapter.as_ref()),
        }
    }
}

/// What an activation or a roll back did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivatedView {
    pub provider: String,
    /// `false` when the version was already active.
    pub changed: bool,
    pub active: AdapterVersionView,
    /// The version active before; `null` when nothing changed or none was.
    pub previous: Option<AdapterVersionView>,
}

impl From<&Activated> for ActivatedView {
    fn from(a: &Activated) -> Self {
        ActivatedView {
            provider: a.provider.clone(),
            changed: a.changed,
            active: AdapterVersionView::from(&a.version),
            previous: a.previous.as_ref().map(AdapterVersionView::from),
        }
    }
}

/// `POST /admin/adapters/{provider}/activate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    /// The version string, or a prefix of the sha256 of at least 8 hex digits.
    pub version: String,
}

/// `?provider=` of an upload or a check: the provider the component must say it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    pub provider: Option<String>,
}

/// Lists the active adapters with what a merchant's configuration for each carries.
#[utoipa::path(get, path = "/admin/adapters", tag = "admin",
    responses((status = 200, body = Vec<AdapterView>), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn active(State(state): State<AppState>, _: Admin) -> Json<Vec<AdapterView>> {
    Json(
        state
            .gateway
            .adapters()
            .iter()
            .map(|a| AdapterView::from(a.as_ref()))
            .collect(),
    )
}

/// Lists every stored adapter version, by provider, newest upload first.
#[utoipa::path(get, path = "/admin/adapters/versions", tag = "admin",
    responses((status = 200, body = Vec<AdapterVersionView>), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<AdapterVersionView>>, ApiError> {
    let list = state.adapters.list().await?;
    Ok(Json(list.iter().map(AdapterVersionView::from).collect()))
}

/// One provider's versions and recent activations.
#[utoipa::path(get, path = "/admin/adapters/{provider}", tag = "admin",
    params(("provider" = String, Path)),
    responses((status = 200, body = AdapterDetailView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _: Admin,
    Path(provider): Path<String>,
) -> Result<Json<AdapterDetailView>, ApiError> {
    let found = state.adapters.show(&provider).await?;
    Ok(Json(AdapterDetailView::from(&found)))
}

/// Uploads an adapter component (`application/wasm`, the bytes as the body). It is checked
/// first: size, compiles, exports a contract this paygate runs, imports nothing its
/// contract does not grant, `info()` answers (and names `?provider=` when given). Stored
/// inactive; `201` when new, `200` when these bytes were stored before.
#[utoipa::path(post, path = "/admin/adapters/versions", tag = "admin", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = UploadedView), (status = 200, body = UploadedView),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody, description = "adapter_version_exists"),
        (status = 413, body = ErrorBody, description = "adapter_too_large"),
        (status = 422, body = ErrorBody, description = "invalid_adapter, adapter_name_mismatch, adapter_import_not_granted")),
    security(("admin_token" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    admin: Admin,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<UploadedView>), ApiError> {
    let component = read_component(&state, body).await?;
    let by = admin.name().to_owned();
    let uploaded = state
        .adapters
        .upload(&component, params.provider.as_deref(), &by)
        .await?;
    let status = if uploaded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(UploadedView::from(&uploaded))))
}

/// Checks an adapter component as an upload would, without storing it.
#[utoipa::path(post, path = "/admin/adapters/check", tag = "admin", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 200, body = CheckedView), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn check(
    State(state): State<AppState>,
    _: Admin,
    Query(params): Query<UploadParams>,
    body: Body,
) -> Result<Json<CheckedView>, ApiError> {
    let component = read_component(&state, body).await?;
    let checked = state
        .adapters
        .check(&component, params.provider.as_deref())
        .await?;
    Ok(Json(CheckedView::from(&checked)))
}

/// Makes a stored version the provider's active one. Calls already running finish on the
/// version they started with; every paygate process on the database follows within
/// `PAYGATE_ADAPTER_FOLLOW_INTERVAL`.
#[utoipa::path(post, path = "/admin/adapters/{provider}/activate", tag = "admin",
    params(("provider" = String, Path)), request_body = ActivateBody,
    responses((status = 200, body = ActivatedView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "activation_conflict"), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    admin: Admin,
    Path(provider): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ActivatedView>, ApiError> {
    let req: ActivateBody = json::parse(&body)?;
    let by = admin.name().to_owned();
    let done = state
        .adapters
        .activate(&provider, &req.version, &by)
        .await?;
    Ok(Json(ActivatedView::from(&done)))
}

/// Re-activates the version that was active before the provider's last activation (twice
/// returns to where it started, like `kubectl rollout undo`).
#[utoipa::path(post, path = "/admin/adapters/{provider}/rollback", tag = "admin",
    params(("provider" = String, Path)),
    responses((status = 200, body = ActivatedView), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no_previous_version, activation_conflict")),
    security(("admin_token" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    admin: Admin,
    Path(provider): Path<String>,
) -> Result<Json<ActivatedView>, ApiError> {
    let by = admin.name().to_owned();
    let done = state.adapters.rollback(&provider, &by).await?;
    Ok(Json(ActivatedView::from(&done)))
}

/// The request body, refused with 413 `adapter_too_large` past the configured limit
/// without reading more than one byte beyond it; 400 when it cannot be read whole.
async fn read_component(state: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let limit = state.adapters.max_component_bytes();
    axum::body::to_bytes(body, limit + 1).await.map_err(|e| {
        let too_large = e
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::AdapterTooLarge,
                format!("the component is over this paygate's limit of {limit} bytes (PAYGATE_ADAPTER_MAX_COMPONENT_MB)"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                "the component's bytes could not be read whole (the upload was cut off?)",
            )
        }
    })
}
