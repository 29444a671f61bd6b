//! WeChat Pay end to end: paygate's REST API -> the real `wechat` wasm component -> real
//! HTTP -> the WeChat Pay simulator (`simulators/wechat`), which verifies every request
//! signature, signs every answer, and sends AEAD_AES_256_GCM-encrypted notifications back
//! to paygate. Nothing is mocked between the merchant's call and the simulator.

use std::time::Duration;

use paygate_e2e::{Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat_simulator::{SimConfig, WechatSimulator};

pub(crate) mod bills;
mod field;
mod queue_loss;

/// Fast schedules, so the rules show within seconds.
const FAST: &[(&str, &str)] = &[
    ("PAYGATE_STATUS_SYNC_SCHEDULE", "1s"),
    ("PAYGATE_REPAY_CUTOFF", "1s"),
    ("PAYGATE_PROVIDER_GRACE", "1s"),
    ("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s"),
];

/// A paygate whose demo merchant has WeChat Pay configured against a simulator.
struct Wechat {
    app: TestApp,
    sim: WechatSimulator,
}

/// Which of WeChat's platform keys the merchant's configuration holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlatformKeys {
    /// The WeChat Pay public key (id + key): today's accounts.
    PublicKey,
    /// The platform certificate: older accounts.
    Certificates,
    /// Both, while the merchant moves from the certificate to the public key.
    Both,
}

fn fixture(name: &str) -> String {
    let path = SimConfig::fixture_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Stores the demo merchant's WeChat configuration against the simulator at `base_url`: the
/// fixture merchant, `keys`, and the merchant private key of fixture file `private_key`
/// (`other_private_key.pem` is a key WeChat does not know: every request then fails its
/// signature check).
pub(crate) async fn configure_wechat(
    app: &TestApp,
    base_url: &str,
    keys: PlatformKeys,
    private_key: &str,
) {
    let config = SimConfig::with_fixture_keys();
    let mut settings = json!({
        "mchid": config.mchid,
        "appid": config.appid,
        "merchant_serial_no": config.merchant_serial_no,
        "api_base": base_url,
    });
    let mut secrets = json!({
        "merchant_private_key": fixture(private_key),
        "apiv3_key": fixture("apiv3_key.txt"),
    });
    if keys != PlatformKeys::Certificates {
        settings["platform_public_key_id"] = json!(config.platform_public_key_id);
        secrets["platform_public_key"] = json!(fixture("platform_public_key.pem"));
    }
    if keys != PlatformKeys::PublicKey {
        secrets["platform_certificates"] = json!(fixture("platform_certificate.pem"));
    }
    let body = json!({"settings": settings, "secrets": secrets});
    // A key WeChat does not know is broken on purpose: stored untested, as its test fails.
    let r = if private_key == "merchant_private_key.pem" {
        app.put_provider("wechat", &body).await
    } else {
        app.put_provider_untested("wechat", &body).await
    };
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

impl Wechat {
    async fn start(setting: Setting, extra: &[(&str, &str)]) -> Wechat {
        let mut config = SimConfig::with_fixture_keys();
        // WeChat's notification retries (15 s, 15 s, 30 s...) in milliseconds.
        config.time_scale = 1000.0;
        Wechat::start_with(setting, extra, config, PlatformKeys::PublicKey).await
    }

    /// A simulator with `config`, and a paygate whose demo merchant holds `keys`.
    async fn start_with(
        setting: Setting,
        extra: &[(&str, &str)],
        config: SimConfig,
        keys: PlatformKeys,
    ) -> Wechat {
        let sim = WechatSimulator::spawn(config, "127.0.0.1:0")
            .await
            .expect("the simulator starts");
        let vars: Vec<(&str, &str)> = FAST.iter().chain(extra).copied().collect();
        let app = TestApp::spawn_in(setting, &vars).await;
        let w = Wechat { app, sim };
        w.configure(keys, "merchant_private_key.pem").await;
        w
    }

    /// See [`configure_wechat`].
    async fn configure(&self, keys: PlatformKeys, private_key: &str) {
        configure_wechat(&self.app, &self.sim.base_url(), keys, private_key).await
    }

    /// Starts paying `order_id` through WeChat Pay's `channel`.
    async fn pay(&self, order_id: &str, channel: &str, payer: Value) -> (StatusCode, Value) {
        let r = self
            .app
            .post(
                "/v1/payments",
                &self.app.merchant.api_key,
                &json!({"order_ids": [order_id], "provider": "wechat", "channel": channel, "payer": payer}),
            )
            .await;
        let status = r.status();
        (status, r.json().await.expect("payment JSON"))
    }

    /// A paygate that hears nothing from WeChat by itself: notifications are dropped and
    /// the status sync waits a minute, so only what a test sends (or asks) happens.
    async fn unheard() -> Wechat {
        let w = Wechat::start(
            Setting::Embedded,
            &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        )
        .await;
        w.knobs(json!({"drop_notifications": true})).await;
        w
    }

    /// Creates an order of `amount` fen, pays it natively, and the customer pays the trade
    /// in the simulator: (order id, payment number).
    async fn order_paid_at_wechat(&self, amount: i64) -> (String, String) {
        let order = self.app.create_order(amount, 600).await;
        let id = order["id"].as_str().expect("id").to_owned();
        let (payment_no, _) = self.pay_native(&id).await;
        self.customer_pays(&payment_no).await;
        (id, payment_no)
    }

    /// Pays natively and returns (payment number, code_url).
    async fn pay_native(&self, order_id: &str) -> (String, String) {
        let (status, payment) = self.pay(order_id, "native", json!(null)).await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");
        assert_eq!(payment["action"]["type"], "qr_code", "{payment}");
        let code_url = payment["action"]["content"].as_str().expect("code_url");
        assert!(
            code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
            "{code_url}"
        );
        (
            payment["payment_no"]
                .as_str()
                .expect("payment_no")
                .to_owned(),
            code_url.to_owned(),
        )
    }

    async fn payment(&self, payment_no: &str) -> Value {
        self.app
            .get(
                &format!("/v1/payments/{payment_no}"),
                &self.app.merchant.api_key,
            )
            .await
            .json()
            .await
            .expect("payment JSON")
    }

    async fn sim_get(&self, path: &str) -> Value {
        let r = self
            .app
            .client
            .get(format!("{}{path}", self.sim.base_url()))
            .send()
            .await
            .expect("simulator");
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.expect("simulator JSON")
    }

    async fn sim_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .simulator_post(&self.sim.base_url(), path, &body)
            .await
    }

    /// The simulator's view of a trade: state, counters, notifications.
    async fn trade(&self, payment_no: &str) -> Value {
        self.sim_get(&format!("/sim/trades/{payment_no}")).await
    }

    /// The payer scans the code and pays, in the simulator.
    async fn customer_pays(&self, payment_no: &str) -> Value {
        let (status, trade) = self
            .sim_post(&format!("/sim/trades/{payment_no}/pay"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{trade}");
        trade
    }

    async fn knobs(&self, knobs: Value) {
        self.app.simulator_knobs(&self.sim.base_url(), &knobs).await
    }

    /// Has the simulator send one notification of the trade now, with `fault`; returns
    /// paygate's reply.
    async fn notify_now(&self, payment_no: &str, body: Value) -> (u16, String) {
        let (status, reply) = self
            .sim_post(&format!("/sim/trades/{payment_no}/notify"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        (
            u16::try_from(reply["status"].as_u64().expect("reply status")).expect("u16"),
            reply["body"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Waits until the simulator's trade satisfies `done`, or 20 s.
    async fn wait_for_trade(&self, payment_no: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let trade = self.trade(payment_no).await;
            if done(&trade) || tokio::time::Instant::now() > deadline {
                return trade;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn native_pay_scanned_and_paid_is_settled_by_the_encrypted_notification(setting: Setting) {
    let w = Wechat::start(setting, &[]).await;
    let order = w.app.create_order(1234, 600).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, code_url) = w.pay_native(id).await;

    let trade = w.trade(&payment_no).await;
    assert_eq!(trade["trade_state"], "NOTPAY", "{trade}");
    assert_eq!(trade["code_url"], json!(code_url));
    assert_eq!(
        trade["amount"]["total"], 1234,
        "the amount in fen, from paygate's database"
    );
    // The deadline WeChat closes the trade at is the payment's, in Beijing time.
    let payment = w.payment(&payment_no).await;
    let deadline = time::OffsetDateTime::parse(
        payment["provider_deadline"].as_str().expect("deadline"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let sent = trade["time_expire"].as_str().expect("time_expire");
    assert!(sent.ends_with("+08:00"), "{sent}");
    // Whole seconds, rounded up: WeChat never closes before paygate's deadline.
    let deadline_ms = i64::try_from(deadline.unix_timestamp_nanos() / 1_000_000).expect("ms");
    assert_eq!(
        time::OffsetDateTime::parse(sent, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
            .unix_timestamp(),
        (deadline_ms + 999).div_euclid(1000)
    );
    assert!(trade["notify_url"]
        .as_str()
        .expect("notify_url")
        .ends_with(&format!("/v1/notify/wechat/{}", w.app.merchant.id)));

    let paid = w.customer_pays(&payment_no).await;
    let order = w.app.wait_for_order_state(id, "paid").await;
    assert_eq!(order["state"], "paid", "{order}");
    let payment = w.payment(&payment_no).await;
    assert_eq!(payment["state"], "paid");
    assert_eq!(payment["provider_trade_id"], paid["transaction_id"]);
    // WeChat got the success reply it expects: 204, and nothing to retry.
    let trade = w
        .wait_for_trade(&payment_no, |t| {
            t["notifications"].as_array().is_some_and(|n| !n.is_empty())
        })
        .await;
    let notifications = trade["notifications"].as_array().expect("notifications");
    assert_eq!(notifications.len(), 1, "{trade}");
    assert_eq!(notifications[0]["status"], 204, "{trade}");
    assert_eq!(
        trade["counters"]["queries"], 0,
        "nothing needed a query: {trade}"
    );
}

async fn dropped_notification_is_made_up_for_by_the_status_sync(setting: Setting) {
    let w = Wechat::start(setting, &[]).await;
    w.knobs(json!({"drop_notifications": true})).await;
    let (id, payment_no) = w.order_paid_at_wechat(800).await;
    let id = id.as_str();
    let order = w.app.wait_for_order_state(id, "paid").await;
    assert_eq!(order["state"], "paid", "the status sync queried WeChat Pay");
    let trade = w.trade(&payment_no).await;
    assert!(
        trade["counters"]["queries"].as_i64().unwrap_or(0) >= 1,
        "{trade}"
    );
    assert!(
        trade["notifications"]
            .as_array()
            .expect("notifications")
            .iter()
            .all(|n| n["dropped"] == true),
        "no notification reached paygate: {trade}"
    );
}

async fn nobody_pays_and_the_deadline_closes_the_trade_at_wechat(setting: Setting) {
    let w = Wechat::start(setting, &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")]).await;
    let order = w.app.create_order(500, 2).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, _) = w.pay_native(id).await;
    let order = w.app.wait_for_order_state(id, "closed").await;
    assert_eq!(order["state"], "closed", "{order}");
    let trade = w.trade(&payment_no).await;
    assert_eq!(trade["trade_state"], "CLOSED", "{trade}");
    assert_eq!(
        trade["counters"]["closes"], 1,
        "closed at WeChat by paygate: {trade}"
    );
    assert_eq!(
        trade["counters"]["queries"], 1,
        "queried once at the deadline: {trade}"
    );
    assert_eq!(w.payment(&payment_no).await["state"], "closed");
}

in_both_settings!(
    native_pay_scanned_and_paid_is_settled_by_the_encrypted_notification,
    dropped_notification_is_made_up_for_by_the_status_sync,
    nobody_pays_and_the_deadline_closes_the_trade_at_wechat,
    refund_of_a_paid_payment_goes_back_through_wechat,
);

#[tokio::test]
async fn repay_returns_the_same_code_url() {
    let w = Wechat::start(Setting::Embedded, &[]).await;
    let order = w.app.create_order(990, 600).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, code_url) = w.pay_native(id).await;
    let (again_no, again_url) = w.pay_native(id).await;
    assert_eq!(
        (again_no.as_str(), again_url.as_str()),
        (payment_no.as_str(), code_url.as_str())
    );
    assert_eq!(w.trade(&payment_no).await["counters"]["pay_requests"], 1);
}

#[tokio::test]
async fn an_answer_signed_with_the_wrong_key_is_refused_and_the_next_call_asks_under_the_same_number(
) {
    let w = Wechat::start(Setting::Embedded, &[]).await;
    let order = w.app.create_order(990, 600).await;
    let id = order["id"].as_str().expect("id");
    w.knobs(json!({"wrong_response_signature": true})).await;
    let (status, body) = w.pay(id, "native", json!(null)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "provider_unreachable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not trusted"), "{message}");
    let payment_no = w.app.order(id).await["open_payment_no"]
        .as_str()
        .expect("the payment stays open: WeChat may have opened the trade")
        .to_owned();
    // WeChat did open the trade; paygate never believed the answer that said so.
    let trade = w.trade(&payment_no).await;
    assert_eq!(trade["trade_state"], "NOTPAY");

    w.knobs(json!({"wrong_response_signature": false})).await;
    let (again_no, code_url) = w.pay_native(id).await;
    assert_eq!(again_no, payment_no, "the same trade number is asked again");
    let trade = w.trade(&payment_no).await;
    assert_eq!(
        trade["code_url"],
        json!(code_url),
        "same out_trade_no and parameters: WeChat accepts it again, with a fresh code_url"
    );
    assert_eq!(trade["counters"]["pay_requests"], 2, "{trade}");
}

#[tokio::test]
async fn tampered_notifications_change_nothing_and_get_a_fail_reply() {
    let w = Wechat::unheard().await;
    let (id, payment_no) = w.order_paid_at_wechat(1500).await;
    let id = id.as_str();

    for fault in [
        "bad_signature",
        "stale_timestamp",
        "undecryptable",
        "signtest",
        "wrong_serial",
    ] {
        let (status, body) = w.notify_now(&payment_no, json!({"fault": fault})).await;
        assert!((400..600).contains(&status), "{fault}: {status} {body}");
        let reply: Value = serde_json::from_str(&body).expect("a JSON reply");
        assert_eq!(reply["code"], "FAIL", "{fault}: {body}");
        assert_eq!(
            w.app.order(id).await["state"],
            "pending",
            "{fault} changed nothing"
        );
    }
    // WeChat itself reporting another amount: recorded, flagged, never paid, not acknowledged.
    let (status, body) = w
        .notify_now(&payment_no, json!({"fault": "none", "amount_total": 1}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["code"],
        "FAIL"
    );
    assert_eq!(w.app.order(id).await["state"], "pending");
    assert_eq!(w.payment(&payment_no).await["flag"], "amount_mismatch");
}

#[tokio::test]
async fn a_genuine_notification_after_refused_ones_is_acknowledged_with_204() {
    let w = Wechat::unheard().await;
    let (id, payment_no) = w.order_paid_at_wechat(1500).await;
    let id = id.as_str();
    let (status, _) = w
        .notify_now(&payment_no, json!({"fault": "bad_signature"}))
        .await;
    assert_eq!(status, 401);
    let (status, body) = w.notify_now(&payment_no, json!({"fault": "none"})).await;
    assert_eq!(
        (status, body.as_str()),
        (204, ""),
        "WeChat's success reply: 204, no body"
    );
    assert_eq!(w.app.order(id).await["state"], "paid");
    // A retry of the same notification is acknowledged again and changes nothing.
    let (status, _) = w.notify_now(&payment_no, json!({"fault": "none"})).await;
    assert_eq!(status, 204);
    let events: Value = w
        .app
        .get(&format!("/v1/orders/{id}/events"), &w.app.merchant.api_key)
        .await
        .json()
        .await
        .expect("events");
    assert_eq!(
        events.as_array().map(Vec::len),
        Some(1),
        "one order.paid event: {events}"
    );
}

#[tokio::test]
async fn cancel_of_an_order_paid_at_wechat_learns_the_truth_by_querying() {
    let w = Wechat::unheard().await;
    let (id, payment_no) = w.order_paid_at_wechat(700).await;
    let id = id.as_str();
    // paygate has heard nothing; the merchant cancels; WeChat refuses to close a paid trade.
    let r = w
        .app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &w.app.merchant.api_key,
            &json!({}),
        )
        .await;
    paygate_e2e::assert_error(r, StatusCode::CONFLICT, "order_paid").await;
    assert_eq!(
        w.app.order(id).await["state"],
        "paid",
        "settled from the query's answer"
    );
    let trade = w.trade(&payment_no).await;
    assert_eq!(trade["trade_state"], "SUCCESS");
    assert_eq!(
        (
            trade["counters"]["closes"].clone(),
            trade["counters"]["queries"].clone()
        ),
        (json!(1), json!(1))
    );
}

async fn refund_of_a_paid_payment_goes_back_through_wechat(setting: Setting) {
    let w = Wechat::start(setting, &[]).await;
    let (id, payment_no) = w.order_paid_at_wechat(1000).await;
    let id = id.as_str();
    w.app.wait_for_order_state(id, "paid").await;

    let r = w
        .app
        .post(
            &format!("/v1/payments/{payment_no}/refunds"),
            &w.app.merchant.api_key,
            &json!({"amount": 300, "reason": "damaged"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let refund: Value = r.json().await.expect("refund JSON");
    assert_eq!(
        (refund["state"].clone(), refund["amount"].clone()),
        (json!("succeeded"), json!(300)),
        "{refund}"
    );
    let trade = w.trade(&payment_no).await;
    assert_eq!(trade["trade_state"], "REFUND", "{trade}");
    let refunds = trade["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "{trade}");
    assert_eq!(refunds[0]["out_refund_no"], refund["refund_no"], "{trade}");
    assert_eq!(refunds[0]["amount"]["refund"], 300, "{trade}");
    assert_eq!(
        w.app.order(id).await["state"],
        "paid",
        "a partial refund keeps the order paid"
    );
}

#[tokio::test]
async fn a_refund_wechat_is_still_processing_is_asked_about_not_submitted_again() {
    let w = Wechat::start(Setting::Embedded, &[]).await;
    w.knobs(json!({"refund_processing_ms": 500})).await;
    let (id, payment_no) = w.order_paid_at_wechat(1000).await;
    let id = id.as_str();
    w.app.wait_for_order_state(id, "paid").await;
    // Only paygate's own asking can settle the refund now.
    w.knobs(json!({"refund_processing_ms": 500, "drop_notifications": true}))
        .await;
    let r = w
        .app
        .post(
            &format!("/v1/payments/{payment_no}/refunds"),
            &w.app.merchant.api_key,
            &json!({"amount": 1000}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let refund: Value = r.json().await.expect("refund JSON");
    assert_eq!(
        refund["state"], "pending",
        "WeChat answered PROCESSING: {refund}"
    );
    let order = w.app.wait_for_order_state(id, "refunded").await;
    assert_eq!(order["state"], "refunded", "{order}");
    let trade = w.trade(&payment_no).await;
    assert_eq!(
        trade["refunds"].as_array().map(Vec::len),
        Some(1),
        "asked again, refunded once: {trade}"
    );
    let requests = w.sim.stats().await.requests;
    assert_eq!(
        requests.get("POST /v3/refund/domestic/refunds"),
        Some(&1),
        "{requests:?}"
    );
    assert!(
        requests
            .get("GET /v3/refund/domestic/refunds/{no}")
            .is_some_and(|n| *n >= 1),
        "the refund query settled it: {requests:?}"
    );
}

#[tokio::test]
async fn jsapi_and_h5_channels_return_what_the_payer_needs() {
    use base64::Engine;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    let w = Wechat::start(Setting::Embedded, &[]).await;
    let order = w.app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = w.pay(id, "jsapi", json!(null)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("open_id"),
        "{body}"
    );

    let (status, payment) = w
        .pay(
            id,
            "jsapi",
            json!({"open_id": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let params = &payment["action"]["params"];
    assert_eq!(payment["action"]["type"], "sdk_params");
    let trade = w.trade(payment["payment_no"].as_str().expect("no")).await;
    assert_eq!(
        params["package"],
        json!(format!(
            "prepay_id={}",
            trade["prepay_id"].as_str().expect("prepay_id")
        ))
    );
    assert_eq!(params["signType"], "RSA");
    assert_eq!(params["appId"], json!(SimConfig::with_fixture_keys().appid));
    // paySign verifies with the merchant's public key over appId\ntimeStamp\nnonceStr\npackage\n.
    let message = format!(
        "{}\n{}\n{}\n{}\n",
        params["appId"].as_str().expect("appId"),
        params["timeStamp"].as_str().expect("timeStamp"),
        params["nonceStr"].as_str().expect("nonceStr"),
        params["package"].as_str().expect("package"),
    );
    let key =
        VerifyingKey::<sha2::Sha256>::from_public_key_pem(&fixture("merchant_public_key.pem"))
            .expect("merchant public key");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(params["paySign"].as_str().expect("paySign"))
        .expect("base64");
    key.verify(
        message.as_bytes(),
        &Signature::try_from(signature.as_slice()).expect("signature"),
    )
    .expect("paySign verifies");

    let other = w.app.create_order(300, 600).await;
    let (status, payment) = w
        .pay(
            other["id"].as_str().expect("id"),
            "h5",
            json!({"client_ip": "203.0.113.7"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["action"]["type"], "redirect");
    let trade = w.trade(payment["payment_no"].as_str().expect("no")).await;
    assert_eq!(payment["action"]["url"], trade["h5_url"]);
}

#[tokio::test]
async fn wechat_trouble_is_an_unknown_outcome_and_a_retry_succeeds() {
    let w = Wechat::start(Setting::Embedded, &[]).await;
    let order = w.app.create_order(450, 600).await;
    let id = order["id"].as_str().expect("id");
    w.knobs(json!({"fail_next": 1})).await;
    let (status, body) = w.pay(id, "native", json!(null)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!("provider_unreachable")
        ),
        "{body}"
    );
    // Too slow for paygate's HTTP timeout (2 s): also unknown, never a failure.
    w.knobs(json!({"delay_ms": 3000})).await;
    let (status, body) = w.pay(id, "native", json!(null)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!("provider_unreachable")
        ),
        "{body}"
    );
    w.knobs(json!({"delay_ms": 0})).await;
    let (payment_no, code_url) = w.pay_native(id).await;
    assert_eq!(w.trade(&payment_no).await["code_url"], json!(code_url));
}

#[tokio::test]
async fn a_wechat_configuration_is_checked_when_it_is_stored_and_secrets_stay_write_only() {
    let app = TestApp::spawn().await;
    let sim = SimConfig::with_fixture_keys();
    // Untested: the default api_base is WeChat Pay itself, out of reach here.
    let put = |settings: Value, secrets: Value| {
        let app = &app;
        async move {
            app.put_provider_untested("wechat", &json!({"settings": settings, "secrets": secrets}))
                .await
        }
    };
    let settings = json!({"mchid": sim.mchid, "appid": sim.appid,
        "merchant_serial_no": sim.merchant_serial_no, "platform_public_key_id": sim.platform_public_key_id});
    let secrets = json!({"merchant_private_key": fixture("merchant_private_key.pem"),
        "platform_public_key": fixture("platform_public_key.pem"), "apiv3_key": fixture("apiv3_key.txt")});

    let mut missing = settings.clone();
    missing.as_object_mut().expect("object").remove("mchid");
    let message = paygate_e2e::assert_error(
        put(missing, secrets.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_setting",
    )
    .await;
    assert!(message.contains("mchid"), "{message}");

    for (name, value) in [
        ("merchant_private_key", fixture("merchant_public_key.pem")),
        (
            "platform_public_key",
            "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----".to_owned(),
        ),
        ("apiv3_key", "too short".to_owned()),
        // A public key where certificates belong.
        ("platform_certificates", fixture("platform_public_key.pem")),
    ] {
        let mut bad = secrets.clone();
        bad[name] = json!(value);
        let message = paygate_e2e::assert_error(
            put(settings.clone(), bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_secret",
        )
        .await;
        assert!(message.contains(name), "{name}: {message}");
    }
    let mut plain_http = settings.clone();
    plain_http["api_base"] = json!("http://api.mch.weixin.qq.com");
    paygate_e2e::assert_error(
        put(plain_http, secrets.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_setting",
    )
    .await;

    let r = put(settings, secrets).await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = app
        .get(
            &format!("/admin/merchants/{}/providers/wechat", app.merchant.id),
            ADMIN_TOKEN,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        stored["settings"]["api_base"], "https://api.mch.weixin.qq.com",
        "the default is stored"
    );
    assert_eq!(
        stored["secret_names"],
        json!(["apiv3_key", "merchant_private_key", "platform_public_key"])
    );
    let text = stored.to_string();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(&fixture("apiv3_key.txt")),
        "{text}"
    );
}
