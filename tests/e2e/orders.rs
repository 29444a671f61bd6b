//! Orders over REST: creation rules, bad input, idempotency, ownership, cancelling.

use paygate_e2e::{assert_error, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn order_body(out_trade_no: &str, amount: Value) -> Value {
    json!({"out_trade_no": out_trade_no, "amount": amount, "currency": "CNY", "subject": "Tea", "ttl_seconds": 600})
}

#[tokio::test]
async fn created_order_is_pending_with_its_deadline() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/v1/orders",
            &app.merchant.api_key,
            &order_body("A-1", json!(1234)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.expect("json");
    assert_eq!(order["state"], "pending");
    assert_eq!(order["amount"], 1234);
    assert_eq!(order["currency"], "CNY");
    assert_eq!(order["merchant_id"], app.merchant.id);
    assert!(order["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("ord_")));
    assert!(order["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        app.order(order["id"].as_str().expect("id")).await["state"],
        "pending"
    );
}

#[tokio::test]
async fn zero_negative_and_absurd_amounts_are_refused() {
    let app = TestApp::spawn().await;
    for (i, amount) in [json!(0), json!(-100), json!(10_000_000_001_i64)]
        .into_iter()
        .enumerate()
    {
        let r = app
            .post(
                "/v1/orders",
                &app.merchant.api_key,
                &order_body(&format!("A{i}"), amount),
            )
            .await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount").await;
    }
    for (i, amount) in [json!(1e30), json!(12.5), json!("100")]
        .into_iter()
        .enumerate()
    {
        let r = app
            .post(
                "/v1/orders",
                &app.merchant.api_key,
                &order_body(&format!("B{i}"), amount),
            )
            .await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    }
}

#[tokio::test]
async fn unknown_currency_missing_fields_and_long_subject_are_refused() {
    let app = TestApp::spawn().await;
    let key = &app.merchant.api_key;
    let mut body = order_body("C1", json!(100));
    body["currency"] = json!("XYZ");
    assert_error(
        app.post("/v1/orders", key, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_currency",
    )
    .await;

    let message = assert_error(
        app.post(
            "/v1/orders",
            key,
            &json!({"out_trade_no": "C2", "currency": "CNY", "subject": "Tea"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    assert!(message.contains("amount"), "{message}");

    let mut body = order_body("C3", json!(100));
    body["subject"] = json!("x".repeat(10_000));
    assert_error(
        app.post("/v1/orders", key, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_subject",
    )
    .await;

    let mut body = order_body("C4", json!(100));
    body["ttl_seconds"] = json!(0);
    assert_error(
        app.post("/v1/orders", key, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ttl",
    )
    .await;
}

#[tokio::test]
async fn an_order_that_could_never_be_paid_is_refused_with_both_numbers() {
    let app = TestApp::spawn().await;
    let key = &app.merchant.api_key;
    let mut body = order_body("TTL-1", json!(100));
    body["ttl_seconds"] = json!(30);
    let r = app.post("/v1/orders", key, &body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(refused["error"]["code"], "ttl_below_cutoff", "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "ttl_seconds 30 is shorter than the pay cut-off of 60 s: pays are refused in an order's last 60 s, so no payment could start; 61 is the least that leaves one second to pay"
    );
    body["ttl_seconds"] = json!(60);
    assert_error(
        app.post("/v1/orders", key, &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ttl_below_cutoff",
    )
    .await;
    body["ttl_seconds"] = json!(61);
    let r = app.post("/v1/orders", key, &body).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the shortest ttl that works"
    );
    let order: Value = r.json().await.expect("json");
    let (status, paid) = app
        .pay(key, &[order["id"].as_str().expect("id")], "web")
        .await;
    assert_eq!(status, StatusCode::CREATED, "and it can be paid: {paid}");
}

#[tokio::test]
async fn the_ttl_check_uses_the_configured_cutoff() {
    let app = TestApp::spawn_with(&[("PAYGATE_REPAY_CUTOFF", "5s")]).await;
    let key = &app.merchant.api_key;
    let mut body = order_body("TTL-2", json!(100));
    body["ttl_seconds"] = json!(6);
    let r = app.post("/v1/orders", key, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    body["out_trade_no"] = json!("TTL-3");
    body["ttl_seconds"] = json!(5);
    let r = app.post("/v1/orders", key, &body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = r.json().await.expect("json");
    assert_eq!(
        refused["error"]["message"],
        "ttl_seconds 5 is no longer than the pay cut-off of 5 s: pays are refused in an order's last 5 s, so no payment could start; 6 is the least that leaves one second to pay"
    );
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    let r = app
        .post_raw(
            "/v1/orders",
            &app.merchant.api_key,
            "{\"out_trade_no\": \"A\", amount: }",
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn requests_without_a_valid_api_key_are_401() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(format!("{}/v1/orders", app.url))
        .json(&order_body("D1", json!(1)))
        .send()
        .await
        .expect("http");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post(
            "/v1/orders",
            "pk_not-a-real-key",
            &order_body("D1", json!(1)),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn same_idempotency_key_and_body_returns_the_first_response() {
    let app = TestApp::spawn().await;
    let send = |body: Value| {
        app.client
            .post(format!("{}/v1/orders", app.url))
            .bearer_auth(&app.merchant.api_key)
            .header("Idempotency-Key", "key-1")
            .json(&body)
            .send()
    };
    let first = send(order_body("E1", json!(500))).await.expect("http");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let again = send(order_body("E1", json!(500))).await.expect("http");
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await.expect("json"), first);

    let other = send(order_body("E2", json!(700))).await.expect("http");
    assert_error(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
}

#[tokio::test]
async fn out_trade_no_is_unique_per_merchant() {
    let app = TestApp::spawn().await;
    let key = &app.merchant.api_key;
    let first: Value = app
        .post("/v1/orders", key, &order_body("F1", json!(100)))
        .await
        .json()
        .await
        .expect("json");
    let same = app
        .post("/v1/orders", key, &order_body("F1", json!(100)))
        .await;
    assert_eq!(
        same.status(),
        StatusCode::OK,
        "same content returns the existing order"
    );
    assert_eq!(same.json::<Value>().await.expect("json")["id"], first["id"]);
    let other = app
        .post("/v1/orders", key, &order_body("F1", json!(999)))
        .await;
    assert_error(other, StatusCode::CONFLICT, "out_trade_no_exists").await;

    let second = app.new_merchant("second shop", &[]).await;
    let theirs = app
        .post("/v1/orders", &second.api_key, &order_body("F1", json!(999)))
        .await;
    assert_eq!(
        theirs.status(),
        StatusCode::CREATED,
        "another merchant may use the same out_trade_no"
    );
}

#[tokio::test]
async fn another_merchants_order_is_not_found() {
    let app = TestApp::spawn().await;
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("id");
    let other = app.new_merchant("other", &[]).await;
    assert_error(
        app.get(&format!("/v1/orders/{id}"), &other.api_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (status, body) = app.pay(&other.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let r = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &other.api_key,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn cancelling_closes_the_open_trade_at_the_provider_first() {
    let app = TestApp::spawn().await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");

    let r = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &app.merchant.api_key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["state"], "cancelled");
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["state"], "closed");
    assert_eq!(trade["counters"]["closed"], 1);

    let (status, body) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_cancelled"))
    );
}

#[tokio::test]
async fn a_paid_order_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    // Paid at the provider, notification lost: the close finds the trade paid.
    assert_eq!(
        app.sandbox_pay(payment_no, "?notify=false").await.status(),
        StatusCode::OK
    );
    let r = app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &app.merchant.api_key,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "order_paid").await;
    assert_eq!(
        app.order(id).await["state"],
        "paid",
        "the close taught paygate the order was paid"
    );
}
