//! Authentication: a merchant by its API key (an extractor), and the admin gate, the one
//! middleware every `/admin` route passes: it finds the operator behind the token (the
//! bootstrap `PAYGATE_ADMIN_TOKEN` or a named operator's), checks that the operator's role
//! allows the route's action ([`route_action`]), and writes every state-changing request to
//! the audit log with its outcome, refused ones included. Handlers take the operator with the
//! [`Admin`] extractor.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::adapters::OPERATOR_HEADER;
use super::error::ApiError;
use super::AppState;
use crate::domain::operator::{is_state_changing, Action, Caller, Role};
use crate::service::ErrorCode;
use crate::store::audit::AuditEntry;
use crate::store::merchants::Merchant;

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The merchant whose API key authorised the request.
pub struct AuthMerchant(pub Merchant);

impl FromRequestParts<AppState> for AuthMerchant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = bearer(parts)
            .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <api key>`"))?;
        Ok(AuthMerchant(state.gateway.authenticate(key).await?))
    }
}

/// The operator behind an admin request, let through by [`admin_gate`] (which checked the
/// role the route needs).
pub struct Admin(pub Caller);

impl Admin {
    /// The operator's name: a named operator's own; for the bootstrap token, the
    /// `X-Paygate-Operator` header's, else `admin`.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().map(Admin).ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "an admin handler was reached without the admin gate");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error; see the server log",
            )
        })
    }
}

/// The action of each admin route (method and route template): what [`admin_gate`] asks
/// `domain::operator::permits` about. `None` for a route missing here, which only the
/// `admin` role may use (a new route is closed until it is listed).
pub fn route_action(method: &Method, route: &str) -> Option<Action> {
    if !route.starts_with("/admin") {
        return None;
    }
    if method == Method::GET || method == Method::HEAD {
        return Some(Action::Read);
    }
    let action = match (method.as_str(), route) {
        ("POST", "/admin/merchants")
        | ("PUT", "/admin/merchants/{id}/webhook")
        | ("POST", "/admin/merchants/{id}/keys")
        | ("POST", "/admin/merchants/{id}/keys/{key_id}/revoke") => Action::ChangeMerchant,
        ("PUT", "/admin/merchants/{id}/providers/{provider}") => Action::ChangeProvider,
        ("POST", "/admin/merchants/{id}/providers/{provider}/test") => Action::TestProvider,
        ("POST", "/admin/adapters/versions")
        | ("POST", "/admin/adapters/check")
        | ("POST", "/admin/adapters/{provider}/activate")
        | ("POST", "/admin/adapters/{provider}/rollback") => Action::ChangeAdapter,
        ("POST", "/admin/operators") | ("POST", "/admin/operators/{id}/revoke") => {
            Action::ChangeOperator
        }
        ("POST", "/admin/payments/{payment_no}/flag/resolve")
        | ("POST", "/admin/refunds/{refund_no}/retry") => Action::ActOnFlag,
        ("POST", "/admin/reconciliations") => Action::Reconcile,
        ("POST", "/admin/bill-differences/{id}/resolve") => Action::ActOnFlag,
        ("POST", "/admin/events/{event_id}/redeliver")
        | ("POST", "/admin/merchants/{id}/events/redeliver") => Action::ActOnWebhook,
        _ => return None,
    };
    Some(action)
}

/// The bootstrap operator's name: [`OPERATOR_HEADER`] (1-64 printable ASCII characters)
/// when given, else `admin`. Named operators' names come from their tokens; the header is
/// ignored for them.
fn bootstrap_name(parts: &Parts) -> Result<String, ApiError> {
    let Some(value) = parts.headers.get(OPERATOR_HEADER) else {
        return Ok("admin".to_owned());
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                format!("{OPERATOR_HEADER} must be 1-64 printable ASCII characters"),
            )
        })
}

/// Who the request's token is, and whether they may do what the route does. The caller is
/// known (`Some`) also when refused for their role.
async fn authorize(
    parts: &Parts,
    state: &AppState,
    route: &str,
) -> (Option<Caller>, Result<(), ApiError>) {
    let disabled = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::AdminDisabled,
            "the admin API is off: set PAYGATE_ADMIN_TOKEN",
        )
    };
    let Some(token) = bearer(parts) else {
        if let Some(session) = super::console::session_id(parts) {
            return by_session(parts, state, route, &session).await;
        }
        return match state.admin_token {
            None => (None, Err(disabled())),
            Some(_) => (
                None,
                Err(ApiError::unauthorized(
                    "missing `Authorization: Bearer <admin token>`",
                )),
            ),
        };
    };
    let name = match bootstrap_name(parts) {
        Ok(name) => name,
        Err(e) => return (None, Err(e)),
    };
    let caller = match state
        .gateway
        .authenticate_operator(token, state.admin_token.as_ref(), &name)
        .await
    {
        Ok(Some(caller)) => caller,
        Ok(None) if state.admin_token.is_none() => return (None, Err(disabled())),
        Ok(None) => return (None, Err(ApiError::unauthorized("invalid admin token"))),
        Err(e) => return (None, Err(e.into())),
    };
    permitted(parts, route, caller)
}

/// An admin request made by the operator console (its session cookie, no bearer token):
/// the session's operator, and for a state-changing request the console's own origin and
/// the session's CSRF token in [`super::console::CSRF_HEADER`]; 403 `csrf_rejected`
/// otherwise (a forged cross-site request changes nothing, and is audited as refused).
async fn by_session(
    parts: &Parts,
    state: &AppState,
    route: &str,
    session_id: &str,
) -> (Option<Caller>, Result<(), ApiError>) {
    let session = match state
        .gateway
        .console_session(session_id, state.admin_token.as_ref())
        .await
    {
        Ok(Some(session)) => session,
        Ok(None) => {
            return (
                None,
                Err(ApiError::unauthorized(
                    "the console session has ended: sign in again",
                )),
            )
        }
        Err(e) => return (None, Err(e.into())),
    };
    if is_state_changing(parts.method.as_str()) {
        if let Err(refusal) =
            super::console::check_forgery(parts, &session.csrf, state.gateway.public_url())
        {
            return (Some(session.caller), Err(refusal));
        }
    }
    permitted(parts, route, session.caller)
}

/// Whether `caller`'s role allows the route's action (403 `forbidden_role` if not).
fn permitted(parts: &Parts, route: &str, caller: Caller) -> (Option<Caller>, Result<(), ApiError>) {
    let action = route_action(&parts.method, route);
    let allowed = match action {
        Some(action) => caller.may(action),
        None => caller.role == Role::Admin,
    };
    if allowed {
        return (Some(caller), Ok(()));
    }
    let needs = action.map_or(Role::Admin, Action::least_role);
    let refusal = ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::ForbiddenRole,
        format!(
            "operator `{}` has the role `{}`; {} {route} needs `{needs}`",
            caller.name, caller.role, parts.method
        ),
    );
    (Some(caller), Err(refusal))
}

/// The admin gate (see the module doc). Requests outside `/admin` pass untouched.
pub async fn admin_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let audited = is_state_changing(request.method().as_str())
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| m.as_str().starts_with("/admin"));
    if !audited {
        return gate(state, request, next).await;
    }
    // A client that hangs up mid-request makes hyper drop this future: the change may be
    // committed by then, and its audit row must not be lost with the future. The change
    // and its row run in a task of their own, which a hang-up does not cancel.
    // The task carries the request's span, so its log lines and statements stay the
    // request's.
    let span = tracing::Span::current();
    match tokio::spawn(tracing::Instrument::instrument(
        gate(state, request, next),
        span,
    ))
    .await
    {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "admin request task failed");
            internal_error()
        }
    }
}

fn internal_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "internal error (see the server log)",
    )
    .into_response()
}

async fn gate(state: AppState, request: Request, next: Next) -> Response {
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .filter(|r| r.starts_with("/admin"))
    else {
        return next.run(request).await;
    };
    let method = request.method().as_str().to_owned();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (mut parts, body) = request.into_parts();
    let target = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|params| {
            let map: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
                .collect();
            serde_json::Value::Object(map).to_string()
        })
        .unwrap_or_else(|_| "{}".to_owned());
    let (caller, allowed) = authorize(&parts, &state, &route).await;
    let response = match allowed {
        Ok(()) => {
            if let Some(c) = &caller {
                parts.extensions.insert(c.clone());
            }
            // A handler that panics is audited too, as the 500 it becomes.
            let run = std::panic::AssertUnwindSafe(next.run(Request::from_parts(parts, body)));
            match futures_util::FutureExt::catch_unwind(run).await {
                Ok(response) => response,
                Err(_) => {
                    tracing::error!(route = %route, "admin request handler panicked");
                    internal_error()
                }
            }
        }
        Err(refused) => refused.into_response(),
    };
    if is_state_changing(&method) {
        let entry = AuditEntry {
            id: crate::service::audit::new_id(),
            at: state.gateway.now_ms(),
            operator: caller.as_ref().map(|c| c.name.clone()),
            token_id: caller.map(|c| c.token_id),
            method,
            route,
            target,
            client_ip,
            status: i32::from(response.status().as_u16()),
            error_code: response
                .extensions()
                .get::<ErrorCode>()
                .map(|c| c.as_str().to_owned()),
        };
        // Logged inside; the answer stands whether or not its audit was written.
        let _ = state.gateway.audit(&entry).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_route_of_the_api_document_has_an_action() {
        use utoipa::OpenApi;
        let doc = super::super::ApiDoc::openapi();
        let mut seen = 0;
        for (path, method, _) in crate::api::doc::tests::operations(&doc) {
            if path.starts_with("/admin") {
                seen += 1;
                assert!(route_action(&method, &path).is_some(), "{method} {path}");
            }
        }
        assert!(seen > 20, "{seen} admin operations documented");
    }

    #[test]
    fn reads_need_read_and_changes_need_their_own_action() {
        let cases = [
            ("GET", "/admin/flags", Action::Read),
            ("GET", "/admin/audit", Action::Read),
            ("GET", "/admin/merchants/{id}/keys", Action::Read),
            ("POST", "/admin/merchants", Action::ChangeMerchant),
            ("POST", "/admin/merchants/{id}/keys", Action::ChangeMerchant),
            (
                "PUT",
                "/admin/merchants/{id}/providers/{provider}",
                Action::ChangeProvider,
            ),
            (
                "POST",
                "/admin/merchants/{id}/providers/{provider}/test",
                Action::TestProvider,
            ),
            (
                "POST",
                "/admin/adapters/{provider}/activate",
                Action::ChangeAdapter,
            ),
            ("POST", "/admin/operators", Action::ChangeOperator),
            (
                "POST",
                "/admin/payments/{payment_no}/flag/resolve",
                Action::ActOnFlag,
            ),
            (
                "POST",
                "/admin/events/{event_id}/redeliver",
                Action::ActOnWebhook,
            ),
            (
                "POST",
                "/admin/refunds/{refund_no}/retry",
                Action::ActOnFlag,
            ),
            (
                "POST",
                "/admin/merchants/{id}/events/redeliver",
                Action::ActOnWebhook,
            ),
            ("POST", "/admin/reconciliations", Action::Reconcile),
            ("GET", "/admin/reconciliations/{date}", Action::Read),
            (
                "POST",
                "/admin/bill-differences/{id}/resolve",
                Action::ActOnFlag,
            ),
        ];
        for (method, route, action) in cases {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            assert_eq!(
                route_action(&method, route),
                Some(action),
                "{method} {route}"
            );
        }
        assert_eq!(route_action(&Method::POST, "/admin/unlisted"), None);
        assert_eq!(route_action(&Method::GET, "/v1/orders"), None);
    }
}
