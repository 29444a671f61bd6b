//! The sandbox: a fake payment provider speaking the protocol of `plugins/mock/PROTOCOL.md`
//! (provider side), so a person can try paygate end to end in a browser and tests can drive
//! payments. paygate serves it under `/sandbox` (its default-on `sandbox` feature); the
//! `sandbox-simulator` binary serves it on its own. It knows only what a provider could know:
//! its accounts, its trades and the numbers merchants gave it, in its own database.
//!
//! Routes, relative to the nest point (`.nest("/sandbox", sandbox.router())`):
//!
//! | route | who | file |
//! |---|---|---|
//! | `POST /accounts` | sign-up, unsigned | `api.rs` |
//! | `POST /api/trades`, `GET /api/trades/{payment_no}`, `POST /api/trades/{payment_no}/close`, `POST /api/trades/{payment_no}/refunds` | adapters, signed (`sign.rs`) | `api.rs` |
//! | `GET /checkout/{payment_no}`, `POST /checkout/{payment_no}/pay` | people, HTML | `checkout.rs` |
//! | `GET /trades/{payment_no}`, `POST /trades/{payment_no}/pay`, `POST /trades/{payment_no}/notify` | tests, unsigned | `tools.rs` |
//!
//! Storage is in `trades.rs`, `refunds.rs` and `accounts.rs` (tables of this crate's
//! `migrations/`, in a SQLite file of the sandbox's own); notifications in `notify.rs`.

mod accounts;
mod api;
mod checkout;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod error;
#[cfg(not(feature = "fuzzing"))]
mod error;
mod money;
mod notify;
mod refunds;
// The `fuzzing` feature (used by `fuzz/` only) makes the signature checks public.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod sign;
#[cfg(not(feature = "fuzzing"))]
mod sign;
mod tools;
mod trace;
mod trades;
mod wire;

#[cfg(test)]
mod tests;

pub use notify::DestinationCheck;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use tokio_util::task::TaskTracker;

pub use accounts::SandboxAccount;
pub use error::SandboxError;
pub use notify::Delivery;

/// The sandbox's schema, applied by [`Sandbox::open`] to its own database.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The delays before the 2nd, 3rd and 4th notification attempts (PROTOCOL.md).
pub const NOTIFY_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
];

/// How long one notification attempt may wait for the receiver's answer.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The sandbox provider. Cheap to clone: every clone shares the pool, the HTTP client and
/// the task tracker, and the router holds one as its state.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// The sandbox's own database (a SQLite file, or memory), migrated by [`Sandbox::open`].
    pool: SqlitePool,
    /// The sandbox's public base URL without a trailing slash
    /// (`{PAYGATE_PUBLIC_URL}/sandbox`): the prefix of every `pay_url`.
    public_base: String,
    /// The path of `public_base` (`/sandbox`): the prefix adapters sign in front of
    /// `/api/...`, and the prefix of the checkout page's form action and redirect.
    base_path: String,
    /// Sends notifications; the caller's client, so its proxy and TLS settings apply.
    http: reqwest::Client,
    /// Delays before each notification retry; [`NOTIFY_RETRY_DELAYS`] unless a test shortens them.
    notify_delays: Arc<[Duration]>,
    /// Per-attempt timeout of a notification.
    notify_timeout: Duration,
    /// The background notification deliveries, so shutdown can wait for them.
    tasks: TaskTracker,
    /// API keys of the accounts seen so far, by account id. An account and its key never
    /// change once written, so a key read once stays right; only keys found are kept, so
    /// an account opened by another process sharing the file is found on its first use.
    keys: Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>,
    /// How long after the merchant's own deadline its gateway has the trade close (paygate:
    /// `PAYGATE_PROVIDER_GRACE`): the checkout page shows the trade's `expires_at` less this,
    /// the deadline the merchant shows, while the trade still accepts a payment until
    /// `expires_at`. Zero unless set with [`Sandbox::with_deadline_grace`].
    deadline_grace: Duration,
    /// Judges a notification's destination before it is sent; `None`: any. paygate sets
    /// its webhook destination rule here (see `notify.rs`).
    destination_check: Option<DestinationCheck>,
}

impl Sandbox {
    /// Opens (creating it if need be, and migrating it) the sandbox's database at `path`, a
    /// SQLite file of its own, never paygate's. The sandbox is reachable at `public_base`
    /// (e.g. `http://127.0.0.1:8080/sandbox`) and sends notifications with `http`.
    pub async fn open(
        path: &std::path::Path,
        public_base: String,
        http: reqwest::Client,
    ) -> Result<Sandbox, SandboxError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL and a busy timeout: several paygate processes sharing a data directory
            // (the restart tests) wait for each other instead of failing.
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of the
            // process loses nothing, a power cut at most the last commits of a simulator.
            // FULL made every trade wait for an fsync, on the path of every pay.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Sandbox::new(pool, public_base, http))
    }

    fn new(pool: SqlitePool, public_base: String, http: reqwest::Client) -> Sandbox {
        let public_base = public_base.trim_end_matches('/').to_owned();
        let base_path = base_path_of(&public_base);
        Sandbox {
            pool,
            public_base,
            base_path,
            http,
            notify_delays: Arc::from(NOTIFY_RETRY_DELAYS.as_slice()),
            notify_timeout: NOTIFY_TIMEOUT,
            tasks: TaskTracker::new(),
            keys: Arc::default(),
            deadline_grace: Duration::ZERO,
            destination_check: None,
        }
    }

    /// Checks every notification's destination with `check` before it is sent (`Err`: why
    /// it is refused; the attempt then fails with that reason and is not sent).
    pub fn with_destination_check(mut self, check: DestinationCheck) -> Sandbox {
        self.destination_check = Some(check);
        self
    }

    /// Sets the grace the merchant's gateway adds to its deadline when it opens a trade
    /// (paygate's `PAYGATE_PROVIDER_GRACE`), so the checkout page shows the payer the
    /// merchant's deadline rather than the trade's hard close.
    pub fn with_deadline_grace(mut self, grace: Duration) -> Sandbox {
        self.deadline_grace = grace;
        self
    }

    /// Replaces the notification retry delays (one retry per delay); for tests, which cannot
    /// wait 14 s.
    pub fn with_notify_delays(mut self, delays: Vec<Duration>) -> Sandbox {
        self.notify_delays = Arc::from(delays);
        self
    }

    /// Replaces the per-attempt notification timeout.
    pub fn with_notify_timeout(mut self, timeout: Duration) -> Sandbox {
        self.notify_timeout = timeout;
        self
    }

    /// The notification deliveries under way. At shutdown: `close()`, then `wait()` (with a
    /// timeout of your choosing; retries can take 14 s).
    pub fn notification_tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Opens a sandbox account (as `POST /accounts` does): for configuring the demo merchant.
    pub async fn create_account(&self) -> Result<SandboxAccount, SandboxError> {
        accounts::create(&self.pool).await
    }

    /// The API key of `account_id`, or `None` for an unknown account; read from the
    /// database once per account.
    pub(crate) async fn account_key(
        &self,
        account_id: &str,
    ) -> Result<Option<String>, SandboxError> {
        let cached = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(account_id)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let key = accounts::api_key(&self.pool, account_id).await?;
        if let Some(key) = &key {
            self.keys
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(account_id.to_owned(), key.clone());
        }
        Ok(key)
    }

    /// The sandbox's routes, to be nested at the path of `public_base` (`/sandbox`).
    pub fn router(self) -> Router {
        Router::new()
            .route("/accounts", post(api::create_account))
            .route("/api/trades", post(api::create_trade))
            .route("/api/trades/{payment_no}", get(api::query_trade))
            .route("/api/trades/{payment_no}/close", post(api::close_trade))
            .route("/api/trades/{payment_no}/refunds", post(api::create_refund))
            .route("/checkout/{payment_no}", get(checkout::page))
            .route("/checkout/{payment_no}/pay", post(checkout::pay))
            .route("/trades/{payment_no}", get(tools::get_trade))
            .route("/trades/{payment_no}/pay", post(tools::pay_trade))
            .route("/trades/{payment_no}/notify", post(tools::notify_trade))
            .layer(axum::middleware::from_fn(trace::trace_request))
            .with_state(self)
    }
}

/// The path part of the public base URL; `/sandbox` if it cannot be parsed (the documented
/// mount point), `""` when the sandbox is served at the root.
fn base_path_of(public_base: &str) -> String {
    match url::Url::parse(public_base) {
        Ok(url) => url.path().trim_end_matches('/').to_owned(),
        Err(_) => "/sandbox".to_owned(),
    }
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}
