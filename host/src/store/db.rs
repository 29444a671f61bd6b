//! The connection pool, migrations, and the storage error type.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The name of the unique constraint a write violated, if that is why it failed.
    pub fn violated_constraint(&self) -> Option<String> {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation() => Some(
                e.constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.message().to_owned()),
            ),
            _ => None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.violated_constraint().is_some()
    }
}

/// The database: a pool over SQLite or PostgreSQL, chosen by the URL's scheme.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub engine: Engine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Migrations written to run unchanged on both engines (BIGINT milliseconds, TEXT,
/// `ON CONFLICT`), then those each engine needs in its own dialect (CHECK constraints,
/// aggregates), numbered after them. Each migrator ignores the other's applied versions.
fn migrators(engine: Engine) -> [sqlx::migrate::Migrator; 2] {
    let mut common = sqlx::migrate!("../migrations");
    let mut own = match engine {
        Engine::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Engine::Postgres => sqlx::migrate!("../migrations/postgres"),
    };
    common.set_ignore_missing(true);
    own.set_ignore_missing(true);
    [common, own]
}

/// The longest a request waits for a database connection (a new one included): a database
/// that stops answering fails requests within this time instead of holding them.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and applies migrations.
pub async fn connect(url: &str) -> Result<Db, StoreError> {
    let db = open(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Connects to `url` (one connection is made at once, so an unreachable database fails
/// here, within [`ACQUIRE_TIMEOUT`]); no migrations.
pub async fn open(url: &str) -> Result<Db, StoreError> {
    sqlx::any::install_default_drivers();
    let engine = if url.starts_with("postgres") {
        Engine::Postgres
    } else {
        Engine::Sqlite
    };
    // Statements are logged at TRACE under `sqlx::query`, which no default filter enables: the
    // round-trip test counts them there.
    let options = AnyConnectOptions::from_str(url)?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(1));
    let pool = match engine {
        Engine::Sqlite => {
            // WAL lets readers run beside the one writer, and other `paygate` commands on the
            // same file wait (busy_timeout) instead of failing while the server writes.
            AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?
        }
        Engine::Postgres => {
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?
        }
    };
    Ok(Db { pool, engine })
}

/// One connection to `url`, closed at once: whether the database is there and lets paygate
/// in. Unlike the pool, it does not retry a refused connection by itself: start-up retries,
/// and says so.
pub async fn probe(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(url)?;
    let conn = options.connect().await?;
    conn.close().await?;
    Ok(())
}

/// Applies the migrations `db` has not had yet.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    retire_sandbox_migration(&db.pool).await?;
    for migrator in migrators(db.engine) {
        migrator.run(&db.pool).await?;
    }
    Ok(())
}

/// Databases created before the sandbox moved to a database of its own have its tables and
/// a record of migration 2 (`sandbox`), which no longer exists: drop both, or the migrator
/// refuses the database. The sandbox's trades were fake money; it starts afresh.
async fn retire_sandbox_migration(pool: &AnyPool) -> Result<(), StoreError> {
    let applied =
        sqlx::query("SELECT 1 FROM _sqlx_migrations WHERE version = 2 AND description = 'sandbox'")
            .fetch_optional(pool)
            .await;
    // No migrations table yet: a new database, nothing to retire.
    if !matches!(applied, Ok(Some(_))) {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for statement in [
        "DROP TABLE IF EXISTS sandbox_refunds",
        "DROP TABLE IF EXISTS sandbox_trades",
        "DROP TABLE IF EXISTS sandbox_accounts",
        "DELETE FROM _sqlx_migrations WHERE version = 2 AND description = 'sandbox'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    tracing::info!("the sandbox's tables left paygate's database (it keeps its own now)");
    Ok(())
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// One page of a keyset walk: `sql` selects the rows whose key is after `$1`, ordered by that
/// key, at most `$2` of them (reconciliation reads the open work this way).
pub(super) async fn page(
    db: &Db,
    sql: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
    Ok(sqlx::query(sql)
        .bind(after)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}

/// A migrated SQLite database in a temporary directory, for unit tests; the directory
/// goes when the returned guard is dropped.
#[cfg(test)]
pub async fn temporary() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = connect(&url).await.expect("a temporary SQLite database");
    (dir, db)
}
