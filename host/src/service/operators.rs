//! Named operators: tokens issued per operator with a role, stored as SHA-256, revocable;
//! and authenticating an admin request's token, `PAYGATE_ADMIN_TOKEN` (the bootstrap admin)
//! or an operator's.
//!
//! Why SHA-256 and not a slow password hash: a token is 40 random alphanumerics (about 238
//! bits), so nobody can guess it from its hash however fast the hash; a slow hash would
//! only cost CPU on every admin request. The lookup is by hash, so the time a comparison
//! takes says nothing about the token.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::{lock, ErrorCode, Gateway, ServiceError};
use crate::config::Secret;
use crate::domain::operator::{check_name, record_use, Caller, Role, BOOTSTRAP};
use crate::store::operators::{self, NewOperator, Operator, LIVE_NAME_INDEX};
use crate::store::{now_ms, Db};

/// Operator tokens look like `pgo_` + 40 random alphanumerics.
pub const TOKEN_PREFIX: &str = "pgo_";

/// How many characters of a token are kept in clear: `pgo_` and 4 random ones.
const SHOWN_PREFIX_CHARS: usize = 8;

pub(super) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An operator just created, and their token (shown this once).
pub struct CreatedOperator {
    pub operator: Operator,
    pub token: String,
}

/// Creates an operator with a fresh token. 422 `invalid_name` or `invalid_role`, 409
/// `operator_exists` when a live operator has the name. `created_by` is who asked.
pub async fn create(
    db: &Db,
    name: &str,
    role: &str,
    created_by: &str,
) -> Result<CreatedOperator, ServiceError> {
    let name = check_name(name.trim())
        .map_err(|e| ServiceError::invalid(ErrorCode::InvalidName, e.to_string()))?;
    let role = Role::parse(role).ok_or_else(|| {
        ServiceError::invalid(
            ErrorCode::InvalidRole,
            format!("role must be read, operate or admin, not `{role}`"),
        )
    })?;
    let token: String = format!(
        "{TOKEN_PREFIX}{}",
        rand::rngs::OsRng
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect::<String>()
    );
    let id = format!("op_{}", uuid::Uuid::now_v7().simple());
    let prefix: String = token.chars().take(SHOWN_PREFIX_CHARS).collect();
    let hash = token_hash(&token);
    let stored = operators::insert(
        db,
        &NewOperator {
            id: &id,
            name,
            role: role.as_str(),
            token_prefix: &prefix,
            token_hash: &hash,
            created_by,
        },
    )
    .await
    .map_err(|e| match e.violated_constraint() {
        Some(c) if c.contains(LIVE_NAME_INDEX) || c.contains("operators.name") => {
            ServiceError::conflict(
                ErrorCode::OperatorExists,
                format!("an operator named `{name}` exists: revoke it first, or pick another name"),
            )
        }
        _ => e.into(),
    })?;
    tracing::info!(operator = name, %role, id, created_by, "operator created");
    Ok(CreatedOperator {
        operator: stored,
        token,
    })
}

/// Every operator, revoked ones included, oldest first; never a token or its hash.
pub async fn list(db: &Db) -> Result<Vec<Operator>, ServiceError> {
    Ok(operators::list(db).await?)
}

/// Revokes the operator of id `id_or_name` (or the live one of that name): their token is
/// refused from the next request on, in every process (operator tokens are not cached).
pub async fn revoke(db: &Db, id_or_name: &str) -> Result<Operator, ServiceError> {
    let op = operators::revoke(db, id_or_name, now_ms())
        .await?
        .ok_or(ServiceError::NotFound("operator"))?;
    tracing::info!(operator = %op.name, id = %op.id, "operator revoked");
    Ok(op)
}

/// Whether `given` is the bootstrap token, compared as digests so that the time taken does
/// not depend on where they differ.
fn is_bootstrap(given: &str, bootstrap: Option<&Secret>) -> bool {
    bootstrap.is_some_and(|b| Sha256::digest(given.as_bytes()) == Sha256::digest(b.expose()))
}

impl Gateway {
    /// Who `token` is: the bootstrap admin (named `bootstrap_name`) when it is
    /// `PAYGATE_ADMIN_TOKEN`, a live operator when it is theirs (one statement, and their
    /// last use written at most once a minute per process), `None` otherwise.
    pub async fn authenticate_operator(
        &self,
        token: &str,
        bootstrap: Option<&Secret>,
        bootstrap_name: &str,
    ) -> Result<Option<Caller>, ServiceError> {
        if !is_bootstrap(token, bootstrap) && !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        self.authenticate_token_hash(&token_hash(token), bootstrap, bootstrap_name)
            .await
    }

    /// Who the token of SHA-256 `hash` (hex) is, as [`Gateway::authenticate_operator`]: how a
    /// console session, which keeps only the hash, finds its operator on every request (a
    /// revoked operator, or a changed `PAYGATE_ADMIN_TOKEN`, ends it).
    pub async fn authenticate_token_hash(
        &self,
        hash: &str,
        bootstrap: Option<&Secret>,
        bootstrap_name: &str,
    ) -> Result<Option<Caller>, ServiceError> {
        if bootstrap.is_some_and(|b| token_hash(b.expose()) == hash) {
            return Ok(Some(Caller {
                name: bootstrap_name.to_owned(),
                token_id: BOOTSTRAP.to_owned(),
                role: Role::Admin,
            }));
        }
        let Some(op) = operators::by_token_hash(&self.db, hash).await? else {
            return Ok(None);
        };
        let role = Role::parse(&op.role).ok_or_else(|| {
            ServiceError::internal(
                "reading an operator",
                anyhow::anyhow!("operator {} has unknown role `{}`", op.id, op.role),
            )
        })?;
        let now = self.now_ms();
        let due = {
            let mut uses = lock(&self.operator_uses);
            let due = record_use(uses.get(&op.id).copied(), now);
            if due {
                uses.insert(op.id.clone(), now);
            }
            due
        };
        if due {
            let (db, id) = (self.db.clone(), op.id.clone());
            tokio::spawn(async move {
                if let Err(e) = operators::touch(&db, &id, now).await {
                    tracing::warn!(id, error = %e, "cannot record the operator token's last use");
                }
            });
        }
        Ok(Some(Caller {
            name: op.name,
            token_id: op.id,
            role,
        }))
    }

    pub async fn create_operator(
        &self,
        name: &str,
        role: &str,
        created_by: &str,
    ) -> Result<CreatedOperator, ServiceError> {
        create(&self.db, name, role, created_by).await
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, ServiceError> {
        list(&self.db).await
    }

    pub async fn revoke_operator(&self, id_or_name: &str) -> Result<Operator, ServiceError> {
        revoke(&self.db, id_or_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bootstrap_token_itself_is_the_bootstrap_admin() {
        let b = Secret::new("s3cret");
        assert!(is_bootstrap("s3cret", Some(&b)));
        assert!(!is_bootstrap("s3cre", Some(&b)));
        assert!(!is_bootstrap("s3cret", None));
    }
}
