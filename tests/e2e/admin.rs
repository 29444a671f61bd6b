//! The admin API: merchants and their provider configurations.

use paygate_e2e::{assert_error, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn provider_secrets_are_never_returned() {
    let app = TestApp::spawn().await;
    let merchant = app.new_merchant("shop", &[]).await;
    let r = app
        .client
        .get(format!(
            "{}/admin/merchants/{}/providers/mock",
            app.url, merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    let cfg: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(cfg["secret_names"], json!(["api_key"]));
    assert!(cfg["settings"]["account_id"].is_string());
    assert!(!text.contains("\"secrets\""), "{text}");
}

#[tokio::test]
async fn provider_configuration_is_checked_against_the_adapter() {
    let app = TestApp::spawn().await;
    // Untested: the configurations that pass the checks point at a port nobody serves.
    let put = |body: Value| {
        app.client
            .put(format!(
                "{}/admin/merchants/{}/providers/mock?test=false",
                app.url, app.merchant.id
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = put(json!({"settings": {"account_id": "a"}, "secrets": {"api_key": "k"}}))
        .await
        .expect("http");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "missing_setting").await;
    let r = put(json!({"settings": {"sandbox_url": "ftp://x", "account_id": "a"}, "secrets": {"api_key": "k"}})).await.expect("http");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting").await;
    let r = put(json!({"settings": {"sandbox_url": "http://127.0.0.1:1/sandbox", "account_id": "a", "colour": "red"}, "secrets": {"api_key": "k"}}))
        .await
        .expect("http");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_setting").await;
    let r = put(json!({"settings": {"sandbox_url": "http://10.0.0.1/sandbox", "account_id": "a"}, "secrets": {"api_key": "k"}})).await.expect("http");
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_setting").await;
    assert!(message.contains("plain http"), "{message}");
    let r = put(json!({"settings": {"sandbox_url": "http://127.0.0.1:1/sandbox", "account_id": "a"}, "secrets": {"api_key": ""}})).await.expect("http");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_secret").await;

    // Secrets are write-only, so a change of settings keeps the stored ones...
    let r =
        put(json!({"settings": {"sandbox_url": "http://127.0.0.1:1/sandbox", "account_id": "a"}}))
            .await
            .expect("http");
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["secret_names"], json!(["api_key"]));
    assert_eq!(
        view["settings"]["sandbox_url"],
        "http://127.0.0.1:1/sandbox"
    );
    // ...but a first configuration must carry every required secret.
    let fresh: Value = app
        .post("/admin/merchants", ADMIN_TOKEN, &json!({"name": "fresh"}))
        .await
        .json()
        .await
        .expect("json");
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{}/providers/mock?test=false",
            app.url,
            fresh["id"].as_str().expect("id")
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(
            &json!({"settings": {"sandbox_url": "http://127.0.0.1:1/sandbox", "account_id": "a"}}),
        )
        .send()
        .await
        .expect("http");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "missing_secret").await;
}

#[tokio::test]
async fn admin_api_needs_the_token_and_is_off_without_one() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/admin/merchants", "wrong", &json!({"name": "x"}))
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post(
            "/admin/merchants",
            &app.merchant.api_key,
            &json!({"name": "x"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let dir = tempfile::tempdir().expect("tempdir");
    let vars = [
        ("PAYGATE_LISTEN", "127.0.0.1:0".to_owned()),
        ("PAYGATE_DATA_DIR", dir.path().display().to_string()),
    ];
    let config = paygate_e2e::paygate::config::Config::from_lookup(|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("config");
    let running = paygate_e2e::paygate::app::spawn(config)
        .await
        .expect("starts");
    let r = app
        .client
        .post(format!("http://{}/admin/merchants", running.addr))
        .bearer_auth("anything")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("http");
    assert_error(r, StatusCode::NOT_FOUND, "admin_disabled").await;
    running.stop().await.expect("stops");
}
