//! Timed work through a Redis that loses paygate's keys, without restarting paygate
//! (issue: "Redis loses the queue"). paygate runs in the production setting on a Redis of
//! the test's own, against the WeChat Pay simulator, whose refunds stay PROCESSING and
//! whose notifications can be dropped. Four pieces of timed work are under way: a pending
//! order's deadline, the status queries of a payment whose notification was lost, the
//! next ask about a processing refund, and the retry of a webhook its endpoint refused.
//! Then Redis loses every key; each piece still reaches its end.

use std::time::Duration;

use paygate_e2e::backends::PrivateRedis;
use paygate_e2e::Setting;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat_simulator::SimConfig;

use super::{PlatformKeys, Wechat};
use crate::webhooks::{endpoint, statuses};

/// How Redis loses the keys.
#[derive(Debug, Clone, Copy)]
enum Loss {
    Flushdb,
    RestartWithoutPersistence,
}

/// Waits until `done` holds, or 30 s; returns whether it did.
async fn eventually<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < until {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn open_work_reaches_its_end_after_redis_loses_its_keys(loss: Loss) {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let mut sim = SimConfig::with_fixture_keys();
    sim.time_scale = 1000.0;
    let w = Wechat::start_with(
        Setting::Production,
        &[
            ("REDIS_URL", &url),
            // Long enough that nothing falls due before the loss, short enough for a test.
            ("PAYGATE_STATUS_SYNC_SCHEDULE", "4s"),
            ("PAYGATE_WEBHOOK_SCHEDULE", "4s,4s"),
            ("PAYGATE_PROVIDER_GRACE", "1s"),
            ("PAYGATE_QUEUE_WATCH_INTERVAL", "200ms"),
        ],
        sim,
        PlatformKeys::PublicKey,
    )
    .await;
    let app = &w.app;
    let key = &app.merchant.api_key;

    // A processing refund of a paid order (its notification heard while still sent).
    w.knobs(json!({"refund_processing_ms": 300})).await;
    let (refunded, refunded_payment) = w.order_paid_at_wechat(1000).await;
    app.wait_for_order_state(&refunded, "paid").await;
    w.knobs(json!({"refund_processing_ms": 300, "drop_notifications": true}))
        .await;
    let r = app
        .post(
            &format!("/v1/payments/{refunded_payment}/refunds"),
            key,
            &json!({"amount": 1000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let refund: Value = r.json().await.expect("refund JSON");
    assert_eq!(refund["state"], "pending", "{refund}");

    // An order nobody pays: its deadline in 5 s (+1 s of grace).
    let unpaid = app.create_order(300, 5).await;
    let unpaid = unpaid["id"].as_str().expect("id").to_owned();

    // A payment whose notification is lost: only the status queries can find it.
    let lost = app.create_order(400, 600).await;
    let lost = lost["id"].as_str().expect("id").to_owned();
    let (lost_payment, _) = w.pay_native(&lost).await;
    w.customer_pays(&lost_payment).await;

    // A webhook its endpoint refuses once: retried in 4 s.
    let (hook, calls) = endpoint(1).await;
    let body = json!({"out_trade_no": format!("QL{}", uuid::Uuid::new_v4().simple()),
        "amount": 500, "currency": "CNY", "subject": "Tea", "ttl_seconds": 600, "notify_url": hook});
    let hooked: Value = app
        .post("/v1/orders", key, &body)
        .await
        .json()
        .await
        .expect("order JSON");
    let hooked = hooked["id"].as_str().expect("id").to_owned();
    let (hooked_payment, _) = w.pay_native(&hooked).await;
    w.customer_pays(&hooked_payment).await;
    let (status, reply) = w.notify_now(&hooked_payment, json!({})).await;
    assert!(
        (200..300).contains(&status),
        "paygate took the notification: {status} {reply}"
    );
    assert!(
        eventually(|| async { statuses(&calls) == [500] }).await,
        "the endpoint refused the first attempt: {:?}",
        statuses(&calls)
    );

    match loss {
        Loss::Flushdb => redis.flushdb().await,
        Loss::RestartWithoutPersistence => redis.restart().await,
    }

    assert!(
        eventually(|| async { app.order(&unpaid).await["state"] == "closed" }).await,
        "the pending order closes at its deadline: {}",
        app.order(&unpaid).await
    );
    assert!(
        eventually(|| async { app.order(&lost).await["state"] == "paid" }).await,
        "the status queries find the payment: {}",
        app.order(&lost).await
    );
    assert!(
        eventually(|| async { app.order(&refunded).await["state"] == "refunded" }).await,
        "the processing refund is asked about again: {}",
        app.order(&refunded).await
    );
    assert!(
        eventually(|| async { statuses(&calls).ends_with(&[200]) }).await,
        "the refused webhook is retried: {:?}",
        statuses(&calls)
    );
}

#[tokio::test]
async fn open_work_reaches_its_end_after_a_flushdb() {
    open_work_reaches_its_end_after_redis_loses_its_keys(Loss::Flushdb).await;
}

#[tokio::test]
async fn open_work_reaches_its_end_after_a_redis_restart_without_persistence() {
    open_work_reaches_its_end_after_redis_loses_its_keys(Loss::RestartWithoutPersistence).await;
}
