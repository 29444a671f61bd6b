//! Operators acting on what waits for them: a flagged payment resolved with a note (who,
//! when, why), only as read, only by a role that may act, and in the audit log; through the
//! admin API and the CLI.

use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A payment paid after its order was paid by another: refunded and flagged
/// `late_payment`. Returns its number.
async fn late_payment(app: &TestApp) -> String {
    let order = app.create_order(1000, 600).await;
    let id = order["id"].as_str().expect("id");
    let (_, first) = app.pay(&app.merchant.api_key, &[id], "web").await;
    let (_, second) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    let (late, kept) = (
        first["payment_no"].as_str().expect("no").to_owned(),
        second["payment_no"].as_str().expect("no"),
    );
    assert_eq!(app.sandbox_pay(kept, "").await.status(), StatusCode::OK);
    app.wait_for_order_state(id, "paid").await;
    assert_eq!(
        app.sandbox_pay(&late, "?late=true").await.status(),
        StatusCode::OK
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, flags) = app.admin_get("/admin/flags").await;
        let flagged = flags["payments"]
            .as_array()
            .is_some_and(|l| l.iter().any(|f| f["payment_no"] == late.as_str()));
        if flagged {
            return late;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never flagged: {flags}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn resolve(app: &TestApp, token: &str, payment_no: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!(
            "{}/admin/payments/{payment_no}/flag/resolve",
            app.url
        ))
        .bearer_auth(token)
        .header("x-paygate-operator", "alice")
        .json(body)
        .send()
        .await
        .expect("resolve")
}

async fn a_flag_is_resolved_as_read_with_a_note_kept_with_who_and_when(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let late = late_payment(&app).await;

    // The wrong flag, a blank note, a flag that does not exist, a payment that does not:
    // refused, and nothing changes.
    let wrong = json!({ "flag": "amount_mismatch", "note": "checked" });
    let message = assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &wrong).await,
        StatusCode::CONFLICT,
        "flag_changed",
    )
    .await;
    assert!(
        message.contains("late_payment"),
        "names the flag now: {message}"
    );
    let blank = json!({ "flag": "late_payment", "note": "  " });
    assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &blank).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_note",
    )
    .await;
    let long = json!({ "flag": "late_payment", "note": "x".repeat(1001) });
    assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_note",
    )
    .await;
    let unknown_flag = json!({ "flag": "late", "note": "checked" });
    assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &unknown_flag).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_flag",
    )
    .await;
    let right = json!({ "flag": "late_payment", "note": "  refund seen at the provider  " });
    assert_error(
        resolve(
            &app,
            ADMIN_TOKEN,
            "P00000000000000000000000000000000",
            &right,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let extra = json!({ "flag": "late_payment", "note": "checked", "force": true });
    assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &extra).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;

    // A `read` operator may look, not act.
    let (status, reader) = app
        .admin_post(
            "/admin/operators",
            &json!({ "name": "night-reader", "role": "read" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reader}");
    let reader_token = reader["token"].as_str().expect("token");
    assert_error(
        resolve(&app, reader_token, &late, &right).await,
        StatusCode::FORBIDDEN,
        "forbidden_role",
    )
    .await;
    let (_, flags) = app.admin_get("/admin/flags").await;
    assert!(
        flags["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .any(|f| f["payment_no"] == late.as_str() && f["flag"] == "late_payment"),
        "still flagged after the refusals: {flags}"
    );

    let r = resolve(&app, ADMIN_TOKEN, &late, &right).await;
    assert_eq!(r.status(), StatusCode::OK);
    let resolved: Value = r.json().await.expect("json");
    assert_eq!(resolved["payment_no"], late.as_str());
    assert_eq!(resolved["flag"], "late_payment");
    assert_eq!(resolved["note"], "refund seen at the provider", "trimmed");
    assert_eq!(resolved["resolved_by"], "alice");
    assert!(resolved["resolved_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(resolved["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("fr_")));

    let (_, flags) = app.admin_get("/admin/flags").await;
    assert!(
        !flags["payments"]
            .as_array()
            .expect("payments")
            .iter()
            .any(|f| f["payment_no"] == late.as_str()),
        "no longer waiting: {flags}"
    );
    assert_eq!(flags["resolved"][0], resolved, "kept: {flags}");
    let payment: Value = app
        .get(&format!("/v1/payments/{late}"), &app.merchant.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(payment["flag"], Value::Null, "{payment}");
    assert_eq!(payment["state"], "refunded", "the money is untouched");

    assert_error(
        resolve(&app, ADMIN_TOKEN, &late, &right).await,
        StatusCode::CONFLICT,
        "flag_not_set",
    )
    .await;

    // Every request, refused ones included, is in the audit log.
    let (_, audit) = app.admin_get("/admin/audit?limit=50").await;
    let resolves: Vec<(Value, Value)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["route"] == "/admin/payments/{payment_no}/flag/resolve")
        .map(|e| (e["status"].clone(), e["operator"].clone()))
        .collect();
    assert!(
        resolves.contains(&(json!(200), json!("alice"))),
        "{resolves:?}"
    );
    assert!(
        resolves.contains(&(json!(403), json!("night-reader"))),
        "{resolves:?}"
    );
    assert_eq!(resolves.len(), 9, "{resolves:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_is_resolved_as_read_with_a_note_kept_with_who_and_when_embedded() {
    a_flag_is_resolved_as_read_with_a_note_kept_with_who_and_when(Setting::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_is_resolved_as_read_with_a_note_kept_with_who_and_when_on_postgres() {
    a_flag_is_resolved_as_read_with_a_note_kept_with_who_and_when(Setting::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_flags_and_resolves_one_through_the_admin_api() {
    let app = TestApp::spawn_in(Setting::Embedded, &[]).await;
    let late = late_payment(&app).await;
    let paygate = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_readme-paygate"))
            .args(args)
            .args(["--url", &app.url])
            .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PAYGATE_OPERATOR", "bob")
            .output()
            .expect("paygate runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, listed, _) = paygate(&["flags", "list"]);
    assert!(
        ok && listed.contains(&late) && listed.contains("late_payment"),
        "{listed}"
    );

    let (ok, _, refused) = paygate(&[
        "flags",
        "resolve",
        &late,
        "--flag",
        "refund_failed",
        "--note",
        "checked",
    ]);
    assert!(!ok, "the wrong flag is refused");
    assert!(refused.contains("flag_changed"), "{refused}");

    let (ok, out, err) = paygate(&[
        "flags",
        "resolve",
        &late,
        "--flag",
        "late_payment",
        "--note",
        "refund seen",
        "--json",
    ]);
    assert!(ok, "{err}");
    let resolved: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(resolved["resolved_by"], "bob");
    assert_eq!(resolved["note"], "refund seen");

    let (ok, out, _) = paygate(&["flags", "list", "--json"]);
    assert!(ok);
    let flags: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(flags["payments"], json!([]), "{flags}");
    assert_eq!(flags["resolved"][0]["payment_no"], late.as_str());
}
