//! The real services the tests run against: a fresh PostgreSQL database per test (dropped
//! afterwards), a unique Redis key prefix per test (deleted afterwards), or a temporary
//! SQLite file. A missing service fails the test loudly, naming what to start.

use paygate::queue::{DelayQueue, RedisQueue, SqlQueue};
use paygate::store::{self, Db};

/// PostgreSQL's admin connection; a test's database is created through it.
pub fn postgres_admin_url() -> String {
    std::env::var("PAYGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("PAYGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh PostgreSQL database, dropped by [`TestDatabase::drop_db`].
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL must run at {admin} (start it: see README): {e}")
            });
        let name = format!("paygate_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        TestDatabase {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Drops the database (closing the connections left on it).
    pub async fn drop_db(self) {
        self.drop_now().await
    }

    async fn drop_now(&self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A unique Redis key prefix; [`delete_prefix`] removes its keys.
pub fn redis_prefix() -> String {
    format!("paygate-test-{}", uuid::Uuid::new_v4().simple())
}

pub async fn delete_prefix(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

/// Which delay-queue backend a conformance test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBackend {
    Sqlite,
    Postgres,
    Redis,
}

/// A queue on one backend, with what a second process needs to reach the same queue.
pub struct QueueFixture {
    pub queue: DelayQueue,
    pub backend: QueueBackend,
    /// Database URL (SQLite, PostgreSQL) or Redis URL.
    pub url: String,
    /// Redis key prefix (Redis only).
    pub prefix: String,
    pg: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl QueueFixture {
    pub async fn new(backend: QueueBackend) -> QueueFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            QueueBackend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("queue.db").display()
                );
                let db = store::connect(&url).await.expect("sqlite");
                QueueFixture {
                    queue: DelayQueue::Sql(SqlQueue::new(db)),
                    backend,
                    url,
                    prefix: String::new(),
                    pg: None,
                    _dir: dir,
                }
            }
            QueueBackend::Postgres => {
                let pg = TestDatabase::create().await;
                let db: Db = store::connect(&pg.url)
                    .await
                    .expect("postgres test database");
                let url = pg.url.clone();
                QueueFixture {
                    queue: DelayQueue::Sql(SqlQueue::new(db)),
                    backend,
                    url,
                    prefix: String::new(),
                    pg: Some(pg),
                    _dir: dir,
                }
            }
            QueueBackend::Redis => {
                let url = redis_url();
                let prefix = redis_prefix();
                let q = RedisQueue::connect(&url, &prefix)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("Redis must run at {url} (start it: see README): {e}")
                    });
                QueueFixture {
                    queue: DelayQueue::Redis(q),
                    backend,
                    url,
                    prefix,
                    pg: None,
                    _dir: dir,
                }
            }
        }
    }

    /// Another handle on the same queue, as a second process would open it.
    pub async fn reopen(&self) -> DelayQueue {
        match self.backend {
            QueueBackend::Sqlite | QueueBackend::Postgres => {
                DelayQueue::Sql(SqlQueue::new(store::connect(&self.url).await.expect("db")))
            }
            QueueBackend::Redis => DelayQueue::Redis(
                RedisQueue::connect(&self.url, &self.prefix)
                    .await
                    .expect("redis"),
            ),
        }
    }

    pub async fn cleanup(self) {
        if let Some(pg) = self.pg {
            pg.drop_db().await;
        }
        if self.backend == QueueBackend::Redis {
            delete_prefix(&self.prefix).await;
        }
    }
}

/// The production setting for one test: a fresh PostgreSQL database and a Redis prefix,
/// both removed when dropped.
pub struct ProductionServices {
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
    master_key: String,
    db: Option<TestDatabase>,
}

impl ProductionServices {
    pub async fn create() -> ProductionServices {
        let db = TestDatabase::create().await;
        // 64 hex digits, as PAYGATE_MASTER_KEY wants.
        let master_key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        ProductionServices {
            database_url: db.url.clone(),
            redis_url: redis_url(),
            redis_prefix: redis_prefix(),
            master_key,
            db: Some(db),
        }
    }

    /// The environment paygate needs for them.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("REDIS_URL".into(), self.redis_url.clone()),
            ("PAYGATE_REDIS_PREFIX".into(), self.redis_prefix.clone()),
            ("PAYGATE_SANDBOX".into(), "true".into()),
            // Shared by every process of the test, as production instances share theirs.
            ("PAYGATE_MASTER_KEY".into(), self.master_key.clone()),
        ]
    }
}

impl Drop for ProductionServices {
    fn drop(&mut self) {
        let (db, prefix) = (self.db.take(), self.redis_prefix.clone());
        // Drop runs outside any runtime guarantee: clean up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Some(db) = db {
                    db.drop_now().await;
                }
                delete_prefix(&prefix).await;
            });
        });
        let _ = cleanup.join();
    }
}
