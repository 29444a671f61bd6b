//! Sandbox merchant accounts: sign-up (`POST /accounts`, or `Sandbox::create_account` at
//! first start) and looking up an account's API key to check or make a signature.

use std::fmt;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sqlx::{Row, SqlitePool};

use crate::error::SandboxError;
use crate::now_ms;

/// Length of an API key: 43 base62 characters are ~256 bits, the HMAC-SHA256 key size.
const API_KEY_LEN: usize = 43;

/// A new sandbox account: what goes into a merchant's `mock` configuration (setting
/// `account_id`, secret `api_key` of kind `hmac-key`).
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxAccount {
    pub account_id: String,
    pub api_key: String,
}

impl fmt::Debug for SandboxAccount {
    // The key signs requests: keep it out of logs even though it only guards fake money.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxAccount")
            .field("account_id", &self.account_id)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// `len` random characters of `[0-9A-Za-z]` from the OS generator (keys, ids and nonces).
pub fn random_token(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Opens an account with a fresh id and key.
pub async fn create(pool: &SqlitePool) -> Result<SandboxAccount, SandboxError> {
    let account = SandboxAccount {
        account_id: format!("sbx_{}", random_token(20)),
        api_key: random_token(API_KEY_LEN),
    };
    sqlx::query(
        "INSERT INTO sandbox_accounts (account_id, api_key, created_at) VALUES ($1, $2, $3)",
    )
    .bind(&account.account_id)
    .bind(&account.api_key)
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(account)
}

/// The API key of `account_id`, or `None` for an unknown account.
pub async fn api_key(pool: &SqlitePool, account_id: &str) -> Result<Option<String>, SandboxError> {
    let row = sqlx::query("SELECT api_key FROM sandbox_accounts WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("api_key")?),
        None => None,
    })
}
