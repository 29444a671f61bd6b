//! A million open orders: paygate started on a PostgreSQL database holding 1,000,000
//! pending orders, with the Redis delay queue and with the SQL one (in PostgreSQL), and
//! what it costs while their deadlines sit in the queue:
//!   - start-up time: `paygate::app::spawn` until it serves, with an empty queue (the first
//!     start, or a Redis that lost everything: all 1,000,000 deadlines put back) and with
//!     the queue already holding them (a restart);
//!   - memory: the process's resident set after each start, and its peak (`VmHWM`);
//!   - the periodic reconciliation with nothing missing;
//!   - claim lag while they sit there: 10,000 probe tasks falling due at 1,000/s in the
//!     deadline queue itself, claimed by paygate's own `Worker` (two, batch 16, as paygate
//!     runs them), due time to start, p50 / p99 / max.
//!
//! paygate runs in this process (its own workers off, so the probes are claimed by the
//! measuring workers only); nothing else of size lives here, so the process's memory is
//! paygate's. Everything it creates (database, Redis keys) is removed at the end.
//!
//! Run: `cargo bench -p paygate --bench million` (PostgreSQL at 127.0.0.1:5432 and Redis at
//! 127.0.0.1:6379, or `BENCH_PG` / `BENCH_REDIS`); `MILLION_ORDERS` for another count.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Recorder;
use paygate::queue::{DelayQueue, Existing, Worker, WorkerConfig};
use paygate::service::timers::DEADLINE_QUEUE;
use sqlx::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const PROBES: usize = 10_000;
const PROBE_RATE: usize = 1_000;

/// (resident set, peak resident set) of this process, in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn config(vars: &[(String, String)]) -> paygate::config::Config {
    paygate::config::Config::from_lookup(|k| {
        vars.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    })
    .expect("bench configuration")
}

/// Inserts `count` pending orders of `merchant_id`, due in a day, in one statement.
async fn insert_orders(database_url: &str, merchant_id: &str, count: i64) {
    let mut conn = sqlx::PgConnection::connect(database_url)
        .await
        .expect("bench database");
    let now = paygate::store::now_ms();
    sqlx::query(
        "INSERT INTO orders (id, merchant_id, out_trade_no, amount, currency, subject, state,
                             expires_at, created_at, updated_at)
         SELECT 'ord_million_' || lpad(g::text, 8, '0'), $1, 'M' || g, 100, 'CNY', 'Tea',
                'pending', $2, $3, $3
         FROM generate_series(1, $4) AS g",
    )
    .bind(merchant_id)
    .bind(now + 86_400_000)
    .bind(now)
    .bind(count)
    .execute(&mut conn)
    .await
    .expect("insert orders");
    sqlx::query("ANALYZE orders")
        .execute(&mut conn)
        .await
        .expect("analyze");
}

/// Probe tasks falling due at PROBE_RATE a second in the deadline queue, claimed by two
/// of paygate's workers: (p50, p99, max) lag in ms.
async fn probe_lag(queue: &DelayQueue) -> (f64, f64, f64) {
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    for _ in 0..2 {
        let worker = Worker::new(
            queue.clone(),
            WorkerConfig {
                queue: DEADLINE_QUEUE.to_owned(),
                batch: 16,
                lease: Duration::from_secs(90),
                idle_poll: paygate::queue::IDLE_POLL,
                ahead: paygate::queue::CLAIM_AHEAD,
            },
            recorder.clone(),
            Arc::new(Notify::new()),
        );
        tokio::spawn(worker.run(stop.clone()));
    }
    // Scheduled ahead of their time, the way a deadline is (at order creation).
    let start = paygate::store::now_ms() + 3_000;
    let step_us = 1_000_000 / PROBE_RATE as i64;
    let mut loaders = Vec::new();
    for part in 0..4 {
        let q = queue.clone();
        loaders.push(tokio::spawn(async move {
            for i in (part..PROBES).step_by(4) {
                let due = start + (i as i64 * step_us) / 1000;
                q.schedule(DEADLINE_QUEUE, &format!("deadline:probe-{i}"), "{}", due)
                    .await
                    .expect("schedule a probe");
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
    recorder.wait_for(PROBES).await;
    stop.cancel();
    let lags = recorder.lags();
    (lags.p50, lags.p99, lags.max)
}

async fn bench(label: &str, redis: Option<&str>, pg_base: &str, orders: i64) {
    let name = format!("paygate_million_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{pg_base}/postgres"))
        .await
        .expect("PostgreSQL must run (BENCH_PG)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let database_url = format!("{pg_base}/{name}");
    let prefix = format!("million-{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().expect("data dir");
    let mut vars: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.as_str()),
        ("PAYGATE_LISTEN", "127.0.0.1:0"),
        ("PAYGATE_WORKERS", "false"),
        ("PAYGATE_LOG", "warn"),
        ("PAYGATE_ADMIN_TOKEN", "bench"),
        (
            "PAYGATE_MASTER_KEY",
            "0000000000000000000000000000000000000000000000000000000000000001",
        ),
        ("PAYGATE_REDIS_PREFIX", prefix.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .chain([(
        "PAYGATE_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    )])
    .collect();
    if let Some(url) = redis {
        vars.push(("REDIS_URL".into(), url.into()));
    }

    // A merchant, then its million pending orders, straight into the database.
    let running = paygate::app::spawn(config(&vars))
        .await
        .expect("paygate starts");
    let merchant = running
        .gateway
        .create_merchant("million", None)
        .await
        .expect("merchant");
    running.stop().await.expect("stop");
    let inserting = Instant::now();
    insert_orders(&database_url, &merchant.merchant.id, orders).await;
    let inserted = inserting.elapsed();

    // First start: the queue holds none of their deadlines.
    let started = Instant::now();
    let running = paygate::app::spawn(config(&vars))
        .await
        .expect("paygate starts");
    let cold = started.elapsed();
    let (cold_rss, _) = memory_mib();
    let stats = running
        .queue
        .stats(DEADLINE_QUEUE)
        .await
        .expect("queue stats");
    assert_eq!(
        stats.scheduled, orders as u64,
        "every pending order's deadline is on the queue"
    );
    let (p50, p99, max) = probe_lag(&running.queue).await;
    let reconciling = Instant::now();
    let reconciled = running
        .gateway
        .reconcile_timers(Existing::Keep)
        .await
        .expect("reconcile");
    let reconcile = reconciling.elapsed();
    assert_eq!(reconciled.put_back(), 0, "nothing missing");
    assert_eq!(reconciled.deadlines.open, orders as usize);
    running.stop().await.expect("stop");

    // A restart: the queue holds them all.
    let started = Instant::now();
    let running = paygate::app::spawn(config(&vars))
        .await
        .expect("paygate starts");
    let warm = started.elapsed();
    let (warm_rss, peak) = memory_mib();
    running.stop().await.expect("stop");

    println!(
        "{label:<16} {orders} pending orders (inserted in {:.1} s)\n\
         {:<16} start-up, queue empty: {:.1} s   start-up, queue full: {:.1} s   \
         reconciliation, nothing missing: {:.1} s\n\
         {:<16} memory: {cold_rss:.0} MiB after the first start, {warm_rss:.0} MiB after the \
         restart, peak {peak:.0} MiB\n\
         {:<16} claim lag of {PROBES} probes at {PROBE_RATE}/s beside them: \
         p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
        inserted.as_secs_f64(),
        "",
        cold.as_secs_f64(),
        warm.as_secs_f64(),
        reconcile.as_secs_f64(),
        "",
        "",
    );

    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop database");
    if let Some(url) = redis {
        let client = redis::Client::open(url).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        for chunk in keys.chunks(100) {
            let _: Result<i64, _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let pg =
        std::env::var("BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let redis = std::env::var("BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let orders = std::env::var("MILLION_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    bench("PostgreSQL+Redis", Some(&redis), &pg, orders).await;
    bench("PostgreSQL+SQL", None, &pg, orders).await;
}
