//! The sandbox provider is a cargo feature (`sandbox`, default on): a build with it serves
//! `/sandbox` on a database of the sandbox's own, a production build without it
//! (`cargo test -p paygate --no-default-features --test sandbox_feature`) has no sandbox
//! route, creates no sandbox table and refuses `PAYGATE_SANDBOX=true`. In neither build does
//! paygate's own schema hold a sandbox table, on SQLite or on PostgreSQL.

use std::collections::HashMap;
use std::path::Path;

use paygate::config::Config;
use sqlx::{Connection, Row};

fn embedded_config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("PAYGATE_DATA_DIR".into(), dir.display().to_string()),
        ("PAYGATE_LISTEN".into(), "127.0.0.1:0".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// The names of the tables of a SQLite file that start with `sandbox_`.
async fn sqlite_sandbox_tables(file: &Path) -> Vec<String> {
    let url = format!("sqlite://{}", file.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
    sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sandbox_%' ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect()
}

#[tokio::test]
async fn paygate_schema_never_holds_the_sandbox_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = paygate::app::spawn(embedded_config(dir.path(), &[]))
        .await
        .expect("paygate starts");
    assert_eq!(
        sqlite_sandbox_tables(&dir.path().join("paygate.db")).await,
        Vec::<String>::new()
    );
    let sandbox_answer = reqwest::Client::new()
        .post(format!("http://{}/sandbox/accounts", running.addr))
        .send()
        .await
        .expect("paygate answers")
        .status();
    let sandbox_db = dir.path().join("sandbox.db");
    if cfg!(feature = "sandbox") {
        assert_eq!(sandbox_answer, reqwest::StatusCode::CREATED);
        assert!(
            running.demo.is_some(),
            "the demo merchant comes with the sandbox"
        );
        assert_eq!(
            sqlite_sandbox_tables(&sandbox_db).await,
            ["sandbox_accounts", "sandbox_refunds", "sandbox_trades"]
        );
    } else {
        assert_eq!(sandbox_answer, reqwest::StatusCode::NOT_FOUND);
        assert!(running.demo.is_none(), "no sandbox, no demo merchant");
        assert!(!sandbox_db.exists(), "no sandbox database is created");
    }
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn asking_for_the_sandbox_without_the_feature_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started =
        paygate::app::spawn(embedded_config(dir.path(), &[("PAYGATE_SANDBOX", "true")])).await;
    if cfg!(feature = "sandbox") {
        started
            .expect("paygate starts")
            .stop()
            .await
            .expect("stops");
    } else {
        let error = started.err().expect("refused").to_string();
        assert!(error.contains("`sandbox` feature"), "{error}");
    }
}

#[tokio::test]
async fn production_migrations_create_no_sandbox_table() {
    let admin = std::env::var("PAYGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must run at {admin} (see README): {e}"));
    let name = format!("paygate_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let db = paygate::store::connect(&format!("{base}/{name}"))
        .await
        .expect("migrations run");
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name LIKE 'sandbox_%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count tables")
    .get("n");
    db.pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await;
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn a_database_from_before_the_move_drops_the_old_sandbox_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("paygate.db").display()
    );
    let db = paygate::store::connect(&url).await.expect("migrations run");
    // As the migrator left such a database: the old migration 2 and its tables.
    for statement in [
        "CREATE TABLE sandbox_accounts (account_id TEXT PRIMARY KEY)",
        "CREATE TABLE sandbox_trades (payment_no TEXT PRIMARY KEY)",
        "CREATE TABLE sandbox_refunds (refund_id TEXT PRIMARY KEY)",
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (2, 'sandbox', CURRENT_TIMESTAMP, 1, X'00', 1)",
    ] {
        sqlx::query(statement).execute(&db.pool).await.expect(statement);
    }
    db.pool.close().await;
    let db = paygate::store::connect(&url)
        .await
        .expect("the old database opens");
    db.pool.close().await;
    assert_eq!(
        sqlite_sandbox_tables(&dir.path().join("paygate.db")).await,
        Vec::<String>::new()
    );
}
