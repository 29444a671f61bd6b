//! `/admin/merchants...` for operators finding merchants again: the list (paged), one
//! merchant, its merchant-wide webhook endpoint, its API keys (create, list, revoke), and
//! the test of a provider configuration.
//! The views are public: `paygate merchants ... --json` prints the same shapes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::views::{rfc3339, ProviderConfigView};
use super::{json, AppState};
use crate::domain::merchant::{MerchantError, PageRequest};
use crate::service::directory::{MerchantDetail, MerchantPage};
use crate::service::merchants::CreatedKey;
use crate::service::provider_test::{TestOutcome, TestReport};
use crate::service::ErrorCode;
use crate::store::api_keys::ApiKey;

/// A merchant as operators see it; never a secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantView {
    /// `m_` and 32 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// The merchant-wide webhook endpoint: the events of orders created without a
    /// `notify_url` go there. `null`: none.
    pub notify_url: Option<String>,
    /// The providers configured for it, by name (`GET .../providers/{provider}` shows one).
    pub providers: Vec<String>,
}

impl From<&MerchantDetail> for MerchantView {
    fn from(d: &MerchantDetail) -> Self {
        MerchantView {
            id: d.merchant.id.clone(),
            name: d.merchant.name.clone(),
            created_at: rfc3339(d.merchant.created_at),
            notify_url: d.merchant.notify_url.clone(),
            providers: d.providers.clone(),
        }
    }
}

/// One page of merchants, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MerchantListView {
    pub merchants: Vec<MerchantView>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

impl From<&MerchantPage> for MerchantListView {
    fn from(p: &MerchantPage) -> Self {
        MerchantListView {
            merchants: p.merchants.iter().map(MerchantView::from).collect(),
            next_after: p.next_after.clone(),
        }
    }
}

/// `PUT /admin/merchants/{id}/webhook`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// An absolute http(s) URL of at most 1024 characters, or `null` to remove the
    /// endpoint. Required (an empty body does not remove it by accident).
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(
        required = true,
        max_length = 1024,
        pattern = "^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
    )]
    pub notify_url: Option<String>,
}

/// The answer of a provider configuration test: `ok` with the provider's answer in
/// `detail`, or not `ok` with what is wrong in `error` (the code a payment would have
/// failed with, the provider's words in the message).
#[derive(Serialize, ToSchema)]
pub struct ProviderTestView {
    /// Whether the configuration works.
    pub ok: bool,
    pub merchant_id: String,
    pub provider: String,
    /// The payment number the test asked the provider about: `pgtest` and 26 hex digits,
    /// which no payment has.
    pub probe: String,
    /// What the provider answered (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What is wrong (when not `ok`): `provider_misconfigured`, `provider_rejected`,
    /// `provider_unreachable`, `unsupported` or `adapter_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// How long the round trip took (ms).
    pub elapsed_ms: u64,
}

impl From<&TestReport> for ProviderTestView {
    fn from(r: &TestReport) -> Self {
        let (detail, error) = match &r.outcome {
            TestOutcome::Passed { detail } => (Some(detail.clone()), None),
            TestOutcome::Failed { code, message } => (
                None,
                Some(ErrorDetail {
                    code: code.as_str().to_owned(),
                    message: message.clone(),
                }),
            ),
        };
        ProviderTestView {
            ok: r.passed(),
            merchant_id: r.merchant_id.clone(),
            provider: r.provider.clone(),
            probe: r.probe.clone(),
            detail,
            error,
            elapsed_ms: r.elapsed_ms,
        }
    }
}

/// A stored provider configuration, and the test it passed before it was stored (absent
/// when stored with `?test=false`).
#[derive(Serialize, ToSchema)]
pub struct ConfiguredView {
    #[serde(flatten)]
    pub config: ProviderConfigView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<ProviderTestView>,
}

/// A request's query parameters, each at most once, refusing any other than `known`: a
/// mistyped `?tset=false` is an error, not a configuration stored with its test.
pub(super) struct Params(BTreeMap<String, String>);

pub(super) fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
}

impl Params {
    pub(super) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Params, ApiError> {
        let mut params = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !known.contains(&name.as_ref()) {
                return Err(invalid_query(format!(
                    "unknown query parameter `{name}` (this endpoint takes: {})",
                    known.join(", ")
                )));
            }
            if params
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(invalid_query(format!(
                    "query parameter `{name}` given twice"
                )));
            }
        }
        Ok(Params(params))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `true` or `false`; `default` when absent.
    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(invalid_query(format!(
                "`{name}` must be true or false, not `{other}`"
            ))),
        }
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid_query(format!("`{name}` must be an integer, not `{v}`")))
            })
            .transpose()
    }
}

fn page_error(e: MerchantError) -> ApiError {
    invalid_query(e.to_string())
}

/// Lists merchants, newest first, a page at a time: `limit` (1 to 200, default 50),
/// `after` (the previous page's `next_after`), `name` (only merchants of exactly that name).
#[utoipa::path(get, path = "/admin/merchants", tag = "admin",
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "page size, default 50"),
        ("after" = Option<String>, Query, pattern = "^m_[0-9a-f]{32}$", description = "the previous page's `next_after`"),
        ("name" = Option<String>, Query, description = "only merchants of exactly this name")),
    responses((status = 200, body = MerchantListView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    RawQuery(query): RawQuery,
) -> Result<Json<MerchantListView>, ApiError> {
    let params = Params::parse(query.as_deref(), &["limit", "after", "name"])?;
    let page =
        PageRequest::new(params.integer("limit")?, params.get("after")).map_err(page_error)?;
    let found = state
        .gateway
        .list_merchants(&page, params.get("name").map(str::trim))
        .await?;
    Ok(Json(MerchantListView::from(&found)))
}

/// One merchant: its name, webhook endpoint and configured providers; 404
/// `merchant_not_found`.
#[utoipa::path(get, path = "/admin/merchants/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = MerchantView), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn show(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<MerchantView>, ApiError> {
    Ok(Json(MerchantView::from(
        &state.gateway.merchant(&id).await?,
    )))
}

/// Sets the merchant-wide webhook endpoint (`null` removes it): orders created without a
/// `notify_url` have their events delivered there, signed with the merchant's webhook
/// secret; orders with their own keep it.
#[utoipa::path(put, path = "/admin/merchants/{id}/webhook", tag = "admin", request_body = WebhookBody,
    params(("id" = String, Path)),
    responses((status = 200, body = MerchantView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn set_webhook(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<MerchantView>, ApiError> {
    let req: WebhookBody = json::parse(&body)?;
    let merchant = state
        .gateway
        .set_merchant_webhook(&id, req.notify_url.as_deref())
        .await?;
    Ok(Json(MerchantView::from(&merchant)))
}

/// Tests the stored configuration with a harmless round trip to the provider: a query of a
/// payment number that cannot exist, which a working configuration gets a verified "no
/// such trade" for. Answers 200 either way, with `ok`; 404 `merchant_not_found`, 422
/// `provider_not_configured` or `unknown_provider` when there is nothing to test.
#[utoipa::path(post, path = "/admin/merchants/{id}/providers/{provider}/test", tag = "admin",
    params(("id" = String, Path), ("provider" = String, Path)),
    responses((status = 200, body = ProviderTestView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn test_provider(
    State(state): State<AppState>,
    _: Admin,
    Path((id, provider)): Path<(String, String)>,
) -> Result<Json<ProviderTestView>, ApiError> {
    let report = state.gateway.test_provider(&id, &provider).await?;
    Ok(Json(ProviderTestView::from(&report)))
}

/// One of a merchant's API keys: never the key, never its hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    /// `key_` and 32 hex digits (`key_<merchant id>` for the key the merchant was created
    /// with before keys had ids).
    pub id: String,
    pub merchant_id: String,
    /// The key's first characters (`pk_Xk3a`), to tell keys apart; `pk_` alone for a key
    /// created before prefixes were kept.
    pub prefix: String,
    pub label: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; written at most once a minute per paygate process. `null`: not used since
    /// keys recorded their use.
    pub last_used_at: Option<String>,
    /// RFC 3339; `null`: the key works.
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            merchant_id: k.merchant_id.clone(),
            prefix: k.prefix.clone(),
            label: k.label.clone(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new API key, in this answer only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `pk_` and 40 random characters. paygate keeps only its SHA-256: shown this once.
    pub api_key: String,
}

impl From<&CreatedKey> for CreatedKeyView {
    fn from(c: &CreatedKey) -> Self {
        CreatedKeyView {
            key: ApiKeyView::from(&c.key),
            api_key: c.api_key.clone(),
        }
    }
}

/// A merchant's API keys, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyListView {
    pub keys: Vec<ApiKeyView>,
}

/// `POST /admin/merchants/{id}/keys` (the body may be empty or `null`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// What the key is for (`checkout v2`), at most 64 printable characters (blank: none).
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub label: Option<String>,
}

/// Creates another API key for the merchant; the key is in this answer only. Both keys
/// work until one is revoked: clients move to the new key, then the old one is revoked.
#[utoipa::path(post, path = "/admin/merchants/{id}/keys", tag = "admin", request_body = Option<CreateKeyBody>,
    params(("id" = String, Path)),
    responses((status = 201, body = CreatedKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_label")),
    security(("admin_token" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    // No body, or `null` (what a client sends for "no body" in JSON), asks for no label.
    let req: CreateKeyBody =
        if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
            CreateKeyBody::default()
        } else {
            json::parse(&body)?
        };
    let created = state
        .gateway
        .create_api_key(&id, req.label.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKeyView::from(&created))))
}

/// Lists the merchant's API keys, revoked ones included: prefix, label, created, last used,
/// revoked; never a key.
#[utoipa::path(get, path = "/admin/merchants/{id}/keys", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = ApiKeyListView), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyListView>, ApiError> {
    let keys = state.gateway.list_api_keys(&id).await?;
    Ok(Json(ApiKeyListView {
        keys: keys.iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revokes one of the merchant's API keys: refused at once by the paygate process that
/// answers this, and by the others within 2 s (their key cache's lifetime). Revoking a
/// revoked key changes nothing. 404 `not_found` for a key the merchant does not have.
#[utoipa::path(post, path = "/admin/merchants/{id}/keys/{key_id}/revoke", tag = "admin",
    params(("id" = String, Path), ("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    _: Admin,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = state.gateway.revoke_api_key(&id, &key_id).await?;
    Ok(Json(ApiKeyView::from(&key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_known_ones_given_once() {
        let p = Params::parse(Some("test=false&limit=3"), &["test", "limit"]).expect("parsed");
        assert_eq!(p.flag("test", true).ok(), Some(false));
        assert_eq!(p.integer("limit").ok(), Some(Some(3)));
        assert_eq!(
            Params::parse(None, &["test"])
                .and_then(|p| p.flag("test", true))
                .ok(),
            Some(true)
        );
        for bad in ["tset=false", "test=false&test=true"] {
            let e = Params::parse(Some(bad), &["test"]).err().expect(bad);
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery)
            );
        }
        let e = Params::parse(Some("test=no"), &["test"])
            .and_then(|p| p.flag("test", true))
            .expect_err("not a flag");
        assert_eq!(e.code, ErrorCode::InvalidQuery);
    }

    #[test]
    fn a_webhook_body_must_say_notify_url_even_to_remove_it() {
        let set: WebhookBody =
            serde_json::from_str(r#"{"notify_url": "https://shop.example/hook"}"#).expect("set");
        assert_eq!(set.notify_url.as_deref(), Some("https://shop.example/hook"));
        let removed: WebhookBody = serde_json::from_str(r#"{"notify_url": null}"#).expect("null");
        assert_eq!(removed.notify_url, None);
        assert!(serde_json::from_str::<WebhookBody>("{}").is_err());
    }
}
