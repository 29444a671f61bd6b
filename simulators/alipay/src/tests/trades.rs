//! Trades over real HTTP: a precreate trade exists once scanned; qr_codes, their lifetime and
//! paying through them; query, close, the trade closing by itself, finishing.

use std::time::Duration;

use serde_json::{json, Value};

use super::super::{PayOptions, SimError};
use super::support::{receiver, wait_for, Merchant, NOWHERE};

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms")
}

fn qr_codes(trade: &Value) -> Vec<Value> {
    trade["qr_codes"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_precreate_trade_exists_only_once_the_buyer_scans() {
    let m = Merchant::start().await;
    m.precreate("T100001", "12.34", 600, NOWHERE).await;
    assert_eq!(
        m.query("T100001").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    assert_eq!(
        m.close("T100001").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    let (status, view) = m.control("T100001", "scan", json!({})).await;
    assert_eq!((status, &view["exists"]), (200, &json!(true)), "{view}");
    let q = m.query("T100001").await;
    assert_eq!(q.code(), ("10000", ""));
    assert_eq!(q.inner["trade_status"], "WAIT_BUYER_PAY");
    assert_eq!(
        (&q.inner["total_amount"], &q.inner["buyer_pay_amount"]),
        (&json!("12.34"), &json!("0.00"))
    );
    assert_eq!(q.inner["trade_no"], view["trade_no"]);
    assert!(q.inner.get("send_pay_date").is_none());
    let by_trade_no = m
        .call("alipay.trade.query", json!({"trade_no": view["trade_no"]}))
        .await;
    assert_eq!(by_trade_no.inner["out_trade_no"], "T100001");
    assert_eq!(
        m.query("T999999").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    let trade = m.sim.trade("T100001").await.expect("trade");
    assert_eq!(trade["calls"]["alipay.trade.query"], 3, "{trade}");
    assert_eq!(trade["calls"]["alipay.trade.close"], 1);
}

#[tokio::test]
async fn a_paid_trade_answers_its_amounts_payment_date_and_funds() {
    let m = Merchant::start().await;
    m.precreate("T200001", "0.1", 600, NOWHERE).await;
    let view = m
        .sim
        .pay("T200001", PayOptions::default())
        .await
        .expect("paid");
    assert_eq!(
        (
            &view["trade_status"],
            &view["total_amount"],
            &view["total_fen"]
        ),
        (&json!("TRADE_SUCCESS"), &json!("0.10"), &json!(10))
    );
    let q = m.query("T200001").await.inner;
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    for k in ["total_amount", "buyer_pay_amount", "receipt_amount"] {
        assert_eq!(q[k], "0.10", "{k}");
    }
    assert_eq!(q["send_pay_date"], view["gmt_payment"]);
    assert_eq!(
        q["fund_bill_list"],
        json!([{"fund_channel": "ALIPAYACCOUNT", "amount": "0.10"}])
    );
    assert_eq!(q["trade_no"].as_str().map(str::len), Some(28));
    assert!(q["buyer_user_id"]
        .as_str()
        .is_some_and(|b| b.starts_with("2088")));
}

#[tokio::test]
async fn every_precreate_hands_out_a_fresh_qr_code_that_lives_two_hours() {
    let m = Merchant::start().await;
    let before = now_ms();
    let first = m.precreate("T300001", "1.00", 600, NOWHERE).await.inner["qr_code"].clone();
    let again = m.precreate("T300001", "1.00", 600, NOWHERE).await.inner["qr_code"].clone();
    assert_ne!(first, again);
    let trade = m.sim.trade("T300001").await.expect("trade");
    let listed = qr_codes(&trade);
    assert_eq!(listed.len(), 2);
    let two_hours = 2 * 3600 * 1000;
    for (qr, value) in listed.iter().zip([&first, &again]) {
        assert_eq!((&qr["qr_code"], &qr["expired"]), (value, &json!(false)));
        let expires = qr["expires_at_ms"].as_i64().expect("expiry");
        assert!(
            (before + two_hours..=now_ms() + two_hours).contains(&expires),
            "{qr}"
        );
    }
    let (status, view) = m.control("T300001", "pay", json!({"qr_code": first})).await;
    assert_eq!(
        (status, &view["trade_status"]),
        (200, &json!("TRADE_SUCCESS")),
        "an earlier one still works"
    );
    let repeat = m.precreate("T300001", "1.00", 600, NOWHERE).await;
    assert_eq!(repeat.code(), ("40004", "ACQ.TRADE_HAS_SUCCESS"));
}

#[tokio::test]
async fn a_repeated_precreate_with_another_amount_or_subject_is_context_inconsistent() {
    let m = Merchant::start().await;
    m.precreate("T400001", "1.00", 600, NOWHERE).await;
    assert_eq!(
        m.precreate("T400001", "1.01", 600, NOWHERE).await.code(),
        ("40004", "ACQ.CONTEXT_INCONSISTENT")
    );
    let mut other = m.order("T400001", "1.00", 600);
    other["subject"] = json!("Black tea");
    assert_eq!(
        m.call("alipay.trade.precreate", other).await.code(),
        ("40004", "ACQ.CONTEXT_INCONSISTENT")
    );
    assert_eq!(
        m.precreate("T400001", "1", 600, NOWHERE).await.code(),
        ("10000", ""),
        "1 equals 1.00"
    );
    assert_eq!(
        qr_codes(&m.sim.trade("T400001").await.expect("trade")).len(),
        2
    );
}

#[tokio::test]
async fn an_expired_or_unknown_qr_code_cannot_be_scanned_or_paid() {
    // 2 hours / 36 000 = 200 ms.
    let m = Merchant::start_with(|c| c.action_lifetime_scale = 36_000.0).await;
    let old = m.precreate("T500001", "1.00", 600, NOWHERE).await.inner["qr_code"].clone();
    let other = m.precreate("T500002", "1.00", 600, NOWHERE).await.inner["qr_code"].clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, why) = m.control("T500001", "scan", json!({"qr_code": old})).await;
    assert_eq!(status, 409);
    assert!(
        why["error"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{why}"
    );
    let refused = m
        .sim
        .pay(
            "T500001",
            PayOptions {
                qr_code: Some("https://qr.alipay.com/baxnothing".into()),
            },
        )
        .await;
    assert!(matches!(refused, Err(SimError::NotAllowed(why)) if why.contains("not handed out")));
    let (status, _) = m.control("T500001", "pay", json!({"qr_code": other})).await;
    assert_eq!(status, 409, "another trade's qr_code");
    let trade = m.sim.trade("T500001").await.expect("trade");
    assert_eq!(
        (&trade["exists"], &qr_codes(&trade)[0]["expired"]),
        (&json!(false), &json!(true))
    );
    let fresh = m.precreate("T500001", "1.00", 600, NOWHERE).await.inner["qr_code"].clone();
    let (status, view) = m.control("T500001", "pay", json!({"qr_code": fresh})).await;
    assert_eq!(
        (status, &view["trade_status"]),
        (200, &json!("TRADE_SUCCESS")),
        "{view}"
    );
    let (status, _) = m.control("T500001", "pay", json!({"qr": "x"})).await;
    assert_eq!(status, 422, "an unknown option is refused");
    assert_eq!(m.control("T999999", "pay", json!({})).await.0, 404);
}

#[tokio::test]
async fn close_closes_a_waiting_trade_and_refuses_a_paid_or_closed_one() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    for no in ["T600001", "T600002"] {
        m.precreate(no, "1.00", 600, &url).await;
        m.sim
            .scan(no, PayOptions::default())
            .await
            .expect("scanned");
    }
    m.sim
        .pay("T600001", PayOptions::default())
        .await
        .expect("paid");
    assert_eq!(
        m.close("T600001").await.code(),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );
    let closed = m.close("T600002").await;
    assert_eq!(closed.code(), ("10000", ""));
    assert_eq!(closed.inner["out_trade_no"], "T600002");
    assert_eq!(
        m.query("T600002").await.inner["trade_status"],
        "TRADE_CLOSED"
    );
    assert_eq!(
        m.close("T600002").await.code(),
        ("40004", "ACQ.TRADE_STATUS_ERROR")
    );
    let (status, why) = m.control("T600002", "pay", json!({})).await;
    assert_eq!(status, 409);
    assert!(why["error"]
        .as_str()
        .unwrap_or_default()
        .contains("closed by the merchant"));
    let notes = wait_for(&seen, 2).await;
    let statuses: Vec<String> = notes
        .iter()
        .map(|n| n.fields()["trade_status"].clone())
        .collect();
    assert!(
        statuses.contains(&"TRADE_CLOSED".to_owned()),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_unpaid_trade_closes_by_itself_at_time_expire_and_is_notified() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    m.precreate("T700001", "1.00", 1, &url).await;
    m.precreate("T700002", "1.00", 1, &url).await;
    m.sim
        .scan("T700001", PayOptions::default())
        .await
        .expect("scanned");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let trade = m.sim.trade("T700001").await.expect("trade");
    assert_eq!(
        (&trade["trade_status"], &trade["closed_by"]),
        (&json!("TRADE_CLOSED"), &json!("time_expire"))
    );
    let notes = wait_for(&seen, 1).await;
    assert_eq!(notes.len(), 1, "the unscanned pre-order is not notified");
    assert_eq!(notes[0].fields()["out_trade_no"], "T700001");
    assert_eq!(notes[0].fields()["trade_status"], "TRADE_CLOSED");
    assert!(
        matches!(m.sim.pay("T700001", PayOptions::default()).await, Err(SimError::NotAllowed(why)) if why.contains("expired"))
    );
    assert_eq!(
        m.query("T700002").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST")
    );
    assert_eq!(
        m.precreate("T700002", "1.00", 600, &url).await.code(),
        ("40004", "ACQ.TRADE_HAS_CLOSE")
    );
}

#[tokio::test]
async fn finish_ends_the_refund_period_and_a_paid_trade_finishes_by_itself_too() {
    let m = Merchant::start_with(|c| c.refund_period = Duration::from_secs(1)).await;
    m.precreate("T800001", "1.00", 600, NOWHERE).await;
    m.precreate("T800002", "1.00", 600, NOWHERE).await;
    assert!(
        matches!(m.sim.finish("T800002").await, Err(SimError::NotAllowed(_))),
        "unpaid"
    );
    m.sim
        .pay("T800001", PayOptions::default())
        .await
        .expect("paid");
    let (status, view) = m.control("T800002", "pay", json!({})).await;
    assert_eq!(status, 200, "{view}");
    let (status, view) = m.control("T800002", "finish", json!({})).await;
    assert_eq!(
        (status, &view["trade_status"]),
        (200, &json!("TRADE_FINISHED"))
    );
    assert_eq!(
        m.query("T800002").await.inner["trade_status"],
        "TRADE_FINISHED"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        m.query("T800001").await.inner["trade_status"],
        "TRADE_FINISHED"
    );
}
