//! The adapter registry through the admin API: the bundled adapters registered as versions,
//! an upload checked before it is stored, an activation that every paygate process on the
//! database follows (and a start does not undo), and roll back.

use paygate_e2e::{paygate, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MOCK_1_0_0: &[u8] = include_bytes!("../fixtures/adapters/mock-1.0.0.wasm");

async fn bundled_adapters_are_registered_as_active_versions(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let (status, versions) = app.admin_get("/admin/adapters/versions").await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let versions = versions.as_array().expect("a list");
    let mut providers: Vec<&str> = versions
        .iter()
        .map(|v| v["provider"].as_str().expect("provider"))
        .collect();
    providers.sort();
    assert_eq!(providers, ["alipay", "mock", "wechat"]);
    for v in versions {
        assert_eq!(v["status"], "active", "{v}");
        assert_eq!(v["uploaded_by"], "paygate", "{v}");
        assert_eq!(v["sha256"].as_str().map(str::len), Some(64), "{v}");
    }
    let (status, mock) = app.admin_get("/admin/adapters/mock").await;
    assert_eq!(status, StatusCode::OK, "{mock}");
    assert_eq!(mock["activations"][0]["reason"], "bundled", "{mock}");
    assert_eq!(mock["running_here"], mock["active"]["sha256"], "{mock}");
}

async fn an_activation_reaches_every_process_on_the_database_and_a_start_keeps_it(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[("PAYGATE_ADAPTER_FOLLOW_INTERVAL", "200ms")]).await;
    let peer = app.spawn_peer().await;
    let peer_url = format!("http://{}", peer.addr);

    let activated = app.activate_adapter(MOCK_1_0_0).await;
    assert_eq!(activated["changed"], true, "{activated}");
    assert_eq!(
        activated["previous"]["contract_version"], "2.0.0",
        "{activated}"
    );
    // The process that activated runs it at once; the peer follows within its interval.
    assert_eq!(mock_contract(&app, &app.url).await, "1.0.0");
    wait_for_mock_contract(&app, &peer_url, "1.0.0").await;
    // The activated version pays end to end on the peer.
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A process started now loads the operator's choice, not its bundled mock.
    let late = app.spawn_peer().await;
    assert_eq!(
        mock_contract(&app, &format!("http://{}", late.addr)).await,
        "1.0.0"
    );

    // Roll back through the peer; the first process follows.
    let r = app
        .client
        .post(format!("{peer_url}/admin/adapters/mock/rollback"))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-paygate-operator", "night-shift")
        .send()
        .await
        .expect("peer");
    assert_eq!(r.status(), StatusCode::OK);
    let rolled: Value = r.json().await.expect("json");
    assert_eq!(rolled["active"]["contract_version"], "2.0.0", "{rolled}");
    wait_for_mock_contract(&app, &app.url, "2.0.0").await;
    let (_, mock) = app.admin_get("/admin/adapters/mock").await;
    assert_eq!(mock["activations"][0]["reason"], "rollback", "{mock}");
    assert_eq!(
        mock["activations"][0]["activated_by"], "night-shift",
        "{mock}"
    );
    assert_eq!(mock["activations"][1]["activated_by"], "admin", "{mock}");
    peer.stop().await.expect("peer stops");
    late.stop().await.expect("late peer stops");
}

in_both_settings!(
    bundled_adapters_are_registered_as_active_versions,
    an_activation_reaches_every_process_on_the_database_and_a_start_keeps_it,
);

/// The contract version of the mock adapter that the paygate at `url` runs.
async fn mock_contract(app: &TestApp, url: &str) -> String {
    let active: Value = app
        .client
        .get(format!("{url}/admin/adapters"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin API")
        .json()
        .await
        .expect("json");
    active
        .as_array()
        .and_then(|all| all.iter().find(|a| a["provider"] == "mock"))
        .and_then(|m| m["contract_version"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Waits (real time, up to 10 s: fifty follow intervals) until the paygate at `url` runs a
/// mock of contract `contract`.
async fn wait_for_mock_contract(app: &TestApp, url: &str, contract: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let running = mock_contract(app, url).await;
        if running == contract || tokio::time::Instant::now() > deadline {
            assert_eq!(
                running, contract,
                "the process at {url} follows the activation"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_upload_is_checked_before_anything_is_stored() {
    let app = TestApp::spawn_with(&[("PAYGATE_ADAPTER_MAX_COMPONENT_MB", "1")]).await;
    let (status, body) = app.upload_adapter(b"not a wasm component", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_adapter");

    let (status, body) = app.upload_adapter(b"", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_adapter");

    // Over the limit is refused before a byte of it is compiled.
    let (status, body) = app.upload_adapter(&vec![0u8; (1 << 20) + 1], None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "adapter_too_large");

    let (status, body) = app
        .upload_adapter(paygate::adapters::MOCK, Some("wechat"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "adapter_name_mismatch");

    // The bundled mock's bytes are stored already: nothing changes.
    let (status, body) = app
        .upload_adapter(paygate::adapters::MOCK, Some("mock"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["version"]["status"], "active");

    let r = app
        .client
        .post(format!("{}/admin/adapters/versions", app.url))
        .body(paygate::adapters::MOCK.to_vec())
        .send()
        .await
        .expect("admin API");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (_, versions) = app.admin_get("/admin/adapters/versions").await;
    assert_eq!(versions.as_array().map(Vec::len), Some(3), "{versions}");

    // The same paygate pays as before.
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_check_reports_what_the_component_says_of_itself_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(format!("{}/admin/adapters/check", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .body(MOCK_1_0_0.to_vec())
        .send()
        .await
        .expect("admin API");
    assert_eq!(r.status(), StatusCode::OK);
    let checked: Value = r.json().await.expect("json");
    assert_eq!(checked["adapter"]["provider"], "mock", "{checked}");
    assert_eq!(checked["adapter"]["contract_version"], "1.0.0", "{checked}");
    assert_eq!(checked["size_bytes"], MOCK_1_0_0.len(), "{checked}");
    let (_, versions) = app.admin_get("/admin/adapters/versions").await;
    assert_eq!(versions.as_array().map(Vec::len), Some(3), "{versions}");
}

#[tokio::test]
async fn activation_names_a_version_by_its_string_or_a_sha256_prefix() {
    let app = TestApp::spawn().await;
    let (status, uploaded) = app.upload_adapter(MOCK_1_0_0, Some("mock")).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["version"]["status"], "inactive");
    let sha = uploaded["version"]["sha256"].as_str().expect("sha256");

    let (status, body) = app
        .admin_post(
            "/admin/adapters/mock/activate",
            &json!({"version": "9.9.9"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = app
        .admin_post(
            "/admin/adapters/mock/activate",
            &json!({"version": &sha[..10]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"]["sha256"], sha);

    // Again: nothing changes.
    let version = uploaded["version"]["version"].as_str().expect("version");
    let (status, body) = app
        .admin_post(
            "/admin/adapters/mock/activate",
            &json!({"version": version}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], false, "{body}");
}

#[tokio::test]
async fn roll_back_without_a_previous_version_is_refused() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .admin_post("/admin/adapters/mock/rollback", &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_previous_version");
    let (status, body) = app.admin_get("/admin/adapters/nosuch").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
