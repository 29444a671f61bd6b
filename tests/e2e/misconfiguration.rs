//! What a misconfiguration looks like from outside: a named error in the answer (never a
//! bare `internal`), and adapter-call metrics that count a provider's refusal as what it
//! is (never as `ok`).

use paygate_e2e::{assert_error, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The sum of `paygate_adapter_calls_total` over the series that carry every label of
/// `labels` (`name="value"`). Metrics are process-wide: other tests' calls count too.
async fn adapter_calls(app: &TestApp, labels: &[&str]) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("paygate_adapter_calls_total{"))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_the_provider_refuses_as_misconfigured_counts_as_misconfigured_not_ok() {
    let app = TestApp::spawn().await;
    let account = app.sandbox_account().await;
    let r = app
        .put_provider_untested(
            "mock",
            &json!({
                "settings": {"sandbox_url": format!("{}/sandbox", app.url), "account_id": account["account_id"]},
                "secrets": {"api_key": "not-the-key-the-sandbox-gave-this-account"},
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let misconfigured = [
        "provider=\"mock\"",
        "op=\"pay\"",
        "outcome=\"misconfigured\"",
    ];
    let before = adapter_calls(&app, &misconfigured).await;
    let order = app.create_order(100, 600).await;
    let (status, body) = app
        .pay(
            &app.merchant.api_key,
            &[order["id"].as_str().expect("id")],
            "web",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "provider_misconfigured", "{body}");
    let after = adapter_calls(&app, &misconfigured).await;
    assert!(
        after >= before + 1.0,
        "the refused pay is not counted as misconfigured ({before} -> {after})"
    );

    // A configuration's test counts under its own op: a failed onboarding test is not a
    // failing payment query.
    let tested = [
        "provider=\"mock\"",
        "op=\"test\"",
        "outcome=\"misconfigured\"",
    ];
    let before = adapter_calls(&app, &tested).await;
    let (status, report) = app
        .admin_post(
            &format!("/admin/merchants/{}/providers/mock/test", app.merchant.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    let after = adapter_calls(&app, &tested).await;
    assert!(
        after >= before + 1.0,
        "the failed test is not counted under op=\"test\" ({before} -> {after})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_secrets_sealed_with_another_master_key_are_a_named_error_not_internal() {
    use sqlx::Row;
    let app = TestApp::spawn().await;
    let pool = &app.running.db.pool;
    let row = sqlx::query(
        "SELECT secrets FROM provider_configs WHERE merchant_id = $1 AND provider = 'mock'",
    )
    .bind(&app.merchant.id)
    .fetch_one(pool)
    .await
    .expect("the demo merchant's configuration");
    let mut secrets: Value =
        serde_json::from_str(&row.try_get::<String, _>("secrets").expect("secrets"))
            .expect("secrets JSON");
    let other = paygate_e2e::paygate::vault::Vault::from_hex(&"33".repeat(32)).expect("key");
    secrets["api_key"]["sealed"] = json!(other.seal("a key sealed elsewhere"));
    sqlx::query(
        "UPDATE provider_configs SET secrets = $1 WHERE merchant_id = $2 AND provider = 'mock'",
    )
    .bind(secrets.to_string())
    .bind(&app.merchant.id)
    .execute(pool)
    .await
    .expect("update");
    let order = app.create_order(100, 600).await;
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [order["id"]], "provider": "mock", "channel": "web"}),
        )
        .await;
    let message = assert_error(
        r,
        StatusCode::INTERNAL_SERVER_ERROR,
        "provider_secrets_unreadable",
    )
    .await;
    assert!(
        message.contains("secret `api_key`") && message.contains("PAYGATE_MASTER_KEY"),
        "{message}"
    );
}
