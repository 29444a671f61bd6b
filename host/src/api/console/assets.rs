//! What the console ships inside the binary: its templates (rendered by minijinja,
//! HTML-escaped), its stylesheet and script, and htmx with its JSON extension, vendored from
//! npm (`htmx.org` 2.0.11 and `htmx-ext-json-enc` 2.0.3, 0BSD; `host/console/static/`).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};
use sha2::Digest;

use crate::domain::money::{Currency, Money};

/// What every console page is allowed to load and run: only its own files (no inline
/// script, no eval; htmx is told not to inject styles or evaluate), and never in a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../console/templates/base.html"),
    ),
    (
        "macros.html",
        include_str!("../../../console/templates/macros.html"),
    ),
    (
        "login.html",
        include_str!("../../../console/templates/login.html"),
    ),
    (
        "overview.html",
        include_str!("../../../console/templates/overview.html"),
    ),
    (
        "find.html",
        include_str!("../../../console/templates/find.html"),
    ),
    (
        "flags.html",
        include_str!("../../../console/templates/flags.html"),
    ),
    (
        "deliveries.html",
        include_str!("../../../console/templates/deliveries.html"),
    ),
    (
        "merchants.html",
        include_str!("../../../console/templates/merchants.html"),
    ),
    (
        "merchant.html",
        include_str!("../../../console/templates/merchant.html"),
    ),
    (
        "adapters.html",
        include_str!("../../../console/templates/adapters.html"),
    ),
    (
        "audit.html",
        include_str!("../../../console/templates/audit.html"),
    ),
    (
        "error.html",
        include_str!("../../../console/templates/error.html"),
    ),
];

/// The static files, by name: (content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../console/static/htmx.min.js"),
    ),
    (
        "json-enc.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../console/static/json-enc.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../console/static/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../console/static/console.css"),
    ),
];

static TEMPLATES_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // The templates are part of the binary and covered by the tests: one that does not
        // parse fails `every_template_parses`, never a page at run time.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "a console template does not parse");
        }
    }
    env.add_filter("time", time_filter);
    env.add_function("asset", asset_url);
    env.add_filter("amount", amount_filter);
    env
});

/// `asset(name)`: the URL of a static file, with a digest of its bytes as `?v=`, so that a
/// browser keeps a file a day yet never an old one after paygate is upgraded.
fn asset_url(name: String) -> String {
    let bytes = FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(&[][..], |(_, _, b)| *b);
    let digest = sha2::Sha256::digest(bytes);
    format!("/console/static/{name}?v={}", hex::encode(&digest[..6]))
}

/// `ms | time`: milliseconds since the epoch as `2026-12-01 02:30:05 UTC`; an RFC 3339
/// string is shown the same way.
fn time_filter(value: Value) -> String {
    let at = match value.as_i64() {
        Some(ms) => {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        }
        None => value.as_str().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        }),
    };
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or_else(|| value.to_string())
}

/// `minor | amount(currency)`: minor units as `CNY 6.68`.
fn amount_filter(minor: i64, currency: String) -> String {
    Currency::parse(&currency)
        .and_then(|c| Money::new(minor, c))
        .map(|m| m.to_string())
        .unwrap_or_else(|_| format!("{currency} {minor} (minor units)"))
}

/// Renders the page `name` with `context`, with the console's security headers.
pub fn render(name: &str, context: Value) -> Response {
    let rendered = TEMPLATES_ENV
        .get_template(name)
        .and_then(|t| t.render(context));
    match rendered {
        Ok(html) => {
            let mut response = Html(html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
            response
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "a console page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the console page could not be drawn; see the server log",
            )
                .into_response()
        }
    }
}

/// `GET /console/static/{file}`: one of the console's files, cached for a day.
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn the_frame_the_login_and_the_error_page_render_with_the_filters_they_use() {
        let frame = minijinja::context! { operator => "op", role => "admin", csrf => "t0ken", page => "audit",
        may_operate => true, may_change_adapters => true };
        let data = minijinja::context! { entries => Vec::<i32>::new(), next_before => () };
        let page = render(
            "audit.html",
            minijinja::context! { frame => frame, data => data },
        );
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            render("login.html", minijinja::context! { error => "no" }).status(),
            StatusCode::OK
        );
        let error = render(
            "error.html",
            minijinja::context! { status => 404, code => "not_found", message => "gone" },
        );
        assert_eq!(
            error.status(),
            StatusCode::OK,
            "render sets no error status"
        );
    }

    #[test]
    fn an_asset_url_changes_with_the_file_s_bytes() {
        let url = asset_url("console.js".into());
        assert!(url.starts_with("/console/static/console.js?v="), "{url}");
        assert_eq!(url.len(), "/console/static/console.js?v=".len() + 12);
        assert_ne!(
            url.rsplit('=').next(),
            asset_url("console.css".into()).rsplit('=').next()
        );
    }

    #[test]
    fn times_and_amounts_read_as_people_write_them() {
        assert_eq!(time_filter(Value::from(0_i64)), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            time_filter(Value::from("2026-12-01T02:30:05Z")),
            "2026-12-01 02:30:05 UTC"
        );
        assert_eq!(amount_filter(668, "CNY".into()), "CNY 6.68");
        assert_eq!(
            amount_filter(5, "ZZZ".into()),
            "ZZZ 5 (minor units)",
            "an unknown currency"
        );
    }
}
