//! The operator console at `/console`: web pages for the operator on call, served by
//! paygate itself from templates and scripts built into the binary (minijinja templates,
//! htmx vendored from npm: no internet at run time).
//!
//! Signing in takes an admin token (the bootstrap `PAYGATE_ADMIN_TOKEN` or a named
//! operator's) from a form's body, never a URL, and answers with a session cookie that is
//! `HttpOnly`, `SameSite=Strict` and expires ([`SESSION_LIFETIME_MS`]). The pages read
//! through the use cases; every action a page offers is a request to the `/admin` API made
//! with that cookie, so it passes the same admin gate as a token's: the operator's role,
//! the audit log. A state-changing request of a session must come from the console's own
//! origin and carry the session's CSRF token ([`CSRF_HEADER`]): [`check_forgery`].

mod assets;
mod chart;
mod pages;
mod session;

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::service::sessions::SESSION_LIFETIME_MS;
use crate::service::ErrorCode;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "paygate_console";

/// The header a console session's state-changing request carries its CSRF token in (the
/// pages set it on every htmx request).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The console's routes, under `/console`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::overview))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/find", get(pages::find))
        .route("/console/flags", get(pages::flags))
        .route("/console/deliveries", get(pages::deliveries))
        .route("/console/merchants", get(pages::merchants))
        .route("/console/merchants/{id}", get(pages::merchant))
        .route("/console/adapters", get(pages::adapters))
        .route("/console/audit", get(pages::audit))
        .route("/console/static/{file}", get(assets::serve))
}

/// The session id of the request's console cookie, if it has one.
pub fn session_id(parts: &Parts) -> Option<String> {
    session_id_in(&parts.headers)
}

fn session_id_in(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Refuses (403 `csrf_rejected`) a state-changing request of a console session that comes
/// from another origin than the console's, or without the session's CSRF token `csrf`.
/// `public_url` is paygate's configured public URL (`PAYGATE_PUBLIC_URL`), an origin the
/// console may be reached at behind a proxy.
///
/// The origin is read from `Origin` (browsers send it with every POST) or, when absent,
/// `Sec-Fetch-Site`; a request with neither is refused (no browser sends one, and other
/// clients use a bearer token). The token is compared as digests, so the time taken does
/// not depend on where they differ.
pub fn check_forgery(parts: &Parts, csrf: &str, public_url: &str) -> Result<(), ApiError> {
    let given = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    check_token(&parts.headers, given, csrf, public_url)
}

/// [`check_forgery`] with the token `given` from wherever the request carries it (the
/// header, or a form's field).
fn check_token(
    headers: &HeaderMap,
    given: &str,
    csrf: &str,
    public_url: &str,
) -> Result<(), ApiError> {
    check_origin(headers, public_url)?;
    if Sha256::digest(given.as_bytes()) != Sha256::digest(csrf.as_bytes()) {
        return Err(forgery(
            "the console's CSRF token is missing or wrong: reload the page",
        ));
    }
    Ok(())
}

/// (scheme, lower-case host, port) of an origin or URL: what two origins are compared by.
fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let url = url::Url::parse(url).ok()?;
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_ascii_lowercase(),
        url.port_or_known_default()?,
    ))
}

/// Refuses a request whose `Origin` (or `Sec-Fetch-Site`) does not say it came from the
/// console's own pages: the origin must be `public_url`'s, or name the host the request was
/// sent to (`Host`, or `X-Forwarded-Host` from a proxy; a cross-site form cannot set it).
fn check_origin(headers: &HeaderMap, public_url: &str) -> Result<(), ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = text(header::ORIGIN.as_str()) else {
        return match text("sec-fetch-site") {
            Some("same-origin") => Ok(()),
            Some(site) => Err(forgery(&format!(
                "a console request from a {site} page is refused: the console only acts for its own pages"
            ))),
            None => Err(forgery(
                "a console request without `Origin` is refused: the console only acts for its own pages",
            )),
        };
    };
    let refused = || {
        forgery(&format!(
            "a console request from `{origin}` is refused: the console only acts for its own pages"
        ))
    };
    let from = origin_of(origin).ok_or_else(refused)?;
    if origin_of(public_url).is_some_and(|public| public == from) {
        return Ok(());
    }
    let sent_to = [text("x-forwarded-host"), text(header::HOST.as_str())];
    let same_host = sent_to.into_iter().flatten().any(|host| {
        // The first host a proxy chain names; a URL on the origin's scheme reads its port.
        let host = host.split(',').next().unwrap_or("").trim();
        origin_of(&format!("{}://{host}", from.0)).is_some_and(|to| to == from)
    });
    if same_host {
        Ok(())
    } else {
        Err(refused())
    }
}

fn forgery(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::CsrfRejected, message)
}

/// How long the cookie lives, in seconds (the session's lifetime).
fn cookie_max_age() -> time::Duration {
    time::Duration::milliseconds(SESSION_LIFETIME_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = axum::http::Request::builder()
            .method("POST")
            .uri("/admin/x");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn a_same_origin_request_with_the_session_token_passes() {
        let p = parts(&[
            ("host", "ops.example:8080"),
            ("origin", "https://ops.example:8080"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&p, "t0ken", PUBLIC).is_ok());
        let same_origin = parts(&[
            ("host", "h"),
            ("sec-fetch-site", "same-origin"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&same_origin, "t0ken", PUBLIC).is_ok());
        let upper_case_and_default_port = parts(&[
            ("host", "OPS.example:443"),
            ("origin", "https://ops.example"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&upper_case_and_default_port, "t0ken", PUBLIC).is_ok());
    }

    const PUBLIC: &str = "https://pay.example.com";

    #[test]
    fn behind_a_proxy_the_public_url_or_the_forwarded_host_is_the_console_s_origin() {
        let proxied = parts(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://pay.example.com"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&proxied, "t0ken", PUBLIC).is_ok());
        assert!(check_forgery(&proxied, "t0ken", "http://127.0.0.1:8080").is_err());
        let forwarded = parts(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "ops.example.com"),
            ("origin", "https://ops.example.com"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&forwarded, "t0ken", PUBLIC).is_ok());
    }

    #[test]
    fn a_request_that_names_no_origin_is_refused() {
        let bare = parts(&[("host", "h"), ("x-csrf-token", "t0ken")]);
        assert!(check_forgery(&bare, "t0ken", PUBLIC).is_err());
    }

    #[test]
    fn another_origin_is_refused_even_with_the_token() {
        for origin in ["http://evil.example", "null", "http://ops.example:8081"] {
            let p = parts(&[
                ("host", "ops.example:8080"),
                ("origin", origin),
                ("x-csrf-token", "t0ken"),
            ]);
            let e = check_forgery(&p, "t0ken", PUBLIC).expect_err(origin);
            assert_eq!(e.code, ErrorCode::CsrfRejected);
        }
        let cross = parts(&[
            ("host", "h"),
            ("sec-fetch-site", "cross-site"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(check_forgery(&cross, "t0ken", PUBLIC).is_err());
        let scheme = parts(&[
            ("host", "h"),
            ("origin", "https://h"),
            ("x-csrf-token", "t0ken"),
        ]);
        assert!(
            check_forgery(&scheme, "t0ken", "http://h").is_ok(),
            "the host names it"
        );
    }

    #[test]
    fn a_missing_or_wrong_token_is_refused() {
        let missing = parts(&[("host", "h"), ("origin", "http://h")]);
        assert_eq!(
            check_forgery(&missing, "t0ken", PUBLIC)
                .expect_err("missing")
                .status,
            StatusCode::FORBIDDEN
        );
        let wrong = parts(&[
            ("host", "h"),
            ("origin", "http://h"),
            ("x-csrf-token", "t0kem"),
        ]);
        assert!(check_forgery(&wrong, "t0ken", PUBLIC).is_err());
    }

    #[test]
    fn the_session_id_is_read_from_the_console_cookie_only() {
        let p = parts(&[("cookie", "other=1; paygate_console=abc")]);
        assert_eq!(session_id(&p).as_deref(), Some("abc"));
        assert_eq!(session_id(&parts(&[("cookie", "other=1")])), None);
        assert_eq!(session_id(&parts(&[("cookie", "paygate_console=")])), None);
    }
}
