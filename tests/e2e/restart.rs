//! paygate SIGKILLed in the middle of its timed work and started again: the same outcomes
//! as without the crash. paygate runs as a real process (`paygate-server`).

use std::collections::HashMap;

use paygate_e2e::backends::ProductionServices;
use paygate_e2e::Setting;

use crate::process::{free_port, start};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.expect("json")
}

async fn paygate_killed_and_restarted_reaches_the_same_outcomes(setting: Setting) {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = match setting {
        Setting::Production => Some(ProductionServices::create().await),
        Setting::Embedded => None,
    };
    let port = free_port();
    let mut env: HashMap<String, String> = HashMap::from([
        ("PAYGATE_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("PAYGATE_DATA_DIR".into(), dir.path().display().to_string()),
        ("PAYGATE_STATUS_SYNC_SCHEDULE".into(), "1s".into()),
        ("PAYGATE_REPAY_CUTOFF".into(), "1s".into()),
        ("PAYGATE_PROVIDER_GRACE".into(), "1s".into()),
        ("PAYGATE_LOG".into(), "warn".into()),
    ]);
    env.extend(services.iter().flat_map(|s| s.env()));
    let (server, demo) = start(&env);
    let merchant = demo.expect("first start creates the demo merchant");
    let http = Client::new();
    let create = |ttl: i64| {
        http.post(format!("{}/v1/orders", server.url))
            .bearer_auth(&merchant.api_key)
            .json(&json!({"out_trade_no": format!("R{}", uuid::Uuid::new_v4().simple()), "amount": 100, "currency": "CNY", "subject": "Tea", "ttl_seconds": ttl}))
            .send()
    };
    let paid_order = json_of(create(600).await.expect("order")).await;
    let unpaid_order = json_of(create(4).await.expect("order")).await;
    let mut payment_nos = Vec::new();
    for order in [&paid_order, &unpaid_order] {
        let r = http
            .post(format!("{}/v1/payments", server.url))
            .bearer_auth(&merchant.api_key)
            .json(&json!({"order_ids": [order["id"]], "provider": "mock", "channel": "qr"}))
            .send()
            .await
            .expect("pay");
        assert_eq!(r.status(), StatusCode::CREATED);
        payment_nos.push(
            json_of(r).await["payment_no"]
                .as_str()
                .expect("payment_no")
                .to_owned(),
        );
    }
    // The customer pays the first one; the notification is lost; paygate dies at once.
    let r = http
        .post(format!(
            "{}/sandbox/trades/{}/pay?notify=false",
            server.url, payment_nos[0]
        ))
        .send()
        .await
        .expect("sandbox");
    assert_eq!(r.status(), StatusCode::OK);
    drop(server); // SIGKILL

    let (server, again) = start(&env);
    assert!(again.is_none(), "the demo merchant exists already");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let state = |id: Value| {
        let (http, url, key) = (http.clone(), server.url.clone(), merchant.api_key.clone());
        async move {
            let r = http
                .get(format!(
                    "{url}/v1/orders/{}",
                    id.as_str().unwrap_or_default()
                ))
                .bearer_auth(key)
                .send()
                .await
                .expect("order");
            json_of(r).await["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    loop {
        let (a, b) = (
            state(paid_order["id"].clone()).await,
            state(unpaid_order["id"].clone()).await,
        );
        if (a == "paid" && b == "closed") || tokio::time::Instant::now() > deadline {
            assert_eq!((a.as_str(), b.as_str()), ("paid", "closed"));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let trade = json_of(
        http.get(format!("{}/sandbox/trades/{}", server.url, payment_nos[1]))
            .send()
            .await
            .expect("sandbox"),
    )
    .await;
    // Closed at the provider: by the deadline's close, or already by the provider's own
    // deadline when a status query saw it first. Never closed twice.
    assert_eq!(trade["state"], "closed", "{trade}");
    assert!(
        trade["counters"]["closed"].as_i64().unwrap_or(0) <= 1,
        "{trade}"
    );
    drop(server);
    drop(services);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_paygate_killed_and_restarted_reaches_the_same_outcomes() {
    paygate_killed_and_restarted_reaches_the_same_outcomes(Setting::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_paygate_killed_and_restarted_reaches_the_same_outcomes() {
    paygate_killed_and_restarted_reaches_the_same_outcomes(Setting::Production).await
}
