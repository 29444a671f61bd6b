//! The delay-queue conformance suite, run on every backend: SQLite (embedded),
//! PostgreSQL, Redis and a three-master Redis Cluster, each a real service.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paygate_e2e::backends::{QueueBackend, QueueFixture};
use paygate_e2e::paygate::queue::DelayQueue;

const Q: &str = "conformance";

async fn now(q: &DelayQueue) -> i64 {
    q.now_ms()
}

async fn tasks_come_out_in_due_order_and_not_before_their_time(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "k3", "3", t0 + 600).await.expect("schedule");
    q.schedule(Q, "k1", "1", t0 + 200).await.expect("schedule");
    q.schedule(Q, "k2", "2", t0 + 400).await.expect("schedule");
    q.schedule(Q, "k0", "0", t0 - 1000).await.expect("schedule");
    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while order.len() < 4 && tokio::time::Instant::now() < deadline {
        for task in q
            .claim(Q, 10, Duration::from_secs(30))
            .await
            .expect("claim")
        {
            assert!(
                now(q).await >= task.due_ms,
                "{} claimed before its time",
                task.key
            );
            assert!(q.ack(Q, &task).await.expect("ack"));
            order.push(task.key);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(order, ["k0", "k1", "k2", "k3"]);
    f.cleanup().await;
}

async fn scheduling_the_same_key_twice_keeps_one_task(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "deadline:P1", "first", t0 - 10)
        .await
        .expect("schedule");
    q.schedule(Q, "deadline:P1", "second", t0 - 5)
        .await
        .expect("schedule");
    let stats = q.stats(Q).await.expect("stats");
    assert_eq!(
        stats.ready + stats.scheduled + stats.in_flight,
        1,
        "{stats:?}"
    );
    let claimed = q
        .claim(Q, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload, "second");
    f.cleanup().await;
}

async fn a_task_scheduled_again_while_claimed_is_not_lost_to_the_old_ack(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "sync:P1", "step0", t0 - 1)
        .await
        .expect("schedule");
    let old = q
        .claim(Q, 1, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    q.schedule(Q, "sync:P1", "step1", t0 - 1)
        .await
        .expect("schedule again");
    assert!(
        !q.ack(Q, &old).await.expect("ack"),
        "the old claim no longer holds the task"
    );
    let new = q.claim(Q, 1, Duration::from_secs(30)).await.expect("claim");
    assert_eq!(new.first().map(|t| t.payload.as_str()), Some("step1"));
    f.cleanup().await;
}

async fn retry_reschedules_and_cancel_removes(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "a", "1", t0 - 1).await.expect("schedule");
    let task = q
        .claim(Q, 1, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    assert!(q.retry(Q, &task, "2", t0 + 60_000).await.expect("retry"));
    assert!(
        q.claim(Q, 1, Duration::from_secs(30))
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    assert_eq!(q.stats(Q).await.expect("stats").scheduled, 1);
    assert!(q.cancel(Q, "a").await.expect("cancel"));
    assert!(!q.cancel(Q, "a").await.expect("cancel"));
    assert_eq!(q.next_ready(Q).await.expect("next"), None);
    f.cleanup().await;
}

async fn a_worker_killed_between_claim_and_ack_loses_nothing(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    q.schedule(Q, "deadline:P9", "payload", now(q).await - 1)
        .await
        .expect("schedule");
    let kind = match backend {
        QueueBackend::Redis | QueueBackend::RedisCluster => "redis",
        QueueBackend::Sqlite | QueueBackend::Postgres => "sql",
    };
    let lease_ms = 1500;
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue-claimer"))
        .args([kind, &f.url, &f.prefix, Q, &lease_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("worker process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("worker reports its claim");
    assert_eq!(line.trim(), "claimed deadline:P9");
    child.kill().expect("SIGKILL the worker"); // std's kill is SIGKILL on Unix
    child.wait().expect("reap");

    let other = f.reopen().await;
    assert!(
        other
            .claim(Q, 10, Duration::from_secs(30))
            .await
            .expect("claim")
            .is_empty(),
        "still leased to the dead worker"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let task = loop {
        if let Some(t) = other
            .claim(Q, 10, Duration::from_secs(30))
            .await
            .expect("claim")
            .pop()
        {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (task.key.as_str(), task.payload.as_str(), task.attempts),
        ("deadline:P9", "payload", 2)
    );
    assert!(other.ack(Q, &task).await.expect("ack"));
    f.cleanup().await;
}

async fn four_workers_ack_ten_thousand_tasks_exactly_once(backend: QueueBackend) {
    const TASKS: usize = 10_000;
    let f = QueueFixture::new(backend).await;
    let t0 = now(&f.queue).await;
    let mut loaders = Vec::new();
    for part in 0..8 {
        let q = f.queue.clone();
        loaders.push(tokio::spawn(async move {
            for i in (part..TASKS).step_by(8) {
                q.schedule(
                    Q,
                    &format!("t{i}"),
                    &i.to_string(),
                    t0 - 1 - (i as i64 % 100),
                )
                .await
                .expect("schedule");
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
    let claims: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let acks: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let q = f.reopen().await;
        let (claims, acks) = (claims.clone(), acks.clone());
        workers.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            loop {
                let batch = q
                    .claim(Q, 50, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    if acks.lock().expect("lock").len() >= TASKS
                        || tokio::time::Instant::now() > deadline
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                for task in batch {
                    *claims
                        .lock()
                        .expect("lock")
                        .entry(task.key.clone())
                        .or_default() += 1;
                    if q.ack(Q, &task).await.expect("ack") {
                        *acks
                            .lock()
                            .expect("lock")
                            .entry(task.key.clone())
                            .or_default() += 1;
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    {
        let claims = claims.lock().expect("lock");
        let acks = acks.lock().expect("lock");
        assert_eq!(acks.len(), TASKS, "every task acknowledged");
        assert!(acks.values().all(|n| *n == 1), "each exactly once");
        assert!(claims.values().all(|n| *n == 1), "no task claimed twice");
    }
    let stats = f.queue.stats(Q).await.expect("stats");
    assert_eq!(
        stats.ready + stats.scheduled + stats.in_flight,
        0,
        "{stats:?}"
    );
    f.cleanup().await;
}

async fn put_back_adds_what_is_missing_and_leaves_what_is_held(backend: QueueBackend) {
    use paygate_e2e::paygate::queue::{Existing, NewTask};
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    let task = |key: &str, payload: &str, due_ms: i64| NewTask {
        key: key.into(),
        payload: payload.into(),
        due_ms,
    };
    // A retry backing off for a minute, and a task a worker holds right now.
    q.schedule(Q, "backing-off", "kept", t0 + 60_000)
        .await
        .expect("schedule");
    q.schedule(Q, "held", "held", t0 - 1)
        .await
        .expect("schedule");
    let held = q
        .claim(Q, 1, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    let all = [
        task("backing-off", "new", t0 - 1),
        task("held", "new", t0 - 1),
        task("lost", "lost", t0 - 1),
    ];
    assert_eq!(
        q.put_back(Q, &all, Existing::Keep).await.expect("put back"),
        1,
        "only the lost task is added"
    );
    assert_eq!(
        q.put_back(Q, &all, Existing::Keep).await.expect("put back"),
        0,
        "twice changes nothing"
    );
    let due = q
        .claim(Q, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(
        due.iter().map(|t| t.payload.as_str()).collect::<Vec<_>>(),
        ["lost"],
        "the backing-off task keeps its time, the held one its claim"
    );
    assert!(
        q.ack(Q, &held).await.expect("ack"),
        "the holder's claim still stands"
    );
    f.cleanup().await;
}

async fn put_back_at_start_takes_back_a_dead_process_claim(backend: QueueBackend) {
    use paygate_e2e::paygate::queue::{Existing, NewTask};
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "waiting", "kept", t0 + 60_000)
        .await
        .expect("schedule");
    q.schedule(Q, "orphan", "old", t0 - 1)
        .await
        .expect("schedule");
    let dead = q
        .claim(Q, 1, Duration::from_secs(300))
        .await
        .expect("claim")
        .remove(0);
    let all = [
        NewTask {
            key: "waiting".into(),
            payload: "new".into(),
            due_ms: t0 - 1,
        },
        NewTask {
            key: "orphan".into(),
            payload: "again".into(),
            due_ms: t0 - 1,
        },
    ];
    assert_eq!(
        q.put_back(Q, &all, Existing::TakeBackClaimed)
            .await
            .expect("put back"),
        1
    );
    let due = q
        .claim(Q, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(
        due.iter().map(|t| t.payload.as_str()).collect::<Vec<_>>(),
        ["again"],
        "the orphan is due again at once; the waiting task keeps its time"
    );
    assert!(
        !q.ack(Q, &dead).await.expect("ack"),
        "the dead process's claim no longer holds it"
    );
    f.cleanup().await;
}

async fn claiming_ahead_takes_the_window_and_says_when_the_next_task_is_due(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    q.schedule(Q, "due", "", t0 - 1).await.expect("schedule");
    q.schedule(Q, "soon", "", t0 + 1_000)
        .await
        .expect("schedule");
    q.schedule(Q, "later", "", t0 + 60_000)
        .await
        .expect("schedule");
    let lease = Duration::from_secs(120);
    let claim = q
        .claim_ahead(Q, 10, lease, Duration::from_secs(5))
        .await
        .expect("claim");
    let keys: Vec<(&str, i64)> = claim
        .tasks
        .iter()
        .map(|t| (t.key.as_str(), t.due_ms))
        .collect();
    assert_eq!(
        keys,
        [("due", t0 - 1), ("soon", t0 + 1_000)],
        "the window, each with its own due time"
    );
    assert_eq!(claim.next_ready, Some(t0 + 60_000), "the first task left");
    let nothing = q
        .claim_ahead(Q, 10, lease, Duration::from_secs(5))
        .await
        .expect("claim");
    assert!(nothing.tasks.is_empty());
    assert_eq!(nothing.next_ready, Some(t0 + 60_000));
    assert!(q.cancel(Q, "later").await.expect("cancel"));
    let held: Vec<_> = claim.tasks.iter().collect();
    assert_eq!(q.ack_many(Q, &held).await.expect("ack"), [true, true]);
    let empty = q
        .claim_ahead(Q, 10, lease, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!((empty.tasks.len(), empty.next_ready), (0, None));
    f.cleanup().await;
}

async fn one_ack_for_a_batch_removes_current_claims_and_refuses_a_lost_one(backend: QueueBackend) {
    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let t0 = now(q).await;
    for key in ["a", "b", "c"] {
        q.schedule(Q, key, "", t0 - 1).await.expect("schedule");
    }
    let batch = q
        .claim(Q, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    assert_eq!(batch.len(), 3);
    // Scheduled again while claimed: the claim on b is no longer the current one.
    q.schedule(Q, "b", "again", t0 - 1).await.expect("schedule");
    let held: Vec<_> = batch.iter().collect();
    let acked = q.ack_many(Q, &held).await.expect("ack");
    let by_key: Vec<(&str, bool)> = batch.iter().map(|t| t.key.as_str()).zip(acked).collect();
    assert_eq!(by_key, [("a", true), ("b", false), ("c", true)]);
    let left = q
        .claim(Q, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    let left: Vec<(&str, &str)> = left
        .iter()
        .map(|t| (t.key.as_str(), t.payload.as_str()))
        .collect();
    assert_eq!(left, [("b", "again")], "the new schedule stands");
    f.cleanup().await;
}

async fn a_worker_claiming_ahead_starts_each_task_at_its_due_time_not_before(
    backend: QueueBackend,
) {
    use paygate_e2e::paygate::queue::{Claimed, Handler, Outcome, Worker, WorkerConfig};
    use std::future::Future;
    use std::pin::Pin;

    /// Records (key, due, the clock when it started).
    struct Starts {
        clock: paygate_e2e::paygate::clock::Clock,
        seen: Mutex<Vec<(String, i64, i64)>>,
    }
    impl Handler for Starts {
        fn handle<'a>(
            &'a self,
            task: &'a Claimed,
        ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
            Box::pin(async move {
                let now = self.clock.now_ms();
                if let Ok(mut seen) = self.seen.lock() {
                    seen.push((task.key.clone(), task.due_ms, now));
                }
                Outcome::Done
            })
        }
    }

    let f = QueueFixture::new(backend).await;
    let q = &f.queue;
    let starts = Arc::new(Starts {
        clock: q.clock().clone(),
        seen: Mutex::default(),
    });
    let t0 = now(q).await;
    for i in 0..20_i64 {
        q.schedule(Q, &format!("t{i}"), "", t0 + 300 + i * 15)
            .await
            .expect("schedule");
    }
    let worker = Worker::new(
        q.clone(),
        WorkerConfig {
            queue: Q.to_owned(),
            batch: 100,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(50),
            // Far ahead: the whole schedule is claimed at once, and must still wait.
            ahead: Duration::from_secs(2),
        },
        starts.clone(),
        Arc::default(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while starts.seen.lock().expect("lock").len() < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    running.await.expect("worker");
    let seen = starts.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 20, "every task ran");
    for (key, due, started) in &seen {
        assert!(
            started >= due,
            "{key} started at {started}, before its due time {due}"
        );
    }
    let stats = q.stats(Q).await.expect("stats");
    assert_eq!(
        stats.ready + stats.scheduled + stats.in_flight,
        0,
        "all acknowledged: {stats:?}"
    );
    f.cleanup().await;
}

macro_rules! on_every_backend {
    ($($rule:ident),* $(,)?) => {
        mod sqlite { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(QueueBackend::Sqlite).await } )* }
        mod postgres { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(QueueBackend::Postgres).await } )* }
        mod redis { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(QueueBackend::Redis).await } )* }
        mod redis_cluster { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $rule() { super::$rule(QueueBackend::RedisCluster).await } )* }
    };
}

on_every_backend!(
    tasks_come_out_in_due_order_and_not_before_their_time,
    scheduling_the_same_key_twice_keeps_one_task,
    a_task_scheduled_again_while_claimed_is_not_lost_to_the_old_ack,
    retry_reschedules_and_cancel_removes,
    a_worker_killed_between_claim_and_ack_loses_nothing,
    four_workers_ack_ten_thousand_tasks_exactly_once,
    put_back_adds_what_is_missing_and_leaves_what_is_held,
    put_back_at_start_takes_back_a_dead_process_claim,
    claiming_ahead_takes_the_window_and_says_when_the_next_task_is_due,
    one_ack_for_a_batch_removes_current_claims_and_refuses_a_lost_one,
    a_worker_claiming_ahead_starts_each_task_at_its_due_time_not_before,
);
