//! Signing in and out of the console, and the [`Operator`] every page is read by.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::assets::render;
use super::{check_origin, check_token, cookie_max_age, session_id_in, SESSION_COOKIE};
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::operator::Caller;
use crate::service::ServiceError;
use crate::store::audit::AuditEntry;

/// The operator a console page is read by: the request's live session. Without one, the
/// page answers with a redirect to the sign-in form.
pub struct Operator {
    pub caller: Caller,
    /// The session's CSRF token, which the page hands to its own requests.
    pub csrf: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) = session_id_in(&parts.headers) else {
            return Err(to_login());
        };
        match state
            .gateway
            .console_session(&id, state.admin_token.as_ref())
            .await
        {
            Ok(Some(s)) => Ok(Operator {
                caller: s.caller,
                csrf: s.csrf,
            }),
            Ok(None) => Err((removal(), to_login()).into_response()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

/// The cookie that, set, removes the session's: empty, and already expired.
fn removal() -> CookieJar {
    CookieJar::new().add(
        Cookie::build((SESSION_COOKIE, ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(time::Duration::ZERO)
            .build(),
    )
}

/// `GET /console/login`: the sign-in form (or the overview, for a live session).
pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id_in(&headers) {
        if let Ok(Some(_)) = state
            .gateway
            .console_session(&id, state.admin_token.as_ref())
            .await
        {
            return Redirect::to("/console").into_response();
        }
    }
    login_form(StatusCode::OK, None)
}

fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let mut page = render(
        "login.html",
        minijinja::context! { error => error, page => "login" },
    );
    *page.status_mut() = status;
    page
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    /// How the bootstrap admin is named in the audit log (named operators keep theirs).
    #[serde(default)]
    name: String,
}

/// `POST /console/login`: the token checked, a session opened, its cookie set, and the
/// sign-in written to the audit log (refused ones too).
pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // A sign-in posted from another site would put the browser in someone else's session.
    if let Err(e) = check_origin(&headers) {
        return login_form(StatusCode::FORBIDDEN, Some(&e.message));
    }
    let name = match form.name.trim() {
        "" => "admin",
        n if n.len() <= 64 && n.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => n,
        _ => {
            return login_form(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("your name must be 1-64 printable ASCII characters"),
            )
        }
    };
    let signed = state
        .gateway
        .sign_in(form.token.trim(), state.admin_token.as_ref(), name)
        .await;
    let (status, caller) = match &signed {
        Ok(s) => (StatusCode::SEE_OTHER, Some(&s.caller)),
        Err(ServiceError::Unauthorized(_)) => (StatusCode::UNAUTHORIZED, None),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
    };
    let entry = AuditEntry {
        id: crate::service::audit::new_id(),
        at: state.gateway.now_ms(),
        operator: caller.map(|c| c.name.clone()),
        token_id: caller.map(|c| c.token_id.clone()),
        method: "POST".to_owned(),
        route: "/console/login".to_owned(),
        target: "{}".to_owned(),
        client_ip: peer.map(|p| p.0 .0.ip().to_string()),
        status: i32::from(status.as_u16()),
        error_code: (status == StatusCode::UNAUTHORIZED).then(|| "unauthorized".to_owned()),
    };
    // Logged inside; the sign-in stands whether or not its audit was written.
    let _ = state.gateway.audit(&entry).await;
    match signed {
        Ok(s) => {
            let secure = headers
                .get(axum::http::header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|o| o.starts_with("https://"));
            let cookie = Cookie::build((SESSION_COOKIE, s.id))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(secure)
                .max_age(cookie_max_age())
                .build();
            (CookieJar::new().add(cookie), Redirect::to("/console")).into_response()
        }
        Err(ServiceError::Unauthorized(_)) => login_form(
            StatusCode::UNAUTHORIZED,
            Some("that token is not an operator's (or was revoked)"),
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The sign-out form's field.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /console/logout`: ends the session (with its CSRF token, from the console's own
/// page) and removes the cookie.
pub async fn logout(
    State(state): State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Err(e) = check_token(&headers, &form.csrf, &operator.csrf) {
        return e.into_response();
    }
    if let Some(id) = session_id_in(&headers) {
        if let Err(e) = state.gateway.sign_out(&id).await {
            return ApiError::from(e).into_response();
        }
    }
    (removal(), Redirect::to("/console/login")).into_response()
}
