//! A merchant's own lists (`GET /v1/orders`, `/v1/payments`, `/v1/refunds`): newest first,
//! every item once across pages, narrowed by state, time and provider, never another
//! merchant's, and every bad parameter refused by name.

use paygate_e2e::{Setting, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn list(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let r = app.get(path, &app.merchant.api_key).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The ids in `field` of every page of `path` (which has no `?`), following `next_cursor`
/// with `limit` items a page.
async fn every_page(app: &TestApp, path: &str, field: &str, id: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let (status, page) = list(app, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let items = page[field].as_array().expect("items");
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|i| i[id].as_str().expect("id").to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
    panic!("{path}: more pages than items");
}

async fn a_merchant_lists_its_orders_payments_and_refunds_page_by_page(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            app.create_order(300, 600).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mut paid = Vec::new();
    for id in &created[..2] {
        let (status, payment) = app.pay(&app.merchant.api_key, &[id], "web").await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");
        let no = payment["payment_no"].as_str().expect("no").to_owned();
        assert_eq!(app.sandbox_pay(&no, "").await.status(), StatusCode::OK);
        app.wait_paid(&app.merchant.api_key, id).await;
        paid.push(no);
    }
    let r = app
        .post(
            &format!("/v1/payments/{}/refunds", paid[0]),
            &app.merchant.api_key,
            &json!({"amount": 100}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Another merchant's order is never in this one's lists.
    let other = app.new_merchant("other-shop", &[]).await;
    let r = app
        .post("/v1/orders", &other.api_key, &json!({"out_trade_no": "other-1", "amount": 100, "currency": "CNY", "subject": "x", "ttl_seconds": 600}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Newest first, each once, across pages of 2.
    let orders = every_page(&app, "/v1/orders", "orders", "id", 2).await;
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(orders, newest_first);
    assert_eq!(
        every_page(&app, "/v1/payments", "payments", "payment_no", 1).await,
        vec![paid[1].clone(), paid[0].clone()]
    );
    let refunds = every_page(&app, "/v1/refunds", "refunds", "refund_no", 50).await;
    assert_eq!(refunds.len(), 1);

    // Narrowed by state, provider and time.
    let (_, page) = list(&app, "/v1/orders?state=paid").await;
    let ids: Vec<&str> = page["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids, [created[1].as_str(), created[0].as_str()]);
    let (_, page) = list(&app, "/v1/orders?provider=mock").await;
    assert_eq!(page["orders"].as_array().map(Vec::len), Some(2), "{page}");
    let (_, page) = list(&app, "/v1/payments?provider=wechat").await;
    assert_eq!(page, json!({"payments": [], "next_cursor": null}));
    let (_, page) = list(&app, "/v1/payments?state=paid&provider=mock").await;
    assert_eq!(page["payments"].as_array().map(Vec::len), Some(2), "{page}");
    let (_, page) = list(&app, "/v1/refunds?provider=mock").await;
    assert_eq!(page["refunds"][0]["payment_no"], paid[0].as_str(), "{page}");
    let (_, page) = list(&app, "/v1/orders?created_from=2100-01-01T00:00:00Z").await;
    assert_eq!(page["orders"], json!([]));
    let (_, page) = list(
        &app,
        "/v1/orders?created_from=2000-01-01T00:00:00Z&created_to=2100-01-01T00:00:00Z&limit=200",
    )
    .await;
    assert_eq!(page["orders"].as_array().map(Vec::len), Some(5));

    // Every bad parameter is refused, naming it.
    for (query, names) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=garbage", "cursor"),
        (
            "state=shipped",
            "pending, paid, closed, cancelled, refunded",
        ),
        ("created_from=yesterday", "created_from"),
        (
            "created_from=2026-01-02T00:00:00Z&created_to=2026-01-01T00:00:00Z",
            "created_to",
        ),
        ("provider=WeChat", "provider"),
        ("limit=1&limit=2", "limit"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = list(&app, &format!("/v1/orders?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{query}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(names),
            "{query}: {body}"
        );
    }
    let r = app
        .client
        .get(format!("{}/v1/refunds", app.url))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

in_both_settings!(a_merchant_lists_its_orders_payments_and_refunds_page_by_page);
