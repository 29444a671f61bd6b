//! Signing in and out of the console, and the [`Operator`] every page is read by.

use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
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
use crate::service::{ErrorCode, ServiceError};
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

/// Writes a console sign-in or sign-out to the audit log, whatever its outcome: `caller`
/// when known, the status answered and its error code. Logged inside when it cannot be
/// written; the answer stands.
async fn audit(
    state: &AppState,
    route: &str,
    caller: Option<&Caller>,
    peer: Option<&axum::Extension<ConnectInfo<SocketAddr>>>,
    status: StatusCode,
    error_code: Option<ErrorCode>,
) {
    let entry = AuditEntry {
        id: crate::service::audit::new_id(),
        at: state.gateway.now_ms(),
        operator: caller.map(|c| c.name.clone()),
        token_id: caller.map(|c| c.token_id.clone()),
        method: "POST".to_owned(),
        route: route.to_owned(),
        target: "{}".to_owned(),
        client_ip: peer.map(|p| p.0 .0.ip().to_string()),
        status: i32::from(status.as_u16()),
        error_code: error_code.map(|c| c.as_str().to_owned()),
    };
    let _ = state.gateway.audit(&entry).await;
}

/// The name the bootstrap admin signs in under: 1-64 characters, none a control character
/// (any script: operators write their names as they do). `admin` when left empty.
fn operator_name(given: &str) -> Option<&str> {
    match given.trim() {
        "" => Some("admin"),
        n if n.chars().count() <= 64 && !n.chars().any(char::is_control) => Some(n),
        _ => None,
    }
}

/// `POST /console/login`: the token checked, a session opened (always a new id), its cookie
/// set, and the sign-in written to the audit log, refused ones too.
pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let refuse = |status, code, message: &str| {
        let state = &state;
        let peer = peer.as_ref();
        let message = message.to_owned();
        async move {
            audit(state, "/console/login", None, peer, status, Some(code)).await;
            login_form(status, Some(&message))
        }
    };
    // A sign-in posted from another site would put the browser in someone else's session.
    if let Err(e) = check_origin(&headers, state.gateway.public_url()) {
        return refuse(StatusCode::FORBIDDEN, e.code, &e.message).await;
    }
    let Ok(Form(form)) = form else {
        return refuse(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            "the sign-in form needs a token",
        )
        .await;
    };
    let Some(name) = operator_name(&form.name) else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidName,
            "your name must be 1-64 characters, none of them a control character",
        )
        .await;
    };
    match state
        .gateway
        .sign_in(form.token.trim(), state.admin_token.as_ref(), name)
        .await
    {
        Ok(s) => {
            audit(
                &state,
                "/console/login",
                Some(&s.caller),
                peer.as_ref(),
                StatusCode::SEE_OTHER,
                None,
            )
            .await;
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
        Err(ServiceError::Unauthorized(_)) => {
            refuse(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "that token is not an operator's (or was revoked)",
            )
            .await
        }
        Err(e) => {
            let e = ApiError::from(e);
            audit(
                &state,
                "/console/login",
                None,
                peer.as_ref(),
                e.status,
                Some(e.code),
            )
            .await;
            e.into_response()
        }
    }
}

/// The sign-out form's field.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /console/logout`: ends the session (with its CSRF token, from the console's own
/// page), removes the cookie, and is written to the audit log (a refused one too).
pub async fn logout(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    operator: Operator,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let checked = check_token(&headers, &given, &operator.csrf, state.gateway.public_url());
    let ended = match checked {
        Err(e) => Err(e),
        Ok(()) => match session_id_in(&headers) {
            Some(id) => state.gateway.sign_out(&id).await.map_err(ApiError::from),
            None => Ok(()),
        },
    };
    let (status, code) = match &ended {
        Ok(()) => (StatusCode::SEE_OTHER, None),
        Err(e) => (e.status, Some(e.code)),
    };
    audit(
        &state,
        "/console/logout",
        Some(&operator.caller),
        peer.as_ref(),
        status,
        code,
    )
    .await;
    match ended {
        Ok(()) => (removal(), Redirect::to("/console/login")).into_response(),
        Err(e) => super::pages::error_page(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_names_themselves_in_any_script_but_not_with_control_characters() {
        assert_eq!(operator_name(""), Some("admin"));
        assert_eq!(operator_name("  Zoë 测试 "), Some("Zoë 测试"));
        assert_eq!(
            operator_name(&"名".repeat(64)),
            Some("名".repeat(64).as_str())
        );
        assert_eq!(operator_name(&"名".repeat(65)), None);
        assert_eq!(operator_name("a\u{0}b"), None);
        assert_eq!(operator_name("a\nb"), None);
    }
}
