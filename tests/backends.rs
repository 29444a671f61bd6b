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
    /// A three-master Redis Cluster of the test's own ([`RedisCluster`]).
    RedisCluster,
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
    cluster: Option<RedisCluster>,
    _dir: tempfile::TempDir,
}

impl QueueFixture {
    pub async fn new(backend: QueueBackend) -> QueueFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut pg, mut cluster, mut prefix) = (None, None, String::new());
        let (queue, url) = match backend {
            QueueBackend::Sqlite => {
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("queue.db").display()
                );
                let db = store::connect(&url).await.expect("sqlite");
                (DelayQueue::Sql(SqlQueue::new(db)), url)
            }
            QueueBackend::Postgres => {
                let database = TestDatabase::create().await;
                let db: Db = store::connect(&database.url)
                    .await
                    .expect("postgres test database");
                let url = database.url.clone();
                pg = Some(database);
                (DelayQueue::Sql(SqlQueue::new(db)), url)
            }
            QueueBackend::Redis | QueueBackend::RedisCluster => {
                let url = if backend == QueueBackend::RedisCluster {
                    let started = RedisCluster::start().await;
                    let url = started.url();
                    cluster = Some(started);
                    url
                } else {
                    redis_url()
                };
                prefix = redis_prefix();
                let q = RedisQueue::connect(&url, &prefix)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("Redis must run at {url} (start it: see README): {e}")
                    });
                (DelayQueue::Redis(q), url)
            }
        };
        QueueFixture {
            queue,
            backend,
            url,
            prefix,
            pg,
            cluster,
            _dir: dir,
        }
    }

    /// Another handle on the same queue, as a second process would open it.
    pub async fn reopen(&self) -> DelayQueue {
        match self.backend {
            QueueBackend::Sqlite | QueueBackend::Postgres => {
                DelayQueue::Sql(SqlQueue::new(store::connect(&self.url).await.expect("db")))
            }
            QueueBackend::Redis | QueueBackend::RedisCluster => DelayQueue::Redis(
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
        // A cluster of the test's own goes with its processes.
        drop(self.cluster);
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

/// A Redis server of one test's own (`redis-server` from the machine's packages), on a
/// Unix socket in a temporary directory, keeping nothing on disk: what a test may flush
/// or restart without touching the shared Redis other tests use. Killed when dropped.
pub struct PrivateRedis {
    dir: tempfile::TempDir,
    child: std::process::Child,
    /// Whether it keeps its keys across a restart (an append-only file, fsynced always).
    persistent: bool,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        PrivateRedis::start_with(false).await
    }

    /// A private Redis that keeps its keys across [`PrivateRedis::restart`]: it comes back
    /// with them, as another process (another `run_id`), as after a failover.
    pub async fn start_persistent() -> PrivateRedis {
        PrivateRedis::start_with(true).await
    }

    async fn start_with(persistent: bool) -> PrivateRedis {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = PrivateRedis::spawn(dir.path(), persistent);
        let redis = PrivateRedis {
            dir,
            child,
            persistent,
        };
        redis.wait_ready().await;
        redis
    }

    fn spawn(dir: &std::path::Path, persistent: bool) -> std::process::Child {
        let aof = if persistent { "yes" } else { "no" };
        std::process::Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", aof])
            .args(["--appendfsync", "always"])
            .arg("--unixsocket")
            .arg(dir.join("redis.sock"))
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server must be installed (Debian's redis-server package): {e}")
            })
    }

    /// `redis+unix:///…/redis.sock`.
    pub fn url(&self) -> String {
        format!(
            "redis+unix://{}",
            self.dir.path().join("redis.sock").display()
        )
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("the private Redis answers")
    }

    async fn wait_ready(&self) {
        wait_for_ping(&self.url()).await
    }

    /// `FLUSHDB`: every key gone, the server as it was.
    pub async fn flushdb(&self) {
        let mut conn = self.connection().await;
        let _: () = redis::cmd("FLUSHDB")
            .query_async(&mut conn)
            .await
            .expect("FLUSHDB");
    }

    /// `CONFIG SET name value`.
    pub async fn config_set(&self, name: &str, value: &str) {
        let mut conn = self.connection().await;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async(&mut conn)
            .await
            .expect("CONFIG SET");
    }

    /// The server killed and started again on the same socket, as another process (another
    /// `run_id`): empty, or with its keys when persistent.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.path().join("redis.sock"));
        self.child = PrivateRedis::spawn(self.dir.path(), self.persistent);
        self.wait_ready().await;
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis Cluster of one test's own: three masters (`redis-server --cluster-enabled yes`)
/// on free loopback ports, their slots assigned by `redis-cli --cluster create`, keeping
/// nothing on disk. Killed when dropped.
pub struct RedisCluster {
    _dir: tempfile::TempDir,
    nodes: Vec<std::process::Child>,
    ports: Vec<u16>,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = cluster_ports(3);
        let nodes = ports
            .iter()
            .map(|port| {
                std::process::Command::new("redis-server")
                    .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .args(["--port", &port.to_string()])
                    .args(["--cluster-enabled", "yes"])
                    .arg("--cluster-config-file")
                    .arg(dir.path().join(format!("nodes-{port}.conf")))
                    .arg("--dir")
                    .arg(dir.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!("redis-server must be installed (Debian's redis-server): {e}")
                    })
            })
            .collect();
        let cluster = RedisCluster {
            _dir: dir,
            nodes,
            ports,
        };
        for port in &cluster.ports {
            wait_for_ping(&format!("redis://127.0.0.1:{port}")).await;
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli must be installed (Debian's redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_ok().await;
        cluster
    }

    /// The URL of one node: paygate recognises the cluster from it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }

    /// Every node's URL, comma-separated (a seed list).
    pub fn seed_urls(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Until every node says `cluster_state:ok` (slots assigned and agreed), or 20 s.
    async fn wait_until_ok(&self) {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let mut ok = true;
            for port in &self.ports {
                let client =
                    redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("node url");
                let info: String = match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default(),
                    Err(_) => String::new(),
                };
                ok &= info.contains("cluster_state:ok");
            }
            if ok {
                return;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "the test's Redis Cluster did not reach cluster_state:ok within 20 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// `n` loopback ports free now whose cluster-bus port (port + 10000) is free too.
fn cluster_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port > 55_000 || ports.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

async fn wait_for_ping(url: &str) {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(client) = redis::Client::open(url) {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < until,
            "redis-server at {url} did not answer within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
