//! The sandbox around an adapter, one limit per test, each pushed by the purpose-built chaos
//! adapter (`tests/adapters/chaos`, loaded into the test's own paygate; never shipped): a
//! loop, a memory blow-up, a panic, an oversized answer, a request outside the allowlist, the
//! host's files, environment and sockets, a key the merchant does not hold. Each ends that one
//! call with a clear error or a refusal, and the same paygate then serves an ordinary
//! payment (the mock provider of the demo merchant) normally.
//!
//! The probing subjects answer a `rejected` error whose message is the chaos adapter's
//! report (`{"attempts": [{"what", "reached", "detail"}]}`), so a test sees from inside the
//! sandbox what each attempt got. Where a limit lets nothing through, the probe also makes
//! an allowed attempt first, so that a probe that reaches nothing for another reason (a
//! broken adapter) does not pass for a limit that holds.

use std::time::{Duration, Instant};

use paygate_e2e::test_adapters::{CHAOS, CHAOS_SOCKETS};
use paygate_e2e::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// paygate with the chaos adapter active and configured for the demo merchant (beside its
/// mock provider), with `extra` configuration.
async fn with_chaos(extra: &[(&str, &str)]) -> TestApp {
    with_chaos_build(CHAOS, extra).await
}

/// [`with_chaos`] with another build of the chaos adapter.
async fn with_chaos_build(component: &[u8], extra: &[(&str, &str)]) -> TestApp {
    let app = TestApp::spawn_with(extra).await;
    let activated = app.activate_adapter(component).await;
    assert_eq!(activated["active"]["provider"], "chaos");
    // paygate's own URL as the base URL: loopback, so plain http is allowed, and `socket`
    // reads paygate's port from it. Stored untested: the chaos adapter has no provider.
    let config = json!({
        "settings": {"base_url": app.url},
        "secrets": {"api_key": "chaos-hmac-key"},
    });
    let r = app.put_provider_untested("chaos", &config).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    app
}

/// Pays a fresh order of the demo merchant whose subject is `subject` with the chaos
/// provider: status and JSON answer, and how long it took.
async fn pay_chaos(app: &TestApp, subject: &str) -> (StatusCode, Value, Duration) {
    let body = json!({"out_trade_no": format!("C{}", uuid::Uuid::new_v4().simple()),
        "amount": 100, "currency": "CNY", "subject": subject, "ttl_seconds": 600});
    let r = app.post("/v1/orders", &app.merchant.api_key, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED, "order `{subject}`");
    let order: Value = r.json().await.expect("order JSON");
    let id = order["id"].as_str().expect("order id");
    let started = Instant::now();
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "chaos", "channel": "web"}),
        )
        .await;
    let status = r.status();
    let body = r.json().await.expect("payment JSON");
    (status, body, started.elapsed())
}

/// Asserts that the call failed as the adapter's own failure (`503 adapter_failed`); returns
/// the message.
fn adapter_failed(subject: &str, status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{subject}: {body}");
    assert_eq!(body["error"]["code"], "adapter_failed", "{subject}: {body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// One attempt of a probe, as the chaos adapter reports it.
#[derive(Debug)]
struct Attempt {
    what: String,
    reached: bool,
    detail: String,
}

/// The report of a probing subject: its answer is `502 provider_rejected` with code
/// `OBSERVED` and the report as JSON.
async fn probe(app: &TestApp, subject: &str) -> Vec<Attempt> {
    let (status, body, _) = pay_chaos(app, subject).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{subject}: {body}");
    assert_eq!(
        body["error"]["code"], "provider_rejected",
        "{subject}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let report = message
        .split_once("OBSERVED ")
        .map(|(_, json)| json)
        .unwrap_or_else(|| panic!("{subject}: no report in {message}"));
    let report: Value = serde_json::from_str(report).expect("the report is JSON");
    report["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| Attempt {
            what: a["what"].as_str().expect("what").to_owned(),
            reached: a["reached"].as_bool().expect("reached"),
            detail: a["detail"].as_str().expect("detail").to_owned(),
        })
        .collect()
}

/// The same paygate serves an ordinary payment normally after `after`.
async fn serves_on(app: &TestApp, after: &str) {
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("order id");
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "after {after}: {body}");
}

#[tokio::test]
async fn an_adapter_that_loops_forever_is_stopped_within_its_cpu_budget() {
    let app = with_chaos(&[("PAYGATE_ADAPTER_CPU_BUDGET", "200ms")]).await;
    let (status, body, took) = pay_chaos(&app, "spin").await;
    let message = adapter_failed("spin", status, &body);
    assert!(
        message.contains("exceeded its CPU budget of 200 ms"),
        "{message}"
    );
    // Far below the 30 s wall-clock timeout, which would otherwise end the call (with
    // another message): the budget stopped it.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    serves_on(&app, "spin").await;
}

#[tokio::test]
async fn an_adapter_that_allocates_without_end_fails_at_its_memory_cap() {
    let app = with_chaos(&[("PAYGATE_ADAPTER_MEMORY_MB", "32")]).await;
    let (status, body, _) = pay_chaos(&app, "oom").await;
    let message = adapter_failed("oom", status, &body);
    assert!(
        message.contains(&format!("exceeded its memory cap of {} bytes", 32 << 20)),
        "{message}"
    );
    serves_on(&app, "oom").await;
}

#[tokio::test]
async fn an_adapter_that_panics_fails_that_call_only() {
    let app = with_chaos(&[]).await;
    let (status, body, _) = pay_chaos(&app, "trap").await;
    let message = adapter_failed("trap", status, &body);
    assert!(message.contains("adapter `chaos` trapped"), "{message}");
    serves_on(&app, "trap").await;
    // The adapter itself is not disabled by one failed call.
    let (status, body, _) = pay_chaos(&app, "ordinary tea").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_fails_that_call() {
    let app = with_chaos(&[]).await;
    let (status, body, _) = pay_chaos(&app, "huge-answer").await;
    let message = adapter_failed("huge-answer", status, &body);
    // 4 MiB of URL and then some, against the 256 KiB cap.
    let answered: usize = message
        .split_once("adapter `chaos` answered ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {message}"));
    assert!(answered > 4 << 20, "{message}");
    assert!(
        message.contains("more than the cap of 262144 bytes"),
        "{message}"
    );
    serves_on(&app, "huge-answer").await;
}

#[tokio::test]
async fn a_request_to_a_host_outside_the_allowlist_is_refused_before_any_connection() {
    // A short HTTP timeout, so that if the refusal were gone the probe would end soon (and
    // fail) instead of waiting on an unroutable address.
    let app = with_chaos(&[("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s")]).await;
    let attempts = probe(&app, "forbidden-host").await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    // The base URL is the allowlist: paygate itself answers (any status will do).
    let (allowed, metadata) = (&attempts[0], &attempts[1]);
    assert!(
        allowed.reached && allowed.detail.starts_with("HTTP "),
        "{allowed:?}"
    );
    // The metadata address is refused by the host before a connection is made (and the host
    // logs a warning naming the adapter and the refused origin, `runtime/http.rs`).
    assert!(metadata.what.contains("169.254.169.254"), "{metadata:?}");
    assert!(
        !metadata.reached
            && metadata.detail.starts_with("denied: ")
            && metadata
                .detail
                .contains("https://169.254.169.254:443 is not in this adapter's allowlist"),
        "{metadata:?}"
    );
    serves_on(&app, "forbidden-host").await;
}

#[tokio::test]
async fn an_adapter_can_neither_read_nor_list_the_hosts_files() {
    let app = with_chaos(&[]).await;
    let attempts = probe(&app, "files").await;
    let tried: Vec<&str> = attempts.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(tried, ["read /etc/passwd", "list /", "list ."]);
    for attempt in &attempts {
        assert!(!attempt.reached, "{attempt:?}");
    }
    serves_on(&app, "files").await;
}

#[tokio::test]
async fn an_adapter_sees_no_environment_variables_and_no_arguments() {
    let app = with_chaos(&[]).await;
    let attempts = probe(&app, "env").await;
    let tried: Vec<&str> = attempts.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(tried, ["environment variables", "arguments"]);
    for attempt in &attempts {
        assert!(!attempt.reached, "{attempt:?}");
    }
    serves_on(&app, "env").await;
}

#[tokio::test]
async fn an_adapter_can_open_no_socket_and_resolve_no_name() {
    // The chaos build with its socket probe imports wasi:sockets (as every Python adapter
    // does): accepted at upload, and linked with TCP, UDP and name lookup denied.
    let app = with_chaos_build(CHAOS_SOCKETS, &[]).await;
    let attempts = probe(&app, "socket").await;
    let port = app.url.rsplit(':').next().expect("port");
    let tried: Vec<&str> = attempts.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(
        tried,
        [
            format!("connect 127.0.0.1:{port}").as_str(),
            "connect 127.0.0.1:5432",
            "resolve localhost"
        ]
    );
    // paygate's own port is listening and the `http` import may call it: a raw socket
    // still may not.
    for attempt in &attempts {
        assert!(!attempt.reached, "{attempt:?}");
    }
    serves_on(&app, "socket").await;
}

#[tokio::test]
async fn a_key_the_merchants_configuration_does_not_hold_is_refused() {
    let app = with_chaos(&[]).await;
    let attempts = probe(&app, "foreign-key").await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let (declared, foreign) = (&attempts[0], &attempts[1]);
    // The key the configuration holds signs (HMAC-SHA256: 32 bytes)...
    assert!(
        declared.reached && declared.detail == "a 32-byte signature",
        "{declared:?}"
    );
    // ...another name is refused (and the host logs a warning, `runtime/keys.rs`).
    assert!(
        !foreign.reached && foreign.detail == "unknown-key: merchant_private_key",
        "{foreign:?}"
    );
    serves_on(&app, "foreign-key").await;
}

#[tokio::test]
async fn an_adapter_that_prints_and_logs_still_answers_normally() {
    // Its stdout, stderr and log lines go to paygate's log (`runtime/call.rs`); the harness
    // does not capture the log, so this checks that the output does not disturb the call.
    let app = with_chaos(&[]).await;
    let (status, body, _) = pay_chaos(&app, "log").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = body["action"]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("https://chaos.example/pay/"), "{body}");
}
