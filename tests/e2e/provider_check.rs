//! Testing a provider configuration before customers do: `POST
//! /admin/merchants/{id}/providers/{provider}/test` asks the provider about a payment
//! number that cannot exist, and `PUT .../providers/{provider}` runs the same test on the
//! configuration it was given, storing nothing when it fails.

use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::wechat::{configure_wechat, PlatformKeys};

async fn test_provider(app: &TestApp, provider: &str) -> Value {
    let (status, report) = app
        .admin_post(
            &format!(
                "/admin/merchants/{}/providers/{provider}/test",
                app.merchant.id
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

#[tokio::test]
async fn a_configuration_that_works_passes_its_test_with_a_verified_not_found() {
    let app = TestApp::spawn().await;
    let report = test_provider(&app, "mock").await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["provider"], "mock");
    let probe = report["probe"].as_str().expect("probe");
    assert!(probe.starts_with("pgtest") && probe.len() == 32, "{probe}");
    assert!(
        report["detail"]
            .as_str()
            .is_some_and(|d| d.contains(probe) && d.contains("works")),
        "{report}"
    );
    assert!(report["elapsed_ms"].is_u64(), "{report}");
    assert!(report.get("error").is_none(), "{report}");
}

#[tokio::test]
async fn placeholders_are_refused_at_configure_in_the_providers_words() {
    let app = TestApp::spawn().await;
    let before: Value = app
        .get(
            &format!("/admin/merchants/{}/providers/mock", app.merchant.id),
            ADMIN_TOKEN,
        )
        .await
        .json()
        .await
        .expect("json");
    // The README's example, placeholders as written.
    let placeholders = json!({"settings": {"sandbox_url": format!("{}/sandbox", app.url), "account_id": "sbx_..."},
        "secrets": {"api_key": "..."}});
    let r = app.put_provider("mock", &placeholders).await;
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "provider_test_failed").await;
    assert!(
        message.contains("provider_misconfigured")
            && message.contains("SIGNATURE_INVALID")
            && message.contains("unknown account"),
        "the sandbox's own words: {message}"
    );
    let after: Value = app
        .get(
            &format!("/admin/merchants/{}/providers/mock", app.merchant.id),
            ADMIN_TOKEN,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after, before, "nothing was stored");
    assert_eq!(test_provider(&app, "mock").await["ok"], true);

    // Told not to test, paygate stores it, and the test endpoint then says what is wrong.
    let r = app.put_provider_untested("mock", &placeholders).await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = r.json().await.expect("json");
    assert!(stored.get("test").is_none(), "{stored}");
    let report = test_provider(&app, "mock").await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        report["error"]["code"], "provider_misconfigured",
        "{report}"
    );
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown account")),
        "{report}"
    );
}

#[tokio::test]
async fn configure_tests_the_new_configuration_and_says_so() {
    let app = TestApp::spawn().await;
    let account = app.sandbox_account().await;
    let body = json!({"settings": {"sandbox_url": format!("{}/sandbox", app.url), "account_id": account["account_id"]},
        "secrets": {"api_key": account["api_key"]}});
    let r = app.put_provider("mock", &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = r.json().await.expect("json");
    assert_eq!(stored["settings"]["account_id"], account["account_id"]);
    assert_eq!(stored["test"]["ok"], true, "{stored}");

    // The same account with another key: the new configuration is what is tested.
    let mut wrong = body.clone();
    wrong["secrets"]["api_key"] = json!("a-key-the-sandbox-never-gave-out");
    let r = app.put_provider("mock", &wrong).await;
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "provider_test_failed").await;
    assert!(message.contains("signature does not verify"), "{message}");

    // A provider nobody configured, and one that does not exist, have nothing to test.
    let r = app
        .post(
            &format!("/admin/merchants/{}/providers/wechat/test", app.merchant.id),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_not_configured",
    )
    .await;
    let r = app
        .post(
            &format!("/admin/merchants/{}/providers/paypal/test", app.merchant.id),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_provider").await;
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{}/providers/mock?test=maybe",
            app.url, app.merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("admin");
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;
}

fn wechat_fixture(name: &str) -> String {
    let path = wechat_simulator::SimConfig::fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

async fn a_wechat_test_passes_against_the_simulator_and_names_a_wrong_key(setting: Setting) {
    let sim = wechat_simulator::WechatSimulator::spawn(
        wechat_simulator::SimConfig::with_fixture_keys(),
        "127.0.0.1:0",
    )
    .await
    .expect("the simulator starts");
    let app = TestApp::spawn_in(setting, &[("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s")]).await;
    // Tested on the way in: the simulator answers ORDER_NOT_EXIST, signed.
    configure_wechat(
        &app,
        &sim.base_url(),
        PlatformKeys::PublicKey,
        "merchant_private_key.pem",
    )
    .await;
    let report = test_provider(&app, "wechat").await;
    assert_eq!(report["ok"], true, "{report}");

    // A merchant private key WeChat does not know: refused, in WeChat's words, not stored.
    let cfg = wechat_simulator::SimConfig::with_fixture_keys();
    let body = |private_key: &str, platform_key: &str| {
        json!({"settings": {"mchid": cfg.mchid, "appid": cfg.appid, "merchant_serial_no": cfg.merchant_serial_no,
                "platform_public_key_id": cfg.platform_public_key_id, "api_base": sim.base_url()},
            "secrets": {"merchant_private_key": wechat_fixture(private_key),
                "platform_public_key": wechat_fixture(platform_key), "apiv3_key": wechat_fixture("apiv3_key.txt")}})
    };
    let r = app
        .put_provider(
            "wechat",
            &body("other_private_key.pem", "platform_public_key.pem"),
        )
        .await;
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "provider_test_failed").await;
    assert!(
        message.contains("provider_rejected") && message.contains("SIGN_ERROR"),
        "{message}"
    );
    assert_eq!(
        test_provider(&app, "wechat").await["ok"],
        true,
        "the working configuration stayed"
    );

    // Stored anyway (untested), the test endpoint names the same refusal.
    let r = app
        .put_provider_untested(
            "wechat",
            &body("other_private_key.pem", "platform_public_key.pem"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report = test_provider(&app, "wechat").await;
    assert_eq!(
        (report["ok"].clone(), report["error"]["code"].clone()),
        (json!(false), json!("provider_rejected")),
        "{report}"
    );
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGN_ERROR")),
        "{report}"
    );

    // The right merchant key, but a WeChat Pay public key that is not WeChat's: its answer
    // does not verify, which the test reports as the adapter says it.
    let r = app
        .put_provider_untested(
            "wechat",
            &body("merchant_private_key.pem", "other_public_key.pem"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report = test_provider(&app, "wechat").await;
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not trusted")),
        "{report}"
    );
}

async fn an_alipay_app_key_alipay_does_not_know_is_refused_at_configure(setting: Setting) {
    use alipay_simulator::{AlipaySimulator, SimConfig};
    let sim = AlipaySimulator::spawn(SimConfig::with_fixture_keys(), "127.0.0.1:0")
        .await
        .expect("the simulator starts");
    let app = TestApp::spawn_in(setting, &[("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s")]).await;
    let fixture = |name: &str| {
        let path = SimConfig::fixture(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
    };
    let body = |app_key: &str| {
        json!({"settings": {"app_id": sim.config().app_id, "gateway": sim.gateway_url()},
            "secrets": {"app_private_key": fixture(app_key), "alipay_public_key": fixture("alipay_public_key.pem")}})
    };
    let r = app
        .put_provider("alipay", &body("other_private_key.pem"))
        .await;
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "provider_test_failed").await;
    assert!(message.contains("isv.invalid-signature"), "{message}");

    let r = app
        .put_provider("alipay", &body("app_private_key.pem"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = r.json().await.expect("json");
    assert_eq!(
        stored["test"]["ok"], true,
        "ACQ.TRADE_NOT_EXIST, signed: {stored}"
    );
    assert_eq!(test_provider(&app, "alipay").await["ok"], true);
}

in_both_settings!(
    a_wechat_test_passes_against_the_simulator_and_names_a_wrong_key,
    an_alipay_app_key_alipay_does_not_know_is_refused_at_configure,
);
