//! What the API document says beyond each handler's own annotation: the security schemes,
//! and the error answers every operation of a kind can give, added once here rather than
//! repeated on each handler (and forgotten on the next one):
//! - an operation with a security requirement answers 401 `unauthorized`;
//! - an admin operation answers 404 `admin_disabled` when the admin API is off, and one
//!   whose action needs more than the `read` role answers 403 `forbidden_role` (or
//!   `csrf_rejected`, made by a console session without its CSRF token);
//! - an operation with a JSON body answers 400 `malformed_json` and 422 `invalid_body`;
//! - a `/v1` operation answers 429 `rate_limited` (with `Retry-After`);
//! - every operation may answer 500 `internal` or 503 `storage_unavailable`.
//!
//! Each with the one error body ([`ErrorBody`]).

use axum::http::Method;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::Modify;

use super::auth::route_action;
use crate::domain::operator::Role;

/// The document this paygate serves: [`super::ApiDoc`] with the limits its configuration
/// sets (the shortest order `ttl_seconds`, past `PAYGATE_REPAY_CUTOFF`).
pub fn for_deployment(min_ttl_seconds: i64) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::schema::Schema;
    use utoipa::OpenApi as _;
    let mut doc = super::ApiDoc::openapi();
    if let Some(RefOr::T(Schema::Object(ttl))) =
        property(&mut doc, "CreateOrderBody", "ttl_seconds")
    {
        ttl.minimum = Some(utoipa::Number::Int(min_ttl_seconds as isize));
    }
    // The pay request names each order once (422 `invalid_order_ids` otherwise).
    if let Some(RefOr::T(Schema::Array(ids))) = property(&mut doc, "PayBody", "order_ids") {
        ids.unique_items = true;
    }
    doc
}

/// The schema of a named component's property, to be refined.
fn property<'a>(
    doc: &'a mut utoipa::openapi::OpenApi,
    component: &str,
    name: &str,
) -> Option<&'a mut RefOr<utoipa::openapi::schema::Schema>> {
    match doc.components.as_mut()?.schemas.get_mut(component)? {
        RefOr::T(utoipa::openapi::schema::Schema::Object(o)) => o.properties.get_mut(name),
        _ => None,
    }
}

/// The security schemes: a merchant's API key and the admin token, both bearer tokens.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("api_key", bearer());
        components.add_security_scheme("admin_token", bearer());
    }
}

/// The error answers shared by operations of a kind (see the module's doc).
pub struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, op) in operations {
                if let Some(op) = op {
                    add_error_answers(path, &method, op);
                }
            }
        }
    }
}

fn add_error_answers(path: &str, method: &Method, op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    if secured {
        answer(
            op,
            "401",
            "unauthorized: no key or token, or an unknown or revoked one",
        );
    }
    if path.starts_with("/admin") {
        answer(
            op,
            "404",
            "admin_disabled: the admin API is off (no admin token configured)",
        );
        let needs = route_action(method, path).map_or(Role::Admin, |a| a.least_role());
        if needs > Role::Read {
            answer(
                op,
                "403",
                "forbidden_role: the operator's role does not allow it; csrf_rejected: a \
                 console session's request without its CSRF token or from another origin",
            );
        }
    }
    if json_body {
        answer(op, "400", "malformed_json: the body is not JSON");
        answer(
            op,
            "422",
            "invalid_body: the JSON does not have the body's shape",
        );
    }
    if path.starts_with("/v1") {
        answer(
            op,
            "429",
            "rate_limited: over a rate limit; `Retry-After` says when to retry",
        );
    }
    answer(
        op,
        "500",
        "internal: a fault of paygate's own; see the server log",
    );
    answer(
        op,
        "503",
        "storage_unavailable: the database or the queue cannot be reached",
    );
}

/// Adds the error answer `status` with `what`, or adds `what` to the one the handler
/// documents (which keeps its own codes).
fn answer(op: &mut Operation, status: &str, what: &str) {
    let code = what.split(':').next().unwrap_or(what);
    match op.responses.responses.get_mut(status) {
        Some(RefOr::T(existing)) => {
            if !existing.description.contains(code) {
                existing.description = if existing.description.is_empty() {
                    what.to_owned()
                } else {
                    format!("{}; {what}", existing.description)
                };
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(error_response(what)));
        }
    }
}

fn error_response(what: &str) -> Response {
    ResponseBuilder::new()
        .description(what)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
}

#[cfg(test)]
pub(super) mod tests {
    use utoipa::OpenApi;

    use super::*;

    /// (path, method, operation) of every documented operation.
    pub(in crate::api) fn operations(
        doc: &utoipa::openapi::OpenApi,
    ) -> Vec<(String, Method, Operation)> {
        let mut all = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ] {
                if let Some(op) = op {
                    all.push((path.clone(), method, op.clone()));
                }
            }
        }
        all
    }

    fn answers(op: &Operation, status: &str) -> bool {
        op.responses.responses.contains_key(status)
    }

    #[test]
    fn the_served_document_gives_this_paygate_s_shortest_ttl_and_each_order_once() {
        let mut doc = for_deployment(121);
        let json = |doc: &mut utoipa::openapi::OpenApi, c: &str, p: &str| {
            serde_json::to_value(property(doc, c, p).expect("the property is documented"))
                .expect("a schema is JSON")
        };
        assert_eq!(
            json(&mut doc, "CreateOrderBody", "ttl_seconds")["minimum"],
            121
        );
        assert_eq!(json(&mut doc, "PayBody", "order_ids")["uniqueItems"], true);
    }

    #[test]
    fn every_operation_documents_the_error_answers_of_its_kind() {
        let doc = super::super::ApiDoc::openapi();
        let all = operations(&doc);
        assert!(all.len() > 30, "{} operations", all.len());
        for (path, method, op) in &all {
            let at = format!("{method} {path}");
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                assert!(answers(op, "401"), "{at}: 401");
            }
            if op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"))
            {
                assert!(answers(op, "400") && answers(op, "422"), "{at}: 400, 422");
            }
            if path.starts_with("/admin") {
                assert!(answers(op, "404"), "{at}: admin_disabled");
            }
            if path.starts_with("/admin") && *method != Method::GET {
                assert!(answers(op, "403"), "{at}: forbidden_role");
            }
            if path.starts_with("/v1") {
                assert!(answers(op, "429"), "{at}: rate_limited");
            }
            assert!(answers(op, "500") && answers(op, "503"), "{at}: 500, 503");
        }
    }

    #[test]
    fn a_handler_s_own_codes_for_a_status_are_kept_and_the_shared_one_added() {
        let doc = super::super::ApiDoc::openapi();
        let resolve = doc.paths.paths["/admin/payments/{payment_no}/flag/resolve"]
            .post
            .clone()
            .expect("documented");
        let RefOr::T(unprocessable) = &resolve.responses.responses["422"] else {
            panic!("an inline answer");
        };
        for code in ["invalid_flag", "invalid_note", "invalid_body"] {
            assert!(
                unprocessable.description.contains(code),
                "{code}: {}",
                unprocessable.description
            );
        }
    }
}
