//! Notifications: signed as PROTOCOL.md says, retried until the receiver answers SUCCESS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::{harness, hmac_hex, now_secs, trade_body, Harness};

/// A notification receiver on 127.0.0.1:0 that answers 500, then 200 FAIL, then SUCCESS.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    calls: Arc<AtomicUsize>,
    failures: usize,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    r.received.lock().expect("lock").push((headers, body));
    match r.calls.fetch_add(1, Ordering::SeqCst) {
        n if n < r.failures && n % 2 == 0 => {
            (StatusCode::INTERNAL_SERVER_ERROR, "busy").into_response()
        }
        n if n < r.failures => {
            axum::Json(json!({"code": "FAIL", "message": "not yet"})).into_response()
        }
        _ => axum::Json(json!({"code": "SUCCESS"})).into_response(),
    }
}

/// Starts a receiver; its notify_url.
async fn start_receiver(failures: usize) -> (Receiver, String) {
    let receiver = Receiver {
        failures,
        ..Receiver::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/notify", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, format!("http://{addr}/notify"))
}

async fn open_trade_notifying(h: &Harness, payment_no: &str, notify_url: &str) {
    let mut body = trade_body(payment_no, 1234);
    body["notify_url"] = json!(notify_url);
    assert_eq!(h.create_trade(&body).await.0, StatusCode::OK);
}

/// Waits for the background deliveries to finish.
async fn settle(h: &Harness) {
    let tasks = h.sandbox.notification_tasks();
    tasks.close();
    tokio::time::timeout(std::time::Duration::from_secs(10), tasks.wait())
        .await
        .expect("deliveries finished");
}

#[tokio::test]
async fn notification_is_signed_and_retried_until_the_receiver_answers_success() {
    let h = harness().await;
    let (receiver, url) = start_receiver(2).await;
    open_trade_notifying(&h, "P1", &url).await;
    let (status, _) = h.post("/sandbox/trades/P1/pay").await;
    assert_eq!(status, StatusCode::OK);
    settle(&h).await;

    let received = receiver.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 3, "500, FAIL, then SUCCESS");
    for (headers, body) in &received {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .expect(name)
                .to_owned()
        };
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("x-sandbox-account"), h.account.account_id);
        let timestamp = header("x-sandbox-timestamp");
        let nonce = header("x-sandbox-nonce");
        assert!(
            (16..=32).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        );
        assert!((timestamp.parse::<i64>().expect("seconds") - now_secs()).abs() <= 5);
        let message = format!(
            "{timestamp}\n{nonce}\n{}",
            std::str::from_utf8(body).expect("utf-8")
        );
        assert_eq!(
            header("x-sandbox-signature"),
            hmac_hex(&h.account.api_key, &message)
        );
        let body: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(body["event"], "trade.paid");
        assert_eq!(body["payment_no"], "P1");
        assert_eq!(body["state"], "paid");
        assert_eq!(body["amount"], 1234);
        assert_eq!(body["currency"], "CNY");
        assert_eq!(body["paid_amount"], 1234);
        assert!((body["paid_at"].as_i64().expect("paid_at") - now_secs()).abs() <= 5);
        assert!(body["trade_id"].as_str().is_some_and(|t| !t.is_empty()));
    }
    let detail = h.detail("P1").await;
    assert_eq!(
        detail["notifications"],
        json!({"sent": 3, "acknowledged": 1})
    );
}

#[tokio::test]
async fn notification_gives_up_after_four_attempts() {
    let h = harness().await;
    let (receiver, url) = start_receiver(usize::MAX).await;
    open_trade_notifying(&h, "P1", &url).await;
    h.post("/sandbox/trades/P1/pay").await;
    settle(&h).await;
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        h.detail("P1").await["notifications"],
        json!({"sent": 4, "acknowledged": 0})
    );
}

#[tokio::test]
async fn pay_with_notify_false_sends_nothing() {
    let h = harness().await;
    let (receiver, url) = start_receiver(0).await;
    open_trade_notifying(&h, "P1", &url).await;
    h.pay("P1").await;
    settle(&h).await;
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn notify_endpoint_sends_once_and_answers_the_receivers_status_and_body() {
    let h = harness().await;
    let (receiver, url) = start_receiver(1).await;
    open_trade_notifying(&h, "P1", &url).await;
    let (status, body) = h.post("/sandbox/trades/P1/notify").await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!("TRADE_NOT_PAID"))
    );
    h.pay("P1").await;
    let (status, body) = h.post("/sandbox/trades/P1/notify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": 500, "body": "busy"}));
    let (_, body) = h.post("/sandbox/trades/P1/notify").await;
    assert_eq!(body, json!({"status": 200, "body": {"code": "SUCCESS"}}));
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        h.detail("P1").await["notifications"],
        json!({"sent": 2, "acknowledged": 1})
    );
}

#[tokio::test]
async fn notify_endpoint_with_an_unreachable_receiver_is_a_502_notify_failed() {
    let h = harness().await;
    // Bind then drop a listener: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    open_trade_notifying(&h, "P1", &format!("http://127.0.0.1:{port}/notify")).await;
    h.pay("P1").await;
    let (status, body) = h.post("/sandbox/trades/P1/notify").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], "NOTIFY_FAILED");
    assert_eq!(
        h.detail("P1").await["notifications"],
        json!({"sent": 1, "acknowledged": 0})
    );
}
