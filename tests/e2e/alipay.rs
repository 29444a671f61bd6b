//! Alipay end to end: paygate's REST API -> the real `alipay` wasm component -> real HTTP ->
//! the Alipay gateway simulator (`simulators/alipay`), which verifies every request's RSA2
//! signature, signs every answer over its raw `*_response` text and sends form-encoded
//! notifications until paygate answers `success`. And the customer who switches wallet:
//! WeChat Pay first, then Alipay.

use std::time::Duration;

use alipay_simulator::{AlipaySimulator, Fault, KeyMode, SimConfig};
use paygate_e2e::{Setting, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat_simulator::WechatSimulator;

use crate::wechat::{configure_wechat, PlatformKeys};

mod bills;

/// Fast schedules, so the rules show within seconds.
const FAST: &[(&str, &str)] = &[
    ("PAYGATE_STATUS_SYNC_SCHEDULE", "1s"),
    ("PAYGATE_REPAY_CUTOFF", "1s"),
    ("PAYGATE_PROVIDER_GRACE", "1s"),
    ("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s"),
];

/// A paygate whose demo merchant has Alipay configured against a simulator.
struct Alipay {
    app: TestApp,
    sim: AlipaySimulator,
}

fn fixture(name: &str) -> String {
    let path = SimConfig::fixture(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Stores the demo merchant's Alipay configuration against `sim`, in `mode`.
async fn configure_alipay(app: &TestApp, sim: &AlipaySimulator, mode: KeyMode) {
    let mut secrets = json!({"app_private_key": fixture("app_private_key.pem")});
    match mode {
        KeyMode::PublicKey => {
            secrets["alipay_public_key"] = json!(fixture("alipay_public_key.pem"))
        }
        KeyMode::Certificate => {
            secrets["app_cert"] = json!(fixture("app_cert.pem"));
            secrets["alipay_cert"] = json!(fixture("alipay_cert.pem"));
            secrets["alipay_root_cert"] = json!(fixture("alipay_root_cert.pem"));
        }
    }
    let body = json!({
        "settings": {"app_id": sim.config().app_id, "gateway": sim.gateway_url()},
        "secrets": secrets,
    });
    let r = app.put_provider("alipay", &body).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

async fn alipay_sim(mode: KeyMode) -> AlipaySimulator {
    let mut config = SimConfig::with_fixture_keys();
    // Alipay's retries (4 min, 10 min...) in a fraction of a second.
    config.time_scale = 1000.0;
    config.key_mode = mode;
    AlipaySimulator::spawn(config, "127.0.0.1:0")
        .await
        .expect("the simulator starts")
}

impl Alipay {
    async fn start(setting: Setting, extra: &[(&str, &str)], mode: KeyMode) -> Alipay {
        let sim = alipay_sim(mode).await;
        let vars: Vec<(&str, &str)> = FAST.iter().chain(extra).copied().collect();
        let app = TestApp::spawn_in(setting, &vars).await;
        configure_alipay(&app, &sim, mode).await;
        Alipay { app, sim }
    }

    /// Pays the order with Alipay's `precreate`: (status, payment).
    async fn precreate(&self, order_id: &str) -> (StatusCode, Value) {
        pay(&self.app, order_id, "alipay", "precreate").await
    }

    /// Creates an order and pays it by QR code: (order id, payment number, qr_code).
    async fn open_precreate(&self, amount: i64, ttl: i64) -> (String, String, String) {
        let order = self.app.create_order(amount, ttl).await;
        let id = order["id"].as_str().expect("id").to_owned();
        let (status, payment) = self.precreate(&id).await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");
        assert_eq!(payment["action"]["type"], "qr_code", "{payment}");
        let qr = payment["action"]["content"]
            .as_str()
            .expect("qr_code")
            .to_owned();
        (id, text(&payment["payment_no"]), qr)
    }

    async fn sim_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .simulator_post(&self.sim.base_url(), path, &body)
            .await
    }

    /// The buyer scans `qr` and pays, in the simulator.
    async fn buyer_pays(&self, payment_no: &str, qr: &str) -> Value {
        let (status, trade) = self
            .sim_post(
                &format!("/sim/trades/{payment_no}/pay"),
                json!({"qr_code": qr}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{trade}");
        trade
    }

    async fn trade(&self, payment_no: &str) -> Value {
        self.sim.trade(payment_no).await.unwrap_or(Value::Null)
    }

    async fn knobs(&self, knobs: Value) {
        self.app.simulator_knobs(&self.sim.base_url(), &knobs).await
    }

    async fn payment(&self, payment_no: &str) -> Value {
        payment_view(&self.app, payment_no).await
    }

    async fn refund(&self, payment_no: &str, amount: i64) -> Value {
        let r = self
            .app
            .post(
                &format!("/v1/payments/{payment_no}/refunds"),
                &self.app.merchant.api_key,
                &json!({"amount": amount}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.expect("refund JSON")
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("a string: {v}"))
        .to_owned()
}

async fn pay(app: &TestApp, order_id: &str, provider: &str, channel: &str) -> (StatusCode, Value) {
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [order_id], "provider": provider, "channel": channel}),
        )
        .await;
    let status = r.status();
    (status, r.json().await.expect("payment JSON"))
}

async fn payment_view(app: &TestApp, payment_no: &str) -> Value {
    app.get(&format!("/v1/payments/{payment_no}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("payment JSON")
}

/// Waits until `done(payment)` or 20 s; the last view.
async fn wait_for_payment(app: &TestApp, payment_no: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = payment_view(app, payment_no).await;
        if done(&p) || tokio::time::Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn precreate_scanned_and_paid_is_settled_by_the_notification(setting: Setting) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::PublicKey,
    )
    .await;
    let (id, payment_no, qr) = a.open_precreate(1234, 600).await;
    assert!(qr.starts_with("https://qr.alipay.com/"), "{qr}");
    let trade = a.trade(&payment_no).await;
    assert_eq!(
        trade["total_amount"], "12.34",
        "yuan, two decimals, from fen: {trade}"
    );
    a.buyer_pays(&payment_no, &qr).await;
    let order = a.app.wait_for_order_state(&id, "paid").await;
    assert_eq!(order["state"], "paid", "{order}");
    let payment = a.payment(&payment_no).await;
    assert_eq!(payment["paid_amount"], 1234);
    assert_eq!(
        payment["provider_trade_id"],
        a.trade(&payment_no).await["trade_no"]
    );
    assert!(
        a.sim.stats().await.notifications_acknowledged >= 1,
        "paygate answered `success`"
    );
}

async fn a_lost_notification_is_made_up_for_by_the_status_sync(setting: Setting) {
    let a = Alipay::start(setting, &[], KeyMode::PublicKey).await;
    a.knobs(json!({"drop_notifications": true})).await;
    let (id, payment_no, qr) = a.open_precreate(500, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    let order = a.app.wait_for_order_state(&id, "paid").await;
    assert_eq!(order["state"], "paid", "{order}");
    assert_eq!(a.sim.stats().await.notifications_sent, 0);
}

async fn the_deadline_closes_a_never_scanned_and_a_scanned_unpaid_trade(setting: Setting) {
    let a = Alipay::start(setting, &[], KeyMode::PublicKey).await;
    // Never scanned: the trade does not exist at Alipay; the order closes all the same.
    let (never, never_no, _) = a.open_precreate(300, 3).await;
    // Scanned, not paid: closed at Alipay first.
    let (scanned, scanned_no, qr) = a.open_precreate(400, 3).await;
    let (status, _) = a
        .sim_post(
            &format!("/sim/trades/{scanned_no}/scan"),
            json!({"qr_code": qr}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        a.app.wait_for_order_state(&never, "closed").await["state"],
        "closed"
    );
    assert_eq!(
        a.app.wait_for_order_state(&scanned, "closed").await["state"],
        "closed"
    );
    assert_eq!(a.trade(&scanned_no).await["trade_status"], "TRADE_CLOSED");
    assert_eq!(a.trade(&never_no).await["exists"], false);
}

async fn tampered_notifications_change_nothing(setting: Setting) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::PublicKey,
    )
    .await;
    a.knobs(json!({"drop_notifications": true})).await;
    let (id, payment_no, qr) = a.open_precreate(1000, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    for fault in [
        Fault::BadSignature,
        Fault::WrongAppId,
        Fault::WrongAmount,
        Fault::TamperedBody,
    ] {
        let (status, body) = a
            .sim
            .notify_now(&payment_no, fault)
            .await
            .expect("delivered");
        assert_ne!(body, "success", "{fault:?}: {status} {body}");
        assert_eq!(a.app.order(&id).await["state"], "pending", "{fault:?}");
    }
    let (status, body) = a
        .sim
        .notify_now(&payment_no, Fault::None)
        .await
        .expect("delivered");
    assert_eq!((status, body.as_str()), (200, "success"));
    assert_eq!(
        a.app.wait_for_order_state(&id, "paid").await["state"],
        "paid"
    );
}

async fn partial_and_full_refunds_and_the_notifications_that_follow(setting: Setting) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::PublicKey,
    )
    .await;
    let (id, payment_no, qr) = a.open_precreate(1000, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    a.app.wait_for_order_state(&id, "paid").await;

    // The payment's own notification is acknowledged before the count is taken: the
    // refund's may then arrive (and be acknowledged) before the refund call returns.
    let settled = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut stats = a.sim.stats().await;
    while stats.notifications_acknowledged < stats.notifications_sent
        && tokio::time::Instant::now() < settled
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = a.sim.stats().await;
    }
    let acked = stats.notifications_acknowledged;
    let partial = a.refund(&payment_no, 300).await;
    assert_eq!(partial["state"], "succeeded", "{partial}");
    assert_eq!(a.trade(&payment_no).await["refund_fee"], "3.00");
    // Alipay notifies TRADE_SUCCESS with refund_fee: acknowledged, not a new payment.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.sim.stats().await.notifications_acknowledged <= acked
        && tokio::time::Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        a.sim.stats().await.notifications_acknowledged > acked,
        "acknowledged"
    );
    assert_eq!(a.app.order(&id).await["state"], "paid");

    let full = a.refund(&payment_no, 700).await;
    assert_eq!(full["state"], "succeeded", "{full}");
    let order = a.app.wait_for_order_state(&id, "refunded").await;
    assert_eq!(order["state"], "refunded", "{order}");
    // The TRADE_CLOSED that follows a full refund is not "closed unpaid".
    let trade = a.trade(&payment_no).await;
    assert_eq!(trade["trade_status"], "TRADE_CLOSED", "{trade}");
    let payment = wait_for_payment(&a.app, &payment_no, |p| p["refunded_amount"] == 1000).await;
    assert_eq!(payment["refunded_amount"], 1000, "{payment}");
    assert_eq!(payment["flag"], Value::Null, "{payment}");
    let stats = a.sim.stats().await;
    assert_eq!(
        stats.notifications_sent, stats.notifications_acknowledged,
        "{stats:?}"
    );
    assert_eq!(a.app.order(&id).await["state"], "refunded");
}

async fn a_merchant_in_certificate_mode_pays_and_refunds(setting: Setting) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::Certificate,
    )
    .await;
    let (id, payment_no, qr) = a.open_precreate(880, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    assert_eq!(
        a.app.wait_for_order_state(&id, "paid").await["state"],
        "paid"
    );
    let refund = a.refund(&payment_no, 80).await;
    assert_eq!(refund["state"], "succeeded", "{refund}");
}

/// The key as Alipay's key tool and console hand it out: the base64 body, no PEM armour.
fn bare_base64(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn keys_in_alipays_bare_base64_are_taken_and_a_broken_one_is_refused_naming_it() {
    let sim = alipay_sim(KeyMode::PublicKey).await;
    let app = TestApp::spawn_in(Setting::Embedded, FAST).await;
    let put = |secrets: Value| {
        let body = json!({
            "settings": {"app_id": sim.config().app_id, "gateway": sim.gateway_url()},
            "secrets": secrets,
        });
        let app = &app;
        async move { app.put_provider("alipay", &body).await }
    };
    let broken = put(json!({
        "app_private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-key",
        "alipay_public_key": bare_base64(&fixture("alipay_public_key.pem")),
    }))
    .await;
    let message =
        paygate_e2e::assert_error(broken, StatusCode::UNPROCESSABLE_ENTITY, "invalid_secret").await;
    assert!(message.contains("app_private_key"), "{message}");

    let r = put(json!({
        "app_private_key": bare_base64(&fixture("app_private_key.pem")),
        "alipay_public_key": bare_base64(&fixture("alipay_public_key.pem")),
    }))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let a = Alipay { app, sim };
    let (id, payment_no, qr) = a.open_precreate(250, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    assert_eq!(
        a.app.wait_for_order_state(&id, "paid").await["state"],
        "paid"
    );
}

async fn a_merchant_moves_from_public_key_to_certificates_by_removing_the_public_key(
    setting: Setting,
) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::PublicKey,
    )
    .await;
    // The gateway now wants certificates (the merchant switched in Alipay's console).
    let sim = alipay_sim(KeyMode::Certificate).await;
    let put = |secrets: Value| {
        let body = json!({
            "settings": {"app_id": sim.config().app_id, "gateway": sim.gateway_url()},
            "secrets": secrets,
        });
        let app = &a.app;
        async move { app.put_provider("alipay", &body).await }
    };
    let r = put(json!({
        "app_cert": fixture("app_cert.pem"),
        "alipay_cert": fixture("alipay_cert.pem"),
        "alipay_root_cert": fixture("alipay_root_cert.pem"),
        "alipay_public_key": null,
    }))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = r.json().await.expect("JSON");
    assert_eq!(
        stored["secret_names"],
        json!([
            "alipay_cert",
            "alipay_root_cert",
            "app_cert",
            "app_private_key"
        ]),
        "{stored}"
    );
    let a = Alipay { app: a.app, sim };
    let (id, payment_no, qr) = a.open_precreate(660, 600).await;
    a.buyer_pays(&payment_no, &qr).await;
    assert_eq!(
        a.app.wait_for_order_state(&id, "paid").await["state"],
        "paid"
    );
}

/// A paygate whose demo merchant has both WeChat Pay and Alipay, against their simulators.
async fn both_wallets(setting: Setting) -> (TestApp, WechatSimulator, AlipaySimulator) {
    let mut wechat = wechat_simulator::SimConfig::with_fixture_keys();
    wechat.time_scale = 1000.0;
    let wechat = WechatSimulator::spawn(wechat, "127.0.0.1:0")
        .await
        .expect("WeChat simulator");
    let alipay = alipay_sim(KeyMode::PublicKey).await;
    let app = TestApp::spawn_in(setting, FAST).await;
    configure_wechat(
        &app,
        &wechat.base_url(),
        PlatformKeys::PublicKey,
        "merchant_private_key.pem",
    )
    .await;
    configure_alipay(&app, &alipay, KeyMode::PublicKey).await;
    (app, wechat, alipay)
}

async fn a_customer_switching_from_wechat_to_alipay_is_charged_once(setting: Setting) {
    let (app, wechat, alipay) = both_wallets(setting).await;
    let order = app.create_order(2599, 600).await;
    let id = text(&order["id"]);
    let (status, first) = pay(&app, &id, "wechat", "native").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let wechat_no = text(&first["payment_no"]);

    // Not enough balance in WeChat: the customer comes back and picks Alipay.
    let (status, second) = pay(&app, &id, "alipay", "precreate").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let alipay_no = text(&second["payment_no"]);
    assert_ne!(alipay_no, wechat_no);
    let closed = wechat.trade(&wechat_no).await.expect("the WeChat trade");
    assert_eq!(
        closed["trade_state"], "CLOSED",
        "closed at WeChat first: {closed}"
    );

    let qr = text(&second["action"]["content"]);
    let options = alipay_simulator::PayOptions { qr_code: Some(qr) };
    alipay
        .pay(&alipay_no, options)
        .await
        .expect("paid at Alipay");
    assert_eq!(app.wait_for_order_state(&id, "paid").await["state"], "paid");
    // One charge: the WeChat trade can no longer be paid.
    let refused = wechat.pay(&wechat_no, Default::default()).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(payment_view(&app, &wechat_no).await["state"], "closed");
    assert_eq!(payment_view(&app, &alipay_no).await["state"], "paid");
}

async fn a_switch_to_alipay_finds_the_wechat_trade_paid_and_starts_nothing(setting: Setting) {
    let (app, wechat, alipay) = both_wallets(setting).await;
    wechat
        .set_knobs(wechat_simulator::Knobs {
            drop_notifications: true,
            ..Default::default()
        })
        .await;
    let order = app.create_order(1800, 600).await;
    let id = text(&order["id"]);
    let (_, first) = pay(&app, &id, "wechat", "native").await;
    let wechat_no = text(&first["payment_no"]);
    // The customer did pay in WeChat; paygate has not heard yet.
    wechat
        .pay(&wechat_no, Default::default())
        .await
        .expect("paid at WeChat");

    let (status, body) = pay(&app, &id, "alipay", "precreate").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "order_paid", "{body}");
    assert_eq!(app.order(&id).await["state"], "paid");
    assert_eq!(
        alipay.stats().await.requests.get("alipay.trade.precreate"),
        None,
        "no Alipay trade was started"
    );
}

in_both_settings!(
    precreate_scanned_and_paid_is_settled_by_the_notification,
    a_lost_notification_is_made_up_for_by_the_status_sync,
    the_deadline_closes_a_never_scanned_and_a_scanned_unpaid_trade,
    tampered_notifications_change_nothing,
    partial_and_full_refunds_and_the_notifications_that_follow,
    a_merchant_in_certificate_mode_pays_and_refunds,
    a_merchant_moves_from_public_key_to_certificates_by_removing_the_public_key,
    a_customer_switching_from_wechat_to_alipay_is_charged_once,
    a_switch_to_alipay_finds_the_wechat_trade_paid_and_starts_nothing,
);
