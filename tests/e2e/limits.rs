//! Limits end to end: rate limits per API key, per client IP and per IP on notifications
//! (429 `rate_limited` with `Retry-After`, counted in `/metrics`); a client sending its
//! headers or its body a byte at a time is cut off; connections over the cap wait.

use std::time::{Duration, Instant};

use paygate_e2e::{assert_error, Setting, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asserts a 429 with `Retry-After` of at least one second and the error body.
async fn assert_limited(r: reqwest::Response) {
    let retry_after: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "{retry_after}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_over_its_limit_gets_429_while_another_merchant_is_unaffected() {
    let app = TestApp::spawn_in(
        Setting::Embedded,
        &[
            ("PAYGATE_RATE_LIMIT_MERCHANT", "1:3"),
            ("PAYGATE_RATE_LIMIT_IP", "off"),
        ],
    )
    .await;
    let other = app.new_merchant("other", &[]).await;
    let busy = &app.merchant.api_key;
    for _ in 0..3 {
        let r = app.get("/v1/orders/ord_missing", busy).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "within the burst");
    }
    assert_limited(app.get("/v1/orders/ord_missing", busy).await).await;
    let r = app.get("/v1/orders/ord_missing", &other.api_key).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "the other merchant's own budget"
    );
    // The operator's API is not limited.
    let (status, _) = app.admin_get("/admin/flags").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics(&app)
            .await
            .contains(r#"paygate_rate_limited_total{scope="merchant"}"#),
        "counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_ip_over_its_limit_gets_429_whatever_key_it_sends() {
    let app = TestApp::spawn_in(
        Setting::Embedded,
        &[
            ("PAYGATE_RATE_LIMIT_MERCHANT", "off"),
            ("PAYGATE_RATE_LIMIT_IP", "1:2"),
        ],
    )
    .await;
    for key in ["pk_a", "pk_b"] {
        let r = app.get("/v1/orders/ord_missing", key).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(app.get("/v1/orders/ord_missing", "pk_c").await).await;
    assert!(metrics(&app)
        .await
        .contains(r#"paygate_rate_limited_total{scope="ip"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_endpoint_has_its_own_per_ip_limit() {
    let app = TestApp::spawn_in(
        Setting::Embedded,
        &[
            ("PAYGATE_RATE_LIMIT_NOTIFY", "1:2"),
            ("PAYGATE_RATE_LIMIT_IP", "1:2"),
        ],
    )
    .await;
    let path = format!("/v1/notify/mock/{}", app.merchant.id);
    for _ in 0..2 {
        let r = app.post_raw(&path, "", "{}").await;
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_limited(app.post_raw(&path, "", "{}").await).await;
    // The API's own per-IP budget is untouched by the notifications.
    let r = app
        .get("/v1/orders/ord_missing", &app.merchant.api_key)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(metrics(&app)
        .await
        .contains(r#"paygate_rate_limited_total{scope="notify"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_a_byte_at_a_time_is_cut_off() {
    let app = TestApp::spawn_in(Setting::Embedded, &[("PAYGATE_HEADER_TIMEOUT", "500ms")]).await;
    let mut stream = TcpStream::connect(app.running.addr).await.expect("connect");
    let (mut read, mut write) = stream.split();
    let trickle = async {
        let header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in header.iter().chain(std::iter::repeat(&b'a')) {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let cut = async {
        let mut buf = vec![0u8; 1024];
        let start = Instant::now();
        let n = read.read(&mut buf).await.unwrap_or(0);
        (
            start.elapsed(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        )
    };
    let (elapsed, answer) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = trickle => panic!("the trickle never ends by itself"),
            cut = cut => cut,
        }
    })
    .await
    .expect("cut off within 10 s");
    assert!(
        elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}, answer {answer:?}"
    );
    assert!(
        !answer.contains("200 OK"),
        "no answer to an unfinished request: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_body_a_byte_at_a_time_is_cut_off() {
    let app = TestApp::spawn_in(Setting::Embedded, &[("PAYGATE_BODY_TIMEOUT", "500ms")]).await;
    let body = json!({"out_trade_no": "SLOW1", "amount": 100, "currency": "CNY", "subject": "Tea"})
        .to_string();
    let mut stream = TcpStream::connect(app.running.addr).await.expect("connect");
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.merchant.api_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    // A few bytes of the body, then nothing more than a byte now and then.
    stream.write_all(&body.as_bytes()[..5]).await.expect("body");
    let (mut read, mut write) = stream.split();
    let trickle = async {
        for byte in &body.as_bytes()[5..] {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    let answer = async {
        let mut buf = vec![0u8; 1024];
        let start = Instant::now();
        let n = read.read(&mut buf).await.unwrap_or(0);
        (
            start.elapsed(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        )
    };
    let (elapsed, answer) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = trickle => unreachable!("pending"),
            a = answer => a,
        }
    })
    .await
    .expect("answered within 10 s");
    assert!(
        elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}: {answer:?}"
    );
    let status = answer.lines().next().unwrap_or_default().to_owned();
    assert!(
        !status.contains("201"),
        "no order from a body that never arrived in time: {status:?}"
    );
    let r = app
        .post_raw("/v1/orders", &app.merchant.api_key, &body)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "nothing was stored: the same order sent in time is new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = TestApp::spawn_in(
        Setting::Embedded,
        &[
            ("PAYGATE_MAX_CONNECTIONS", "2"),
            ("PAYGATE_HEADER_TIMEOUT", "30s"),
        ],
    )
    .await;
    let mut first = TcpStream::connect(app.running.addr).await.expect("first");
    let _second = TcpStream::connect(app.running.addr).await.expect("second");
    // Let the server accept both before the third comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let url = format!("{}/healthz", app.url);
        async move {
            let r = reqwest::Client::new().get(url).send().await;
            (Instant::now(), r.map(|r| r.status()))
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!waiting.is_finished(), "the third waits while two are held");
    // The rule is an order of events, not a duration: the answer comes after a slot frees
    // (a duration measured inside the task counted from when the busy machine ran it).
    let closed_at = Instant::now();
    first.shutdown().await.expect("close");
    drop(first);
    let (answered_at, status) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot freed")
        .expect("task");
    assert_eq!(status.expect("answered"), StatusCode::OK);
    assert!(answered_at >= closed_at, "answered before a slot freed");
}
