//! Benchmark of the delay queue on loopback, for the SQL backend (SQLite, the embedded
//! default) and Redis:
//!   - burst: 20,000 tasks already due, drained by 4 workers (tasks/s);
//!   - flow: 20,000 tasks falling due at 5,000 a second, 4 workers running their normal
//!     loop; lag from due time to start (p50, p99, max).
//!
//! The workers are paygate's own (`queue::Worker`) with a handler that only records.
//!
//! Run: `cargo bench -p paygate --bench queue` (Redis on 127.0.0.1:6379, or REDIS_URL).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paygate::queue::{
    Claimed, DelayQueue, Handler, Outcome, RedisQueue, SqlQueue, Worker, WorkerConfig,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const TASKS: usize = 20_000;
const WORKERS: usize = 4;
const RATE_PER_SEC: usize = 5_000;

struct Recorder {
    done: AtomicUsize,
    lags_ms: Mutex<Vec<f64>>,
}

impl Handler for Recorder {
    fn handle<'a>(
        &'a self,
        task: &'a Claimed,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e6;
            if let Ok(mut lags) = self.lags_ms.lock() {
                lags.push(now - task.due_ms as f64);
            }
            self.done.fetch_add(1, Ordering::Relaxed);
            Outcome::Done
        })
    }
}

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
        };
        let worker = Worker::new(q.clone(), config, recorder.clone(), Arc::new(Notify::new()));
        tokio::spawn(worker.run(stop.clone()));
    }
}

async fn wait_for(recorder: &Recorder, count: usize) {
    while recorder.done.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn bench(label: &str, handles: Vec<DelayQueue>) {
    let queue = handles[0].clone();

    // Burst.
    let name = format!("bench-burst-{}", uuid::Uuid::new_v4().simple());
    let t0 = now_ms();
    load(&queue, &name, move |_| t0 - 1).await;
    let recorder = Arc::new(Recorder {
        done: AtomicUsize::new(0),
        lags_ms: Mutex::new(Vec::new()),
    });
    let stop = CancellationToken::new();
    let started = Instant::now();
    start_workers(&handles, &name, recorder.clone(), &stop).await;
    wait_for(&recorder, TASKS).await;
    let elapsed = started.elapsed();
    stop.cancel();
    println!(
        "{label:<8} burst: {TASKS} due tasks, {WORKERS} workers: {:.2} s, {:.0} tasks/s",
        elapsed.as_secs_f64(),
        TASKS as f64 / elapsed.as_secs_f64()
    );

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
    let recorder = Arc::new(Recorder {
        done: AtomicUsize::new(0),
        lags_ms: Mutex::new(Vec::new()),
    });
    let stop = CancellationToken::new();
    start_workers(&handles, &name, recorder.clone(), &stop).await;
    wait_for(&recorder, TASKS).await;
    stop.cancel();
    let mut lags = recorder.lags_ms.lock().expect("lags").clone();
    lags.sort_by(f64::total_cmp);
    println!(
        "{label:<8} flow:  {TASKS} tasks due at {RATE_PER_SEC}/s, {WORKERS} workers: lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        let db = paygate::store::connect(&url).await.expect("sqlite");
        let sql: Vec<DelayQueue> = (0..WORKERS)
            .map(|_| DelayQueue::Sql(SqlQueue::new(db.clone())))
            .collect();
        bench("sqlite", sql).await;

        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
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
        bench("redis", redis).await;
    });
}
