//! Merchant webhooks end to end: signed, retried until the merchant's endpoint answers
//! 2xx, delivered once; listed for operators when the schedule runs out; appended to the
//! Redis stream in the production setting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use paygate_e2e::paygate::service::timers::WEBHOOK_QUEUE;
use paygate_e2e::{Merchant, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

/// A merchant endpoint that fails its first `failures` calls, then answers 200.
#[derive(Clone, Default)]
pub(crate) struct Endpoint {
    /// (signature, body, status answered) of every call.
    pub(crate) calls: Arc<Mutex<Vec<(String, String, u16)>>>,
}

pub(crate) async fn endpoint(failures: usize) -> (String, Endpoint) {
    let ep = Endpoint::default();
    let state = ep.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut calls = state.calls.lock().expect("lock");
                let status = if calls.len() < failures { 500 } else { 200 };
                let signature = headers
                    .get("paygate-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                calls.push((signature, body, status));
                AxumStatus::from_u16(status).unwrap_or(AxumStatus::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), ep)
}

/// The snippet of the README: how a merchant checks `Paygate-Signature`.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = "";
    let mut v1 = "";
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v,
            Some(("v1", v)) => v1 = v,
            _ => {}
        }
    }
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected).is_ok()
}

async fn paid_order(app: &TestApp, merchant: &Merchant, notify_url: &str) -> String {
    let body = json!({"out_trade_no": format!("W{}", uuid::Uuid::new_v4().simple()), "amount": 500, "currency": "CNY",
        "subject": "Tea", "ttl_seconds": 600, "notify_url": notify_url});
    let order: Value = app
        .post("/v1/orders", &merchant.api_key, &body)
        .await
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id").to_owned();
    let (status, payment) = app.pay(&merchant.api_key, &[&id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(
        app.sandbox_pay(payment["payment_no"].as_str().expect("no"), "")
            .await
            .status(),
        StatusCode::OK
    );
    id
}

pub(crate) fn statuses(ep: &Endpoint) -> Vec<u16> {
    ep.calls.lock().expect("lock").iter().map(|c| c.2).collect()
}

async fn endpoint_failing_three_times_then_succeeding_gets_the_event_once(setting: Setting) {
    // Stepped time: each retry runs when its delay has passed on paygate's clock, not before.
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s,1m,5m")]).await;
    let merchant = app.new_merchant("hooked", &[]).await;
    let (url, ep) = endpoint(3).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    assert_eq!(
        app.run_due(WEBHOOK_QUEUE).await,
        1,
        "the first attempt at once"
    );
    for delay in [10, 60, 300] {
        app.advance(Duration::from_secs(delay - 1));
        assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 0, "not before {delay} s");
        app.advance(Duration::from_secs(1));
        assert_eq!(
            app.run_due(WEBHOOK_QUEUE).await,
            1,
            "retried after {delay} s"
        );
    }
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        app.run_due(WEBHOOK_QUEUE).await,
        0,
        "nothing more after the 2xx"
    );
    let calls = ep.calls.lock().expect("lock").clone();
    assert_eq!(
        calls.iter().map(|c| c.2).collect::<Vec<_>>(),
        [500, 500, 500, 200],
        "retried until 2xx, then never again"
    );
    for (signature, body, _) in &calls {
        assert!(
            verify(&merchant.webhook_secret, signature, body),
            "signed with the merchant's webhook secret"
        );
        let event: Value = serde_json::from_str(body).expect("json");
        assert_eq!(
            (event["type"].clone(), event["order"]["id"].clone()),
            (json!("order.paid"), json!(id))
        );
    }
    assert!(!verify("not-the-secret", &calls[0].0, &calls[0].1));
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(
        (events[0]["delivery"].clone(), events[0]["attempts"].clone()),
        (json!("delivered"), json!(4))
    );

    if setting == Setting::Production {
        let queue = &app.running.queue;
        let paygate_e2e::paygate::queue::DelayQueue::Redis(q) = queue else {
            panic!("production uses Redis")
        };
        let mut conn = q.connection();
        let prefix = app.config_value("PAYGATE_REDIS_PREFIX");
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(format!("{prefix}:events"))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .expect("xrange");
        let paid = entries
            .iter()
            .filter(|(_, f)| f.iter().any(|(k, v)| k == "order_id" && v == &id))
            .count();
        assert_eq!(paid, 1, "the event is in the stream once");
    }
}

async fn webhook_whose_schedule_runs_out_is_listed_for_operators(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s")]).await;
    let merchant = app.new_merchant("down", &[]).await;
    let (url, ep) = endpoint(usize::MAX).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1);
    app.advance(Duration::from_secs(10));
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1);
    app.advance(Duration::from_secs(3600));
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 0, "the schedule ran out");
    assert_eq!(statuses(&ep), [500, 500]);
    let flags: Value = app
        .client
        .get(format!("{}/admin/flags", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("flags")
        .json()
        .await
        .expect("json");
    let listed = flags["webhooks"]
        .as_array()
        .is_some_and(|w| w.iter().any(|e| e["payload"]["order"]["id"] == id.as_str()));
    assert!(
        listed,
        "a failed webhook is listed under /admin/flags: {flags}"
    );
    assert_eq!(
        ep.calls.lock().expect("lock").len(),
        2,
        "first attempt and one retry"
    );
}

/// Waits (real time) until the endpoint was called `n` times; the calls.
async fn wait_calls(ep: &Endpoint, n: usize) -> Vec<(String, String, u16)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let calls = ep.calls.lock().expect("lock").clone();
        if calls.len() >= n || tokio::time::Instant::now() > deadline {
            assert_eq!(calls.len(), n, "{calls:?}");
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A partial refund tells the merchant `order.partially_refunded` with the amounts (minor
/// units); the refund that completes the amount tells `order.refunded`, as a refund in full
/// always did, and no partial event.
async fn a_partial_refund_tells_the_amounts_and_the_one_completing_it_tells_refunded(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let merchant = app.new_merchant("refunding", &[]).await;
    let (url, ep) = endpoint(0).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    wait_calls(&ep, 1).await;
    let order: Value = app
        .get(&format!("/v1/orders/{id}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    let no = order["paid_by"].as_str().expect("paid_by").to_owned();
    let refund = |amount: i64| {
        let (app, key, path) = (
            &app,
            &merchant.api_key,
            format!("/v1/payments/{no}/refunds"),
        );
        async move { app.post(&path, key, &json!({"amount": amount})).await }
    };
    let first = refund(200).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let calls = wait_calls(&ep, 2).await;
    let (signature, body, _) = &calls[1];
    assert!(verify(&merchant.webhook_secret, signature, body));
    let event: Value = serde_json::from_str(body).expect("json");
    assert_eq!(event["type"], "order.partially_refunded", "{event}");
    assert_eq!(
        (
            event["order"]["id"].clone(),
            event["order"]["state"].clone()
        ),
        (json!(id), json!("paid")),
        "the order stays paid"
    );
    assert_eq!(
        event["refund"],
        json!({"refund_no": first["refund_no"], "payment_no": no, "amount": 200, "currency": "CNY",
            "refunded_amount": 200, "refundable_amount": 300}),
        "{event}"
    );

    let rest = refund(300).await;
    assert_eq!(rest.status(), StatusCode::CREATED);
    let calls = wait_calls(&ep, 3).await;
    let event: Value = serde_json::from_str(&calls[2].1).expect("json");
    assert_eq!(
        (event["type"].clone(), event["order"]["state"].clone()),
        (json!("order.refunded"), json!("refunded")),
        "{event}"
    );
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = events
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["order.paid", "order.partially_refunded", "order.refunded"],
        "{events}"
    );
}

in_both_settings!(
    endpoint_failing_three_times_then_succeeding_gets_the_event_once,
    webhook_whose_schedule_runs_out_is_listed_for_operators,
    a_partial_refund_tells_the_amounts_and_the_one_completing_it_tells_refunded,
);
