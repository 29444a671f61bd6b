//! Refunds over real HTTP: the refund rules, the refund query (its answer, its 404, its
//! count in the stats), and the outcomes a refund can settle to.

use std::time::Duration;

use serde_json::json;

use super::super::{Knobs, PayOptions, RefundOutcome};
use super::support::{receiver, wait_for, Merchant};

const NOWHERE: &str = "http://127.0.0.1:1/notify";

#[tokio::test]
async fn a_refund_needs_a_paid_trade_and_its_number_makes_it_idempotent() {
    let m = Merchant::start().await;
    m.create("native", m.order("R100001", 1000, 600, NOWHERE))
        .await;
    assert_eq!(
        m.refund("R100001", "RF1", (300, 1000), None).await.code(),
        (400, "INVALID_REQUEST"),
        "not paid yet"
    );
    m.sim
        .pay("R100001", PayOptions::default())
        .await
        .expect("paid");
    let first = m.refund("R100001", "RF1", (300, 1000), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        (&first.body["status"], &first.body["amount"]["refund"]),
        (&json!("SUCCESS"), &json!(300))
    );
    let again = m.refund("R100001", "RF1", (300, 1000), None).await;
    assert_eq!(
        again.body["refund_id"], first.body["refund_id"],
        "the same refund"
    );
    assert_eq!(
        m.refund("R100001", "RF1", (301, 1000), None).await.code(),
        (400, "INVALID_REQUEST")
    );
    assert_eq!(
        m.refund("R100001", "RF2", (300, 999), None).await.code(),
        (400, "PARAM_ERROR"),
        "the total must be the trade's"
    );
    assert_eq!(
        m.refund("R100001", "RF2", (701, 1000), None).await.code(),
        (400, "INVALID_REQUEST"),
        "more than is left"
    );
    assert_eq!(
        m.refund("R100001", "RF2", (700, 1000), None).await.status,
        200
    );
    let trade = m.sim.trade("R100001").await.expect("trade");
    assert_eq!(trade["trade_state"], "REFUND");
    assert_eq!(trade["refunds"].as_array().map(Vec::len), Some(2));
    let queried = m.call("GET", "/v3/refund/domestic/refunds/RF1", None).await;
    assert_eq!(queried.body["refund_id"], first.body["refund_id"]);
    assert_eq!(
        m.call("GET", "/v3/refund/domestic/refunds/RF9", None)
            .await
            .code(),
        (404, "RESOURCE_NOT_EXISTS")
    );
}

#[tokio::test]
async fn a_refund_stays_processing_for_the_knobs_time() {
    let m = Merchant::start().await;
    m.set_knobs_processing(300).await;
    m.create("native", m.order("R200001", 500, 600, NOWHERE))
        .await;
    m.sim
        .pay("R200001", PayOptions::default())
        .await
        .expect("paid");
    let a = m.refund("R200001", "RF3", (500, 500), None).await;
    assert_eq!(a.body["status"], "PROCESSING");
    assert!(a.body["success_time"].is_null());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let a = m.call("GET", "/v3/refund/domestic/refunds/RF3", None).await;
    assert_eq!(a.body["status"], "SUCCESS", "settled on time, asked or not");
    assert!(a.body["success_time"].as_str().is_some());
}

impl Merchant {
    async fn set_knobs_processing(&self, ms: u64) {
        self.sim
            .set_knobs(Knobs {
                refund_processing_ms: ms,
                ..Knobs::default()
            })
            .await;
    }
}

#[tokio::test]
async fn the_refund_query_answers_the_refund_and_is_counted_in_the_stats() {
    let m = Merchant::start().await;
    m.create("native", m.order("R300001", 800, 600, NOWHERE))
        .await;
    m.sim
        .pay("R300001", PayOptions::default())
        .await
        .expect("paid");
    let made = m.refund("R300001", "RF30", (250, 800), None).await;
    let a = m
        .call("GET", "/v3/refund/domestic/refunds/RF30", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.signer.is_some());
    assert_eq!(
        (
            &a.body["out_refund_no"],
            &a.body["out_trade_no"],
            &a.body["status"],
            &a.body["refund_id"]
        ),
        (
            &json!("RF30"),
            &json!("R300001"),
            &json!("SUCCESS"),
            &made.body["refund_id"]
        )
    );
    assert_eq!(
        (
            &a.body["amount"]["refund"],
            &a.body["amount"]["total"],
            &a.body["amount"]["currency"]
        ),
        (&json!(250), &json!(800), &json!("CNY"))
    );
    assert_eq!(a.body["transaction_id"].as_str().map(str::len), Some(28));
    let unknown = m
        .call("GET", "/v3/refund/domestic/refunds/RF39", None)
        .await;
    assert_eq!(unknown.code(), (404, "RESOURCE_NOT_EXISTS"));
    assert_eq!(unknown.message(), "退款单不存在");
    assert!(
        unknown.signer.is_some(),
        "a verified request's 404 is signed"
    );
    let stats = m.sim.stats().await;
    assert_eq!(
        stats.requests.get("GET /v3/refund/domestic/refunds/{no}"),
        Some(&2)
    );
    assert_eq!(
        stats.requests.get("POST /v3/refund/domestic/refunds"),
        Some(&1)
    );
}

#[tokio::test]
async fn a_refund_can_settle_closed_or_abnormal_as_the_knob_says() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![]).await;
    m.create("native", m.order("R400001", 600, 600, &url)).await;
    m.sim
        .pay("R400001", PayOptions::default())
        .await
        .expect("paid");
    wait_for(&seen, 1).await;
    let knobs = m
        .knobs(json!({"refund_outcome": "closed", "refund_processing_ms": 100}))
        .await;
    assert_eq!(knobs["refund_outcome"], "closed");
    let a = m.refund("R400001", "RF40", (600, 600), Some(&url)).await;
    assert_eq!(a.body["status"], "PROCESSING");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let a = m
        .call("GET", "/v3/refund/domestic/refunds/RF40", None)
        .await;
    assert_eq!(a.body["status"], "CLOSED");
    assert!(a.body.get("success_time").is_none(), "{}", a.body);
    let seen = wait_for(&seen, 2).await;
    let note = seen.get(1).expect("the closed refund's notification");
    assert_eq!(note.envelope()["event_type"], "REFUND.CLOSED");
    let resource = note.resource(&m.apiv3_key()).expect("decrypts");
    assert_eq!(resource["refund_status"], "CLOSED");
    let trade = m.sim.trade("R400001").await.expect("trade");
    assert_eq!(
        (&trade["trade_state"], &trade["refunded"]),
        (&json!("SUCCESS"), &json!(0)),
        "a closed refund gave its amount back"
    );

    m.sim
        .set_knobs(Knobs {
            refund_outcome: RefundOutcome::Abnormal,
            ..Knobs::default()
        })
        .await;
    let a = m.refund("R400001", "RF41", (600, 600), None).await;
    assert_eq!(
        (a.status, &a.body["status"]),
        (200, &json!("ABNORMAL")),
        "{}",
        a.body
    );
    let a = m
        .call("GET", "/v3/refund/domestic/refunds/RF41", None)
        .await;
    assert_eq!(a.body["status"], "ABNORMAL");
}
