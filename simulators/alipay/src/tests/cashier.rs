//! page.pay and wap.pay over real HTTP: the browser at the gateway with the signed
//! parameters, the cashier page, its Pay button, the way back to `return_url`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::super::protocol;
use super::support::{receiver, signing_key, wait_for, Merchant};

const RETURN_URL: &str = "https://shop.example/return?from=alipay";

/// The signed parameters of a browser order.
fn browser_order(
    m: &Merchant,
    method: &str,
    no: &str,
    product_code: Option<&str>,
    notify_url: &str,
) -> BTreeMap<String, String> {
    let mut biz: Value = m.order(no, "88.88", 600);
    if let Some(code) = product_code {
        biz["product_code"] = json!(code);
    }
    let mut params = m.params(method, &biz);
    params.insert("notify_url".into(), notify_url.into());
    params.insert("return_url".into(), RETURN_URL.into());
    m.sign_with(&m.key, &mut params);
    params
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// What an auto-submitting form posts.
async fn submit(m: &Merchant, params: &BTreeMap<String, String>) -> (u16, String) {
    let body = protocol::form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let r = browser()
        .post(m.sim.gateway_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("cashier");
    (r.status().as_u16(), r.text().await.expect("html"))
}

#[tokio::test]
async fn a_page_pay_form_opens_the_cashier_whose_pay_button_pays_and_returns_signed() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    let params = browser_order(
        &m,
        "alipay.trade.page.pay",
        "W100001",
        Some("FAST_INSTANT_TRADE_PAY"),
        &url,
    );
    let (status, page) = submit(&m, &params).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("action=\"/cashier/W100001/pay\"") && page.contains("88.88"),
        "{page}"
    );
    let q = m.query("W100001").await;
    assert_eq!(
        q.inner["trade_status"], "WAIT_BUYER_PAY",
        "the trade exists once the cashier is open"
    );
    let r = browser()
        .post(format!("{}/cashier/W100001/pay", m.sim.base_url()))
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status(), 303);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (base, query) = location
        .split_once("?from=alipay&")
        .expect("the return_url's own query kept");
    assert_eq!(base, "https://shop.example/return");
    let back = protocol::read_params(query, b"");
    assert_eq!(
        (
            back["method"].as_str(),
            back["out_trade_no"].as_str(),
            back["total_amount"].as_str()
        ),
        ("alipay.trade.page.pay.return", "W100001", "88.88")
    );
    assert_eq!(
        back.get("trade_no"),
        q.inner["trade_no"].as_str().map(str::to_owned).as_ref()
    );
    let content = protocol::notification_sign_content(&back);
    assert!(
        protocol::verify(&m.alipay, &content, &back["sign"]),
        "signed as a notification is"
    );
    let notes = wait_for(&seen, 1).await;
    assert_eq!(notes[0].fields()["trade_status"], "TRADE_SUCCESS");
    let (_, again) = submit(
        &m,
        &browser_order(
            &m,
            "alipay.trade.page.pay",
            "W100001",
            Some("FAST_INSTANT_TRADE_PAY"),
            &url,
        ),
    )
    .await;
    assert!(again.contains("ACQ.TRADE_HAS_SUCCESS"), "{again}");
}

#[tokio::test]
async fn a_wap_pay_get_url_opens_the_cashier_too() {
    let m = Merchant::start().await;
    let params = browser_order(
        &m,
        "alipay.trade.wap.pay",
        "W200001",
        Some("QUICK_WAP_WAY"),
        "http://127.0.0.1:1/n",
    );
    let query = protocol::form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = browser()
        .get(format!("{}?{query}", m.sim.gateway_url()))
        .send()
        .await
        .expect("cashier")
        .text()
        .await
        .expect("html");
    assert!(page.contains("/cashier/W200001/pay"), "{page}");
    let trade = m.sim.trade("W200001").await.expect("trade");
    assert_eq!(
        (&trade["product"], &trade["exists"]),
        (&json!("wap_pay"), &json!(true))
    );
    assert_eq!(trade["return_url"], RETURN_URL);
}

#[tokio::test]
async fn a_browser_order_that_fails_verification_shows_alipays_error_page() {
    let m = Merchant::start().await;
    let mut params = browser_order(
        &m,
        "alipay.trade.page.pay",
        "W300001",
        Some("FAST_INSTANT_TRADE_PAY"),
        "http://127.0.0.1:1/n",
    );
    m.sign_with(&signing_key("other_private_key.pem"), &mut params);
    let (status, page) = submit(&m, &params).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("错误代码 invalid-signature 错误原因: 验签出错"),
        "{page}"
    );
    let no_code = browser_order(
        &m,
        "alipay.trade.page.pay",
        "W300002",
        None,
        "http://127.0.0.1:1/n",
    );
    let (_, page) = submit(&m, &no_code).await;
    assert!(
        page.contains("ACQ.INVALID_PARAMETER") && page.contains("FAST_INSTANT_TRADE_PAY"),
        "{page}"
    );
    assert!(m.sim.trade("W300001").await.is_none() && m.sim.trade("W300002").await.is_none());
    assert_eq!(m.sim.stats().await.signature_failures, 1);
}
