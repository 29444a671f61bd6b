//! Timed work end to end, in the embedded setting (SQLite + SQL queue) and the production
//! setting (PostgreSQL + Redis queue), on stepped time (paygate's clock moved by the test,
//! the queue's worker run one step at a time): lost notifications are made up for by the
//! status sync, and unpaid orders close at their deadline, at the provider too, not a
//! second early. The real-time stories are in `restart` and the provider suites.

use std::time::Duration;

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
    let app = TestApp::spawn_stepped(setting, &[]).await;
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
    let app = TestApp::spawn_stepped(setting, &[]).await;
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

in_both_settings!(
    notification_lost_order_paid_through_status_sync_alone,
    nobody_pays_order_closes_at_deadline_and_the_trade_closes_too,
    deadline_of_an_order_paid_in_the_database_calls_no_provider,
    metrics_and_readiness_describe_the_queues_and_adapter_calls,
);
