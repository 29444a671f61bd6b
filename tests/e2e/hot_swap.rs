//! Hot swap under load: merchants keep paying through the `swap` test adapter while an
//! operator switches its active version ten times between two builds that answer
//! differently (`tests/adapters/swap`: the version is in the pay action's URL). No request
//! fails, and every answer came from exactly one of the two versions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paygate_e2e::{test_adapters, Setting, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Paying clients running at once.
const CLIENTS: usize = 8;
/// Activations during the run, alternating between the two builds.
const SWITCHES: usize = 10;

/// What one client saw: the version each pay answer came from, and every failure.
#[derive(Default)]
struct Seen {
    versions: Vec<String>,
    failures: Vec<String>,
}

/// The version a pay answer's action came from: the `v` of its URL.
fn version_of(payment: &Value) -> Option<String> {
    let url = payment["action"]["url"]
        .as_str()
        .or_else(|| payment["action"]["content"].as_str())?;
    let (_, v) = url.rsplit_once("v=")?;
    Some(v.to_owned())
}

async fn a_version_switched_ten_times_under_load_fails_no_request(setting: Setting) {
    let app = Arc::new(TestApp::spawn_in(setting, &[]).await);
    let (status, v1) = app
        .upload_adapter(test_adapters::SWAP_V1, Some("swap"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    let (status, v2) = app
        .upload_adapter(test_adapters::SWAP_V2, Some("swap"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    let versions = [
        v1["version"]["version"]
            .as_str()
            .expect("version")
            .to_owned(),
        v2["version"]["version"]
            .as_str()
            .expect("version")
            .to_owned(),
    ];
    assert_ne!(versions[0], versions[1]);
    let activate = |version: &str| {
        let app = app.clone();
        let version = version.to_owned();
        async move {
            let (status, body) = app
                .admin_post(
                    "/admin/adapters/swap/activate",
                    &json!({ "version": version }),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "activate {version}: {body}");
        }
    };
    activate(&versions[0]).await;
    let r = app
        .put_provider_untested("swap", &json!({"settings": {}, "secrets": {}}))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                while !stop.load(Ordering::Relaxed) {
                    let order = app.create_order(100, 600).await;
                    let id = order["id"].as_str().expect("id");
                    let r = app
                        .post(
                            "/v1/payments",
                            &app.merchant.api_key,
                            &json!({"order_ids": [id], "provider": "swap", "channel": "web"}),
                        )
                        .await;
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    match version_of(&body) {
                        Some(v) if status == StatusCode::CREATED => seen.versions.push(v),
                        _ => seen.failures.push(format!("{status} {body}")),
                    }
                }
                seen
            })
        })
        .collect();

    for i in 0..SWITCHES {
        tokio::time::sleep(Duration::from_millis(150)).await;
        activate(&versions[(i + 1) % 2]).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);

    let mut all = Seen::default();
    for client in clients {
        let seen = client.await.expect("client");
        all.versions.extend(seen.versions);
        all.failures.extend(seen.failures);
    }
    assert!(
        all.failures.is_empty(),
        "failed requests: {:?}",
        all.failures
    );
    for v in &all.versions {
        assert!(versions.contains(v), "an answer from neither build: {v}");
    }
    for v in &versions {
        assert!(
            all.versions.contains(v),
            "no answer came from {v} ({} answers)",
            all.versions.len()
        );
    }
    let (_, swap) = app.admin_get("/admin/adapters/swap").await;
    assert_eq!(
        swap["activations"].as_array().map(Vec::len),
        Some(SWITCHES + 1),
        "{swap}"
    );
}

in_both_settings!(a_version_switched_ten_times_under_load_fails_no_request);
