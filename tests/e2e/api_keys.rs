//! Merchant API keys: a second key beside the first, both working until one is revoked;
//! revoked keys refused at once by the process that revoked them and by another within the
//! key cache's lifetime; listed without the key; their last use recorded, not per request.

use std::time::{Duration, Instant};

use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn order_body() -> Value {
    json!({
        "out_trade_no": format!("T{}", uuid::Uuid::new_v4().simple()),
        "amount": 100, "currency": "CNY", "subject": "Green tea", "ttl_seconds": 600,
    })
}

async fn create_key(app: &TestApp, merchant_id: &str, label: &str) -> Value {
    let (status, created) = app
        .admin_post(
            &format!("/admin/merchants/{merchant_id}/keys"),
            &json!({ "label": label }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn keys(app: &TestApp, merchant_id: &str) -> Vec<Value> {
    let (status, list) = app
        .admin_get(&format!("/admin/merchants/{merchant_id}/keys"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["keys"].as_array().expect("keys").clone()
}

async fn a_revoked_key_is_refused_while_the_other_keeps_working(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let merchant = app.merchant.clone();
    let first = merchant.api_key.clone();
    let created = create_key(&app, &merchant.id, "checkout v2").await;
    let second = created["api_key"].as_str().expect("key").to_owned();
    assert_ne!(first, second);
    assert!(second.starts_with(created["prefix"].as_str().expect("prefix")));
    assert_eq!(created["label"], "checkout v2");

    for key in [&first, &second] {
        let r = app.post("/v1/orders", key, &order_body()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "both keys work");
    }

    let listed = keys(&app, &merchant.id).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let text = serde_json::to_string(&listed).expect("json");
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "never a key: {text}"
    );
    assert!(!text.contains("hash"), "{text}");
    let old = listed
        .iter()
        .find(|k| k["id"] != created["id"])
        .expect("the first key");
    let old_id = old["id"].as_str().expect("id");
    assert!(first.starts_with(old["prefix"].as_str().expect("prefix")));

    let (status, revoked) = app
        .admin_post(
            &format!("/admin/merchants/{}/keys/{old_id}/revoke", merchant.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // Refused at once here, though the key was cached a moment ago.
    let r = app.post("/v1/orders", &first, &order_body()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.post("/v1/orders", &second, &order_body()).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the other key keeps working"
    );

    let listed = keys(&app, &merchant.id).await;
    let old = listed.iter().find(|k| k["id"] == old_id).expect("listed");
    assert!(old["revoked_at"].is_string(), "{old}");

    // Another merchant's key cannot be revoked through this one.
    let other = app.new_merchant("other", &[]).await;
    let r = app
        .post(
            &format!(
                "/admin/merchants/{}/keys/{}/revoke",
                other.id,
                created["id"].as_str().expect("id")
            ),
            ADMIN_TOKEN,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.post("/v1/orders", &second, &order_body()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_key_revoked_through_one_process_is_refused_by_another_within_two_seconds(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let peer = app.spawn_peer().await;
    let peer_url = format!("http://{}", peer.addr);
    let merchant = app.merchant.clone();
    let created = create_key(&app, &merchant.id, "rotating").await;
    let key = created["api_key"].as_str().expect("key").to_owned();
    let on_peer = || {
        app.client
            .post(format!("{peer_url}/v1/orders"))
            .bearer_auth(&key)
            .json(&order_body())
            .send()
    };
    // The peer has the key in its cache now.
    assert_eq!(on_peer().await.expect("peer").status(), StatusCode::CREATED);
    let (status, _) = app
        .admin_post(
            &format!(
                "/admin/merchants/{}/keys/{}/revoke",
                merchant.id,
                created["id"].as_str().expect("id")
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoked_at = Instant::now();
    loop {
        let status = on_peer().await.expect("peer").status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::CREATED);
        assert!(
            revoked_at.elapsed() < Duration::from_millis(2_500),
            "the peer still takes the revoked key after its cache's lifetime"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peer.stop().await.expect("peer stops");
}

async fn a_keys_last_use_is_recorded_once_a_minute_not_per_request(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let merchant = app.merchant.clone();
    let created = create_key(&app, &merchant.id, "busy").await;
    assert!(created["last_used_at"].is_null());
    let key = created["api_key"].as_str().expect("key").to_owned();
    let key_id = created["id"].as_str().expect("id").to_owned();
    let r = app.post("/v1/orders", &key, &order_body()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Written after the answer, off the request's path.
    let sql = "SELECT COALESCE(last_used_at, 0) FROM merchant_api_keys WHERE id = $1";
    let deadline = Instant::now() + Duration::from_secs(5);
    let first_use = loop {
        let at = app.db_i64(sql, &key_id).await;
        if at > 0 {
            break at;
        }
        assert!(Instant::now() < deadline, "last_used_at never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Past the 2 s key cache, so the key is read from the database again: its use within
    // the minute is not written again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    for _ in 0..3 {
        let r = app.post("/v1/orders", &key, &order_body()).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.db_i64(sql, &key_id).await, first_use);
    let listed = keys(&app, &merchant.id).await;
    let shown = listed
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("listed");
    assert!(shown["last_used_at"].is_string(), "{shown}");
}

in_both_settings!(
    a_revoked_key_is_refused_while_the_other_keeps_working,
    a_key_revoked_through_one_process_is_refused_by_another_within_two_seconds,
    a_keys_last_use_is_recorded_once_a_minute_not_per_request,
);

#[tokio::test]
async fn a_key_label_is_checked_and_a_missing_merchant_is_named() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            &format!("/admin/merchants/{}/keys", app.merchant.id),
            ADMIN_TOKEN,
            &json!({ "label": "x".repeat(65) }),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_label").await;
    let r = app
        .post("/admin/merchants/m_nobody/keys", ADMIN_TOKEN, &json!({}))
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "merchant_not_found").await;
    // A merchant key is no admin token.
    let r = app
        .post(
            &format!("/admin/merchants/{}/keys", app.merchant.id),
            &app.merchant.api_key,
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
