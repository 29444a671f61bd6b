//! Notifications over real HTTP: signed forms, retried on the (compressed) schedule until the
//! receiver answers exactly `success`, dropped by the knob, and sent with faults on demand.

use std::time::Duration;

use serde_json::json;

use super::super::notify::FOREIGN_APP_ID;
use super::super::{Fault, Knobs, PayOptions, SimError};
use super::support::{public_key, receiver, wait_for, Merchant};

#[tokio::test]
async fn a_paid_trade_is_notified_as_a_signed_form_retried_until_exactly_success() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec!["fail", "SUCCESS"]).await;
    m.precreate("N100001", "12.34", 600, &url).await;
    let paid = m
        .sim
        .pay("N100001", PayOptions::default())
        .await
        .expect("paid");
    let notes = wait_for(&seen, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        seen.lock().await.len(),
        3,
        "fail, SUCCESS, then success stops the retries"
    );
    let last = &notes[2];
    assert_eq!(
        last.content_type,
        "application/x-www-form-urlencoded; charset=utf-8"
    );
    assert!(last.verifies(&m.alipay), "{}", last.body);
    assert!(!last.verifies(&public_key("other_public_key.pem")));
    assert_eq!(
        notes[0].body, last.body,
        "the same notification on every retry"
    );
    let f = last.fields();
    assert_eq!(
        (
            f["trade_status"].as_str(),
            f["total_amount"].as_str(),
            f["out_trade_no"].as_str()
        ),
        ("TRADE_SUCCESS", "12.34", "N100001")
    );
    assert_eq!(
        Some(&f["trade_no"]),
        paid["trade_no"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(
        (f["app_id"].as_str(), f["sign_type"].as_str()),
        (crate::APP_ID, "RSA2")
    );
    assert!(
        f["sign"].contains('+') || f["sign"].contains('/') || f["sign"].ends_with('='),
        "base64 survives the form"
    );
    let trade = m.sim.trade("N100001").await.expect("trade");
    let replies: Vec<_> = trade["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| (n["body"].clone(), n["acknowledged"].clone()))
        .collect();
    assert_eq!(
        replies,
        [
            (json!("fail"), json!(false)),
            (json!("SUCCESS"), json!(false)),
            (json!("success"), json!(true))
        ]
    );
    assert_eq!(
        (
            &trade["notifications_sent"],
            &trade["notifications_acknowledged"]
        ),
        (&json!(3), &json!(1))
    );
    let stats = m.sim.stats().await;
    assert_eq!(
        (stats.notifications_sent, stats.notifications_acknowledged),
        (3, 1)
    );
}

#[tokio::test]
async fn the_drop_knob_records_notifications_without_sending_them() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    m.sim
        .set_knobs(Knobs {
            drop_notifications: true,
            ..Knobs::default()
        })
        .await;
    m.precreate("N200001", "1.00", 600, &url).await;
    m.sim
        .pay("N200001", PayOptions::default())
        .await
        .expect("paid");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(seen.lock().await.is_empty());
    let trade = m.sim.trade("N200001").await.expect("trade");
    assert_eq!(trade["notifications"][0]["dropped"], true, "{trade}");
    assert_eq!(m.sim.stats().await.notifications_dropped, 1);
}

#[tokio::test]
async fn notify_now_sends_exactly_the_fault_asked_for() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec!["success", "fail"]).await;
    m.precreate("N300001", "7.00", 600, &url).await;
    let (status, body) = m
        .sim
        .notify_now("N300001", Fault::None)
        .await
        .expect("answered");
    assert_eq!((status, body.as_str()), (200, "success"));
    let (_, body) = m
        .sim
        .notify_now("N300001", Fault::BadSignature)
        .await
        .expect("answered");
    assert_eq!(body, "fail");
    for fault in [Fault::WrongAppId, Fault::WrongAmount, Fault::TamperedBody] {
        m.sim.notify_now("N300001", fault).await.expect("answered");
    }
    let notes = wait_for(&seen, 5).await;
    let [none, bad, app, amount, tampered] = notes.as_slice() else {
        panic!("five notifications, got {}", notes.len());
    };
    let f = none.fields();
    assert!(none.verifies(&m.alipay));
    assert_eq!(
        (f["trade_status"].as_str(), f["total_amount"].as_str()),
        ("TRADE_SUCCESS", "7.00")
    );
    assert!(!bad.verifies(&m.alipay) && bad.verifies(&public_key("other_public_key.pem")));
    assert!(app.verifies(&m.alipay));
    assert_eq!(app.fields()["app_id"], FOREIGN_APP_ID);
    assert!(amount.verifies(&m.alipay));
    assert_eq!(amount.fields()["total_amount"], "7.01");
    assert!(!tampered.verifies(&m.alipay));
    let trade = m.sim.trade("N300001").await.expect("trade");
    assert_eq!(
        (&trade["trade_status"], &trade["exists"]),
        (&json!("WAIT_BUYER_PAY"), &json!(false)),
        "nothing changed"
    );
    let faults: Vec<_> = trade["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["fault"].clone())
        .collect();
    assert_eq!(
        faults,
        [
            json!("none"),
            json!("bad_signature"),
            json!("wrong_app_id"),
            json!("wrong_amount"),
            json!("tampered_body")
        ]
    );
}

#[tokio::test]
async fn notify_now_over_http_answers_the_receivers_reply_or_502() {
    let m = Merchant::start().await;
    let (url, _seen) = receiver(vec!["fail"]).await;
    m.precreate("N400001", "1.00", 600, &url).await;
    m.precreate("N400002", "1.00", 600, "http://127.0.0.1:1/n")
        .await;
    let (status, reply) = m
        .control("N400001", "notify", json!({"fault": "tampered_body"}))
        .await;
    assert_eq!(
        (status, &reply["status"], &reply["body"]),
        (200, &json!(200), &json!("fail"))
    );
    let (status, _) = m.control("N400002", "notify", json!({})).await;
    assert_eq!(status, 502, "nobody answered");
    assert!(matches!(
        m.sim.notify_now("N400002", Fault::None).await,
        Err(SimError::NoAnswer(_))
    ));
    let (status, _) = m
        .control("N400001", "notify", json!({"fault": "nonsense"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(m.control("N999999", "notify", json!({})).await.0, 404);
}

#[tokio::test]
async fn finishing_a_paid_trade_is_notified_trade_finished() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    m.precreate("N500001", "2.00", 600, &url).await;
    m.sim
        .pay("N500001", PayOptions::default())
        .await
        .expect("paid");
    m.refund_then_finish("N500001").await;
    let notes = wait_for(&seen, 3).await;
    let last = notes.last().expect("notified").fields();
    assert_eq!(
        (last["trade_status"].as_str(), last["refund_fee"].as_str()),
        ("TRADE_FINISHED", "0.50")
    );
    assert!(
        !last.contains_key("out_biz_no"),
        "not a refund's notification"
    );
}

#[tokio::test]
async fn a_trade_without_notify_url_is_never_notified() {
    let m = Merchant::start().await;
    let mut params = m.params("alipay.trade.precreate", &m.order("N600001", "1.00", 600));
    m.sign_with(&m.key, &mut params);
    assert_eq!(m.send(&params).await.code(), ("10000", ""));
    m.sim
        .pay("N600001", PayOptions::default())
        .await
        .expect("paid");
    assert!(matches!(
        m.sim.notify_now("N600001", Fault::None).await,
        Err(SimError::NotAllowed(_))
    ));
    assert_eq!(
        m.sim.trade("N600001").await.expect("trade")["notifications"],
        json!([])
    );
}

impl Merchant {
    async fn refund_then_finish(&self, no: &str) {
        assert_eq!(
            self.refund(no, "0.50", Some("RF1")).await.code(),
            ("10000", "")
        );
        self.sim.finish(no).await.expect("finished");
    }
}
