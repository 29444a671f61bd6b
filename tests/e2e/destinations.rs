//! Webhook destinations end to end: internal addresses refused at order creation and at
//! every delivery, on the address actually connected to; the operator's allow list; the
//! embedded setting's loopback. Every name here resolves through the test's resolver
//! (`tests/resolver.rs`), which records where a delivery was about to connect and lets
//! only loopback connections through: no test here reaches past this machine.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use paygate_e2e::paygate::service::timers::WEBHOOK_QUEUE;
use paygate_e2e::{assert_error, Merchant, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A loopback endpoint counting the connections it accepts and the requests it answers
/// (with `status`, and `Location` to `redirect_to` when given).
#[derive(Clone, Default)]
struct Listener {
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn listener(status: u16, redirect_to: Option<String>) -> (u16, Listener) {
    let seen = Listener::default();
    let state = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let state = state.clone();
        let redirect_to = redirect_to.clone();
        async move {
            state.requests.lock().expect("lock").push(uri.to_string());
            let mut r = axum::response::Response::new(axum::body::Body::empty());
            *r.status_mut() = axum::http::StatusCode::from_u16(status).expect("status");
            if let Some(to) = redirect_to {
                r.headers_mut()
                    .insert("location", to.parse().expect("location"));
            }
            r
        }
    });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let counted = seen.connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let app = app.clone();
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    (port, seen)
}

async fn create_order(app: &TestApp, merchant: &Merchant, notify_url: &str) -> reqwest::Response {
    let body = json!({"out_trade_no": format!("D{}", uuid::Uuid::new_v4().simple()), "amount": 500,
        "currency": "CNY", "subject": "Tea", "ttl_seconds": 600, "notify_url": notify_url});
    app.post("/v1/orders", &merchant.api_key, &body).await
}

/// Creates an order with `notify_url`, pays it at the sandbox, and runs the first webhook
/// attempt; the order's one event afterwards.
async fn paid_and_attempted(app: &TestApp, merchant: &Merchant, notify_url: &str) -> Value {
    let r = create_order(app, merchant, notify_url).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{notify_url}");
    let order: Value = r.json().await.expect("json");
    paid_then_attempted(app, merchant, &order).await
}

async fn paid_then_attempted(app: &TestApp, merchant: &Merchant, order: &Value) -> Value {
    let id = order["id"].as_str().expect("id");
    let (status, payment) = app.pay(&merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let no = payment["payment_no"].as_str().expect("payment no");
    assert_eq!(app.sandbox_pay(no, "").await.status(), StatusCode::OK);
    app.wait_paid(&merchant.api_key, id).await;
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1, "one webhook attempt");
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("events");
    events[0].clone()
}

/// The connections webhook deliveries were about to make (the sandbox's notifications to
/// paygate, at 127.0.0.1, left out).
fn webhook_connections(app: &TestApp) -> Vec<(String, IpAddr)> {
    app.resolver
        .connections()
        .into_iter()
        .filter(|(host, _)| host != "127.0.0.1")
        .collect()
}

/// The production setting with no allow list at all (the harness allows loopback for the
/// other tests' endpoints).
async fn production(allow: &str) -> TestApp {
    TestApp::spawn_stepped(
        Setting::Production,
        &[
            ("PAYGATE_WEBHOOK_ALLOW", allow),
            ("PAYGATE_WEBHOOK_SCHEDULE", "10s"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_public_at_creation_and_loopback_at_delivery_is_refused_at_delivery() {
    let app = production("").await;
    let merchant = app.new_merchant("rebinder", &[]).await;
    let (port, seen) = listener(200, None).await;
    app.resolver.set("rebind.example", &[ip("203.0.113.10")]);
    let r = create_order(
        &app,
        &merchant,
        &format!("http://rebind.example:{port}/hook"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED, "public at creation");
    let order: Value = r.json().await.expect("json");
    // The attacker's DNS now answers loopback (the database, an admin port...).
    app.resolver.set("rebind.example", &[ip("127.0.0.1")]);
    let event = paid_then_attempted(&app, &merchant, &order).await;
    assert_eq!(
        (event["attempts"].clone(), event["last_status"].clone()),
        (json!(1), json!(0)),
        "a failed attempt with no answer: {event}"
    );
    assert_eq!(event["delivery"], "pending", "it keeps its retry schedule");
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        0,
        "no connection reached the loopback listener"
    );
    let lookups = app.resolver.lookups();
    assert_eq!(
        lookups.iter().filter(|h| *h == "rebind.example").count(),
        2,
        "one look-up at creation, one at delivery: {lookups:?}"
    );
    assert!(
        !app.resolver
            .connections()
            .iter()
            .any(|(h, _)| h == "rebind.example"),
        "refused before any connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_connects_to_exactly_the_address_that_was_checked() {
    let app = production("").await;
    let merchant = app.new_merchant("public", &[]).await;
    app.resolver.set("public.example", &[ip("203.0.113.10")]);
    let event = paid_and_attempted(&app, &merchant, "https://public.example/hook").await;
    assert_eq!(event["attempts"], 1, "{event}");
    assert_eq!(
        webhook_connections(&app),
        [("public.example".to_owned(), ip("203.0.113.10"))],
        "the one checked address, recorded (and, being off loopback, not connected to)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_at_creation_saying_why() {
    let app = production("").await;
    let merchant = app.new_merchant("internal", &[]).await;
    app.resolver.set("intranet.example", &[ip("10.0.0.7")]);
    app.resolver
        .set("mixed.example", &[ip("203.0.113.5"), ip("fd00::5")]);
    for (url, why) in [
        ("http://10.0.0.7/admin", "10.0.0.7 is a private address"),
        ("http://172.16.3.4/", "172.16.3.4 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address",
        ),
        ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:10.0.0.7]/", "is a private address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        (
            "http://100.64.0.1/",
            "100.64.0.1 is a shared (carrier-grade NAT) address",
        ),
        ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
        (
            "http://intranet.example/",
            "intranet.example resolves to 10.0.0.7, a private address",
        ),
        (
            "http://mixed.example/",
            "mixed.example resolves to fd00::5, a unique-local",
        ),
    ] {
        let r = create_order(&app, &merchant, url).await;
        let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
        assert!(message.contains(why), "{url}: {message}");
    }
    let looked_up = app.resolver.lookups();
    assert_eq!(
        looked_up,
        ["intranet.example", "mixed.example"],
        "a literal address needs no look-up"
    );
    // A merchant's own endpoint, through the admin API, meets the same rule.
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{}/webhook",
            app.url, merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"notify_url": "http://169.254.169.254/latest/meta-data/"}))
        .send()
        .await
        .expect("admin");
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
    assert!(message.contains("link-local"), "{message}");
    let r = app
        .post(
            "/admin/merchants",
            ADMIN_TOKEN,
            &json!({"name": "Sneaky", "notify_url": "http://10.1.2.3/"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_lets_a_named_host_and_a_network_through() {
    let app = production("hooks.internal, 10.20.0.0/16").await;
    let merchant = app.new_merchant("allowed", &[]).await;
    let (port, seen) = listener(200, None).await;
    // A named host passes whatever it resolves to, loopback included.
    app.resolver.set("hooks.internal", &[ip("127.0.0.1")]);
    let event = paid_and_attempted(
        &app,
        &merchant,
        &format!("http://hooks.internal:{port}/hook"),
    )
    .await;
    assert_eq!(event["delivery"], "delivered", "{event}");
    assert_eq!(*seen.requests.lock().expect("lock"), ["/hook"]);
    assert_eq!(
        webhook_connections(&app),
        [("hooks.internal".to_owned(), ip("127.0.0.1"))]
    );
    // A network passes as a literal and as what a name resolves to; its neighbour does not.
    app.resolver.set("db.internal", &[ip("10.20.4.5")]);
    for ok in ["http://10.20.0.5/hook", "http://db.internal/hook"] {
        let r = create_order(&app, &merchant, ok).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{ok}");
    }
    let r = create_order(&app, &merchant, "http://10.21.0.1/hook").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_setting_still_delivers_to_loopback_and_refuses_private_addresses() {
    let app = TestApp::spawn_stepped(Setting::Embedded, &[]).await;
    let merchant = app.new_merchant("local", &[]).await;
    let (port, seen) = listener(200, None).await;
    let event = paid_and_attempted(&app, &merchant, &format!("http://localhost:{port}/hook")).await;
    assert_eq!(event["delivery"], "delivered", "{event}");
    assert_eq!(seen.requests.lock().expect("lock").len(), 1);
    let event = paid_and_attempted(&app, &merchant, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(
        event["delivery"], "delivered",
        "a literal loopback too: {event}"
    );
    let r = create_order(&app, &merchant, "http://192.168.0.10/hook").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let app = TestApp::spawn_stepped(Setting::Embedded, &[]).await;
    let merchant = app.new_merchant("bouncer", &[]).await;
    let (target_port, target) = listener(200, None).await;
    let (port, _) = listener(
        302,
        Some(format!("http://127.0.0.1:{target_port}/elsewhere")),
    )
    .await;
    let event = paid_and_attempted(&app, &merchant, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(
        (event["last_status"].clone(), event["delivery"].clone()),
        (json!(302), json!("pending")),
        "{event}"
    );
    assert_eq!(target.connections.load(Ordering::SeqCst), 0);
}
