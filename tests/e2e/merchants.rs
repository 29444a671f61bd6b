//! Finding merchants again (the admin API's list and show, the demo merchant by name) and
//! the merchant-wide webhook endpoint that orders without a `notify_url` of their own use.

use std::sync::{Arc, Mutex};

use axum::extract::Path;
use axum::http::HeaderMap;
use paygate_e2e::paygate::service::timers::WEBHOOK_QUEUE;
use paygate_e2e::paygate::service::webhooks::signature;
use paygate_e2e::{assert_error, Merchant, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const UNKNOWN: &str = "m_00000000000000000000000000000000";

async fn merchants_are_listed_newest_first_a_page_at_a_time(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let mut created = Vec::new();
    for name in ["Acme Tea", "Blue Mug", "Cedar Cups"] {
        created.push(app.new_merchant(name, &[]).await.id);
    }
    let (status, first) = app.admin_get("/admin/merchants?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let ids = |page: &Value| -> Vec<String> {
        page["merchants"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        ids(&first),
        [created[2].clone(), created[1].clone()],
        "{first}"
    );
    assert_eq!(first["merchants"][0]["name"], "Cedar Cups");
    assert_eq!(first["merchants"][0]["providers"], json!(["mock"]));
    let next = first["next_after"].as_str().expect("another page follows");
    assert_eq!(next, created[1]);

    let (status, second) = app
        .admin_get(&format!("/admin/merchants?limit=2&after={next}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        ids(&second),
        [created[0].clone(), app.merchant.id.clone()],
        "the demo merchant, created first, comes last"
    );
    assert_eq!(second["next_after"], Value::Null, "the last page");

    let text = second.to_string() + &first.to_string();
    for secret in ["api_key", "webhook_secret", app.merchant.api_key.as_str()] {
        assert!(!text.contains(secret), "no secret in the list: {text}");
    }
}

async fn the_demo_merchant_is_found_by_its_name(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    app.new_merchant("Acme Tea", &[]).await;
    let (status, found) = app.admin_get("/admin/merchants?name=demo").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["merchants"].as_array().map(Vec::len),
        Some(1),
        "{found}"
    );
    assert_eq!(found["merchants"][0]["id"], app.merchant.id.as_str());

    let (status, demo) = app
        .admin_get(&format!("/admin/merchants/{}", app.merchant.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{demo}");
    assert_eq!(
        (
            demo["name"].clone(),
            demo["providers"].clone(),
            demo["notify_url"].clone()
        ),
        (json!("demo"), json!(["mock"]), Value::Null),
        "{demo}"
    );
    assert!(demo["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn an_unknown_merchant_is_merchant_not_found_on_every_admin_path() {
    let app = TestApp::spawn().await;
    let r = app
        .get(&format!("/admin/merchants/{UNKNOWN}"), ADMIN_TOKEN)
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "merchant_not_found").await;
    let r = app
        .client
        .put(format!("{}/admin/merchants/{UNKNOWN}/webhook", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"notify_url": "https://shop.example/hook"}))
        .send()
        .await
        .expect("admin");
    assert_error(r, StatusCode::NOT_FOUND, "merchant_not_found").await;
    let r = app
        .post(
            &format!("/admin/merchants/{UNKNOWN}/providers/mock/test"),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "merchant_not_found").await;
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{UNKNOWN}/providers/mock",
            app.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"settings": {}}))
        .send()
        .await
        .expect("admin");
    assert_error(r, StatusCode::NOT_FOUND, "merchant_not_found").await;
}

#[tokio::test]
async fn list_parameters_out_of_range_are_invalid_query() {
    let app = TestApp::spawn().await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "after=demo",
        "colour=red",
    ] {
        let r = app
            .get(&format!("/admin/merchants?{query}"), ADMIN_TOKEN)
            .await;
        let message = assert_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert!(!message.is_empty(), "{query}");
    }
    let r = app.get("/admin/merchants", "not-the-token").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_merchant_webhook_endpoint_is_checked_as_an_order_notify_url_is() {
    let app = TestApp::spawn().await;
    let put = |body: Value| {
        app.client
            .put(format!(
                "{}/admin/merchants/{}/webhook",
                app.url, app.merchant.id
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    for bad in ["shop.example/hook", "ftp://shop.example/hook", ""] {
        let r = put(json!({"notify_url": bad})).await.expect("admin");
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_notify_url").await;
    }
    let r = put(json!({})).await.expect("admin");
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let r = put(json!({"notify_url": "https://shop.example/hook"}))
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["notify_url"], "https://shop.example/hook");
    let r = put(json!({"notify_url": null})).await.expect("admin");
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["notify_url"], Value::Null, "removed");

    // Or at creation.
    let (status, created) = app
        .admin_post(
            "/admin/merchants",
            &json!({"name": "Hooked", "notify_url": "https://hooked.example/paygate"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["notify_url"], "https://hooked.example/paygate");
    let (status, created) = app
        .admin_post(
            "/admin/merchants",
            &json!({"name": "Hooked", "notify_url": "not a url"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{created}");
    assert_eq!(created["error"]["code"], "invalid_notify_url");
}

#[tokio::test]
async fn the_openapi_document_describes_the_merchant_calls() {
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
    for (path, method) in [
        ("/admin/merchants", "get"),
        ("/admin/merchants", "post"),
        ("/admin/merchants/{id}", "get"),
        ("/admin/merchants/{id}/webhook", "put"),
        ("/admin/merchants/{id}/providers/{provider}/test", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    for schema in [
        "MerchantView",
        "MerchantListView",
        "ProviderTestView",
        "ConfiguredView",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}

#[tokio::test]
async fn the_api_document_is_read_at_docs_from_files_paygate_serves_itself() {
    let app = TestApp::spawn().await;
    let get = |path: &str| {
        let url = format!("{}{path}", app.url);
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.expect("http");
            let status = r.status();
            let kind = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, kind, r.text().await.expect("body"))
        }
    };
    let (status, kind, page) = get("/docs/").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    // Every file the page loads is paygate's own (relative): no CDN, no internet.
    for reference in page
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
    {
        assert!(
            !reference.contains("//"),
            "the page loads {reference} from elsewhere"
        );
        let (status, _, body) = get(&format!("/docs/{}", reference.trim_start_matches("./"))).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{reference}");
        assert!(!body.is_empty(), "{reference}");
    }
    let (_, _, init) = get("/docs/swagger-initializer.js").await;
    assert!(
        init.contains("/openapi.json"),
        "the page reads paygate's document: {init}"
    );
    let (status, _, doc) = get("/openapi.json").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("the document is JSON");
    assert!(doc["paths"]["/v1/orders"]["post"]["responses"]["429"].is_object());
}

/// A merchant's web server with two webhook paths, `/merchant` and `/order`: which path got
/// each call, its `Paygate-Signature`, and its body.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<(String, String, String)>>>,
}

async fn receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let calls = receiver.calls.clone();
    let app = axum::Router::new().route(
        "/{path}",
        axum::routing::post(
            move |Path(path): Path<String>, headers: HeaderMap, body: String| {
                let calls = calls.clone();
                async move {
                    let signature = headers
                        .get("paygate-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    calls.lock().expect("lock").push((path, signature, body));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), receiver)
}

/// Creates an order of `merchant` (with `notify_url` if given), pays it at the sandbox and
/// waits until paygate heard of it; its id.
async fn paid_order(app: &TestApp, merchant: &Merchant, notify_url: Option<&str>) -> String {
    let mut body = json!({"out_trade_no": format!("H{}", uuid::Uuid::new_v4().simple()), "amount": 700,
        "currency": "CNY", "subject": "Tea", "ttl_seconds": 600});
    if let Some(url) = notify_url {
        body["notify_url"] = json!(url);
    }
    let r = app.post("/v1/orders", &merchant.api_key, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.expect("json");
    assert_eq!(
        order["notify_url"],
        json!(notify_url),
        "the order keeps what it named"
    );
    let id = order["id"].as_str().expect("id").to_owned();
    let (status, payment) = app.pay(&merchant.api_key, &[&id], "web").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let paid = app
        .sandbox_pay(payment["payment_no"].as_str().expect("no"), "")
        .await;
    assert_eq!(paid.status(), StatusCode::OK);
    app.wait_paid(&merchant.api_key, &id).await;
    id
}

async fn orders_without_a_notify_url_send_their_events_to_the_merchants_endpoint(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let (base, receiver) = receiver().await;
    let merchant = app.new_merchant("Hooked", &[]).await;
    let r = app
        .client
        .put(format!(
            "{}/admin/merchants/{}/webhook",
            app.url, merchant.id
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"notify_url": format!("{base}/merchant")}))
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);

    let plain = paid_order(&app, &merchant, None).await;
    let own = paid_order(&app, &merchant, Some(&format!("{base}/order"))).await;
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 2, "one event each");

    let calls = receiver.calls.lock().expect("lock").clone();
    let to = |path: &str| -> Vec<Value> {
        calls
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, body)| serde_json::from_str(body).expect("json"))
            .collect()
    };
    let at_merchant = to("merchant");
    let at_order = to("order");
    assert_eq!(at_merchant.len(), 1, "{calls:?}");
    assert_eq!(at_merchant[0]["order"]["id"], plain.as_str());
    assert_eq!(at_merchant[0]["type"], "order.paid");
    assert_eq!(at_order.len(), 1, "{calls:?}");
    assert_eq!(
        at_order[0]["order"]["id"],
        own.as_str(),
        "an order's own notify_url wins"
    );
    for (_, header, body) in &calls {
        let t: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .expect("t=");
        assert_eq!(
            header,
            &signature(&merchant.webhook_secret, t, body),
            "signed with the merchant's webhook secret"
        );
    }
    let events: Value = app
        .get(&format!("/v1/orders/{plain}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(events[0]["delivery"], "delivered", "{events}");
}

async fn without_any_endpoint_events_are_kept_and_not_sent(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[]).await;
    let merchant = app.new_merchant("Quiet", &[]).await;
    let id = paid_order(&app, &merchant, None).await;
    app.run_due(WEBHOOK_QUEUE).await;
    let events: Value = app
        .get(&format!("/v1/orders/{id}/events"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (events[0]["type"].clone(), events[0]["delivery"].clone()),
        (json!("order.paid"), json!("none")),
        "{events}"
    );
}

in_both_settings!(
    merchants_are_listed_newest_first_a_page_at_a_time,
    the_demo_merchant_is_found_by_its_name,
    orders_without_a_notify_url_send_their_events_to_the_merchants_endpoint,
    without_any_endpoint_events_are_kept_and_not_sent,
);
