//! Operator console sessions: signing in with an admin token (the bootstrap
//! `PAYGATE_ADMIN_TOKEN` or a named operator's), the session that stands for it, and
//! signing out. The browser holds only a random session id; the store keeps its SHA-256,
//! the SHA-256 of the token, and the session's CSRF token. Every request re-authenticates
//! the token's hash, so a revoked operator's sessions end at once.

use super::merchants::random_token;
use super::operators::token_hash;
use super::{Gateway, ServiceError};
use crate::config::Secret;
use crate::domain::operator::Caller;
use crate::store::sessions::{self, Session};

/// How long a session lasts from sign-in: a night's shift, then sign in again (ms).
pub const SESSION_LIFETIME_MS: i64 = 8 * 60 * 60 * 1000;

/// A session just opened.
pub struct SignedIn {
    /// The session id for the cookie (48 random alphanumerics, about 285 bits).
    pub id: String,
    pub caller: Caller,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// A live session: who it is now, and the CSRF token its changes must carry.
pub struct ConsoleSession {
    pub caller: Caller,
    pub csrf: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

impl Gateway {
    /// Opens a session for the operator whose token is `token` (`name`: how the bootstrap
    /// admin is called in the audit log; named operators keep their own name). 401
    /// `unauthorized` for a token that is no operator's.
    pub async fn sign_in(
        &self,
        token: &str,
        bootstrap: Option<&Secret>,
        name: &str,
    ) -> Result<SignedIn, ServiceError> {
        let caller = self
            .authenticate_operator(token, bootstrap, name)
            .await?
            .ok_or(ServiceError::Unauthorized("invalid admin token"))?;
        let id = random_token(48);
        let now = self.now_ms();
        let expires_at = now + SESSION_LIFETIME_MS;
        let session = Session {
            token_hash: token_hash(token),
            operator: caller.name.clone(),
            csrf: random_token(32),
            expires_at,
        };
        sessions::insert(&self.db, &token_hash(&id), &session, now).await?;
        tracing::info!(operator = %caller.name, role = %caller.role, "console session opened");
        Ok(SignedIn {
            id,
            caller,
            expires_at,
        })
    }

    /// The live session of id `id`: `None` when it is unknown, expired, or its operator's
    /// token no longer authenticates.
    pub async fn console_session(
        &self,
        id: &str,
        bootstrap: Option<&Secret>,
    ) -> Result<Option<ConsoleSession>, ServiceError> {
        let Some(session) = sessions::live(&self.db, &token_hash(id), self.now_ms()).await? else {
            return Ok(None);
        };
        let caller = self
            .authenticate_token_hash(&session.token_hash, bootstrap, &session.operator)
            .await?;
        Ok(caller.map(|caller| ConsoleSession {
            caller,
            csrf: session.csrf,
            expires_at: session.expires_at,
        }))
    }

    /// Ends the session `id`.
    pub async fn sign_out(&self, id: &str) -> Result<(), ServiceError> {
        Ok(sessions::delete(&self.db, &token_hash(id)).await?)
    }
}
