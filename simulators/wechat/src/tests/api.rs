//! WeChat's `/v3` endpoints over real HTTP: orders, the trade rules, the knobs, the demo
//! page, and shutting down.

use std::time::Duration;

use serde_json::json;

use super::super::verification::Signer;
use super::super::{PayOptions, SimError};
use super::support::Merchant;

const NOWHERE: &str = "http://127.0.0.1:1/notify";

#[tokio::test]
async fn a_signed_native_order_gets_a_code_url_in_a_signed_answer() {
    let m = Merchant::start().await;
    let a = m
        .create("native", m.order("T100001", 100, 600, NOWHERE))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["code_url"]
        .as_str()
        .expect("code_url")
        .starts_with("weixin://wxpay/bizpayurl?pr="));
    assert_eq!(
        a.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let tx = m.query("T100001").await;
    assert_eq!(tx.status, 200);
    assert_eq!(
        (&tx.body["trade_state"], &tx.body["trade_type"]),
        (&json!("NOTPAY"), &json!("NATIVE"))
    );
    assert!(
        tx.body.get("transaction_id").is_none(),
        "no transaction before payment"
    );
    assert_eq!(m.query("T999999").await.code(), (404, "ORDER_NOT_EXIST"));
}

#[tokio::test]
async fn invalid_orders_are_param_errors_naming_the_field() {
    let m = Merchant::start().await;
    let good = m.order("T100004", 100, 600, NOWHERE);
    let cases = [
        ("/time_expire", json!("2026-11-23 10:34:56"), "time_expire"),
        ("/out_trade_no", json!("T1"), "out_trade_no"),
        ("/out_trade_no", json!("T100004#"), "out_trade_no"),
        ("/notify_url", json!("http://a.example/n?x=1"), "notify_url"),
        ("/notify_url", json!("/relative"), "notify_url"),
        ("/amount", json!({"total": 0}), "amount.total"),
        ("/amount", json!({"total": 1.5}), "amount.total"),
        (
            "/amount",
            json!({"total": 1, "currency": "USD"}),
            "currency",
        ),
        ("/description", json!(""), "description"),
        ("/description", json!("茶".repeat(128)), "description"),
        ("/mchid", json!("1900000000"), "mchid"),
        ("/appid", json!("wx0000000000000000"), "appid"),
    ];
    for (pointer, value, field) in cases {
        let mut order = good.clone();
        *order.pointer_mut(pointer).expect("field") = value.clone();
        let a = m.create("native", order).await;
        assert_eq!(a.code(), (400, "PARAM_ERROR"), "{pointer} = {value}");
        let message = a.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{pointer} = {value}: {message}");
    }
    let jsapi = m.create("jsapi", good.clone()).await;
    assert_eq!(jsapi.code(), (400, "PARAM_ERROR"));
    assert!(jsapi.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("payer.openid"));
    let h5 = m.create("h5", good).await;
    assert!(h5.body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("payer_client_ip"));
    assert!(m.sim.trade("T100004").await.is_none());
}

#[tokio::test]
async fn jsapi_answers_a_prepay_id_and_h5_an_h5_url() {
    let m = Merchant::start().await;
    let mut order = m.order("J100001", 100, 600, NOWHERE);
    order["payer"] = json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"});
    // The .NET SDK's form of time_expire: fractional seconds.
    order["time_expire"] = json!(order["time_expire"]
        .as_str()
        .expect("text")
        .replace("+08:00", ".000+08:00"));
    let a = m.create("jsapi", order).await;
    assert!(a.body["prepay_id"]
        .as_str()
        .expect("prepay_id")
        .starts_with("wx"));
    let mut order = m.order("H100001", 100, 600, NOWHERE);
    order["scene_info"] = json!({"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}});
    let a = m.create("h5", order).await;
    assert!(a.body["h5_url"]
        .as_str()
        .expect("h5_url")
        .starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx"));
    let paid = m
        .sim
        .pay("J100001", PayOptions::default())
        .await
        .expect("paid");
    assert_eq!(
        paid["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "the jsapi payer pays"
    );
    let tx = m.query("J100001").await.body;
    assert_eq!(
        (&tx["trade_type"], &tx["trade_state"]),
        (&json!("JSAPI"), &json!("SUCCESS"))
    );
    assert_eq!(tx["transaction_id"].as_str().map(str::len), Some(28));
    assert_eq!(tx["amount"]["payer_total"], 100);
    assert!(tx["success_time"]
        .as_str()
        .expect("success_time")
        .ends_with("+08:00"));
}

#[tokio::test]
async fn close_of_a_paid_trade_answers_orderpaid_and_pay_of_a_closed_one_order_closed() {
    let m = Merchant::start().await;
    for no in ["T200001", "T200002"] {
        m.create("native", m.order(no, 100, 600, NOWHERE)).await;
    }
    let (status, paid) = m.control("T200001", "pay", json!({})).await;
    assert_eq!((status, &paid["trade_state"]), (200, &json!("SUCCESS")));
    assert_eq!(m.close("T200001").await.code(), (400, "ORDERPAID"));
    let closed = m.close("T200002").await;
    assert_eq!((closed.status, closed.body.is_null()), (204, true));
    assert_eq!(
        m.close("T200002").await.status,
        204,
        "closing a closed trade succeeds"
    );
    assert_eq!(m.close("T999999").await.code(), (404, "ORDER_NOT_EXIST"));
    let order = m.order("T200002", 100, 600, NOWHERE);
    assert_eq!(
        m.create("native", order).await.code(),
        (400, "ORDER_CLOSED")
    );
    let order = m.order("T200001", 100, 600, NOWHERE);
    assert_eq!(m.create("native", order).await.code(), (400, "ORDERPAID"));
    let (status, why) = m.control("T200002", "pay", json!({})).await;
    assert_eq!(status, 409);
    assert!(why["error"]
        .as_str()
        .unwrap_or_default()
        .contains("closed by the merchant"));
}

#[tokio::test]
async fn an_unpaid_trade_closes_by_itself_at_time_expire() {
    let m = Merchant::start().await;
    m.create("native", m.order("T300001", 100, 1, NOWHERE))
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let trade = m.sim.trade("T300001").await.expect("trade");
    assert_eq!(
        (&trade["trade_state"], &trade["closed_by"]),
        (&json!("CLOSED"), &json!("time_expire"))
    );
    assert_eq!(
        trade["counters"]["queries"], 0,
        "closed without being asked"
    );
    match m.sim.pay("T300001", PayOptions::default()).await {
        Err(SimError::NotAllowed(why)) => assert!(why.contains("expired"), "{why}"),
        other => panic!("too late to pay: {other:?}"),
    }
    assert_eq!(m.query("T300001").await.body["trade_state"], "CLOSED");
}

#[tokio::test]
async fn trade_states_for_state_maps_are_reached_through_the_control_endpoints() {
    let m = Merchant::start().await;
    for no in ["S100001", "S100002"] {
        m.create("native", m.order(no, 100, 600, NOWHERE)).await;
    }
    assert_eq!(m.control("S100001", "userpaying", json!({})).await.0, 200);
    assert_eq!(m.query("S100001").await.body["trade_state"], "USERPAYING");
    assert_eq!(m.control("S100001", "payerror", json!({})).await.0, 200);
    assert_eq!(
        m.query("S100001").await.body["trade_state_desc"],
        "支付失败"
    );
    assert_eq!(m.control("S100002", "revoke", json!({})).await.0, 200);
    assert_eq!(m.query("S100002").await.body["trade_state"], "REVOKED");
    assert_eq!(m.control("S100002", "userpaying", json!({})).await.0, 409);
    assert_eq!(m.control("S999999", "pay", json!({})).await.0, 404);
}

#[tokio::test]
async fn fail_next_answers_signed_system_errors_then_recovers() {
    let m = Merchant::start().await;
    let r = m
        .http
        .put(format!("{}/sim/knobs", m.sim.base_url()))
        .json(&json!({"fail_next": 2}))
        .send()
        .await
        .expect("knobs");
    let knobs: serde_json::Value = r.json().await.expect("knobs JSON");
    assert_eq!(
        (&knobs["fail_next"], &knobs["delay_ms"]),
        (&json!(2), &json!(0))
    );
    for _ in 0..2 {
        assert_eq!(m.query("T999999").await.code(), (500, "SYSTEM_ERROR"));
    }
    assert_eq!(m.query("T999999").await.code(), (404, "ORDER_NOT_EXIST"));
    let typo = m
        .http
        .put(format!("{}/sim/knobs", m.sim.base_url()))
        .json(&json!({"fail_nxt": 2}))
        .send()
        .await
        .expect("knobs");
    assert_eq!(typo.status(), 422, "an unknown knob is refused");
    let stats = m.sim.stats().await;
    assert_eq!(
        stats
            .requests
            .get("GET /v3/pay/transactions/out-trade-no/{no}"),
        Some(&3)
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_not_found_signed_only_under_v3() {
    let m = Merchant::start().await;
    let a = m.call("GET", "/v3/nothing", None).await;
    assert_eq!(
        (a.code(), a.signer),
        ((404, "NOT_FOUND"), Some(Signer::PublicKey))
    );
    let a = m.send("GET", "/nothing", "", None).await;
    assert_eq!(
        (a.code(), a.signer),
        ((404, "NOT_FOUND"), None),
        "outside /v3 nothing is verified, so nothing is signed"
    );
}

#[tokio::test]
async fn dropping_the_simulator_stops_its_server() {
    let m = Merchant::start().await;
    let url = m.sim.base_url();
    assert!(m.http.get(format!("{url}/sim/trades")).send().await.is_ok());
    drop(m.sim);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        // A fresh client: no kept-alive connection from before.
        let r = reqwest::Client::new()
            .get(format!("{url}/sim/trades"))
            .send()
            .await;
        if r.is_err() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_demo_page_pays_a_trade_with_a_form_button() {
    let m = Merchant::start().await;
    m.create("native", m.order("D100001", 250, 600, NOWHERE))
        .await;
    let page = |http: reqwest::Client, url: String| async move {
        http.get(url)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
    };
    let before = page(m.http.clone(), m.sim.base_url()).await;
    assert!(
        before.contains("D100001") && before.contains("2.50 CNY"),
        "{before}"
    );
    assert!(
        before.contains("action=\"/sim/trades/D100001/pay-form\""),
        "{before}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_redirects
        .post(format!("{}/sim/trades/D100001/pay-form", m.sim.base_url()))
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/")
    );
    let after = page(m.http.clone(), m.sim.base_url()).await;
    assert!(
        after.contains("SUCCESS") && !after.contains("pay-form"),
        "{after}"
    );
}
