//! An adapter in a second language: the sandbox adapter written in Python
//! (`plugins/python-mock`, built with componentize-py by its `build.sh`), uploaded into a
//! running paygate through the admin API like any operator's adapter, configured for the
//! demo merchant, and paying and refunding an order end to end against the sandbox.
//!
//! Then the same conformance check as the Rust adapters (`paygate adapters check`), against
//! the sandbox.
//!
//! A Python component carries its interpreter: its component is larger than the default
//! upload cap (`PYTHON_LIMITS`, what `plugins/python-mock/README.md` says it costs); the
//! call limits are the defaults. The upload compiles 18 MB of wasm once per machine (the
//! test cache).

use std::path::{Path, PathBuf};
use std::process::Command;

use paygate_e2e::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The limits a paygate needs to run the Python adapter (see the adapter's README): the
/// component is 18.3 MB (default cap 8); its 12.3 MiB of memory and its instantiation and
/// calls (tens of milliseconds) fit the default 64 MiB and 500 ms, kept here on purpose.
const PYTHON_LIMITS: &[(&str, &str)] = &[("PAYGATE_ADAPTER_MAX_COMPONENT_MB", "32")];

/// Builds the Python adapter (or finds it built and up to date) and returns its bytes.
/// Fails loudly, never skips, when componentize-py is missing: the build script's message
/// names the pip command.
fn python_component() -> Vec<u8> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository");
    let script = repo.join("plugins/python-mock/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "building the Python adapter failed ({}):\n{stderr}\n(the adapter is built with \
         componentize-py: pip install componentize-py==0.25.1)",
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("build.sh prints the path")
            .trim(),
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_adapter_is_uploaded_and_pays_and_refunds_an_order_end_to_end() {
    let component = python_component();
    let app = TestApp::spawn_with(PYTHON_LIMITS).await;

    // Uploaded and activated as an operator would: checked (contract, imports, info()
    // under the limits), stored, and run beside the bundled Rust mock.
    let activated = app.activate_adapter(&component).await;
    assert_eq!(activated["active"]["provider"], "pymock", "{activated}");
    let (status, versions) = app.admin_get("/admin/adapters/pymock").await;
    assert_eq!(status, StatusCode::OK, "{versions}");

    // The demo merchant gets a sandbox account for it; storing the configuration runs its
    // test query through the Python adapter.
    let account = app.sandbox_account().await;
    let r = app
        .put_provider(
            "pymock",
            &json!({
                "settings": {
                    "sandbox_url": format!("{}/sandbox", app.url),
                    "account_id": account["account_id"],
                },
                "secrets": {"api_key": account["api_key"]},
            }),
        )
        .await;
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );

    // Pay: the Python adapter signs the trade's creation with the merchant's key.
    let order = app.create_order(1000, 600).await;
    let id = order["id"].as_str().expect("id");
    let r = app
        .post(
            "/v1/payments",
            &app.merchant.api_key,
            &json!({"order_ids": [id], "provider": "pymock", "channel": "web"}),
        )
        .await;
    let status = r.status();
    let payment: Value = r.json().await.expect("payment JSON");
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["account_id"], account["account_id"], "{trade}");
    assert_eq!(trade["amount"], 1000, "{trade}");

    // The sandbox's signed notification reaches paygate, the Python adapter verifies it,
    // and the order is paid.
    assert_eq!(
        app.sandbox_pay(payment_no, "").await.status(),
        StatusCode::OK
    );
    app.wait_paid(&app.merchant.api_key, id).await;
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["notifications"]["acknowledged"], 1, "{trade}");

    // A notification signed with another key is refused, as the Rust mock refuses it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let body = json!({"event": "trade.paid", "payment_no": payment_no, "trade_id": "forged",
        "state": "paid", "amount": 1000, "currency": "CNY", "paid_amount": 1000, "paid_at": 1})
    .to_string();
    let nonce = "forgednonce12345";
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"not-the-merchants-key")
            .expect("any key length");
        mac.update(format!("{now}\n{nonce}\n{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let r = app
        .client
        .post(format!("{}/v1/notify/pymock/{}", app.url, app.merchant.id))
        .header("content-type", "application/json")
        .header(
            "x-sandbox-account",
            account["account_id"].as_str().expect("account"),
        )
        .header("x-sandbox-timestamp", &now)
        .header("x-sandbox-nonce", nonce)
        .header("x-sandbox-signature", signature)
        .body(body)
        .send()
        .await
        .expect("notify");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "FAIL");

    // Refund part of it through the Python adapter.
    let r = app
        .post(
            &format!("/v1/payments/{payment_no}/refunds"),
            &app.merchant.api_key,
            &json!({"amount": 300, "reason": "damaged"}),
        )
        .await;
    let status = r.status();
    let refund: Value = r.json().await.expect("refund JSON");
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert_eq!(
        (refund["state"].clone(), refund["amount"].clone()),
        (json!("succeeded"), json!(300)),
        "{refund}"
    );
    let trade = app.sandbox_trade(payment_no).await;
    assert_eq!(trade["refunded_amount"], 300, "{trade}");

    // The conformance check the Rust adapters pass, under the same limits.
    let cache = app.config_value("PAYGATE_CACHE_DIR");
    let config = paygate_e2e::paygate::config::Config::from_lookup(|k| match k {
        "PAYGATE_CACHE_DIR" => Some(cache.clone()),
        "PAYGATE_ADAPTER_MAX_COMPONENT_MB" => Some("32".into()),
        _ => None,
    })
    .expect("configuration");
    let report = paygate_e2e::paygate::conformance::run(
        &component,
        &paygate_e2e::paygate::conformance::sandbox::SandboxSimulator,
        &config,
    )
    .await
    .expect("the check runs");
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "pymock conformance:\n{}",
        failed.join("\n")
    );
}
