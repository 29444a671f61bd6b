//! Timed work end to end, in the embedded setting (SQLite + SQL queue) and the production
//! setting (PostgreSQL + Redis queue), on stepped time (paygate's clock moved by the test,
//! the queue's worker run one step at a time): lost notifications are made up for by the
//! status sync, and unpaid orders close at their deadline, at the provider too, not a
//! second early. The real-time stories are in `restart` and the provider suites.

use std::time::Duration;

use paygate_e2e::backends::{PrivateRedis, RedisCluster};
use paygate_e2e::paygate::service::timers::{DEADLINE_QUEUE, SYNC_QUEUE};
use paygate_e2e::{Setting, TestApp};
use reqwest::StatusCode;

/// Fast schedules, so the rules show within seconds.
const FAST: &[(&str, &str)] = &[
    ("PAYGATE_STATUS_SYNC_SCHEDULE", "1s"),
    ("PAYGATE_REPAY_CUTOFF", "1s"),
    ("PAYGATE_PROVIDER_GRACE", "1s"),
];

async fn notification_lost_order_paid_through_status_sync_alone(setting: Setting) {
    // Stepped time: the default schedule (first query 10 s after the trade opened).
    status_sync_makes_up_for_a_lost_notification(&TestApp::spawn_stepped(setting, &[]).await).await
}

async fn status_sync_makes_up_for_a_lost_notification(app: &TestApp) {
    let order = app.create_order(700, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    // The customer pays; the provider's notification never arrives.
    assert_eq!(
        app.sandbox_pay(payment_no, "?notify=false").await.status(),
        StatusCode::OK
    );
    app.advance(Duration::from_secs(9));
    assert_eq!(app.run_due(SYNC_QUEUE).await, 0, "not before its schedule");
    assert_eq!(app.order(id).await["state"], "pending");
    app.advance(Duration::from_secs(1));
    assert_eq!(app.run_due(SYNC_QUEUE).await, 1);
    assert_eq!(
        app.order(id).await["state"],
        "paid",
        "the status sync found the payment"
    );
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["counters"]["queried"], 1, "{trade}");
    assert_eq!(trade["notifications"]["sent"], 0);
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        app.run_due(SYNC_QUEUE).await,
        0,
        "a settled payment is not asked again"
    );
}

async fn nobody_pays_order_closes_at_deadline_and_the_trade_closes_too(setting: Setting) {
    // Stepped time, default rules: the deadline task runs at expires_at + 60 s of grace.
    unpaid_orders_close_at_their_deadline(&TestApp::spawn_stepped(setting, &[]).await).await
}

async fn unpaid_orders_close_at_their_deadline(app: &TestApp) {
    let paid_for = app.create_order(700, 1800).await;
    let untouched = app.create_order(300, 1200).await;
    let id = paid_for["id"].as_str().expect("id");
    let other = untouched["id"].as_str().expect("id");
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");

    app.advance(Duration::from_secs(1200 + 60 - 1));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 0, "not a second early");
    app.advance(Duration::from_secs(1));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 1);
    assert_eq!(
        app.order(other).await["state"],
        "closed",
        "an order never paid for closes, asking no provider"
    );
    assert_eq!(
        app.order(id).await["state"],
        "pending",
        "its deadline is later"
    );

    app.advance(Duration::from_secs(600));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 1);
    assert_eq!(app.order(id).await["state"], "closed");
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(
        trade["state"], "closed",
        "closed at the provider first: {trade}"
    );
    assert_eq!(trade["counters"]["closed"], 1);
    assert_eq!(
        trade["counters"]["queried"], 1,
        "queried once at the deadline"
    );
    let payment: serde_json::Value = app
        .get(&format!("/v1/payments/{payment_no}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(payment["state"], "closed");
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, serde_json::json!("order_closed"))
    );
}

async fn deadline_of_an_order_paid_in_the_database_calls_no_provider(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let order = app.create_order(500, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    assert_eq!(
        app.sandbox_pay(payment_no, "").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.wait_for_order_state(id, "paid").await["state"], "paid");
    app.advance(Duration::from_secs(600 + 60));
    assert_eq!(
        app.run_due(DEADLINE_QUEUE).await,
        1,
        "the deadline task ran"
    );
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["counters"]["queried"], 0, "{trade}");
    assert_eq!(trade["counters"]["closed"], 0, "{trade}");
    assert_eq!(app.order(id).await["state"], "paid");
}

async fn metrics_and_readiness_describe_the_queues_and_adapter_calls(setting: Setting) {
    let app = TestApp::spawn_in(setting, FAST).await;
    let order = app.create_order(100, 600).await;
    let (status, _) = app
        .pay(
            &app.merchant.api_key,
            &[order["id"].as_str().expect("id")],
            "web",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ready = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(ready["database"], "ok");
    let expected_redis = if setting == Setting::Production {
        "ok"
    } else {
        "not configured"
    };
    assert_eq!(ready["redis"], expected_redis, "{ready}");
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "paygate_queue_scheduled{queue=\"deadline\"}",
        "paygate_queue_in_flight{queue=\"status_sync\"}",
        "paygate_adapter_calls_total",
        "paygate_adapter_call_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
}

/// The production setting on a three-master Redis Cluster of the test's own, `REDIS_URL`
/// naming one node: the status-sync and deadline stories as on one Redis, with the queues'
/// keys spread over the masters by their hash tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_work_runs_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let app = TestApp::spawn_stepped(Setting::Production, &[("REDIS_URL", &cluster.url())]).await;
    status_sync_makes_up_for_a_lost_notification(&app).await;
    // What the first story left due (its settled order's deadline) runs before the next.
    for queue in [DEADLINE_QUEUE, SYNC_QUEUE] {
        while app.run_due(queue).await > 0 {}
    }
    unpaid_orders_close_at_their_deadline(&app).await;
    let mut masters_with_keys = 0;
    for node in cluster.seed_urls().split(',') {
        let mut conn = redis::Client::open(node)
            .expect("node url")
            .get_multiplexed_async_connection()
            .await
            .expect("node answers");
        let keys: i64 = redis::cmd("DBSIZE")
            .query_async(&mut conn)
            .await
            .expect("DBSIZE");
        masters_with_keys += i32::from(keys > 0);
    }
    assert!(
        masters_with_keys >= 2,
        "the queues' keys live on more than one master"
    );
}

/// paygate's clock `offset_ms` away from Redis's (which reads the real time): a deadline
/// falls due by paygate's clock, the one that computed it, not a second early or late.
async fn a_deadline_falls_due_on_paygate_time_whatever_redis_clock_says(offset_ms: i64) {
    let app = TestApp::spawn_stepped_at(
        Setting::Production,
        &[],
        paygate_e2e::paygate::store::now_ms() + offset_ms,
    )
    .await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    app.advance(Duration::from_secs(600 + 60 - 1));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 0, "not a second early");
    assert_eq!(app.order(id).await["state"], "pending");
    app.advance(Duration::from_secs(1));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 1, "not a second late");
    assert_eq!(app.order(id).await["state"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_two_minutes_ahead_does_not_run_a_deadline_early() {
    a_deadline_falls_due_on_paygate_time_whatever_redis_clock_says(-120_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_two_minutes_behind_does_not_run_a_deadline_late() {
    a_deadline_falls_due_on_paygate_time_whatever_redis_clock_says(120_000).await
}

/// A Redis whose eviction policy may drop paygate's keys: `/readyz` says so (and stays
/// ready: lost work is put back), and says nothing once the policy is `noeviction`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_warns_of_a_redis_that_may_evict_paygate_keys() {
    let redis = PrivateRedis::start().await;
    redis.config_set("maxmemory-policy", "allkeys-lru").await;
    let app = TestApp::spawn_in(Setting::Production, &[("REDIS_URL", &redis.url())]).await;
    let ready = |app: &TestApp| {
        let get = app.client.get(format!("{}/readyz", app.url)).send();
        async move {
            let r = get.await.expect("readyz");
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<serde_json::Value>().await.expect("json")
        }
    };
    let body = ready(&app).await;
    let warning = body["queue_warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("allkeys-lru") && warning.contains("noeviction"),
        "{body}"
    );
    redis.config_set("maxmemory-policy", "noeviction").await;
    let body = ready(&app).await;
    assert_eq!(body["queue_warning"], serde_json::Value::Null, "{body}");
}

/// The watch, one look at a time on stepped time: a FLUSHDB is noticed (the marks are
/// gone) and the pending order's deadline put back, once; a Redis that comes back as
/// another process with its keys (a failover, a restart from its append-only file) is
/// noticed by its `run_id`, and nothing is missing then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_notices_a_flushed_redis_and_a_redis_that_is_another_process() {
    use paygate_e2e::paygate::service::recovery::Watched;
    let mut redis = PrivateRedis::start_persistent().await;
    let app = TestApp::spawn_stepped(Setting::Production, &[("REDIS_URL", &redis.url())]).await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    // A look may fail while the connection to a restarted Redis is re-established.
    let watch = || async {
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match app.running.watch_queue().await {
                Ok(watched) => return watched,
                Err(e) if tokio::time::Instant::now() < until => {
                    eprintln!("the watch could not look yet: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the watch cannot look: {e}"),
            }
        }
    };
    assert_eq!(watch().await, Watched::Intact);

    redis.flushdb().await;
    match watch().await {
        Watched::Recovered { why, reconciled } => {
            assert!(why.contains("mark"), "{why}");
            assert_eq!(reconciled.deadlines.put_back, 1, "{reconciled:?}");
        }
        Watched::Intact => panic!("a flushed Redis went unnoticed"),
    }
    assert_eq!(watch().await, Watched::Intact, "recovered once");

    redis.restart().await;
    match watch().await {
        Watched::Recovered { why, reconciled } => {
            assert!(why.contains("run_id"), "{why}");
            assert_eq!(reconciled.put_back(), 0, "the keys came back with it");
        }
        Watched::Intact => panic!("another Redis process went unnoticed"),
    }
    app.advance(Duration::from_secs(600 + 60));
    assert_eq!(app.run_due(DEADLINE_QUEUE).await, 1);
    assert_eq!(app.order(id).await["state"], "closed");
}

in_both_settings!(
    notification_lost_order_paid_through_status_sync_alone,
    nobody_pays_order_closes_at_deadline_and_the_trade_closes_too,
    deadline_of_an_order_paid_in_the_database_calls_no_provider,
    metrics_and_readiness_describe_the_queues_and_adapter_calls,
);
