//! WeChat Pay as it behaves in the field, through paygate's REST API: payer-bound actions,
//! unsigned refusals, action lifetimes, platform certificates and the migration to the public
//! key, and a merchant whose key breaks after a payment was opened. Each case failed on the
//! code before contract 2.0.0.

use std::time::Duration;

use paygate_e2e::{Setting, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat_simulator::{SimConfig, Verification, PLATFORM_CERTIFICATE_SERIAL};

use super::{PlatformKeys, Wechat};

/// The simulator with WeChat's retries in milliseconds and the platform keys of `mode`.
fn sim_config(mode: Verification) -> SimConfig {
    let mut config = SimConfig::with_fixture_keys();
    config.time_scale = 1000.0;
    config.verification = mode;
    config
}

impl Wechat {
    /// The payer pays through `action` (a prepay_id, code_url or h5_url), with the payer's
    /// `openid` / `client_ip`: the simulator's status and answer.
    async fn pay_through(&self, payment_no: &str, options: Value) -> (StatusCode, Value) {
        self.sim_post(&format!("/sim/trades/{payment_no}/pay"), options)
            .await
    }

    /// The events of an order, oldest first.
    async fn events(&self, order_id: &str) -> Vec<String> {
        let events: Value = self
            .app
            .get(
                &format!("/v1/orders/{order_id}/events"),
                &self.app.merchant.api_key,
            )
            .await
            .json()
            .await
            .expect("events JSON");
        events
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e["type"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /admin/flags`, as an operator sees it.
    async fn flags(&self) -> Value {
        self.app
            .get("/admin/flags", ADMIN_TOKEN)
            .await
            .json()
            .await
            .expect("flags JSON")
    }
}

/// The `prepay_id` inside JSAPI's `package` parameter (`prepay_id=wx...`).
fn prepay_id(payment: &Value) -> String {
    payment["action"]["params"]["package"]
        .as_str()
        .and_then(|p| p.strip_prefix("prepay_id="))
        .unwrap_or_else(|| panic!("a JSAPI action: {payment}"))
        .to_owned()
}

fn payment_no(payment: &Value) -> String {
    payment["payment_no"]
        .as_str()
        .unwrap_or_else(|| panic!("a payment: {payment}"))
        .to_owned()
}

async fn another_payer_gets_a_new_payment_and_the_first_prepay_is_closed(setting: Setting) {
    let w = Wechat::start(setting, &[]).await;
    let order = w.app.create_order(880, 600).await;
    let id = order["id"].as_str().expect("id");

    let (status, first) = w.pay(id, "jsapi", json!({"open_id": "oA-payer"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The same payer again: the stored prepay is hers, and still alive.
    let (_, again) = w.pay(id, "jsapi", json!({"open_id": "oA-payer"})).await;
    assert_eq!(again["reused"], true, "{again}");
    assert_eq!(prepay_id(&again), prepay_id(&first));

    // A shared link: another WeChat user opens the same order.
    let (status, second) = w.pay(id, "jsapi", json!({"open_id": "oB-payer"})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(
        second["reused"], false,
        "payer B never gets payer A's prepay"
    );
    assert_ne!(
        payment_no(&second),
        payment_no(&first),
        "a new payment number"
    );
    assert_ne!(prepay_id(&second), prepay_id(&first));
    let old = w.trade(&payment_no(&first)).await;
    assert_eq!(
        old["trade_state"], "CLOSED",
        "the first trade closed at WeChat: {old}"
    );

    // Payer B pays through her own prepay; A's is dead.
    let (status, refused) = w
        .pay_through(
            &payment_no(&first),
            json!({"action": prepay_id(&first), "openid": "oA-payer"}),
        )
        .await;
    assert_ne!(status, StatusCode::OK, "{refused}");
    let (status, paid) = w
        .pay_through(
            &payment_no(&second),
            json!({"action": prepay_id(&second), "openid": "oB-payer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    w.app.wait_for_order_state(id, "paid").await;
}

async fn an_h5_link_is_never_handed_to_another_network(setting: Setting) {
    let w = Wechat::start(setting, &[]).await;
    let order = w.app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = w.pay(id, "h5", json!({"client_ip": "203.0.113.7"})).await;
    let (_, second) = w.pay(id, "h5", json!({"client_ip": "198.51.100.9"})).await;
    assert_eq!(second["reused"], false, "{second}");
    assert_ne!(payment_no(&second), payment_no(&first));
    assert_eq!(w.trade(&payment_no(&first)).await["trade_state"], "CLOSED");
    let (status, _) = w
        .pay_through(
            &payment_no(&second),
            json!({"action": second["action"]["url"], "client_ip": "198.51.100.9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    w.app.wait_for_order_state(id, "paid").await;
}

async fn an_unsigned_sign_error_is_a_502_naming_it_and_the_order_closes_at_its_deadline(
    setting: Setting,
) {
    let w = Wechat::start(setting, &[]).await;
    // A private key WeChat does not know for this merchant_serial_no.
    w.configure(PlatformKeys::PublicKey, "other_private_key.pem")
        .await;
    let order = w.app.create_order(500, 3).await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = w.pay(id, "native", json!(null)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "provider_rejected", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("SIGN_ERROR"), "{message}");
    assert_eq!(
        w.sim.stats().await.signature_failures,
        1,
        "refused unsigned at WeChat"
    );

    // Nothing is open at WeChat: the deadline closes the order without asking again.
    let closed = w.app.wait_for_order_state(id, "closed").await;
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(
        w.sim.stats().await.signature_failures,
        1,
        "no query, no close"
    );
    assert!(w.events(id).await.contains(&"order.closed".to_owned()));
}

async fn an_expired_code_url_is_not_reused_and_wechat_is_asked_again_with_the_same_number(
    setting: Setting,
) {
    // code_url and prepay_id live 3 s at the simulator (2 h / 2400); paygate keeps a margin
    // of 7197 s of their 7200, so it reuses them for 3 s too (a window a loaded CI machine
    // does not miss). h5_url (5 min) is then never reused at all.
    let mut config = sim_config(Verification::PublicKey);
    config.action_lifetime_scale = 2400.0;
    let w = Wechat::start_with(
        setting,
        &[("PAYGATE_ACTION_MARGIN", "7197s")],
        config,
        PlatformKeys::PublicKey,
    )
    .await;
    let order = w.app.create_order(990, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, first) = w.pay(id, "native", json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(first["action_expires_at"].is_string(), "{first}");
    let (_, again) = w.pay(id, "native", json!(null)).await;
    assert_eq!(again["reused"], true, "within its lifetime: {again}");

    tokio::time::sleep(Duration::from_millis(3300)).await;
    let (status, fresh) = w.pay(id, "native", json!(null)).await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_eq!(fresh["reused"], false, "past its lifetime: {fresh}");
    assert_eq!(
        payment_no(&fresh),
        payment_no(&first),
        "the same out_trade_no"
    );
    assert_ne!(fresh["action"]["content"], first["action"]["content"]);
    assert!(fresh["action_expires_at"].as_str() > first["action_expires_at"].as_str());
    let trade = w.trade(&payment_no(&first)).await;
    assert_eq!(trade["trade_state"], "NOTPAY");

    // The dead QR code cannot be paid; the fresh one can.
    let (status, _) = w
        .pay_through(
            &payment_no(&first),
            json!({"action": first["action"]["content"]}),
        )
        .await;
    assert_ne!(status, StatusCode::OK);
    let (status, _) = w
        .pay_through(
            &payment_no(&first),
            json!({"action": fresh["action"]["content"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    w.app.wait_for_order_state(id, "paid").await;

    // h5: its 5 minutes are within the margin, so every repay asks WeChat again.
    let order = w.app.create_order(120, 600).await;
    let id = order["id"].as_str().expect("id");
    let payer = json!({"client_ip": "203.0.113.7"});
    let (_, h5) = w.pay(id, "h5", payer.clone()).await;
    let (_, h5_again) = w.pay(id, "h5", payer).await;
    assert_eq!(h5_again["reused"], false, "{h5_again}");
    assert_eq!(payment_no(&h5_again), payment_no(&h5));
    assert_ne!(h5_again["action"]["url"], h5["action"]["url"]);
}

async fn a_refused_renewal_keeps_the_open_trade_tracked(setting: Setting) {
    let mut config = sim_config(Verification::PublicKey);
    config.action_lifetime_scale = 7200.0;
    let w = Wechat::start_with(
        setting,
        &[("PAYGATE_ACTION_MARGIN", "7199s")],
        config,
        PlatformKeys::PublicKey,
    )
    .await;
    let order = w.app.create_order(760, 600).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, _) = w.pay_native(id).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // The code_url has expired and the merchant's key has just been broken: WeChat refuses
    // the renewal, unsigned. The trade it opened before is still payable.
    w.configure(PlatformKeys::PublicKey, "other_private_key.pem")
        .await;
    let (status, body) = w.pay(id, "native", json!(null)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGN_ERROR")),
        "{body}"
    );
    assert_eq!(
        w.payment(&payment_no).await["state"],
        "open",
        "still tracked"
    );
    assert_eq!(w.app.order(id).await["open_payment_no"], json!(payment_no));

    // The payer pays the trade anyway: paygate hears it and settles.
    w.configure(PlatformKeys::PublicKey, "merchant_private_key.pem")
        .await;
    w.customer_pays(&payment_no).await;
    assert_eq!(
        w.app.wait_for_order_state(id, "paid").await["state"],
        "paid"
    );
}

/// Pays a native order end to end: created, scanned and paid at WeChat, notified, settled.
async fn pays_natively(w: &Wechat) {
    let order = w.app.create_order(1500, 600).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, _) = w.pay_native(id).await;
    w.customer_pays(&payment_no).await;
    let order = w.app.wait_for_order_state(id, "paid").await;
    assert_eq!(order["state"], "paid", "{order}");
}

async fn a_merchant_on_platform_certificates_pays_end_to_end(setting: Setting) {
    let w = Wechat::start_with(
        setting,
        &[],
        sim_config(Verification::Certificate),
        PlatformKeys::Certificates,
    )
    .await;
    pays_natively(&w).await;
}

async fn a_merchant_mid_migration_accepts_answers_and_notifications_from_either_key(
    setting: Setting,
) {
    let w = Wechat::start_with(
        setting,
        &[],
        sim_config(Verification::Migration),
        PlatformKeys::Both,
    )
    .await;
    for signer in ["certificate", "public_key", "alternate"] {
        w.knobs(json!({"notification_signer": signer})).await;
        pays_natively(&w).await;
    }
}

async fn a_notification_signed_by_an_unconfigured_key_is_refused_naming_it(setting: Setting) {
    // The merchant has configured its certificate only, while WeChat has already started
    // signing notifications with the public key.
    let w = Wechat::start_with(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        sim_config(Verification::Migration),
        PlatformKeys::Certificates,
    )
    .await;
    w.knobs(json!({"notification_signer": "public_key", "drop_notifications": true}))
        .await;
    let order = w.app.create_order(700, 600).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, _) = w.pay_native(id).await;
    w.customer_pays(&payment_no).await;
    let (status, reply) = w.notify_now(&payment_no, json!({})).await;
    assert!(status >= 400, "refused: {status} {reply}");
    let config = SimConfig::with_fixture_keys();
    assert!(
        reply.contains(&config.platform_public_key_id),
        "names the serial: {reply}"
    );
    assert!(
        reply.contains(PLATFORM_CERTIFICATE_SERIAL),
        "and the configured one: {reply}"
    );
    assert_eq!(w.app.order(id).await["state"], "pending");
}

async fn a_key_broken_after_a_successful_pay_flags_the_payment_and_never_closes_it(
    setting: Setting,
) {
    let w = Wechat::start(
        setting,
        &[
            ("PAYGATE_FLAG_AFTER_REFUSALS", "1"),
            ("PAYGATE_STATUS_SYNC_SCHEDULE", "60s"),
        ],
    )
    .await;
    let order = w.app.create_order(640, 3).await;
    let id = order["id"].as_str().expect("id");
    let (payment_no, _) = w.pay_native(id).await;
    // The merchant's key is replaced by one WeChat does not know.
    w.configure(PlatformKeys::PublicKey, "other_private_key.pem")
        .await;

    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    let flagged = loop {
        let flags = w.flags().await;
        let found = flags
            .to_string()
            .contains(&format!("\"payment_no\":\"{payment_no}\""));
        if found || tokio::time::Instant::now() > give_up {
            break flags;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        flagged.to_string().contains("provider_refuses_queries"),
        "{flagged}"
    );
    assert_eq!(
        w.app.order(id).await["state"],
        "pending",
        "never closed blindly"
    );
    // Never closed by paygate: the trade is still open, or WeChat closed it by itself when
    // its time_expire passed (the flag is raised at the deadline, which is that instant).
    let trade = w.trade(&payment_no).await;
    assert_ne!(trade["closed_by"], "merchant", "{trade}");
    assert!(
        trade["trade_state"] == "NOTPAY" || trade["closed_by"] == "time_expire",
        "{trade}"
    );
}

in_both_settings!(
    another_payer_gets_a_new_payment_and_the_first_prepay_is_closed,
    an_h5_link_is_never_handed_to_another_network,
    an_unsigned_sign_error_is_a_502_naming_it_and_the_order_closes_at_its_deadline,
    an_expired_code_url_is_not_reused_and_wechat_is_asked_again_with_the_same_number,
    a_merchant_on_platform_certificates_pays_end_to_end,
    a_merchant_mid_migration_accepts_answers_and_notifications_from_either_key,
    a_notification_signed_by_an_unconfigured_key_is_refused_naming_it,
    a_key_broken_after_a_successful_pay_flags_the_payment_and_never_closes_it,
    a_refused_renewal_keeps_the_open_trade_tracked,
);
