//! Repay rules end to end: switching closes the old trade first, "already paid" stops the
//! switch, and concurrent identical pay calls (in one process or two) call the provider
//! once and all get the same answer.

use std::collections::HashMap;

use paygate_e2e::backends::ProductionServices;

use crate::process::start;
use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn channel_switch_closes_the_open_trade_first_then_opens_a_new_payment(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(400, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let (status, second) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(
        second["payment_no"], first["payment_no"],
        "a new payment number"
    );
    assert_eq!(second["action"]["type"], "qr_code");
    let old = app
        .sandbox_trade(first["payment_no"].as_str().expect("no"))
        .await;
    assert_eq!(
        (old["state"].clone(), old["counters"]["closed"].clone()),
        (json!("closed"), json!(1))
    );
    let old_payment: Value = app
        .get(
            &format!("/v1/payments/{}", first["payment_no"].as_str().expect("no")),
            &app.merchant.api_key,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(old_payment["state"], "closed");
    assert_eq!(app.order(id).await["open_payment_no"], second["payment_no"]);
}

async fn switch_finds_the_old_trade_paid_so_the_order_is_paid_and_nothing_new_starts(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(400, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let first_no = first["payment_no"].as_str().expect("no");
    assert_eq!(
        app.sandbox_pay(first_no, "?notify=false").await.status(),
        StatusCode::OK
    );
    let (status, body) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_paid")),
        "{body}"
    );
    let order = app.order(id).await;
    assert_eq!(
        (order["state"].clone(), order["paid_by"].clone()),
        (json!("paid"), json!(first_no))
    );
    let payments = app
        .db_i64("SELECT COUNT(*) FROM payments WHERE order_ids = $1", id)
        .await;
    assert_eq!(payments, 1, "no second payment was started");
}

async fn switch_with_the_old_provider_unreachable_is_refused_as_retryable(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(400, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "web").await;
    // The provider goes away: point the merchant's configuration at a closed port.
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
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let account = app.sandbox_account().await;
    let body = json!({"settings": {"sandbox_url": format!("http://127.0.0.1:{dead}/sandbox"), "account_id": cfg["settings"]["account_id"]},
        "secrets": {"api_key": account["api_key"]}});
    // Untested: it is broken on purpose.
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{}/providers/mock?test=false",
            app.url, app.merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "mock", "channel": "qr"}),
        )
        .await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "provider_unreachable").await;
    assert_eq!(
        app.order(id).await["open_payment_no"],
        first["payment_no"],
        "the old trade is still the open one"
    );
}

/// Fires `n` identical pay calls at once, spread over `urls`; returns the answers.
async fn concurrent_pays(
    urls: &[String],
    key: &str,
    order_id: &str,
    n: usize,
) -> Vec<(StatusCode, Value)> {
    let client = reqwest::Client::new();
    let calls = (0..n).map(|i| {
        let (client, url) = (client.clone(), urls[i % urls.len()].clone());
        let body = json!({"order_ids": [order_id], "provider": "mock", "channel": "qr"});
        let key = key.to_owned();
        tokio::spawn(async move {
            let r = client
                .post(format!("{url}/v1/payments"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("pay");
            (r.status(), r.json::<Value>().await.expect("json"))
        })
    });
    let mut answers = Vec::new();
    for call in futures_join(calls.collect()).await {
        answers.push(call);
    }
    answers
}

async fn futures_join(
    handles: Vec<tokio::task::JoinHandle<(StatusCode, Value)>>,
) -> Vec<(StatusCode, Value)> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Every answer is the same payment and action; exactly one request called the provider
/// (`reused: false`), all the others were answered without a provider call.
fn assert_one_payment_identical_answers(answers: &[(StatusCode, Value)]) {
    let (status, first) = &answers[0];
    assert_eq!(*status, StatusCode::CREATED, "{first}");
    for (s, a) in answers {
        assert_eq!(*s, StatusCode::CREATED, "{a}");
        for field in [
            "payment_no",
            "action",
            "amount",
            "expires_at",
            "provider_deadline",
            "state",
        ] {
            assert_eq!(a[field], first[field], "{field}");
        }
    }
    let called = answers.iter().filter(|(_, a)| a["reused"] == false).count();
    assert_eq!(called, 1, "exactly one answer comes from a provider call");
}

async fn hundred_concurrent_identical_pay_calls_make_one_provider_call(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let order = app.create_order(900, 600).await;
    let id = order["id"].as_str().expect("id");
    let answers = concurrent_pays(
        std::slice::from_ref(&app.url),
        &app.merchant.api_key,
        id,
        100,
    )
    .await;
    assert_one_payment_identical_answers(&answers);
    let payment_no = answers[0].1["payment_no"].as_str().expect("no");
    assert_eq!(
        app.sandbox_trade(payment_no).await["counters"]["created"],
        1,
        "one provider call"
    );
    assert_eq!(
        app.db_i64("SELECT COUNT(*) FROM payments WHERE order_ids = $1", id)
            .await,
        1,
        "one payment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_identical_pay_calls_make_one_provider_call_on_sqlite() {
    hundred_concurrent_identical_pay_calls_make_one_provider_call(Setting::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_identical_pay_calls_make_one_provider_call_on_postgres() {
    hundred_concurrent_identical_pay_calls_make_one_provider_call(Setting::Production).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_postgres_agree_on_one_provider_call() {
    let services = ProductionServices::create().await;
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let env = |dir: &tempfile::TempDir| -> HashMap<String, String> {
        let mut env: HashMap<String, String> = services.env().into_iter().collect();
        env.insert("PAYGATE_LISTEN".into(), "127.0.0.1:0".into());
        env.insert("PAYGATE_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("PAYGATE_LOG".into(), "warn".into());
        env
    };
    let (one, demo) = start(&env(&dirs[0]));
    let url_one = one.url.clone();
    let (two, _) = start(&env(&dirs[1]));
    let url_two = two.url.clone();
    let key = demo
        .expect("the first process creates the demo merchant")
        .api_key;
    let client = reqwest::Client::new();
    let order: Value = client
        .post(format!("{url_one}/v1/orders"))
        .bearer_auth(&key)
        .json(&json!({"out_trade_no": "TWO-1", "amount": 900, "currency": "CNY", "subject": "Tea", "ttl_seconds": 600}))
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id");
    let answers = concurrent_pays(&[url_one.clone(), url_two], &key, id, 100).await;
    assert_one_payment_identical_answers(&answers);
    let payment_no = answers[0].1["payment_no"].as_str().expect("no");
    let trade: Value = client
        .get(format!("{url_one}/sandbox/trades/{payment_no}"))
        .send()
        .await
        .expect("sandbox")
        .json()
        .await
        .expect("json");
    assert_eq!(
        trade["counters"]["created"], 1,
        "one provider call across both processes"
    );
}

async fn overlapping_combined_payments_close_the_open_trade_first(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let key = app.merchant.api_key.clone();
    let mut ids = Vec::new();
    for amount in [100, 200, 300] {
        let order = app.create_order(amount, 600).await;
        ids.push(order["id"].as_str().expect("id").to_owned());
    }
    let (a, b, c) = (ids[0].as_str(), ids[1].as_str(), ids[2].as_str());

    // A+B open together; the customer now pays A alone.
    let (status, ab) = app.pay(&key, &[a, b], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{ab}");
    let ab_no = ab["payment_no"].as_str().expect("no").to_owned();
    let (status, alone) = app.pay(&key, &[a], "web").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a switch, not a refusal: {alone}"
    );
    let a_no = alone["payment_no"].as_str().expect("no").to_owned();
    assert_ne!(a_no, ab_no, "a new payment number");
    assert_eq!(alone["amount"], 100);
    assert_eq!(
        app.sandbox_trade(&ab_no).await["state"],
        "closed",
        "the combined trade was closed at the provider first"
    );
    assert_eq!(
        app.order(b).await["open_payment_no"],
        Value::Null,
        "B is free again"
    );

    // A open alone; the customer now pays A+C: A's trade closes, one payment covers both.
    let (status, ac) = app.pay(&key, &[a, c], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{ac}");
    assert_eq!(ac["amount"], 400);
    assert_eq!(app.sandbox_trade(&a_no).await["state"], "closed");
    let ac_no = ac["payment_no"].as_str().expect("no");
    assert_eq!(app.order(a).await["open_payment_no"], json!(ac_no));
    assert_eq!(app.order(c).await["open_payment_no"], json!(ac_no));

    // Paying the new trade settles both orders, and only them.
    assert_eq!(app.sandbox_pay(ac_no, "").await.status(), StatusCode::OK);
    app.wait_for_order_state(a, "paid").await;
    app.wait_for_order_state(c, "paid").await;
    assert_eq!(app.order(b).await["state"], "pending");
}

fn hmac_hex(key: &str, message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn paid_amount_must_equal_the_payment_amount_or_the_payment_is_flagged(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let (merchant, account, key) = app.new_merchant_with_account("strict", &[]).await;
    let body = json!({"out_trade_no": "M-1", "amount": 500, "currency": "CNY", "subject": "Tea", "ttl_seconds": 600});
    let order: Value = app
        .post("/v1/orders", &merchant.api_key, &body)
        .await
        .json()
        .await
        .expect("json");
    let id = order["id"].as_str().expect("id");
    let (_, payment) = app.pay(&merchant.api_key, &[id], "web").await;
    let no = payment["payment_no"].as_str().expect("no");
    // A genuinely signed notification (the provider's key) that reports 1 fen paid.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let note = json!({"event": "trade.paid", "payment_no": no, "trade_id": "t", "state": "paid", "amount": 500,
        "currency": "CNY", "paid_amount": 1, "paid_at": now})
    .to_string();
    let r = app
        .client
        .post(format!("{}/v1/notify/mock/{}", app.url, merchant.id))
        .header("x-sandbox-account", &account)
        .header("x-sandbox-timestamp", now.to_string())
        .header("x-sandbox-nonce", "n0nce")
        .header(
            "x-sandbox-signature",
            hmac_hex(&key, &format!("{now}\nn0nce\n{note}")),
        )
        .body(note)
        .send()
        .await
        .expect("notify");
    assert_eq!(
        r.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "recorded, but not acknowledged: the provider keeps telling us while an operator looks"
    );
    let p: Value = app
        .get(&format!("/v1/payments/{no}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (p["state"].clone(), p["flag"].clone()),
        (json!("open"), json!("amount_mismatch"))
    );
    let order: Value = app
        .get(&format!("/v1/orders/{id}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(order["state"], "pending");
}

/// Stepped time: the cut-off (60 s by default) is checked against paygate's clock, to the
/// second.
async fn pay_is_taken_with_the_cutoff_left_and_refused_a_second_later(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let in_time = app.create_order(100, 600).await;
    let late = app.create_order(100, 601).await;
    app.advance(std::time::Duration::from_secs(540));
    let (status, body) = app
        .pay(
            &app.merchant.api_key,
            &[in_time["id"].as_str().expect("id")],
            "qr",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "60 s left: {body}");
    app.advance(std::time::Duration::from_secs(2));
    let (status, body) = app
        .pay(
            &app.merchant.api_key,
            &[late["id"].as_str().expect("id")],
            "qr",
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("order_expiring")),
        "59 s left: {body}"
    );
}

in_both_settings!(
    pay_is_taken_with_the_cutoff_left_and_refused_a_second_later,
    channel_switch_closes_the_open_trade_first_then_opens_a_new_payment,
    switch_finds_the_old_trade_paid_so_the_order_is_paid_and_nothing_new_starts,
    switch_with_the_old_provider_unreachable_is_refused_as_retryable,
    overlapping_combined_payments_close_the_open_trade_first,
    paid_amount_must_equal_the_payment_amount_or_the_payment_is_flagged,
);
