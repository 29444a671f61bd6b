//! What pay calls hand out, over real HTTP: a fresh code_url / prepay_id / h5_url per call,
//! each listed with its expiry; repeated orders with other parameters refused; paying
//! through an action refused when it is unknown, expired, or used by another payer or
//! network.

use std::time::Duration;

use serde_json::{json, Value};

use super::super::{PayOptions, SimError};
use super::support::Merchant;

const NOWHERE: &str = "http://127.0.0.1:1/notify";

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .expect("milliseconds")
}

/// The trade view's actions.
fn actions(trade: &Value) -> Vec<Value> {
    trade["actions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_pay_call_hands_out_a_fresh_code_url_listed_with_its_expiry() {
    let m = Merchant::start().await;
    let order = m.order("A100001", 100, 600, NOWHERE);
    let before = now_ms();
    let first = m.create("native", order.clone()).await;
    let again = m.create("native", order).await;
    let after = now_ms();
    assert_eq!((first.status, again.status), (200, 200), "{}", again.body);
    let (first, again) = (&first.body["code_url"], &again.body["code_url"]);
    assert_ne!(first, again, "a repeat hands out a fresh code_url");
    let trade = m.sim.trade("A100001").await.expect("trade");
    assert_eq!(trade["code_url"], *again, "the latest, under its own name");
    assert_eq!(trade["counters"]["pay_requests"], 2);
    let listed = actions(&trade);
    assert_eq!(listed.len(), 2);
    for (action, value) in listed.iter().zip([first, again]) {
        assert_eq!(
            (&action["kind"], &action["value"], &action["expired"]),
            (&json!("code_url"), value, &json!(false))
        );
        let expires = action["expires_at_ms"].as_i64().expect("expires_at_ms");
        let two_hours = 2 * 3600 * 1000;
        assert!(
            (before + two_hours..=after + two_hours).contains(&expires),
            "code_url lives 2 hours, whatever time_expire (10 minutes) says: {action}"
        );
    }
    let (status, view) = m.control("A100001", "pay", json!({"action": first})).await;
    assert_eq!(
        (status, &view["trade_state"]),
        (200, &json!("SUCCESS")),
        "an earlier code_url still works: {view}"
    );
    let (status, why) = m.control("A100001", "pay", json!({"action": again})).await;
    assert_eq!(status, 409);
    assert!(
        why["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already paid"),
        "{why}"
    );
}

#[tokio::test]
async fn prepay_ids_and_h5_urls_are_fresh_too_and_h5_urls_live_five_minutes() {
    let m = Merchant::start().await;
    let order = m.jsapi_order("A200001", "oA");
    let first = m.create("jsapi", order.clone()).await.body["prepay_id"].clone();
    let again = m.create("jsapi", order).await.body["prepay_id"].clone();
    assert_ne!(first, again);
    let trade = m.sim.trade("A200001").await.expect("trade");
    assert_eq!(
        actions(&trade)
            .iter()
            .map(|a| a["kind"].clone())
            .collect::<Vec<_>>(),
        [json!("prepay_id"), json!("prepay_id")]
    );
    let order = m.h5_order("A200002", "203.0.113.7");
    let before = now_ms();
    let first = m.create("h5", order.clone()).await.body["h5_url"].clone();
    let again = m.create("h5", order).await.body["h5_url"].clone();
    assert_ne!(first, again);
    let trade = m.sim.trade("A200002").await.expect("trade");
    let listed = actions(&trade);
    assert_eq!(listed[1]["kind"], "h5_url");
    let expires = listed[1]["expires_at_ms"].as_i64().expect("expires_at_ms");
    assert!(
        (before + 300_000..=now_ms() + 300_000).contains(&expires),
        "h5_url lives 5 minutes: {}",
        listed[1]
    );
}

#[tokio::test]
async fn a_repeated_order_with_other_parameters_is_201_out_trade_no_repeated() {
    let m = Merchant::start().await;
    let native = m.order("A300001", 100, 600, NOWHERE);
    let jsapi = m.jsapi_order("A300002", "oA");
    let h5 = m.h5_order("A300003", "203.0.113.7");
    m.create("native", native.clone()).await;
    m.create("jsapi", jsapi.clone()).await;
    m.create("h5", h5.clone()).await;
    let changed = |order: &Value, pointer: &str, value: Value| {
        let mut order = order.clone();
        *order.pointer_mut(pointer).expect("field") = value;
        order
    };
    let later = m.order("A300001", 100, 1200, NOWHERE)["time_expire"].clone();
    let mut with_attach = native.clone();
    with_attach["attach"] = json!("x");
    let cases = [
        (
            "native",
            changed(&native, "/amount/total", json!(101)),
            "amount",
        ),
        (
            "native",
            changed(&native, "/description", json!("Black tea")),
            "description",
        ),
        (
            "native",
            changed(&native, "/time_expire", later),
            "time_expire",
        ),
        ("native", with_attach, "attach"),
        (
            "jsapi",
            changed(&jsapi, "/out_trade_no", json!("A300001")),
            "channel",
        ),
        (
            "h5",
            changed(&h5, "/out_trade_no", json!("A300001")),
            "channel",
        ),
        (
            "jsapi",
            changed(&jsapi, "/payer/openid", json!("oB")),
            "payer.openid",
        ),
        (
            "h5",
            changed(&h5, "/scene_info/payer_client_ip", json!("198.51.100.1")),
            "payer_client_ip",
        ),
    ];
    for (kind, order, what) in cases {
        let a = m.create(kind, order).await;
        assert_eq!(a.code(), (400, "INVALID_REQUEST"), "{what}: {}", a.body);
        assert_eq!(a.message(), "201 商户订单号重复", "{what}");
        assert!(
            a.signer.is_some(),
            "{what}: a verified request's error is signed"
        );
    }
    // The same instant written another way is the same time_expire.
    let text = native["time_expire"].as_str().expect("time_expire");
    let same = changed(
        &native,
        "/time_expire",
        json!(text.replace("+08:00", ".000+08:00")),
    );
    let a = m.create("native", same).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let trade = m.sim.trade("A300001").await.expect("trade");
    assert_eq!(trade["trade_state"], "NOTPAY", "refusals changed nothing");
    assert_eq!(actions(&trade).len(), 2, "refusals hand out nothing");
}

#[tokio::test]
async fn an_expired_code_url_cannot_be_paid_but_a_fresh_one_can() {
    // 2 hours / 36 000 = 200 ms.
    let m = Merchant::start_with(|c| c.action_lifetime_scale = 36_000.0).await;
    let order = m.order("A400001", 100, 600, NOWHERE);
    let old = m.create("native", order.clone()).await.body["code_url"].clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = m
        .sim
        .pay(
            "A400001",
            PayOptions {
                action: old.as_str().map(str::to_owned),
                ..PayOptions::default()
            },
        )
        .await;
    match refused {
        Err(SimError::NotAllowed(why)) => assert!(why.contains("expired"), "{why}"),
        other => panic!("an expired code_url: {other:?}"),
    }
    let trade = m.sim.trade("A400001").await.expect("trade");
    assert_eq!(trade["trade_state"], "NOTPAY", "left unpaid");
    assert_eq!(actions(&trade)[0]["expired"], true);
    let fresh = m.create("native", order).await.body["code_url"].clone();
    let (status, view) = m.control("A400001", "pay", json!({"action": fresh})).await;
    assert_eq!(
        (status, &view["trade_state"]),
        (200, &json!("SUCCESS")),
        "{view}"
    );
}

#[tokio::test]
async fn an_expired_h5_url_cannot_be_paid() {
    // 5 minutes / 1 000 = 300 ms.
    let m = Merchant::start_with(|c| c.action_lifetime_scale = 1_000.0).await;
    let order = m.h5_order("A500001", "203.0.113.7");
    let h5_url = m.create("h5", order).await.body["h5_url"].clone();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, why) = m
        .control(
            "A500001",
            "pay",
            json!({"action": h5_url, "client_ip": "203.0.113.7"}),
        )
        .await;
    assert_eq!(status, 409, "{why}");
    let why = why["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("expired") && why.contains("支付请求已失效"),
        "{why}"
    );
    let trade = m.sim.trade("A500001").await.expect("trade");
    assert_eq!(trade["trade_state"], "NOTPAY");
}

#[tokio::test]
async fn a_prepay_id_cannot_be_paid_by_another_openid() {
    let m = Merchant::start().await;
    let prepay_id =
        m.create("jsapi", m.jsapi_order("A600001", "oA")).await.body["prepay_id"].clone();
    let (status, why) = m
        .control(
            "A600001",
            "pay",
            json!({"action": prepay_id, "openid": "oB"}),
        )
        .await;
    assert_eq!(status, 409, "{why}");
    assert!(
        why["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("下单账号与支付账号不一致"),
        "{why}"
    );
    assert_eq!(
        m.sim.trade("A600001").await.expect("trade")["trade_state"],
        "NOTPAY"
    );
    let (status, view) = m
        .control(
            "A600001",
            "pay",
            json!({"action": prepay_id, "openid": "oA"}),
        )
        .await;
    assert_eq!((status, &view["openid"]), (200, &json!("oA")), "{view}");
}

#[tokio::test]
async fn an_h5_url_cannot_be_paid_from_another_network() {
    let m = Merchant::start().await;
    let h5_url = m
        .create("h5", m.h5_order("A700001", "203.0.113.7"))
        .await
        .body["h5_url"]
        .clone();
    let from = |ip: &str| json!({"action": h5_url, "client_ip": ip});
    let (status, why) = m.control("A700001", "pay", from("198.51.100.1")).await;
    assert_eq!(status, 409, "{why}");
    let why = why["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("网络环境未能通过安全验证") && why.contains("268498465"),
        "{why}"
    );
    assert_eq!(
        m.sim.trade("A700001").await.expect("trade")["trade_state"],
        "NOTPAY"
    );
    let (status, view) = m.control("A700001", "pay", from("203.0.113.7")).await;
    assert_eq!((status, &view["trade_state"]), (200, &json!("SUCCESS")));
}

#[tokio::test]
async fn an_action_not_handed_out_for_the_trade_cannot_be_paid() {
    let m = Merchant::start().await;
    m.create("native", m.order("A800001", 100, 600, NOWHERE))
        .await;
    let others = m
        .create("native", m.order("A800002", 100, 600, NOWHERE))
        .await
        .body["code_url"]
        .clone();
    for action in [others, json!("weixin://wxpay/bizpayurl?pr=nothing")] {
        let (status, why) = m.control("A800001", "pay", json!({"action": action})).await;
        assert_eq!(status, 409, "{action}: {why}");
        assert!(
            why["error"]
                .as_str()
                .unwrap_or_default()
                .contains("not handed out"),
            "{why}"
        );
    }
    assert_eq!(
        m.sim.trade("A800001").await.expect("trade")["trade_state"],
        "NOTPAY"
    );
    let (status, _) = m
        .control("A800001", "pay", json!({"action": "x", "payer": "y"}))
        .await;
    assert_eq!(status, 422, "an unknown pay option is refused");
}
