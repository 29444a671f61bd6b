//! A misbehaving adapter fails only its own call: a trap, a CPU loop and a memory blow-up
//! each end with a clear error, and the next call is served.

use paygate_e2e::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn order_with_subject(app: &TestApp, key: &str, subject: &str) -> String {
    let body = json!({"out_trade_no": format!("S{}", uuid::Uuid::new_v4().simple()), "amount": 100, "currency": "CNY",
        "subject": subject, "ttl_seconds": 600});
    let r = app.post("/v1/orders", key, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn trap_cpu_loop_and_memory_blowup_fail_one_call_each_and_paygate_serves_on() {
    let app = TestApp::spawn_with(&[
        ("PAYGATE_ADAPTER_CPU_BUDGET", "200ms"),
        ("PAYGATE_ADAPTER_MEMORY_MB", "32"),
    ])
    .await;
    let merchant = app.new_merchant("chaos", &[("scenarios", "on")]).await;
    for (subject, expected) in [
        ("scenario:trap", "trapped"),
        ("scenario:spin", "CPU budget"),
        ("scenario:oom", "memory cap"),
    ] {
        let id = order_with_subject(&app, &merchant.api_key, subject).await;
        let (status, body) = app.pay(&merchant.api_key, &[&id], "web").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{subject}: {body}");
        assert_eq!(body["error"]["code"], "adapter_failed");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{subject}: {message}");

        // The same paygate serves the next call normally.
        let ok = order_with_subject(&app, &merchant.api_key, "ordinary tea").await;
        let (status, body) = app.pay(&merchant.api_key, &[&ok], "web").await;
        assert_eq!(status, StatusCode::CREATED, "after {subject}: {body}");
    }
}

#[tokio::test]
async fn scenarios_are_off_unless_the_merchant_turns_them_on() {
    let app = TestApp::spawn().await;
    let id = order_with_subject(&app, &app.merchant.api_key, "scenario:trap").await;
    let (status, body) = app.pay(&app.merchant.api_key, &[&id], "web").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "an ordinary subject for a merchant without scenarios: {body}"
    );
}
