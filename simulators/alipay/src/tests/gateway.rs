//! `/gateway.do` over real HTTP: how parameters arrive, what is verified and refused, how
//! answers are signed, the knobs, the demo page, and shutting down.

use std::time::Duration;

use serde_json::{json, Value};

use super::super::protocol;
use super::support::{raw_member, signing_key, Merchant, NOWHERE};

#[tokio::test]
async fn a_signed_precreate_gets_a_qr_code_in_an_answer_signed_over_its_raw_text() {
    let m = Merchant::start().await;
    let a = m.precreate("G100001", "12.34", 600, NOWHERE).await;
    assert_eq!(a.code(), ("10000", ""), "{}", a.raw);
    assert_eq!(a.inner["msg"], "Success");
    assert_eq!(a.inner["out_trade_no"], "G100001");
    let qr = a.inner["qr_code"].as_str().expect("qr_code");
    assert!(qr.starts_with("https://qr.alipay.com/"), "{qr}");
    assert!(
        a.raw.contains(r#""qr_code":"https:\/\/qr.alipay.com\/"#),
        "escaped as Alipay does: {}",
        a.raw
    );
    assert_eq!(a.content_type, "application/json;charset=utf-8");
    // Re-serializing the member instead of taking its raw text breaks the signature.
    let reserialized = serde_json::to_string(&a.inner).expect("JSON");
    let whole: Value = serde_json::from_str(&a.raw).expect("JSON");
    let sign = whole["sign"].as_str().expect("sign");
    assert!(!protocol::verify(&m.alipay, &reserialized, sign));
    assert!(protocol::verify(
        &m.alipay,
        raw_member(&a.raw, "alipay_trade_precreate_response").expect("member"),
        sign
    ));
    assert!(
        a.alipay_cert_sn.is_none(),
        "no alipay_cert_sn in the public-key mode"
    );
}

#[tokio::test]
async fn parameters_may_come_in_the_query_string_the_form_body_or_both() {
    let m = Merchant::start().await;
    let mut params = m.params("alipay.trade.precreate", &m.order("G200001", "1.00", 600));
    m.sign_with(&m.key, &mut params);
    let all = protocol::form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let get = m
        .http
        .get(format!("{}?{all}", m.sim.gateway_url()))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        m.read(get, "alipay.trade.precreate").await.code(),
        ("10000", "")
    );
    let post = m
        .http
        .post(m.sim.gateway_url())
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(all.replace("+", "%20"))
        .send()
        .await
        .expect("POST");
    let a = m.read(post, "alipay.trade.precreate").await;
    assert_eq!(
        (a.code(), a.verified),
        (("10000", ""), Some(true)),
        "%20 is a space too"
    );
    assert_eq!(
        m.send(&params).await.code(),
        ("10000", ""),
        "split as the Java SDK does"
    );
    let trade = m.sim.trade("G200001").await.expect("trade");
    assert_eq!(trade["calls"]["alipay.trade.precreate"], 3);
    // Values are decoded once: `+` and `&` inside biz_content survive as themselves.
    let mut order = m.order("G200002", "1.00", 600);
    order["subject"] = json!("Tea+Milk & 绿茶 100%");
    let a = m.call("alipay.trade.precreate", order).await;
    assert_eq!(a.code(), ("10000", ""));
    let trade = m.sim.trade("G200002").await.expect("trade");
    assert_eq!(trade["subject"], "Tea+Milk & 绿茶 100%");
    assert_eq!(
        m.sim.stats().await.requests.get("alipay.trade.precreate"),
        Some(&4)
    );
}

#[tokio::test]
async fn a_bad_signature_is_refused_signed_naming_what_the_gateway_verified() {
    let m = Merchant::start().await;
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G300001"}));
    m.sign_with(&signing_key("other_private_key.pem"), &mut params);
    let a = m.send(&params).await;
    assert_eq!(a.code(), ("40002", "isv.invalid-signature"));
    assert_eq!(a.inner["msg"], "Invalid Arguments");
    assert_eq!(a.verified, Some(true), "Alipay signs it: the app is known");
    assert!(
        a.sub_msg().contains("&amp;charset=utf-8&amp;"),
        "{}",
        a.sub_msg()
    );
    assert!(
        a.sub_msg().contains("sign_type=RSA2"),
        "sign_type is signed: {}",
        a.sub_msg()
    );
    // Signing without sign_type is signing something else.
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G300001"}));
    let mut without = params.clone();
    without.remove("sign_type");
    let sign = protocol::sign(&m.key, &protocol::request_sign_content(&without));
    params.insert("sign".into(), sign);
    assert_eq!(
        m.send(&params).await.code(),
        ("40002", "isv.invalid-signature")
    );
    assert_eq!(m.sim.stats().await.signature_failures, 2);
}

#[tokio::test]
async fn an_unknown_app_is_refused_without_a_signature() {
    let m = Merchant::start().await;
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G400001"}));
    params.insert("app_id".into(), "2021000000009999".into());
    m.sign_with(&m.key, &mut params);
    let a = m.send(&params).await;
    assert_eq!(
        (a.code(), a.verified),
        (("40002", "isv.invalid-app-id"), None)
    );
    assert!(
        a.raw.starts_with(r#"{"alipay_trade_query_response":"#),
        "{}",
        a.raw
    );
    params.remove("app_id");
    let a = m.send(&params).await;
    assert_eq!(
        (a.code(), a.verified),
        (("40001", "isv.missing-app-id"), None)
    );
}

#[tokio::test]
async fn missing_and_invalid_common_parameters_are_refused_with_alipays_codes() {
    let m = Merchant::start().await;
    let cases: [(&str, Option<&str>, (&str, &str)); 8] = [
        ("method", None, ("40001", "isv.missing-method")),
        (
            "method",
            Some("alipay.trade.nothing"),
            ("40002", "isv.invalid-method"),
        ),
        (
            "sign_type",
            Some("RSA"),
            ("40002", "isv.invalid-signature-type"),
        ),
        ("sign_type", None, ("40001", "isv.missing-signature-type")),
        (
            "timestamp",
            Some("2026-11-30T10:00:00+08:00"),
            ("40002", "isv.invalid-timestamp"),
        ),
        ("timestamp", None, ("40001", "isv.missing-timestamp")),
        ("charset", Some("GBK"), ("40002", "isv.invalid-charset")),
        ("format", Some("XML"), ("40002", "isv.invalid-format")),
    ];
    for (name, value, expected) in cases {
        let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G500001"}));
        match value {
            Some(v) => params.insert(name.into(), v.into()),
            None => params.remove(name),
        };
        m.sign_with(&m.key, &mut params);
        let method = params.get("method").cloned().unwrap_or_default();
        let r = m
            .http
            .post(m.sim.gateway_url())
            .body(protocol::form_encode(
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ))
            .send()
            .await
            .expect("answer");
        let a = m.read(r, &method).await;
        assert_eq!(a.code(), expected, "{name} = {value:?}: {}", a.raw);
        assert_eq!(a.verified, Some(true), "{name}: signed");
        if name == "method" {
            assert!(a.raw.starts_with(r#"{"error_response":"#), "{}", a.raw);
        }
    }
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G500001"}));
    params.remove("sign");
    assert_eq!(
        m.send(&params).await.code(),
        ("40001", "isv.missing-signature")
    );
}

#[tokio::test]
async fn invalid_orders_are_refused_as_invalid_parameters_and_create_nothing() {
    let m = Merchant::start().await;
    let good = m.order("G600001", "1.00", 600);
    let cases = [
        ("total_amount", json!("0.001"), "ACQ.INVALID_PARAMETER"),
        ("total_amount", json!("0"), "ACQ.INVALID_PARAMETER"),
        ("total_amount", json!("-1"), "ACQ.INVALID_PARAMETER"),
        (
            "total_amount",
            json!("100000000.01"),
            "ACQ.TOTAL_FEE_EXCEED",
        ),
        ("subject", json!(""), "ACQ.INVALID_PARAMETER"),
        (
            "time_expire",
            json!("2026-11-30T10:00:00+08:00"),
            "ACQ.INVALID_PARAMETER",
        ),
        (
            "out_trade_no",
            json!("G".repeat(65)),
            "ACQ.INVALID_PARAMETER",
        ),
    ];
    for (field, value, sub_code) in cases {
        let mut biz = good.clone();
        biz[field] = value.clone();
        let a = m.call("alipay.trade.precreate", biz).await;
        assert_eq!(a.code(), ("40004", sub_code), "{field} = {value}");
    }
    let mut params = m.params("alipay.trade.precreate", &good);
    params.insert("biz_content".into(), "{not json".into());
    m.sign_with(&m.key, &mut params);
    assert_eq!(m.send(&params).await.code(), ("40002", "isv.illegal-json"));
    assert!(m.sim.trade("G600001").await.is_none());
    let mut number = good.clone();
    number["total_amount"] = json!(0.1);
    let a = m.call("alipay.trade.precreate", number).await;
    assert_eq!(a.code(), ("10000", ""), "a JSON number is money too");
    assert_eq!(
        m.sim.trade("G600001").await.expect("trade")["total_fen"],
        10
    );
}

#[tokio::test]
async fn fail_next_answers_signed_failures_then_recovers() {
    let m = Merchant::start().await;
    let (status, knobs) = m.knobs(json!({"fail_next": 1})).await;
    assert_eq!(
        (status, &knobs["fail_next"], &knobs["fail_with"]),
        (200, &json!(1), &json!("unknow_error"))
    );
    let a = m.query("G700001").await;
    assert_eq!(a.code(), ("20000", "isp.unknow-error"));
    assert_eq!(a.inner["msg"], "Service Currently Unavailable");
    m.knobs(json!({"fail_next": 1, "fail_with": "system_error"}))
        .await;
    assert_eq!(
        m.query("G700001").await.code(),
        ("40004", "ACQ.SYSTEM_ERROR")
    );
    assert_eq!(
        m.query("G700001").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    let (status, _) = m.knobs(json!({"fail_nxt": 2})).await;
    assert_eq!(status, 422, "an unknown knob is refused");
}

#[tokio::test]
async fn the_wrong_signature_knob_signs_answers_with_another_key() {
    let m = Merchant::start().await;
    m.knobs(json!({"wrong_response_signature": true})).await;
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "G800001"}));
    m.sign_with(&m.key, &mut params);
    let a = m.send(&params).await;
    assert_eq!(
        (a.code().1, a.verified),
        ("ACQ.TRADE_NOT_EXIST", Some(false))
    );
    let knobs = m.sim.knobs().await;
    assert!(knobs.wrong_response_signature && !knobs.drop_notifications);
}

#[tokio::test]
async fn the_delay_knob_slows_every_gateway_answer() {
    let m = Merchant::start().await;
    m.knobs(json!({"delay_ms": 300})).await;
    let started = tokio::time::Instant::now();
    m.query("G900001").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn dropping_the_simulator_stops_its_server() {
    let m = Merchant::start().await;
    let url = m.sim.base_url();
    assert!(m.http.get(format!("{url}/sim/trades")).send().await.is_ok());
    drop(m.sim);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
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
async fn the_demo_page_lists_trades_and_pays_one_with_a_form_button() {
    let m = Merchant::start().await;
    m.precreate("D100001", "2.50", 600, NOWHERE).await;
    let page = m
        .http
        .get(m.sim.base_url())
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("D100001") && page.contains("2.50 CNY") && page.contains("(not scanned)"),
        "{page}"
    );
    assert!(
        page.contains("action=\"/sim/trades/D100001/pay-form\""),
        "{page}"
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
    let page = m
        .http
        .get(m.sim.base_url())
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("TRADE_SUCCESS") && !page.contains("pay-form"),
        "{page}"
    );
}
