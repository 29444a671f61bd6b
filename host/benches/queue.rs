//! Benchmark of the delay queue on loopback, for the SQL backend (SQLite, the embedded
//! default) and Redis:
//!   - burst: 20,000 tasks already due, drained by 4 workers (tasks/s);
//!   - flow: 20,000 tasks falling due at 5,000 a second, 4 workers running their normal
//!     loop; lag from due time to start (p50, p99, max).
//!
//! The workers are paygate's own (`queue::Worker`, batch 100, claiming `CLAIM_AHEAD` ahead
//! as paygate does) with a handler that only records. `bench/queue-vs-bullmq` runs this
//! beside BullMQ on the same Redis.
//!
//! Run: `cargo bench -p paygate --bench queue` (Redis on 127.0.0.1:6379, or REDIS_URL).
//! `BENCH_QUEUE_BACKENDS=redis` (or `sqlite`) runs one backend; `BENCH_JSON=1` prints one
//! JSON line per phase instead of prose.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Recorder;
use paygate::queue::{DelayQueue, RedisQueue, SqlQueue, Worker, WorkerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const TASKS: usize = 20_000;
const WORKERS: usize = 4;
const RATE_PER_SEC: usize = 5_000;

fn now_ms() -> i64 {
    paygate::store::now_ms()
}

async fn load(
    queue: &DelayQueue,
    name: &str,
    due: impl Fn(usize) -> i64 + Send + Sync + Copy + 'static,
) {
    let mut loaders = Vec::new();
    for part in 0..8 {
        let (q, name) = (queue.clone(), name.to_owned());
        loaders.push(tokio::spawn(async move {
            for i in (part..TASKS).step_by(8) {
                q.schedule(&name, &format!("t{i}"), "{}", due(i))
                    .await
                    .expect("schedule");
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
}

async fn start_workers(
    handles: &[DelayQueue],
    name: &str,
    recorder: Arc<Recorder>,
    stop: &CancellationToken,
) {
    for q in handles {
        let config = WorkerConfig {
            queue: name.to_owned(),
            batch: 100,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(200),
            ahead: paygate::queue::CLAIM_AHEAD,
        };
        let worker = Worker::new(q.clone(), config, recorder.clone(), Arc::new(Notify::new()));
        tokio::spawn(worker.run(stop.clone()));
    }
}

async fn bench(label: &str, handles: Vec<DelayQueue>, json: bool) {
    let queue = handles[0].clone();

    // Burst.
    let name = format!("bench-burst-{}", uuid::Uuid::new_v4().simple());
    let t0 = now_ms();
    load(&queue, &name, move |_| t0 - 1).await;
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    let started = Instant::now();
    start_workers(&handles, &name, recorder.clone(), &stop).await;
    recorder.wait_for(TASKS).await;
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();
    let per_second = TASKS as f64 / elapsed;
    if json {
        println!(
            r#"{{"queue":"paygate {label}","phase":"burst","tasks":{TASKS},"workers":{WORKERS},"seconds":{elapsed},"per_second":{per_second}}}"#
        );
    } else {
        println!(
            "{label:<8} burst: {TASKS} due tasks, {WORKERS} workers: {elapsed:.2} s, {per_second:.0} tasks/s"
        );
    }

    // Flow.
    let name = format!("bench-flow-{}", uuid::Uuid::new_v4().simple());
    let loading = Instant::now();
    let start = now_ms() + 20_000;
    let step_us = 1_000_000 / RATE_PER_SEC as i64;
    load(&queue, &name, move |i| start + (i as i64 * step_us) / 1000).await;
    assert!(
        loading.elapsed() < Duration::from_secs(19),
        "loading took longer than the lead time"
    );
    let recorder = Arc::new(Recorder::default());
    let stop = CancellationToken::new();
    start_workers(&handles, &name, recorder.clone(), &stop).await;
    recorder.wait_for(TASKS).await;
    stop.cancel();
    let lags = recorder.lags();
    if json {
        println!(
            r#"{{"queue":"paygate {label}","phase":"flow","tasks":{TASKS},"workers":{WORKERS},"rate":{RATE_PER_SEC},"lag_p50_ms":{:.3},"lag_p99_ms":{:.3},"lag_max_ms":{:.3}}}"#,
            lags.p50, lags.p99, lags.max
        );
    } else {
        println!(
            "{label:<8} flow:  {TASKS} tasks due at {RATE_PER_SEC}/s, {WORKERS} workers: lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lags.p50, lags.p99, lags.max
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let backends = std::env::var("BENCH_QUEUE_BACKENDS").unwrap_or_else(|_| "sqlite,redis".into());
    let json = std::env::var("BENCH_JSON").is_ok_and(|v| v == "1");
    rt.block_on(async {
        if backends.split(',').any(|b| b == "sqlite") {
            sqlite(json).await;
        }
        if backends.split(',').any(|b| b == "redis") {
            redis(json).await;
        }
    });
}

async fn sqlite(json: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let db = paygate::store::connect(&url).await.expect("sqlite");
    let sql: Vec<DelayQueue> = (0..WORKERS)
        .map(|_| DelayQueue::Sql(SqlQueue::new(db.clone())))
        .collect();
    bench("sqlite", sql, json).await;
}

async fn redis(json: bool) {
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("paygate-bench-{}", uuid::Uuid::new_v4().simple());
    let mut redis = Vec::new();
    for _ in 0..WORKERS {
        // One connection per worker, as separate processes would have.
        redis.push(DelayQueue::Redis(
            RedisQueue::connect(&redis_url, &prefix)
                .await
                .expect("Redis on 127.0.0.1:6379"),
        ));
    }
    bench("redis", redis, json).await;
}
