//! Pay, close, expiry and refunds: the trade's state machine and its races.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{harness, trade_body, Harness};

async fn close(h: &Harness, payment_no: &str) -> (StatusCode, Value) {
    h.call(h.signed(
        "POST",
        &format!("/sandbox/api/trades/{payment_no}/close"),
        "",
    ))
    .await
}

async fn refund(
    h: &Harness,
    payment_no: &str,
    refund_no: &str,
    amount: i64,
) -> (StatusCode, Value) {
    let body = json!({"refund_no": refund_no, "amount": amount, "currency": "CNY", "reason": null})
        .to_string();
    h.call(h.signed(
        "POST",
        &format!("/sandbox/api/trades/{payment_no}/refunds"),
        &body,
    ))
    .await
}

#[tokio::test]
async fn close_of_an_open_trade_closes_it_and_closing_again_is_fine() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    for _ in 0..2 {
        let (status, body) = close(&h, "P1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"payment_no": "P1", "state": "closed"}));
    }
    assert_eq!(h.detail("P1").await["counters"]["closed"], 2);
}

#[tokio::test]
async fn close_of_paid_trade_is_refused_with_trade_paid() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    assert_eq!(h.pay("P1").await.0, StatusCode::OK);
    let (status, body) = close(&h, "P1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "TRADE_PAID");
    assert_eq!(h.detail("P1").await["state"], "paid");
}

#[tokio::test]
async fn pay_of_closed_trade_is_refused_with_trade_closed() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    close(&h, "P1").await;
    let (status, body) = h.pay("P1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "TRADE_CLOSED");
}

#[tokio::test]
async fn pay_of_paid_trade_is_refused_with_trade_paid() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    h.pay("P1").await;
    let (status, body) = h.pay("P1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "TRADE_PAID");
}

#[tokio::test]
async fn late_pay_pays_a_closed_trade_and_answers_the_trade() {
    let h = harness().await;
    h.open_trade("P1", 1234).await;
    close(&h, "P1").await;
    let (status, body) = h
        .post("/sandbox/trades/P1/pay?notify=false&late=true")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "paid");
    assert_eq!(body["paid_amount"], 1234);
    assert_eq!(body, h.detail("P1").await);
}

// Multi-threaded so that the two requests really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_pay_and_close_have_exactly_one_winner() {
    let h = std::sync::Arc::new(harness().await);
    for i in 0..8 {
        let p = format!("RACE{i}");
        h.open_trade(&p, 100).await;
        let (h1, p1, h2, p2) = (h.clone(), p.clone(), h.clone(), p.clone());
        let paying = tokio::spawn(async move { h1.pay(&p1).await });
        let closing = tokio::spawn(async move { close(&h2, &p2).await });
        let (pay, close) = (
            paying.await.expect("pay task"),
            closing.await.expect("close task"),
        );
        let state = h.detail(&p).await["state"].clone();
        match (pay.0, close.0) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(close.1["code"], "TRADE_PAID");
                assert_eq!(state, "paid");
            }
            (StatusCode::CONFLICT, StatusCode::OK) => {
                assert_eq!(pay.1["code"], "TRADE_CLOSED");
                assert_eq!(state, "closed");
            }
            other => panic!("pay and close both won or both lost: {other:?} {pay:?} {close:?}"),
        }
    }
}

#[tokio::test]
async fn open_trade_past_its_deadline_reads_as_closed_and_cannot_be_paid() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    h.let_expire("P1").await;
    let (_, body) = h.call(h.signed("GET", "/sandbox/api/trades/P1", "")).await;
    assert_eq!(body["state"], "closed");
    let (status, body) = h.pay("P1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "TRADE_CLOSED");
    // Creating it again does not reopen it.
    let (status, body) = h.create_trade(&trade_body("P1", 100)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "closed");
}

#[tokio::test]
async fn expired_trade_is_refused_even_before_anyone_reads_it() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    h.let_expire("P1").await;
    let (status, body) = h.pay("P1").await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!("TRADE_CLOSED"))
    );
    let (status, body) = h
        .post("/sandbox/trades/P1/pay?notify=false&late=true")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "paid");
}

#[tokio::test]
async fn refunds_may_add_up_to_the_paid_amount_and_no_further() {
    let h = harness().await;
    h.open_trade("P1", 1000).await;
    h.pay("P1").await;
    let (status, first) = refund(&h, "P1", "R1", 600).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["state"], "succeeded");
    assert_eq!(first["amount"], 600);
    let (status, body) = refund(&h, "P1", "R2", 401).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "REFUND_AMOUNT_EXCEEDED");
    let (status, _) = refund(&h, "P1", "R2", 400).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refund(&h, "P1", "R3", 1).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("REFUND_AMOUNT_EXCEEDED"))
    );
    let detail = h.detail("P1").await;
    assert_eq!(detail["state"], "refunded");
    assert_eq!(detail["refunded_amount"], 1000);
    assert_eq!(detail["counters"]["refunded"], 4);
    // A refunded trade is still paid: closing it is refused.
    assert_eq!(close(&h, "P1").await.1["code"], "TRADE_PAID");
}

#[tokio::test]
async fn refund_no_used_again_answers_the_same_refund() {
    let h = harness().await;
    h.open_trade("P1", 1000).await;
    h.pay("P1").await;
    let (_, first) = refund(&h, "P1", "R1", 600).await;
    let (status, again) = refund(&h, "P1", "R1", 600).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(h.detail("P1").await["refunded_amount"], 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_refunds_never_exceed_the_paid_amount() {
    let h = std::sync::Arc::new(harness().await);
    h.open_trade("P1", 1000).await;
    h.pay("P1").await;
    let (h1, h2) = (h.clone(), h.clone());
    let a = tokio::spawn(async move { refund(&h1, "P1", "RA", 600).await });
    let b = tokio::spawn(async move { refund(&h2, "P1", "RB", 600).await });
    let (a, b) = (a.await.expect("refund task"), b.await.expect("refund task"));
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(
        codes,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "{a:?} {b:?}"
    );
    assert_eq!(h.detail("P1").await["refunded_amount"], 600);
    let (h1, h2) = (h.clone(), h.clone());
    let a = tokio::spawn(async move { refund(&h1, "P1", "RC", 100).await });
    let b = tokio::spawn(async move { refund(&h2, "P1", "RC", 100).await });
    let (a, b) = (a.await.expect("refund task"), b.await.expect("refund task"));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.1["refund_id"], b.1["refund_id"]);
    assert_eq!(h.detail("P1").await["refunded_amount"], 700);
}

#[tokio::test]
async fn refund_of_a_trade_that_is_not_paid_is_refused_with_trade_not_paid() {
    let h = harness().await;
    h.open_trade("P1", 1000).await;
    let (status, body) = refund(&h, "P1", "R1", 100).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "TRADE_NOT_PAID");
    let (status, body) = refund(&h, "NOPE", "R1", 100).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("TRADE_NOT_FOUND"))
    );
}
