//! Master key rotation on PostgreSQL while instances keep serving: instances started with
//! the new key and the old one as previous pay orders and read provider configurations
//! before, during and after `rotate` re-seals every secret; afterwards the new key alone
//! starts, the old one alone does not, and a second rotation changes nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paygate_e2e::paygate;
use paygate_e2e::{Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

fn new_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Configuration of another paygate on `app`'s database and Redis, with its own data
/// directory, keys as given.
fn config_beside(
    app: &TestApp,
    dir: &std::path::Path,
    keys: &[(&str, &str)],
) -> paygate::config::Config {
    let mut vars: Vec<(String, String)> = [
        "DATABASE_URL",
        "REDIS_URL",
        "PAYGATE_REDIS_PREFIX",
        "PAYGATE_SANDBOX",
        "PAYGATE_CACHE_DIR",
    ]
    .iter()
    .map(|k| (k.to_string(), app.config_value(k)))
    .collect();
    vars.push(("PAYGATE_LISTEN".into(), "127.0.0.1:0".into()));
    vars.push(("PAYGATE_DATA_DIR".into(), dir.display().to_string()));
    vars.push(("PAYGATE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    for (k, v) in keys {
        vars.push((k.to_string(), v.to_string()));
    }
    paygate::config::Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    })
    .expect("configuration")
}

/// Every sealed value in the database, by where it is.
async fn sealed_values(db: &paygate::store::Db) -> Vec<String> {
    let mut all = Vec::new();
    for r in sqlx::query("SELECT webhook_secret FROM merchants")
        .fetch_all(&db.pool)
        .await
        .expect("merchants")
    {
        all.push(r.try_get::<String, _>(0).expect("text"));
    }
    for r in sqlx::query("SELECT secrets FROM provider_configs")
        .fetch_all(&db.pool)
        .await
        .expect("configs")
    {
        let secrets: Value =
            serde_json::from_str(&r.try_get::<String, _>(0).expect("text")).expect("json");
        for (_, s) in secrets.as_object().expect("object") {
            all.push(s["sealed"].as_str().expect("sealed").to_owned());
        }
    }
    for r in sqlx::query("SELECT sealed FROM master_key_verifier")
        .fetch_all(&db.pool)
        .await
        .expect("verifier")
    {
        all.push(r.try_get::<String, _>(0).expect("text"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_is_rotated_while_instances_on_the_database_keep_serving() {
    let app = TestApp::spawn_in(Setting::Production, &[]).await;
    let old = app.config_value("PAYGATE_MASTER_KEY");
    let new = new_key();
    let merchant = app.new_merchant("rotating shop", &[]).await;
    assert!(sealed_values(&app.running.db).await.len() >= 4);

    // Step 1: instances run with the new key, the old one as previous.
    let dir_b = tempfile::tempdir().expect("dir");
    let both = [
        ("PAYGATE_MASTER_KEY", new.as_str()),
        ("PAYGATE_MASTER_KEY_PREVIOUS", old.as_str()),
    ];
    let b = paygate::app::spawn(config_beside(&app, dir_b.path(), &both))
        .await
        .expect("an instance with both keys starts");
    let b_url = format!("http://{}", b.addr);
    assert_eq!(
        order_and_pay_with(&app.client, &b_url, &merchant.api_key).await,
        StatusCode::CREATED
    );

    // Traffic on it through the rotation: pays (which open the provider's secret once the
    // 2 s configuration cache runs out) and configuration reads.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let traffic = {
        let (stop, served) = (stop.clone(), served.clone());
        let client = app.client.clone();
        let (b_url, key, id) = (b_url.clone(), merchant.api_key.clone(), merchant.id.clone());
        async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let status = order_and_pay_with(&client, &b_url, &key).await;
                if status != StatusCode::CREATED {
                    failures.push(format!("pay: {status}"));
                }
                let cfg = client
                    .get(format!("{b_url}/admin/merchants/{id}/providers/mock"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await
                    .expect("read");
                if cfg.status() != StatusCode::OK {
                    failures.push(format!("config read: {}", cfg.status()));
                }
                served.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            failures
        }
    };
    let traffic = tokio::spawn(traffic);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Step 2: the rotation, as `paygate keys rotate` runs it with the same two keys.
    let vault = paygate::vault::Vault::from_hex(&new)
        .and_then(|v| v.with_previous(&old))
        .expect("keys");
    let done = paygate::service::master_key::rotate(&app.running.db, &vault)
        .await
        .expect("rotates");
    assert!(done.complete(), "{done:?}");
    assert!(done.webhook_secrets >= 2, "{done:?}");
    assert!(done.provider_configs >= 2, "{done:?}");
    assert!(done.verifier, "{done:?}");
    for sealed in sealed_values(&app.running.db).await {
        assert!(
            sealed.starts_with(&format!("pg1.{}.", vault.key_id())),
            "{sealed} is not under the new key"
        );
    }
    // Past the caches' lifetime, so the instance opens the re-sealed secrets.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    stop.store(true, Ordering::SeqCst);
    let failures = traffic.await.expect("traffic");
    assert!(failures.is_empty(), "{failures:?}");
    assert!(served.load(Ordering::SeqCst) >= 10);

    // Idempotent: nothing left to do.
    let again = paygate::service::master_key::rotate(&app.running.db, &vault)
        .await
        .expect("rotates");
    assert_eq!(
        (
            again.webhook_secrets,
            again.provider_configs,
            again.verifier
        ),
        (0, 0, false)
    );

    // Step 3: the new key alone starts and serves; the old key alone is refused at start.
    let dir_c = tempfile::tempdir().expect("dir");
    let c = paygate::app::spawn(config_beside(
        &app,
        dir_c.path(),
        &[("PAYGATE_MASTER_KEY", new.as_str())],
    ))
    .await
    .expect("the new key alone starts");
    let c_url = format!("http://{}", c.addr);
    assert_eq!(
        order_and_pay_with(&app.client, &c_url, &merchant.api_key).await,
        StatusCode::CREATED
    );
    let dir_d = tempfile::tempdir().expect("dir");
    let refused = paygate::app::spawn(config_beside(
        &app,
        dir_d.path(),
        &[("PAYGATE_MASTER_KEY", old.as_str())],
    ))
    .await
    .err()
    .expect("the old key alone is refused");
    assert!(
        format!("{refused:#}").contains("does not open the secrets"),
        "{refused:#}"
    );

    b.stop().await.expect("b stops");
    c.stop().await.expect("c stops");
}

/// Creates and pays one order through `url` with `api_key`; the first failing status, or
/// the pay call's.
async fn order_and_pay_with(client: &reqwest::Client, url: &str, api_key: &str) -> StatusCode {
    let r = client
        .post(format!("{url}/v1/orders"))
        .bearer_auth(api_key)
        .json(&json!({
            "out_trade_no": format!("T{}", uuid::Uuid::new_v4().simple()),
            "amount": 100, "currency": "CNY", "subject": "Green tea", "ttl_seconds": 600,
        }))
        .send()
        .await
        .expect("order");
    if r.status() != StatusCode::CREATED {
        return r.status();
    }
    let order: Value = r.json().await.expect("order JSON");
    client
        .post(format!("{url}/v1/payments"))
        .bearer_auth(api_key)
        .json(&json!({"order_ids": [order["id"]], "provider": "mock", "channel": "qr"}))
        .send()
        .await
        .expect("pay")
        .status()
}
