//! Refunds and the refund query over real HTTP, with the notifications they cause.

use serde_json::json;

use super::super::PayOptions;
use super::support::{receiver, wait_for, Merchant, NOWHERE};

async fn paid(m: &Merchant, no: &str, amount: &str, notify_url: &str) {
    m.precreate(no, amount, 600, notify_url).await;
    m.sim.pay(no, PayOptions::default()).await.expect("paid");
}

#[tokio::test]
async fn partial_refunds_add_up_and_the_last_one_closes_the_trade_each_notified() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    paid(&m, "R100001", "12.34", &url).await;
    let first = m.refund("R100001", "2.34", Some("RF1")).await;
    assert_eq!(first.code(), ("10000", ""), "{}", first.raw);
    assert_eq!(
        (&first.inner["fund_change"], &first.inner["refund_fee"]),
        (&json!("Y"), &json!("2.34"))
    );
    assert_eq!(
        m.query("R100001").await.inner["trade_status"],
        "TRADE_SUCCESS",
        "partly refunded"
    );
    let rest = m.refund("R100001", "10", Some("RF2")).await;
    assert_eq!(
        (&rest.inner["fund_change"], &rest.inner["refund_fee"]),
        (&json!("Y"), &json!("12.34"))
    );
    assert_eq!(
        m.query("R100001").await.inner["trade_status"],
        "TRADE_CLOSED"
    );
    let notes = wait_for(&seen, 3).await;
    let f: Vec<_> = notes.iter().map(|n| n.fields()).collect();
    assert_eq!(f.len(), 3);
    assert!(!f[0].contains_key("refund_fee"), "the payment");
    assert_eq!(
        (
            f[1]["trade_status"].as_str(),
            f[1]["refund_fee"].as_str(),
            f[1]["out_biz_no"].as_str()
        ),
        ("TRADE_SUCCESS", "2.34", "RF1")
    );
    assert_eq!(
        (
            f[2]["trade_status"].as_str(),
            f[2]["refund_fee"].as_str(),
            f[2]["out_biz_no"].as_str()
        ),
        ("TRADE_CLOSED", "12.34", "RF2")
    );
    assert!(f[2].contains_key("gmt_refund") && f[2].contains_key("gmt_close"));
    assert!(notes.iter().all(|n| n.verifies(&m.alipay)));
    let trade = m.sim.trade("R100001").await.expect("trade");
    assert_eq!(
        (
            &trade["closed_by"],
            &trade["refunded_fen"],
            &trade["refund_fee"]
        ),
        (&json!("full_refund"), &json!(1234), &json!("12.34"))
    );
    assert_eq!(trade["refunds"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_same_out_request_no_is_the_same_refund_never_a_second_one() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    paid(&m, "R200001", "5.00", &url).await;
    m.refund("R200001", "1.00", Some("RF1")).await;
    let again = m.refund("R200001", "1.00", Some("RF1")).await;
    assert_eq!(again.code(), ("10000", ""));
    assert_eq!(
        (&again.inner["fund_change"], &again.inner["refund_fee"]),
        (&json!("N"), &json!("1.00"))
    );
    let other = m.refund("R200001", "2.00", Some("RF1")).await;
    assert_eq!(other.code(), ("40004", "ACQ.DISCORDANT_REPEAT_REQUEST"));
    let notes = wait_for(&seen, 3).await;
    assert_eq!(notes.len(), 2, "the payment and one refund");
    assert_eq!(
        m.sim.trade("R200001").await.expect("trade")["calls"]["alipay.trade.refund"],
        3
    );
}

#[tokio::test]
async fn refunds_beyond_the_paid_amount_or_of_unpaid_trades_are_refused() {
    let m = Merchant::start().await;
    paid(&m, "R300001", "5.00", NOWHERE).await;
    let beyond = m.refund("R300001", "5.01", Some("RF1")).await;
    assert_eq!(beyond.code(), ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"));
    assert_eq!(beyond.sub_msg(), "退款金额超限");
    let partial_without_number = m.refund("R300001", "1.00", None).await;
    assert_eq!(
        partial_without_number.code(),
        ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    );
    assert_eq!(
        m.refund("R300001", "1.001", Some("RF2")).await.code(),
        ("40004", "ACQ.INVALID_PARAMETER")
    );
    let full = m.refund("R300001", "5", None).await;
    assert_eq!(
        (full.code(), &full.inner["refund_fee"]),
        (("10000", ""), &json!("5.00"))
    );
    m.precreate("R300002", "1.00", 600, NOWHERE).await;
    assert_eq!(
        m.refund("R300002", "1.00", Some("RF1")).await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    m.sim
        .scan("R300002", PayOptions::default())
        .await
        .expect("scanned");
    assert_eq!(
        m.refund("R300002", "1.00", Some("RF1")).await.code(),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );
    paid(&m, "R300003", "1.00", NOWHERE).await;
    m.sim.finish("R300003").await.expect("finished");
    assert_eq!(
        m.refund("R300003", "1.00", Some("RF1")).await.code(),
        ("40004", "ACQ.TRADE_HAS_FINISHED")
    );
}

#[tokio::test]
async fn the_refund_query_answers_a_refund_or_a_bare_success() {
    let m = Merchant::start().await;
    paid(&m, "R400001", "3.00", NOWHERE).await;
    m.refund("R400001", "1.25", Some("RF1")).await;
    let query = |no: &'static str, request: &'static str| {
        m.call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": no, "out_request_no": request}),
        )
    };
    let found = query("R400001", "RF1").await;
    assert_eq!(found.code(), ("10000", ""));
    assert_eq!(
        (
            &found.inner["refund_status"],
            &found.inner["refund_amount"],
            &found.inner["total_amount"],
            &found.inner["out_request_no"]
        ),
        (
            &json!("REFUND_SUCCESS"),
            &json!("1.25"),
            &json!("3.00"),
            &json!("RF1")
        )
    );
    let unknown = query("R400001", "RF9").await;
    assert_eq!(unknown.code(), ("10000", ""));
    assert!(
        unknown.inner.get("refund_status").is_none()
            && unknown.inner.get("refund_amount").is_none(),
        "{}",
        unknown.raw
    );
    assert_eq!(
        query("R999999", "RF1").await.code(),
        ("40004", "TRADE_NOT_EXIST")
    );
    let missing = m
        .call(
            "alipay.trade.fastpay.refund.query",
            json!({"out_trade_no": "R400001"}),
        )
        .await;
    assert_eq!(missing.code(), ("40004", "ACQ.INVALID_PARAMETER"));
}
