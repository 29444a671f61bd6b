//! `/admin/operators...` (named operators: create with a one-time token, list, revoke) and
//! `/admin/audit` (the audit log, newest first). The views are public: `paygate operators
//! ... --json` and `paygate audit list --json` print the same shapes.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::merchants::Params;
use super::views::rfc3339;
use super::{json, AppState};
use crate::service::audit::AuditPage;
use crate::service::operators::CreatedOperator;
use crate::service::ErrorCode;
use crate::store::audit::AuditEntry;
use crate::store::operators::Operator;

/// An operator as others see them: never the token, never its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    /// `op_` and 32 hex digits: the token id the audit log names.
    pub id: String,
    pub name: String,
    /// `read`, `operate` or `admin`.
    pub role: String,
    /// The token's first characters (`pgo_Ab3d`), to tell tokens apart.
    pub token_prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// The operator who created this one (`cli` when made on the command line).
    pub created_by: String,
    /// RFC 3339; written at most once a minute per paygate process. `null`: never used.
    pub last_used_at: Option<String>,
    /// RFC 3339; `null`: live.
    pub revoked_at: Option<String>,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        OperatorView {
            id: o.id.clone(),
            name: o.name.clone(),
            role: o.role.clone(),
            token_prefix: o.token_prefix.clone(),
            created_at: rfc3339(o.created_at),
            created_by: o.created_by.clone(),
            last_used_at: o.last_used_at.map(rfc3339),
            revoked_at: o.revoked_at.map(rfc3339),
        }
    }
}

/// A new operator and their token, in this answer only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedOperatorView {
    #[serde(flatten)]
    pub operator: OperatorView,
    /// `pgo_` and 40 random characters: the operator's bearer token. paygate keeps only its
    /// SHA-256; shown this once.
    pub token: String,
}

impl From<&CreatedOperator> for CreatedOperatorView {
    fn from(c: &CreatedOperator) -> Self {
        CreatedOperatorView {
            operator: OperatorView::from(&c.operator),
            token: c.token.clone(),
        }
    }
}

/// `POST /admin/operators`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorBody {
    /// 1 to 64 of letters, digits, `.`, `_`, `-`, `@`; unique among live operators.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    pub name: String,
    /// `read` (GET every admin endpoint), `operate` (also provider tests, flags and
    /// webhooks), `admin` (also merchants, keys, providers, adapters, operators).
    #[schema(pattern = "^(read|operate|admin)$")]
    pub role: String,
}

/// Every operator, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorListView {
    pub operators: Vec<OperatorView>,
}

/// One audited admin request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    /// `au_` and 32 hex digits; sorts by time.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// The operator's name; `null` when no token was accepted.
    pub operator: Option<String>,
    /// The token used: an operator id, or `bootstrap` for `PAYGATE_ADMIN_TOKEN`.
    pub token_id: Option<String>,
    pub method: String,
    /// The route template, e.g. `/admin/merchants/{id}/keys`.
    pub route: String,
    /// The route's parameters: `{"id": "m_..."}`.
    #[schema(value_type = Object)]
    pub target: serde_json::Value,
    /// The address the request came from (the TCP peer: a proxy's, behind one).
    pub client_ip: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any (`forbidden_role`, `unauthorized`, ...).
    pub error_code: Option<String>,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        AuditEntryView {
            id: e.id.clone(),
            at: rfc3339(e.at),
            operator: e.operator.clone(),
            token_id: e.token_id.clone(),
            method: e.method.clone(),
            route: e.route.clone(),
            target: serde_json::from_str(&e.target).unwrap_or(serde_json::Value::Null),
            client_ip: e.client_ip.clone(),
            status: u16::try_from(e.status).unwrap_or_default(),
            error_code: e.error_code.clone(),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPageView {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<String>,
}

impl From<&AuditPage> for AuditPageView {
    fn from(p: &AuditPage) -> Self {
        AuditPageView {
            entries: p.entries.iter().map(AuditEntryView::from).collect(),
            next_before: p.next_before.clone(),
        }
    }
}

/// Creates an operator with a role; their token is in this answer only. Needs `admin`.
#[utoipa::path(post, path = "/admin/operators", tag = "admin", request_body = CreateOperatorBody,
    responses((status = 201, body = CreatedOperatorView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "operator_exists"),
        (status = 422, body = ErrorBody, description = "invalid_name, invalid_role")),
    security(("admin_token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedOperatorView>), ApiError> {
    let req: CreateOperatorBody = json::parse(&body)?;
    let created = state
        .gateway
        .create_operator(&req.name, &req.role, admin.name())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOperatorView::from(&created)),
    ))
}

/// Lists every operator, revoked ones included, oldest first. Needs `read`.
#[utoipa::path(get, path = "/admin/operators", tag = "admin",
    responses((status = 200, body = OperatorListView), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<OperatorListView>, ApiError> {
    let ops = state.gateway.operators().await?;
    Ok(Json(OperatorListView {
        operators: ops.iter().map(OperatorView::from).collect(),
    }))
}

/// Revokes an operator (by id, or the live one of that name): their token is refused from
/// the next request on, by every paygate process. Needs `admin`.
#[utoipa::path(post, path = "/admin/operators/{id}/revoke", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = OperatorView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<OperatorView>, ApiError> {
    Ok(Json(OperatorView::from(
        &state.gateway.revoke_operator(&id).await?,
    )))
}

/// The audit log, newest first, a page at a time: `limit` (1 to 500, default 50), `before`
/// (the previous page's `next_before`). Needs `read`.
#[utoipa::path(get, path = "/admin/audit", tag = "admin",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("before" = Option<String>, Query, pattern = "^au_[0-9a-fA-F]{32}$", description = "the previous page's `next_before`")),
    responses((status = 200, body = AuditPageView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditPageView>, ApiError> {
    let params = Params::parse(query.as_deref(), &["limit", "before"])?;
    let limit = params
        .get("limit")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    format!("`limit` must be an integer, not `{v}`"),
                )
            })
        })
        .transpose()?;
    let page = state
        .gateway
        .audit_page(limit, params.get("before"))
        .await
        .map_err(page_request_error)?;
    Ok(Json(AuditPageView::from(&page)))
}

/// An audit page's error: a bad page request is the query's fault, 400 as the other lists
/// answer.
pub(super) fn page_request_error(e: crate::service::ServiceError) -> ApiError {
    let mut e = ApiError::from(e);
    if e.code == ErrorCode::InvalidQuery {
        e.status = StatusCode::BAD_REQUEST;
    }
    e
}
