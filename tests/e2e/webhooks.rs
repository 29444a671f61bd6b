//! Merchant webhooks end to end: signed, retried until the merchant's endpoint answers
//! 2xx, delivered once; listed for operators when the schedule runs out; appended to the
//! Redis stream in the production setting; numbered per order, and delivered in that order
//! (a later event waits while an earlier one is retried, for at most the order wait).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use paygate_e2e::paygate::service::timers::WEBHOOK_QUEUE;
use paygate_e2e::{Merchant, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

/// One call a merchant endpoint received, and its answer.
#[derive(Clone, Debug)]
struct Call {
    signature: String,
    /// The `Paygate-Event-Sequence` header.
    sequence: String,
    body: String,
    status: u16,
}

impl Call {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("json")
    }
}

#[derive(Clone, Default)]
pub(crate) struct Endpoint {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// A merchant endpoint that fails its first `failures` calls, then answers 200.
pub(crate) async fn endpoint(failures: usize) -> (String, Endpoint) {
    endpoint_answering(move |_, calls_before| if calls_before < failures { 500 } else { 200 }).await
}

/// A merchant endpoint whose answer to an event of type `kind` is `answer(kind, calls so far)`.
async fn endpoint_answering(
    answer: impl Fn(&str, usize) -> u16 + Clone + Send + Sync + 'static,
) -> (String, Endpoint) {
    let ep = Endpoint::default();
    let state = ep.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (state, answer) = (state.clone(), answer.clone());
            async move {
                let mut calls = state.calls.lock().expect("lock");
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let kind = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|e| e["type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let status = answer(&kind, calls.len());
                calls.push(Call {
                    signature: header("paygate-signature"),
                    sequence: header("paygate-event-sequence"),
                    body,
                    status,
                });
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

pub(crate) async fn paid_order(app: &TestApp, merchant: &Merchant, notify_url: &str) -> String {
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
    ep.calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| c.status)
        .collect()
}

/// What the endpoint was sent, in order: (event type, sequence in the body, answer).
fn received(ep: &Endpoint) -> Vec<(String, i64, u16)> {
    ep.calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| {
            let event = c.event();
            (
                event["type"].as_str().unwrap_or_default().to_owned(),
                event["sequence"].as_i64().unwrap_or_default(),
                c.status,
            )
        })
        .collect()
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
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [500, 500, 500, 200],
        "retried until 2xx, then never again"
    );
    for Call {
        signature, body, ..
    } in &calls
    {
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
    assert!(!verify(
        "not-the-secret",
        &calls[0].signature,
        &calls[0].body
    ));
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
async fn wait_calls(ep: &Endpoint, n: usize) -> Vec<Call> {
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
    assert!(verify(
        &merchant.webhook_secret,
        &calls[1].signature,
        &calls[1].body
    ));
    let event = calls[1].event();
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
    let event = calls[2].event();
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

/// Refunds `amount` of the payment that paid order `id`.
async fn refund(app: &TestApp, merchant: &Merchant, id: &str, amount: i64) {
    let order: Value = app
        .get(&format!("/v1/orders/{id}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    let no = order["paid_by"].as_str().expect("paid_by");
    let r = app
        .post(
            &format!("/v1/payments/{no}/refunds"),
            &merchant.api_key,
            &json!({"amount": amount}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Runs the webhook tasks due now, and those they schedule for now, until none is left
/// (paygate's clock does not move meanwhile).
async fn run_webhooks_due(app: &TestApp) {
    for _ in 0..20 {
        if app.run_due(WEBHOOK_QUEUE).await == 0 {
            return;
        }
    }
    panic!("webhook tasks keep falling due without the clock moving");
}

/// `GET /v1/orders/{id}/events`: (type, sequence, delivery, attempts) of each, in order.
async fn events_of(
    app: &TestApp,
    merchant: &Merchant,
    id: &str,
) -> Vec<(String, i64, String, i64)> {
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    events
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            assert_eq!(e["payload"]["sequence"], e["sequence"], "{e}");
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["sequence"].as_i64().unwrap_or_default(),
                e["delivery"].as_str().unwrap_or_default().to_owned(),
                e["attempts"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn seen(kind: &str, sequence: i64, status: u16) -> (String, i64, u16) {
    (kind.to_owned(), sequence, status)
}

async fn every_event_carries_its_order_sequence_in_body_and_header(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let merchant = app.new_merchant("numbered", &[]).await;
    let (url, ep) = endpoint(0).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    run_webhooks_due(&app).await;
    refund(&app, &merchant, &id, 200).await;
    run_webhooks_due(&app).await;
    refund(&app, &merchant, &id, 300).await;
    run_webhooks_due(&app).await;

    assert_eq!(
        received(&ep),
        [
            seen("order.paid", 1, 200),
            seen("order.partially_refunded", 2, 200),
            seen("order.refunded", 3, 200),
        ]
    );
    let calls = ep.calls.lock().expect("lock").clone();
    for call in &calls {
        assert_eq!(
            call.sequence,
            call.event()["sequence"].to_string(),
            "the header says the body's sequence"
        );
        assert!(
            verify(&merchant.webhook_secret, &call.signature, &call.body),
            "the sequence is signed with the rest of the body"
        );
    }
    let listed: Vec<(String, i64)> = events_of(&app, &merchant, &id)
        .await
        .into_iter()
        .map(|(kind, seq, _, _)| (kind, seq))
        .collect();
    assert_eq!(
        listed,
        [
            ("order.paid".to_owned(), 1),
            ("order.partially_refunded".to_owned(), 2),
            ("order.refunded".to_owned(), 3),
        ]
    );

    if setting == Setting::Production {
        let paygate_e2e::paygate::queue::DelayQueue::Redis(q) = &app.running.queue else {
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
        let mut streamed: Vec<(String, String)> = entries
            .iter()
            .filter(|(_, f)| f.iter().any(|(k, v)| k == "order_id" && v == &id))
            .map(|(_, f)| {
                let field = |name: &str| {
                    f.iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (field("sequence"), field("type"))
            })
            .collect();
        streamed.sort();
        assert_eq!(
            streamed,
            [
                ("1".to_owned(), "order.paid".to_owned()),
                ("2".to_owned(), "order.partially_refunded".to_owned()),
                ("3".to_owned(), "order.refunded".to_owned()),
            ],
            "each stream entry carries its sequence"
        );
    }
}

async fn a_later_event_waits_while_an_earlier_one_is_retried(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s,1m")]).await;
    let merchant = app.new_merchant("ordered", &[]).await;
    let (url, ep) = endpoint(1).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    run_webhooks_due(&app).await;
    assert_eq!(received(&ep), [seen("order.paid", 1, 500)]);

    // Refunded while order.paid waits for its retry in 10 s: order.refunded is due now,
    // and waits instead of overtaking it; waiting is no attempt.
    refund(&app, &merchant, &id, 500).await;
    run_webhooks_due(&app).await;
    assert_eq!(received(&ep), [seen("order.paid", 1, 500)], "held back");
    assert_eq!(
        events_of(&app, &merchant, &id).await[1],
        ("order.refunded".to_owned(), 2, "pending".to_owned(), 0)
    );

    app.advance(Duration::from_secs(10));
    run_webhooks_due(&app).await;
    assert_eq!(
        received(&ep),
        [
            seen("order.paid", 1, 500),
            seen("order.paid", 1, 200),
            seen("order.refunded", 2, 200),
        ],
        "the merchant sees the payment before the refund"
    );
    assert_eq!(
        events_of(&app, &merchant, &id).await,
        [
            ("order.paid".to_owned(), 1, "delivered".to_owned(), 2),
            ("order.refunded".to_owned(), 2, "delivered".to_owned(), 1),
        ]
    );
}

async fn an_earlier_event_s_outcome_lets_the_next_go_at_once(setting: Setting) {
    // The retry (2 s) comes before the held event's own recheck would: what lets it go is
    // the earlier event's delivery.
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "2s,1m")]).await;
    let merchant = app.new_merchant("released", &[]).await;
    let (url, ep) = endpoint(1).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    run_webhooks_due(&app).await;
    refund(&app, &merchant, &id, 500).await;
    run_webhooks_due(&app).await;
    app.advance(Duration::from_secs(2));
    run_webhooks_due(&app).await;
    assert_eq!(
        received(&ep),
        [
            seen("order.paid", 1, 500),
            seen("order.paid", 1, 200),
            seen("order.refunded", 2, 200),
        ]
    );
}

async fn a_later_event_goes_anyway_after_the_order_wait(setting: Setting) {
    let app = TestApp::spawn_stepped(
        setting,
        &[
            ("PAYGATE_WEBHOOK_SCHEDULE", "10s,1m,5m"),
            ("PAYGATE_WEBHOOK_ORDER_WAIT", "60s"),
        ],
    )
    .await;
    let merchant = app.new_merchant("impatient", &[]).await;
    // The merchant cannot take the payment's event (yet); anything else it takes.
    let (url, ep) =
        endpoint_answering(|kind, _| if kind == "order.paid" { 500 } else { 200 }).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    run_webhooks_due(&app).await;
    refund(&app, &merchant, &id, 500).await;
    run_webhooks_due(&app).await;
    app.advance(Duration::from_secs(10));
    run_webhooks_due(&app).await;
    app.advance(Duration::from_secs(49));
    run_webhooks_due(&app).await;
    assert_eq!(
        received(&ep),
        [seen("order.paid", 1, 500), seen("order.paid", 1, 500)],
        "order.refunded waits while order.paid is pending, up to the order wait (60 s)"
    );

    app.advance(Duration::from_secs(1));
    run_webhooks_due(&app).await;
    assert_eq!(
        received(&ep),
        [
            seen("order.paid", 1, 500),
            seen("order.paid", 1, 500),
            seen("order.refunded", 2, 200),
        ],
        "60 s after order.paid was written, order.refunded goes anyway"
    );
    assert_eq!(
        events_of(&app, &merchant, &id).await,
        [
            ("order.paid".to_owned(), 1, "pending".to_owned(), 2),
            ("order.refunded".to_owned(), 2, "delivered".to_owned(), 1),
        ],
        "order.paid keeps its own retries"
    );
}

async fn a_failed_earlier_event_holds_nothing(setting: Setting) {
    let app = TestApp::spawn_stepped(
        setting,
        &[
            ("PAYGATE_WEBHOOK_SCHEDULE", "10s"),
            ("PAYGATE_WEBHOOK_ORDER_WAIT", "1h"),
        ],
    )
    .await;
    let merchant = app.new_merchant("given-up", &[]).await;
    let (url, ep) =
        endpoint_answering(|kind, _| if kind == "order.paid" { 500 } else { 200 }).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    run_webhooks_due(&app).await;
    refund(&app, &merchant, &id, 500).await;
    run_webhooks_due(&app).await;
    assert_eq!(received(&ep), [seen("order.paid", 1, 500)], "held back");
    // order.paid's last attempt fails it: order.refunded goes at once, not an hour later.
    app.advance(Duration::from_secs(10));
    run_webhooks_due(&app).await;
    assert_eq!(
        received(&ep),
        [
            seen("order.paid", 1, 500),
            seen("order.paid", 1, 500),
            seen("order.refunded", 2, 200),
        ]
    );
    assert_eq!(
        events_of(&app, &merchant, &id).await,
        [
            ("order.paid".to_owned(), 1, "failed".to_owned(), 2),
            ("order.refunded".to_owned(), 2, "delivered".to_owned(), 1),
        ]
    );
}

/// Events of one order written by concurrent transactions get the numbers 1..n, each once:
/// a transaction that computed a number another took first is run again.
async fn events_of_one_order_written_at_once_are_numbered_one_after_another(setting: Setting) {
    use paygate_e2e::paygate::store::{batch, events, orders};
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let merchant = app.new_merchant("busy", &[]).await;
    let (url, _ep) = endpoint(0).await;
    let id = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &id).await;
    let db = &app.running.db;
    let order = orders::get(db, &merchant.id, &id)
        .await
        .expect("read")
        .expect("the order");
    let writers: Vec<_> = (0..6)
        .map(|_| {
            let (db, order) = (db.clone(), order.clone());
            tokio::spawn(async move {
                let (_, write) = events::record(&order, "order.partially_refunded", 0);
                batch::transaction(&db, &[write], ()).await
            })
        })
        .collect();
    for writer in writers {
        assert!(
            writer.await.expect("joined").expect("written").is_done(),
            "every concurrent event is written"
        );
    }
    let all = events::of_order(db, &id).await.expect("read");
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
    for e in &all {
        let body: Value = serde_json::from_str(&e.payload).expect("the body is JSON");
        assert_eq!(body["sequence"], e.seq, "{body}");
    }
}

/// `POST` on an admin path as the operator `alice` (through the bootstrap token).
async fn as_alice(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-paygate-operator", "alice")
        .json(&json!({}))
        .send()
        .await
        .expect("admin POST");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// (kind, status, operator) of each entry of an event's delivery history.
async fn history(app: &TestApp, event_id: &str) -> (Value, Vec<(String, Value, Value)>) {
    let (status, detail) = app.admin_get(&format!("/admin/events/{event_id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let entries = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap_or_default().to_owned(),
                h["status"].clone(),
                h["operator"].clone(),
            )
        })
        .collect();
    (detail, entries)
}

async fn an_operator_sends_failed_webhooks_again_and_their_history_is_kept(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s")]).await;
    let merchant = app.new_merchant("was-down", &[]).await;
    // Down for the first four calls: both events' two attempts.
    let (url, ep) = endpoint(4).await;
    let first = paid_order(&app, &merchant, &url).await;
    let second = paid_order(&app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &first).await;
    app.wait_paid(&merchant.api_key, &second).await;
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 2);
    app.advance(Duration::from_secs(10));
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 2);
    assert_eq!(statuses(&ep), [500, 500, 500, 500]);
    let (_, flags) = app.admin_get("/admin/flags").await;
    let failed: Vec<String> = flags["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(failed.len(), 2, "{flags}");
    let one = &failed[0];

    // One event again: pending, a new round, the old attempts kept with who asked.
    let (status, detail) = as_alice(&app, &format!("/admin/events/{one}/redeliver")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["event"]["delivery"], "pending");
    assert_eq!(detail["event"]["attempts"], 0, "a new round");
    let (status, again) = as_alice(&app, &format!("/admin/events/{one}/redeliver")).await;
    assert_eq!(status, StatusCode::CONFLICT, "under way: {again}");
    assert_eq!(again["error"]["code"], "delivery_pending");
    assert_eq!(
        app.run_due(WEBHOOK_QUEUE).await,
        1,
        "its attempt is due now"
    );
    let (detail, entries) = history(&app, one).await;
    assert_eq!(detail["event"]["delivery"], "delivered", "{detail}");
    assert_eq!(
        entries,
        [
            ("attempt".to_owned(), json!(500), Value::Null),
            ("attempt".to_owned(), json!(500), Value::Null),
            ("redelivery".to_owned(), Value::Null, json!("alice")),
            ("attempt".to_owned(), json!(200), Value::Null),
        ]
    );

    // Every failed delivery of the merchant: the other one.
    let (status, done) = as_alice(
        &app,
        &format!("/admin/merchants/{}/events/redeliver", merchant.id),
    )
    .await;
    assert_eq!(
        (status, done),
        (StatusCode::OK, json!({ "redelivered": 1 }))
    );
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1);
    let (_, flags) = app.admin_get("/admin/flags").await;
    assert_eq!(flags["webhooks"], json!([]), "nothing failed any more");

    // A delivered event may go again (a merchant that lost it): it is sent once more.
    let (status, _) = as_alice(&app, &format!("/admin/events/{one}/redeliver")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1);
    assert_eq!(statuses(&ep), [500, 500, 500, 500, 200, 200, 200]);

    let (status, missing) = as_alice(&app, "/admin/events/evt_missing/redeliver").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    let (status, missing) = as_alice(&app, "/admin/merchants/m_missing/events/redeliver").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["error"]["code"], "merchant_not_found");
    // A `read` operator may look, not send.
    let (_, reader) = app
        .admin_post(
            "/admin/operators",
            &json!({ "name": "reader", "role": "read" }),
        )
        .await;
    let refused = app
        .client
        .post(format!("{}/admin/events/{one}/redeliver", app.url))
        .bearer_auth(reader["token"].as_str().expect("token"))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The CLI shows the same history through the admin API.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_readme-paygate"))
        .args(["events", "show", one, "--json", "--url", &app.url])
        .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("paygate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        shown["history"].as_array().map(Vec::len),
        Some(6),
        "{shown}"
    );
}

in_both_settings!(
    endpoint_failing_three_times_then_succeeding_gets_the_event_once,
    webhook_whose_schedule_runs_out_is_listed_for_operators,
    a_partial_refund_tells_the_amounts_and_the_one_completing_it_tells_refunded,
    every_event_carries_its_order_sequence_in_body_and_header,
    a_later_event_waits_while_an_earlier_one_is_retried,
    an_earlier_event_s_outcome_lets_the_next_go_at_once,
    a_later_event_goes_anyway_after_the_order_wait,
    a_failed_earlier_event_holds_nothing,
    events_of_one_order_written_at_once_are_numbered_one_after_another,
    an_operator_sends_failed_webhooks_again_and_their_history_is_kept,
);
