//! Authentication extractors: a merchant by its API key, an operator by the admin token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::error::ApiError;
use super::AppState;
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

/// An operator holding `PAYGATE_ADMIN_TOKEN`. Without a token configured the admin API is off.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = &state.admin_token else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                crate::service::ErrorCode::AdminDisabled,
                "the admin API is off: set PAYGATE_ADMIN_TOKEN",
            ));
        };
        let given = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <admin token>`")
        })?;
        // Compare digests so the comparison time does not depend on the token's content.
        use sha2::{Digest, Sha256};
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.expose().as_bytes()) {
            return Err(ApiError::unauthorized("invalid admin token"));
        }
        Ok(Admin)
    }
}
