//! Two contract versions in one paygate: the mock adapter as it was built against the frozen
//! `paygate:provider@1.0.0` (`tests/fixtures/adapters/mock-1.0.0.wasm`) runs beside the
//! bundled 2.0.0 adapters and still pays end to end through the sandbox, with its actions
//! taken as valid until the trade's deadline.

use paygate_e2e::{Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::Value;

const MOCK_1_0_0: &[u8] = include_bytes!("../fixtures/adapters/mock-1.0.0.wasm");

/// Replaces the bundled (2.0.0) mock with the 1.0.0 one, as an operator activating another
/// version would.
async fn activate_mock_1_0_0(app: &TestApp) {
    let activated = app.activate_adapter(MOCK_1_0_0).await;
    assert_eq!(activated["active"]["contract_version"], "1.0.0");
}

async fn adapters(app: &TestApp) -> Value {
    app.get("/admin/adapters", ADMIN_TOKEN)
        .await
        .json()
        .await
        .expect("JSON")
}

async fn a_1_0_0_adapter_pays_beside_2_0_0_adapters(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    activate_mock_1_0_0(&app).await;
    let listed = adapters(&app).await;
    let contract_of = |name: &str| {
        listed
            .as_array()
            .and_then(|all| all.iter().find(|a| a["provider"] == name))
            .map(|a| a["contract_version"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(contract_of("mock"), "1.0.0", "{listed}");
    assert_eq!(contract_of("wechat"), "2.0.0", "{listed}");

    let order = app.create_order(450, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(
        payment["action_expires_at"],
        Value::Null,
        "1.0.0 says nothing of it"
    );
    let payment_no = payment["payment_no"].as_str().expect("no");

    // Repay: the stored action is still valid (until the deadline), no provider call.
    let (status, again) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["reused"], true);
    assert_eq!(
        app.sandbox_trade(payment_no).await["counters"]["created"],
        1
    );

    // The customer pays; the 1.0.0 adapter verifies the notification.
    assert_eq!(
        app.sandbox_pay(payment_no, "").await.status(),
        StatusCode::OK
    );
    app.wait_for_order_state(id, "paid").await;

    // A refund goes through the 1.0.0 adapter too (no query-refund in 1.0.0).
    let r = app
        .post(
            &format!("/v1/payments/{payment_no}/refunds"),
            &app.merchant.api_key,
            &serde_json::json!({"amount": 50}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

in_both_settings!(a_1_0_0_adapter_pays_beside_2_0_0_adapters);
