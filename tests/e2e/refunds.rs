//! Refunds end to end: money paygate must not keep goes back through the adapter, and
//! merchants refund in parts, never past what was paid.

use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn payment(app: &TestApp, payment_no: &str) -> Value {
    app.get(&format!("/v1/payments/{payment_no}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json")
}

async fn wait_for_payment_state(app: &TestApp, payment_no: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let p = payment(app, payment_no).await;
        if p["state"] == state || tokio::time::Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn money_paid_to_a_closed_payment_is_kept_once_and_the_rest_refunded(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(1000, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let (_, second) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    let (a, b) = (
        first["payment_no"].as_str().expect("no"),
        second["payment_no"].as_str().expect("no"),
    );
    assert_ne!(a, b);
    // The customer pays the new trade, then the old one too (a close and a payment raced).
    assert_eq!(app.sandbox_pay(b, "").await.status(), StatusCode::OK);
    assert_eq!(app.wait_for_order_state(id, "paid").await["paid_by"], b);
    assert_eq!(
        app.sandbox_pay(a, "?late=true").await.status(),
        StatusCode::OK
    );

    let late = wait_for_payment_state(&app, a, "refunded").await;
    assert_eq!(late["state"], "refunded", "{late}");
    assert_eq!(late["flag"], "late_payment");
    assert_eq!(late["refunds"][0]["kind"], "late_payment");
    assert_eq!(late["refunds"][0]["state"], "succeeded");
    assert_eq!(late["refunds"][0]["amount"], 1000);
    let trade = app.sandbox_trade(a).await;
    assert_eq!(
        (trade["state"].clone(), trade["refunded_amount"].clone()),
        (json!("refunded"), json!(1000)),
        "{trade}"
    );
    let kept = payment(&app, b).await;
    assert_eq!(
        (kept["state"].clone(), kept["refunded_amount"].clone()),
        (json!("paid"), json!(0))
    );
    let order = app.order(id).await;
    assert_eq!(
        (order["state"].clone(), order["paid_by"].clone()),
        (json!("paid"), json!(b)),
        "one payment kept"
    );

    let flags: Value = app
        .client
        .get(format!("{}/admin/flags", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("flags")
        .json()
        .await
        .expect("json");
    let listed = flags["payments"]
        .as_array()
        .expect("list")
        .iter()
        .any(|f| f["payment_no"] == a && f["flag"] == "late_payment");
    assert!(listed, "{flags}");
    // The merchant hears of `paid` once: one event for the order, whatever the late money did.
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = events
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(kinds, ["order.paid"], "{events}");
}

async fn merchant_refunds_in_parts_never_past_what_was_paid(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(1000, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, p) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let no = p["payment_no"].as_str().expect("no");
    assert_eq!(app.sandbox_pay(no, "").await.status(), StatusCode::OK);
    app.wait_for_order_state(id, "paid").await;

    let refund = |amount: i64, key: Option<&str>| {
        let mut req = app
            .client
            .post(format!("{}/v1/payments/{no}/refunds", app.url))
            .bearer_auth(&app.merchant.api_key);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.json(&json!({"amount": amount, "reason": "damaged"}))
            .send()
    };
    let first = refund(300, Some("r-1")).await.expect("refund");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    assert_eq!(
        (first["state"].clone(), first["amount"].clone()),
        (json!("succeeded"), json!(300))
    );
    let again: Value = refund(300, Some("r-1"))
        .await
        .expect("refund")
        .json()
        .await
        .expect("json");
    assert_eq!(
        again["refund_no"], first["refund_no"],
        "the same key answers the same refund"
    );
    let reused = refund(400, Some("r-1")).await.expect("refund");
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let too_much = refund(800, None).await.expect("refund");
    assert_eq!(too_much.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        too_much.json::<Value>().await.expect("json")["error"]["code"],
        "refund_exceeds_paid"
    );
    let rest = refund(700, None).await.expect("refund");
    assert_eq!(rest.status(), StatusCode::CREATED);

    let p = payment(&app, no).await;
    assert_eq!(
        (p["state"].clone(), p["refunded_amount"].clone()),
        (json!("refunded"), json!(1000)),
        "{p}"
    );
    assert_eq!(p["refunds"].as_array().map(Vec::len), Some(2));
    assert_eq!(app.order(id).await["state"], "refunded");
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_refunded"))
    );
    let trade = app.sandbox_trade(no).await;
    assert_eq!(
        (
            trade["refunded_amount"].clone(),
            trade["counters"]["refunded"].clone()
        ),
        (json!(1000), json!(2))
    );
}

#[tokio::test]
async fn an_unpaid_payment_cannot_be_refunded() {
    let app = TestApp::spawn().await;
    let order = app.create_order(1000, 600).await;
    let (_, p) = app
        .pay(
            &app.merchant.api_key,
            &[order["id"].as_str().expect("id")],
            "web",
        )
        .await;
    let r = app
        .post(
            &format!(
                "/v1/payments/{}/refunds",
                p["payment_no"].as_str().expect("no")
            ),
            &app.merchant.api_key,
            &json!({"amount": 1}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"]["code"],
        "payment_not_paid"
    );
}

/// Refunds that succeed at the same moment each see the other pending: the later one still
/// finds the payment refunded in full, and the order refunded with its event.
async fn refunds_finishing_together_refund_the_payment_in_full(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    for round in 0..3 {
        let order = app.create_order(1000, 600).await;
        let id = order["id"].as_str().expect("id");
        let (_, p) = app.pay(&app.merchant.api_key, &[id], "web").await;
        let no = p["payment_no"].as_str().expect("no").to_owned();
        assert_eq!(app.sandbox_pay(&no, "").await.status(), StatusCode::OK);
        app.wait_for_order_state(id, "paid").await;
        let refund = |amount: i64| {
            app.client
                .post(format!("{}/v1/payments/{no}/refunds", app.url))
                .bearer_auth(&app.merchant.api_key)
                .json(&json!({"amount": amount}))
                .send()
        };
        let (a, b) = tokio::join!(refund(600), refund(400));
        assert_eq!(a.expect("refund").status(), StatusCode::CREATED);
        assert_eq!(b.expect("refund").status(), StatusCode::CREATED);
        let payment = wait_for_payment_state(&app, &no, "refunded").await;
        assert_eq!(payment["state"], "refunded", "round {round}: {payment}");
        assert_eq!(
            app.wait_for_order_state(id, "refunded").await["state"],
            "refunded",
            "round {round}"
        );
    }
}

in_both_settings!(
    refunds_finishing_together_refund_the_payment_in_full,
    money_paid_to_a_closed_payment_is_kept_once_and_the_rest_refunded,
    merchant_refunds_in_parts_never_past_what_was_paid,
);

/// A merchant whose provider refuses refunds (`refunds=off`), and a payment of theirs paid
/// after another paid its order: paygate's refund of it fails and the payment is flagged
/// `refund_failed`. The merchant, and the payment as the merchant reads it.
async fn unrefundable_late_payment(app: &TestApp) -> (paygate_e2e::Merchant, Value) {
    let merchant = app.new_merchant("no refunds", &[("refunds", "off")]).await;
    let body = json!({"out_trade_no": "NR-1", "amount": 800, "currency": "CNY", "subject": "Tea", "ttl_seconds": 600});
    let order: Value = app
        .post("/v1/orders", &merchant.api_key, &body)
        .await
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&merchant.api_key, &[id], "web").await;
    let (_, second) = app.pay(&merchant.api_key, &[id], "qr").await;
    let (a, b) = (
        first["payment_no"].as_str().expect("no"),
        second["payment_no"].as_str().expect("no"),
    );
    assert_eq!(app.sandbox_pay(b, "").await.status(), StatusCode::OK);
    assert_eq!(
        app.sandbox_pay(a, "?late=true").await.status(),
        StatusCode::OK
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let late = loop {
        let p: Value = app
            .get(&format!("/v1/payments/{a}"), &merchant.api_key)
            .await
            .json()
            .await
            .expect("json");
        if p["flag"] == "refund_failed" || tokio::time::Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    (merchant, late)
}

/// `POST /admin/refunds/{refund_no}/retry` as the bootstrap admin (the action reads no
/// body): its status and JSON answer.
async fn retried(app: &TestApp, refund_no: &str) -> (StatusCode, Value) {
    app.admin_post(&format!("/admin/refunds/{refund_no}/retry"), &Value::Null)
        .await
}

/// The merchant's mock configuration with refunds on again (its other settings kept).
async fn allow_refunds(app: &TestApp, merchant: &paygate_e2e::Merchant) {
    let path = format!("/admin/merchants/{}/providers/mock", merchant.id);
    let (_, config) = app.admin_get(&path).await;
    let mut settings = config["settings"].clone();
    settings
        .as_object_mut()
        .expect("settings")
        .remove("refunds");
    let r = app
        .client
        .put(format!("{}{path}?test=false", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "settings": settings }))
        .send()
        .await
        .expect("configure");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn money_that_cannot_be_refunded_is_flagged_for_an_operator() {
    let app = TestApp::spawn().await;
    let (_, late) = unrefundable_late_payment(&app).await;
    let a = late["payment_no"].as_str().expect("no");
    assert_eq!(
        (late["state"].clone(), late["flag"].clone()),
        (json!("paid"), json!("refund_failed")),
        "{late}"
    );
    assert_eq!(late["refunds"][0]["state"], "failed");
    assert_eq!(
        late["refunded_amount"], 0,
        "a failed refund gives its reservation back"
    );
    let (_, flags) = app.admin_get("/admin/flags").await;
    assert!(
        flags["payments"]
            .as_array()
            .expect("list")
            .iter()
            .any(|f| f["payment_no"] == a && f["flag"] == "refund_failed"),
        "{flags}"
    );
    assert_eq!(
        flags["refunds"][0]["refund_no"], late["refunds"][0]["refund_no"],
        "the failed refund is listed: {flags}"
    );
}

#[tokio::test]
async fn an_operator_retries_a_failed_refund_under_its_own_number() {
    let app = TestApp::spawn().await;
    let (merchant, late) = unrefundable_late_payment(&app).await;
    let payment_no = late["payment_no"].as_str().expect("no");
    let refund_no = late["refunds"][0]["refund_no"].as_str().expect("refund no");

    // Still refused by the provider: failed again, with its words, the money not reserved.
    let (status, again) = retried(&app, refund_no).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["state"], "failed", "{again}");
    assert!(
        again["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{again}"
    );

    // The merchant's provider takes refunds again: the same refund goes through.
    allow_refunds(&app, &merchant).await;
    let (status, done) = retried(&app, refund_no).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["refund_no"].clone(), done["state"].clone()),
        (json!(refund_no), json!("succeeded")),
        "{done}"
    );
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["refunded_amount"], 800, "refunded once: {trade}");
    let p: Value = app
        .get(&format!("/v1/payments/{payment_no}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (p["state"].clone(), p["refunded_amount"].clone()),
        (json!("refunded"), json!(800)),
        "{p}"
    );
    assert_eq!(
        p["refunds"].as_array().map(Vec::len),
        Some(1),
        "the same refund"
    );
    assert_eq!(
        p["flag"], "refund_failed",
        "the flag waits for an operator's note"
    );

    let (status, not_failed) = retried(&app, refund_no).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(not_failed["error"]["code"], "refund_not_failed");
    let (status, _) = retried(&app, "r_missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, flags) = app.admin_get("/admin/flags").await;
    assert_eq!(flags["refunds"], json!([]), "{flags}");
}

#[tokio::test]
async fn a_failed_refund_is_not_retried_past_what_is_left_to_refund() {
    let app = TestApp::spawn().await;
    let (merchant, late) = unrefundable_late_payment(&app).await;
    let payment_no = late["payment_no"].as_str().expect("no");
    let refund_no = late["refunds"][0]["refund_no"].as_str().expect("refund no");
    allow_refunds(&app, &merchant).await;
    // The merchant refunds part of it meanwhile: 800 no longer fits.
    let r = app
        .post(
            &format!("/v1/payments/{payment_no}/refunds"),
            &merchant.api_key,
            &json!({ "amount": 300 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .post(
            &format!("/admin/refunds/{refund_no}/retry"),
            ADMIN_TOKEN,
            &Value::Null,
        )
        .await;
    let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_paid").await;
    assert!(
        message.contains("800") && message.contains("300"),
        "{message}"
    );
    let p: Value = app
        .get(&format!("/v1/payments/{payment_no}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(p["refunded_amount"], 300, "nothing reserved: {p}");
}
