//! Notifications over real HTTP: encrypted and signed, retried on the (compressed)
//! schedule until acknowledged, dropped by the knob, and sent with faults on demand.

use std::time::Duration;

use rsa::pkcs1v15::VerifyingKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::json;

use super::super::{Fault, Knobs, NotifyRequest, PayOptions, SimError};
use super::support::{fixture, receiver, wait_for, Merchant};

#[tokio::test]
async fn a_paid_trade_is_notified_encrypted_and_signed_and_retried_until_204() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![500, 500]).await;
    m.create("native", m.order("N100001", 1234, 600, &url))
        .await;
    let paid = m
        .sim
        .pay("N100001", PayOptions::default())
        .await
        .expect("paid");
    let seen = wait_for(&seen, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen.len(), 3, "500, 500, then 204 stops the retries");
    let last = &seen[2];
    assert!(last.verifies(&m.platform));
    assert_eq!(
        last.header("wechatpay-serial"),
        m.config.platform_public_key_id
    );
    assert_eq!(last.header("content-type"), "application/json");
    let envelope = last.envelope();
    assert_eq!(
        (
            &envelope["event_type"],
            &envelope["resource_type"],
            &envelope["summary"]
        ),
        (
            &json!("TRANSACTION.SUCCESS"),
            &json!("encrypt-resource"),
            &json!("支付成功")
        )
    );
    assert_eq!(
        envelope["resource"]["nonce"].as_str().map(str::len),
        Some(12)
    );
    assert_eq!(
        seen[0].body, last.body,
        "the same notification on every retry"
    );
    let tx = last
        .resource(&m.apiv3_key())
        .expect("decrypts with the APIv3 key");
    assert_eq!(
        (
            &tx["trade_state"],
            &tx["amount"]["total"],
            &tx["transaction_id"]
        ),
        (&json!("SUCCESS"), &json!(1234), &paid["transaction_id"])
    );
    assert_eq!(tx["mchid"], m.config.mchid);
    let trade = m.sim.trade("N100001").await.expect("trade");
    let statuses: Vec<_> = trade["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| n["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(500), json!(500), json!(204)]);
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
    m.create("native", m.order("N200001", 100, 600, &url)).await;
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
    let (url, seen) = receiver(vec![]).await;
    m.create("native", m.order("N300001", 700, 600, &url)).await;
    let key = m.apiv3_key();
    let other = VerifyingKey::from_public_key_pem(&fixture("other_public_key.pem")).expect("key");

    let (status, body) = m
        .sim
        .notify_now("N300001", Fault::None)
        .await
        .expect("answered");
    assert_eq!((status, body.as_str()), (204, ""));
    let trade = m.sim.trade("N300001").await.expect("trade");
    assert_eq!(
        trade["trade_state"], "NOTPAY",
        "a forced notification changes nothing"
    );

    let faults = [
        Fault::BadSignature,
        Fault::StaleTimestamp,
        Fault::Undecryptable,
        Fault::Signtest,
        Fault::WrongSerial,
    ];
    for fault in faults {
        m.sim.notify_now("N300001", fault).await.expect("answered");
    }
    let request = NotifyRequest {
        fault: Fault::None,
        amount_total: Some(1),
    };
    m.sim
        .notify_now("N300001", request)
        .await
        .expect("answered");
    let seen = wait_for(&seen, 7).await;
    let [none, bad, stale, undecryptable, signtest, serial, amount] = seen.as_slice() else {
        panic!("seven notifications, got {}", seen.len());
    };
    let tx = none.resource(&key).expect("decrypts");
    assert_eq!(
        (&tx["trade_state"], &tx["amount"]["total"]),
        (&json!("SUCCESS"), &json!(700))
    );
    assert!(none.verifies(&m.platform));

    assert!(!bad.verifies(&m.platform) && bad.verifies(&other));
    assert!(stale.verifies(&m.platform));
    let age = time::OffsetDateTime::now_utc().unix_timestamp()
        - stale
            .header("wechatpay-timestamp")
            .parse::<i64>()
            .expect("seconds");
    assert!((590..=660).contains(&age), "ten minutes old: {age}");
    assert!(undecryptable.verifies(&m.platform));
    assert!(undecryptable.resource(&key).is_none());
    assert!(signtest
        .header("wechatpay-signature")
        .starts_with("WECHATPAY/SIGNTEST/"));
    assert!(serial.verifies(&m.platform));
    assert_ne!(
        serial.header("wechatpay-serial"),
        m.config.platform_public_key_id
    );
    assert!(amount.verifies(&m.platform));
    let tx = amount.resource(&key).expect("decrypts");
    assert_eq!(
        (&tx["amount"]["total"], &tx["amount"]["payer_total"]),
        (&json!(1), &json!(1))
    );
}

#[tokio::test]
async fn notify_now_over_http_answers_the_receivers_reply_or_502() {
    let m = Merchant::start().await;
    let (url, _seen) = receiver(vec![400]).await;
    m.create("native", m.order("N400001", 100, 600, &url)).await;
    m.create(
        "native",
        m.order("N400002", 100, 600, "http://127.0.0.1:1/n"),
    )
    .await;
    let (status, reply) = m
        .control("N400001", "notify", json!({"fault": "signtest"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["status"], 400);
    assert!(reply["body"].as_str().unwrap_or_default().contains("FAIL"));
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
}

#[tokio::test]
async fn a_succeeded_refund_is_notified_with_its_refund_resource() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    m.create("native", m.order("N500001", 900, 600, &url)).await;
    m.sim
        .pay("N500001", PayOptions::default())
        .await
        .expect("paid");
    wait_for(&seen, 1).await;
    let refund = m.refund("N500001", "NRF1", (400, 900), Some(&url)).await;
    assert_eq!(refund.status, 200, "{}", refund.body);
    let seen = wait_for(&seen, 2).await;
    let note = seen.get(1).expect("the refund's notification");
    assert!(note.verifies(&m.platform));
    let envelope = note.envelope();
    assert_eq!(
        (
            &envelope["event_type"],
            &envelope["resource"]["original_type"]
        ),
        (&json!("REFUND.SUCCESS"), &json!("refund"))
    );
    let r = note.resource(&m.apiv3_key()).expect("decrypts");
    assert_eq!(
        (
            &r["out_refund_no"],
            &r["refund_status"],
            &r["amount"]["refund"],
            &r["refund_id"]
        ),
        (
            &json!("NRF1"),
            &json!("SUCCESS"),
            &json!(400),
            &refund.body["refund_id"]
        )
    );
    assert_eq!(r["mchid"], m.config.mchid);
}
