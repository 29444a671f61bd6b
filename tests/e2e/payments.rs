//! Payments end to end: pay through the real mock adapter component, the customer pays at
//! the sandbox, the notification settles the order exactly once.

use hmac::{Hmac, Mac};
use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

#[tokio::test]
async fn customer_pays_in_the_sandbox_and_the_notification_marks_the_order_paid() {
    let app = TestApp::spawn().await;
    let order = app.create_order(1234, 600).await;
    let id = order["id"].as_str().expect("id");

    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["amount"], 1234, "the amount comes from the order");
    assert_eq!(payment["state"], "open");
    assert_eq!(payment["reused"], false);
    assert_eq!(payment["action"]["type"], "redirect");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    assert!(payment_no.len() <= 32 && payment_no.bytes().all(|b| b.is_ascii_alphanumeric()));
    let pay_url = payment["action"]["url"].as_str().expect("redirect url");
    assert!(
        pay_url.ends_with(&format!("/sandbox/checkout/{payment_no}")),
        "{pay_url}"
    );

    // The customer opens the checkout page and presses Pay (a plain HTML form).
    let page = app.client.get(pay_url).send().await.expect("checkout page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("12.34") && html.contains("Green tea") && html.contains("<form"),
        "{html}"
    );
    let pressed = app
        .client
        .post(format!("{pay_url}/pay"))
        .send()
        .await
        .expect("pay button");
    assert!(
        pressed.status().is_success(),
        "after the 303 the page answers: {}",
        pressed.status()
    );

    let order = app.wait_for_order_state(id, "paid").await;
    assert_eq!(order["state"], "paid");
    assert_eq!(order["paid_by"], payment_no);
    let payment: Value = app
        .get(&format!("/v1/payments/{payment_no}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(payment["state"], "paid");
    assert_eq!(payment["order_ids"], json!([id]));
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["state"], "paid");
    assert_eq!(trade["counters"]["created"], 1);
}

/// `2025-01-02 03:04:05 UTC`, as the sandbox's checkout page shows an instant: an RFC 3339
/// time of paygate's API rounded up to the whole second, the provider's precision (paygate
/// rounds the deadline it sends up, never before its own).
fn as_checkout_shows(rfc3339: &str) -> String {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let whole = t.replace_nanosecond(0).expect("valid");
    let up = if whole == t {
        whole
    } else {
        whole + time::Duration::SECOND
    };
    let format = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC",
    )
    .expect("format description");
    up.format(&format).expect("format")
}

#[tokio::test]
async fn checkout_page_shows_the_order_s_deadline_and_sends_the_payer_back_to_return_url() {
    let app = TestApp::spawn().await;
    let order = app.create_order(700, 600).await;
    let id = order["id"].as_str().expect("id");
    let return_url = "https://shop.example.com/orders/A-7?paid=1&from=sandbox";
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "mock", "channel": "web",
                "payer": {"return_url": return_url}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let payment: Value = r.json().await.expect("json");
    let pay_url = payment["action"]["url"].as_str().expect("redirect url");

    let html = app
        .client
        .get(pay_url)
        .send()
        .await
        .expect("checkout page")
        .text()
        .await
        .expect("html");
    let expires_at = order["expires_at"].as_str().expect("expires_at");
    assert_eq!(payment["expires_at"], expires_at);
    let shown = as_checkout_shows(expires_at);
    assert!(
        html.contains(&format!("<th>Pay before</th><td>{shown}</td>")),
        "the order's deadline {expires_at}: {html}"
    );
    let provider_deadline = payment["provider_deadline"].as_str().expect("deadline");
    assert!(
        !html.contains(&as_checkout_shows(provider_deadline)),
        "not the provider's {provider_deadline}: {html}"
    );
    assert!(!html.contains("shop.example.com"), "not before paying");

    // Pay: the 303 leads to the success page, which sends the payer back to the merchant.
    let paid = app
        .client
        .post(format!("{pay_url}/pay"))
        .send()
        .await
        .expect("pay button");
    assert_eq!(paid.status(), StatusCode::OK);
    let html = paid.text().await.expect("html");
    let escaped = return_url.replace('&', "&amp;");
    assert!(
        html.contains(&format!(
            r#"<meta http-equiv="refresh" content="3;url={escaped}">"#
        )) && html.contains(&format!(r#"href="{escaped}">Back to the merchant</a>"#)),
        "{html}"
    );
    app.wait_for_order_state(id, "paid").await;
}

async fn notification_delivered_three_times_pays_the_order_once(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(500, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, payment) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(payment["action"]["type"], "qr_code");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    assert_eq!(
        app.sandbox_pay(payment_no, "?notify=false").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.order(id).await["state"],
        "pending",
        "no notification yet"
    );

    let mut versions = Vec::new();
    let mut paid_at = Vec::new();
    for _ in 0..3 {
        let r = app
            .client
            .post(format!("{}/sandbox/trades/{payment_no}/notify", app.url))
            .send()
            .await
            .expect("notify");
        let delivery: Value = r.json().await.expect("json");
        assert_eq!(
            delivery["status"], 200,
            "paygate acknowledges every delivery: {delivery}"
        );
        versions.push(
            app.db_i64("SELECT updated_at FROM orders WHERE id = $1", id)
                .await,
        );
        paid_at.push(app.order(id).await["paid_at"].clone());
    }
    assert_eq!(app.order(id).await["state"], "paid");
    assert_eq!(
        versions[0], versions[2],
        "the 2nd and 3rd deliveries changed nothing: {versions:?}"
    );
    assert_eq!(paid_at[0], paid_at[2]);
    let paid_count = app.db_i64("SELECT COUNT(*) FROM provider_notifications WHERE payment_no = $1 AND outcome = 'paid'", payment_no).await;
    assert_eq!(
        paid_count, 1,
        "one delivery paid the order, the others were recorded as unchanged"
    );
}

fn hmac_hex(key: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn forged_notification_changes_nothing() {
    let app = TestApp::spawn().await;
    let order = app.create_order(800, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    let cfg: Value = app
        .client
        .get(format!(
            "{}/admin/merchants/{}/providers/mock",
            app.url, app.merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    let account = cfg["settings"]["account_id"].as_str().expect("account id");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let body = json!({"event": "trade.paid", "payment_no": payment_no, "trade_id": "forged", "state": "paid",
        "amount": 800, "currency": "CNY", "paid_amount": 800, "paid_at": now.parse::<i64>().expect("n")})
    .to_string();
    let nonce = "forgednonce12345";
    let signature = hmac_hex("not-the-merchants-key", &format!("{now}\n{nonce}\n{body}"));
    let r = app
        .client
        .post(format!("{}/v1/notify/mock/{}", app.url, app.merchant.id))
        .header("content-type", "application/json")
        .header("x-sandbox-account", account)
        .header("x-sandbox-timestamp", &now)
        .header("x-sandbox-nonce", nonce)
        .header("x-sandbox-signature", signature)
        .body(body)
        .send()
        .await
        .expect("notify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "FAIL");
    assert_eq!(app.order(id).await["state"], "pending");
    let payment: Value = app
        .get(&format!("/v1/payments/{payment_no}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(payment["state"], "open");
    let refused = app
        .db_i64(
            "SELECT COUNT(*) FROM provider_notifications WHERE verified = 0 AND merchant_id = $1",
            &app.merchant.id,
        )
        .await;
    assert_eq!(refused, 1, "the refused notification is on record");

    let unknown = app
        .client
        .post(format!("{}/v1/notify/nosuch/{}", app.url, app.merchant.id))
        .body("{}")
        .send()
        .await
        .expect("notify");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

async fn repay_within_window_returns_stored_action_without_calling_the_provider(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(900, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    for _ in 0..3 {
        let (status, again) = app.pay(&app.merchant.api_key, &[id], "qr").await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(again["reused"], true);
        assert_eq!(again["payment_no"], first["payment_no"]);
        assert_eq!(again["action"], first["action"]);
    }
    let trade = app
        .sandbox_trade(first["payment_no"].as_str().expect("payment_no"))
        .await;
    assert_eq!(
        trade["counters"]["created"], 1,
        "the provider was called once"
    );
}

async fn pay_request_carrying_an_amount_is_refused(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(100, 600).await;
    let body =
        json!({"order_ids": [order["id"]], "provider": "mock", "channel": "web", "amount": 1});
    let r = app.post("/v1/payments", &app.merchant.api_key, &body).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "amount_not_allowed").await;
}

#[tokio::test]
async fn unknown_provider_or_channel_is_refused() {
    let app = TestApp::spawn().await;
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("id");
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "paypal", "channel": "web"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_provider").await;
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "mock", "channel": "carrier-pigeon"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_channel").await;
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [], "provider": "mock", "channel": "web"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_order_ids").await;
}

/// Stepped time: an order may not be created with less than the cut-off (60 s) left, so it
/// comes to have less than that left by time passing.
async fn pay_refused_when_less_than_the_cutoff_remains(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let order = app.create_order(100, 90).await;
    app.advance(std::time::Duration::from_secs(60));
    let (status, body) = app
        .pay(
            &app.merchant.api_key,
            &[order["id"].as_str().expect("id")],
            "web",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_expiring")),
        "{body}"
    );
}

async fn combined_payment_sums_the_orders_and_pays_them_together(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let a = app.create_order(100, 600).await;
    let b = app.create_order(250, 900).await;
    let ids = [a["id"].as_str().expect("id"), b["id"].as_str().expect("id")];
    let (status, payment) = app.pay(&app.merchant.api_key, &ids, "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["amount"], 350);
    assert_eq!(
        payment["expires_at"], a["expires_at"],
        "the earliest deadline"
    );
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    assert_eq!(app.sandbox_trade(payment_no).await["amount"], 350);
    assert_eq!(
        app.sandbox_pay(payment_no, "").await.status(),
        StatusCode::OK
    );
    for id in ids {
        assert_eq!(app.wait_for_order_state(id, "paid").await["state"], "paid");
    }
    let (status, body) = app.pay(&app.merchant.api_key, &ids[..1], "web").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_paid"))
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .expect("http")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/cancel",
        "/v1/payments",
        "/v1/payments/{payment_no}",
        "/v1/notify/{provider}/{merchant_id}",
        "/admin/merchants",
        "/admin/merchants/{id}/providers/{provider}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["PayBody"].is_object());
}

#[tokio::test]
async fn a_provider_the_merchant_has_not_configured_leaves_nothing_open() {
    let app = TestApp::spawn().await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    // The demo merchant has the mock configured, not WeChat Pay.
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "wechat", "channel": "native"}),
        )
        .await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "provider_not_configured",
    )
    .await;
    assert_eq!(
        app.order(id).await["open_payment_no"],
        Value::Null,
        "nothing reserved"
    );
    // The order can still be paid, and cancelled, with what the merchant has.
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
}

#[tokio::test]
async fn payer_details_a_provider_cannot_use_are_refused_naming_them() {
    let app = TestApp::spawn().await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    for (payer, field) in [
        (json!({"client_ip": "not-an-ip"}), "client_ip"),
        (json!({"return_url": "javascript:alert(1)"}), "return_url"),
        (json!({"open_id": ""}), "open_id"),
    ] {
        let r = app
            .post(
                "/v1/payments",
                &app.merchant.api_key,
                &json!({"order_ids": [id], "provider": "mock", "channel": "web", "payer": payer}),
            )
            .await;
        let message = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_payer").await;
        assert!(message.contains(field), "{message}");
    }
    assert_eq!(app.order(id).await["open_payment_no"], Value::Null);
}

in_both_settings!(
    notification_delivered_three_times_pays_the_order_once,
    repay_within_window_returns_stored_action_without_calling_the_provider,
    pay_request_carrying_an_amount_is_refused,
    pay_refused_when_less_than_the_cutoff_remains,
    combined_payment_sums_the_orders_and_pays_them_together,
);

/// The orders' own state answers first: paying a paid order through a provider the
/// merchant never configured is `order_paid`, not a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_order_paid_whatever_provider_is_named() {
    let app = TestApp::spawn_in(Setting::Embedded, &[]).await;
    let order = app.create_order(300, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, p) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let no = p["payment_no"].as_str().expect("no");
    assert_eq!(app.sandbox_pay(no, "").await.status(), StatusCode::OK);
    app.wait_for_order_state(id, "paid").await;
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "wechat", "channel": "native"}),
        )
        .await;
    assert_error(r, StatusCode::CONFLICT, "order_paid").await;
}
