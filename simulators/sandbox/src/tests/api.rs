//! Signatures, sign-up and trade creation.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use super::{harness, now_secs, trade_body};

#[tokio::test]
async fn sign_up_answers_an_account_id_and_a_43_character_base62_key() {
    let h = harness().await;
    let (status, body) = h.post("/sandbox/accounts").await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["account_id"].as_str().expect("account_id");
    let key = body["api_key"].as_str().expect("api_key");
    assert!(id.starts_with("sbx_"));
    assert_eq!(key.len(), 43);
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(
        !format!("{:?}", h.account).contains(&h.account.api_key),
        "Debug must not print the key"
    );
}

#[tokio::test]
async fn request_signed_with_the_account_key_is_accepted() {
    let h = harness().await;
    let (status, body) = h.create_trade(&trade_body("P1", 1234)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["payment_no"], "P1");
    assert_eq!(body["state"], "open");
    assert_eq!(body["pay_url"], "http://127.0.0.1:8080/sandbox/checkout/P1");
    assert!(body["trade_id"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn request_signed_with_a_wrong_key_is_refused_with_signature_invalid() {
    let h = harness().await;
    let body = trade_body("P1", 100).to_string();
    let request = h.signed_as(
        &h.account.account_id,
        "not-the-key",
        now_secs(),
        "POST",
        "/sandbox/api/trades",
        &body,
    );
    let (status, answer) = h.call(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["code"], "SIGNATURE_INVALID");
    assert!(answer["message"].is_string());
}

#[tokio::test]
async fn request_with_a_timestamp_over_300_s_away_is_refused_with_signature_invalid() {
    let h = harness().await;
    let body = trade_body("P1", 100).to_string();
    for timestamp in [now_secs() - 301, now_secs() + 301] {
        let request = h.signed_as(
            &h.account.account_id,
            &h.account.api_key,
            timestamp,
            "POST",
            "/sandbox/api/trades",
            &body,
        );
        let (status, answer) = h.call(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer["code"], "SIGNATURE_INVALID");
    }
    // Just inside the window is fine.
    let request = h.signed_as(
        &h.account.account_id,
        &h.account.api_key,
        now_secs() - 290,
        "POST",
        "/sandbox/api/trades",
        &body,
    );
    assert_eq!(h.call(request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_account_missing_headers_and_unprefixed_path_are_refused_with_signature_invalid() {
    let h = harness().await;
    let body = trade_body("P1", 100).to_string();
    let unknown = h.signed_as(
        "sbx_nobody",
        &h.account.api_key,
        now_secs(),
        "POST",
        "/sandbox/api/trades",
        &body,
    );
    let mut unsigned = Request::post("/sandbox/api/trades")
        .body(Body::from(body.clone()))
        .expect("request");
    unsigned.headers_mut().insert(
        "x-sandbox-account",
        h.account.account_id.parse().expect("header"),
    );
    // The signed path is the public one, `/sandbox/api/...`: signing the path without the
    // mount prefix must not verify.
    let mut wrong_path = h.signed_as(
        &h.account.account_id,
        &h.account.api_key,
        now_secs(),
        "POST",
        "/api/trades",
        &body,
    );
    *wrong_path.uri_mut() = "/sandbox/api/trades".parse().expect("uri");
    for request in [unknown, unsigned, wrong_path] {
        let (status, answer) = h.call(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer["code"], "SIGNATURE_INVALID");
    }
}

#[tokio::test]
async fn malformed_or_invalid_trade_fields_are_invalid_request() {
    let h = harness().await;
    let zero = trade_body("P1", 0);
    let mut past = trade_body("P2", 100);
    past["expires_at"] = json!(now_secs() - 5);
    let mut missing = trade_body("P3", 100);
    missing.as_object_mut().expect("object").remove("subject");
    let bad_number = trade_body("P/4", 100);
    let mut bad_currency = trade_body("P5", 100);
    bad_currency["currency"] = json!("cny");
    for body in [zero, past, missing, bad_number, bad_currency] {
        let (status, answer) = h.create_trade(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["code"], "INVALID_REQUEST", "{body}");
    }
    let (status, answer) = h
        .call(h.signed("POST", "/sandbox/api/trades", "{not json"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "INVALID_REQUEST");
}

#[tokio::test]
async fn creating_the_same_trade_again_answers_the_same_trade() {
    let h = harness().await;
    let (_, first) = h.create_trade(&trade_body("P1", 1234)).await;
    let (status, second) = h.create_trade(&trade_body("P1", 1234)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second, first);
    assert_eq!(h.detail("P1").await["counters"]["created"], 2);
}

#[tokio::test]
async fn creating_a_trade_again_with_another_amount_currency_or_account_is_param_mismatch() {
    let h = harness().await;
    h.open_trade("P1", 1234).await;
    let mut other_currency = trade_body("P1", 1234);
    other_currency["currency"] = json!("USD");
    for body in [trade_body("P1", 999), other_currency] {
        let (status, answer) = h.create_trade(&body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["code"], "PARAM_MISMATCH");
    }
    let other = h.sandbox.create_account().await.expect("account");
    let request = h.signed_as(
        &other.account_id,
        &other.api_key,
        now_secs(),
        "POST",
        "/sandbox/api/trades",
        &trade_body("P1", 1234).to_string(),
    );
    let (status, answer) = h.call(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "PARAM_MISMATCH");
}

#[tokio::test]
async fn creating_a_trade_again_may_shorten_the_deadline_but_never_extend_it_past_the_first() {
    let h = harness().await;
    let first = now_secs() + 600;
    let mut body = trade_body("P1", 100);
    body["expires_at"] = json!(first);
    h.create_trade(&body).await;
    body["expires_at"] = json!(first + 600);
    h.create_trade(&body).await;
    assert_eq!(h.detail("P1").await["expires_at"], first);
    body["expires_at"] = json!(first - 300);
    h.create_trade(&body).await;
    assert_eq!(h.detail("P1").await["expires_at"], first - 300);
    body["expires_at"] = json!(first - 100);
    h.create_trade(&body).await;
    assert_eq!(h.detail("P1").await["expires_at"], first - 100);
}

#[tokio::test]
async fn another_accounts_trade_is_trade_not_found() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    let other = h.sandbox.create_account().await.expect("account");
    let request = h.signed_as(
        &other.account_id,
        &other.api_key,
        now_secs(),
        "GET",
        "/sandbox/api/trades/P1",
        "",
    );
    let (status, answer) = h.call(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["code"], "TRADE_NOT_FOUND");
    let (status, answer) = h
        .call(h.signed("GET", "/sandbox/api/trades/NOPE", ""))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["code"], "TRADE_NOT_FOUND");
}

#[tokio::test]
async fn query_answers_the_trade_in_unix_seconds_and_counts_the_call() {
    let h = harness().await;
    h.open_trade("P1", 1234).await;
    let (status, open) = h.call(h.signed("GET", "/sandbox/api/trades/P1", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open["state"], "open");
    assert_eq!(open["amount"], 1234);
    assert_eq!(open["currency"], "CNY");
    assert!(open["paid_amount"].is_null() && open["paid_at"].is_null());
    assert_eq!(open["refunded_amount"], 0);
    h.pay("P1").await;
    let (_, paid) = h.call(h.signed("GET", "/sandbox/api/trades/P1", "")).await;
    assert_eq!(paid["state"], "paid");
    assert_eq!(paid["paid_amount"], 1234);
    let paid_at = paid["paid_at"].as_i64().expect("paid_at");
    assert!((paid_at - now_secs()).abs() <= 5, "paid_at is in seconds");
    assert_eq!(h.detail("P1").await["counters"]["queried"], 2);
}
