//! Named operators and the audit log: tokens per operator with a role, refused with 403
//! `forbidden_role` past their role, revocable; every state-changing admin request written
//! to the audit log with who, what, when, from where and the outcome, refused ones too.

use paygate_e2e::test_adapters::SWAP_V1;
use paygate_e2e::{assert_error, Setting, TestApp, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Creates an operator through the bootstrap token; their JSON (with `token`).
async fn operator(app: &TestApp, name: &str, role: &str) -> Value {
    let (status, created) = app
        .admin_post("/admin/operators", &json!({ "name": name, "role": role }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["token"]
        .as_str()
        .expect("token")
        .starts_with("pgo_"));
    created
}

fn token(op: &Value) -> String {
    op["token"].as_str().expect("token").to_owned()
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("paygate answers")
}

async fn each_role_may_do_what_it_allows_and_is_refused_the_rest(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let reader = token(&operator(&app, "reader", "read").await);
    let on_call = token(&operator(&app, "on-call", "operate").await);
    let admin = token(&operator(&app, "lead", "admin").await);
    let m = app.merchant.id.clone();
    let test_path = format!("/admin/merchants/{m}/providers/mock/test");

    // Every role reads.
    for t in [&reader, &on_call, &admin] {
        for path in [
            "/admin/merchants",
            "/admin/flags",
            "/admin/adapters",
            "/admin/operators",
            "/admin/audit",
        ] {
            let r = call(&app, Method::GET, path, t, None).await;
            assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        }
    }
    // Testing a provider is operating.
    let r = call(&app, Method::POST, &test_path, &reader, None).await;
    let message = assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
    assert!(
        message.contains("`read`") && message.contains("`operate`"),
        "{message}"
    );
    let r = call(&app, Method::POST, &test_path, &on_call, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Changing merchants, keys, providers, adapters and operators is the admin role's.
    for t in [&reader, &on_call] {
        let r = call(
            &app,
            Method::POST,
            "/admin/merchants",
            t,
            Some(json!({"name": "x"})),
        )
        .await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
        let r = call(
            &app,
            Method::POST,
            &format!("/admin/merchants/{m}/keys"),
            t,
            Some(json!({})),
        )
        .await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
        let r = call(
            &app,
            Method::PUT,
            &format!("/admin/merchants/{m}/providers/mock"),
            t,
            Some(json!({"settings": {}})),
        )
        .await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
        let r = call(&app, Method::POST, "/admin/adapters/mock/rollback", t, None).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
        let r = call(
            &app,
            Method::POST,
            "/admin/operators",
            t,
            Some(json!({"name": "mallory", "role": "admin"})),
        )
        .await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden_role").await;
    }
    let r = call(
        &app,
        Method::POST,
        "/admin/merchants",
        &admin,
        Some(json!({"name": "by lead"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(
        &app,
        Method::POST,
        "/admin/operators",
        &admin,
        Some(json!({"name": "second", "role": "read"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["created_by"], "lead", "{made}");

    // Listed without tokens.
    let (_, list) = app.admin_get("/admin/operators").await;
    let text = list.to_string();
    for t in [&reader, &on_call, &admin] {
        assert!(!text.contains(t.as_str()), "{text}");
    }
    assert_eq!(
        list["operators"].as_array().expect("list").len(),
        4,
        "{list}"
    );
}

async fn a_revoked_operator_is_refused_from_the_next_request_on(setting: Setting) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let created = operator(&app, "temp", "read").await;
    let t = token(&created);
    assert_eq!(
        call(&app, Method::GET, "/admin/merchants", &t, None)
            .await
            .status(),
        StatusCode::OK
    );
    let (status, revoked) = app
        .admin_post("/admin/operators/temp/revoke", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let r = call(&app, Method::GET, "/admin/merchants", &t, None).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The name is free again once revoked; taken while live.
    operator(&app, "temp", "admin").await;
    let (status, body) = app
        .admin_post("/admin/operators", &json!({"name": "temp", "role": "read"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("operator_exists")),
        "{body}"
    );
    let (status, body) = app
        .admin_post(
            "/admin/operators",
            &json!({"name": "root", "role": "superuser"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_role")),
        "{body}"
    );
    let (status, _) = app
        .admin_post("/admin/operators/nobody/revoke", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn every_state_changing_admin_request_is_audited_with_who_what_where_and_the_outcome(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let reader_op = operator(&app, "reader", "read").await;
    let lead_op = operator(&app, "lead", "admin").await;
    let (reader, lead) = (token(&reader_op), token(&lead_op));
    let m = app.merchant.id.clone();

    let r = call(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/keys"),
        &lead,
        Some(json!({"label": "ci"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/keys"),
        &reader,
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        "/admin/merchants",
        "pgo_not-a-token",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = call(
        &app,
        Method::PUT,
        &format!("/admin/merchants/{m}/webhook"),
        &lead,
        Some(json!({"notify_url": "ftp://x"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Reads are not audited.
    assert_eq!(
        call(&app, Method::GET, "/admin/merchants", &lead, None)
            .await
            .status(),
        StatusCode::OK
    );

    let r = call(&app, Method::GET, "/admin/audit?limit=4", &reader, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("json");
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4, "{page}");
    // Newest first.
    let (webhook, unknown, refused, created) = (&entries[0], &entries[1], &entries[2], &entries[3]);
    assert_eq!(
        webhook["route"], "/admin/merchants/{id}/webhook",
        "{webhook}"
    );
    assert_eq!(webhook["method"], "PUT");
    assert_eq!(webhook["status"], 422);
    assert_eq!(webhook["error_code"], "invalid_notify_url");
    assert_eq!(webhook["target"], json!({ "id": m }));
    assert_eq!(unknown["status"], 401, "{unknown}");
    assert_eq!(unknown["error_code"], "unauthorized");
    assert!(
        unknown["operator"].is_null() && unknown["token_id"].is_null(),
        "{unknown}"
    );
    assert_eq!(refused["operator"], "reader", "{refused}");
    assert_eq!(refused["token_id"], reader_op["id"]);
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["error_code"], "forbidden_role");
    assert_eq!(created["operator"], "lead", "{created}");
    assert_eq!(created["token_id"], lead_op["id"]);
    assert_eq!(created["method"], "POST");
    assert_eq!(created["route"], "/admin/merchants/{id}/keys");
    assert_eq!(created["status"], 201);
    assert!(created["error_code"].is_null());
    assert_eq!(created["client_ip"], "127.0.0.1");
    assert!(created["at"].is_string());

    // The next page goes on with the older entries: the two operators' creation by the
    // bootstrap token.
    let before = page["next_before"].as_str().expect("more");
    let (status, older) = app
        .admin_get(&format!("/admin/audit?before={before}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let older = older["entries"].as_array().expect("entries");
    assert_eq!(older.len(), 2, "{older:?}");
    assert_eq!(older[0]["route"], "/admin/operators");
    assert_eq!(older[0]["operator"], "admin");
    assert_eq!(older[0]["token_id"], "bootstrap");
    let r = call(
        &app,
        Method::GET,
        "/admin/audit?before=nonsense",
        &lead,
        None,
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;
}

async fn a_named_operators_token_names_who_uploaded_an_adapter_whatever_the_header_says(
    setting: Setting,
) {
    let app = TestApp::spawn_in(setting, &[]).await;
    let lead = token(&operator(&app, "lead", "admin").await);
    let r = app
        .client
        .post(format!("{}/admin/adapters/versions", app.url))
        .bearer_auth(&lead)
        .header("x-paygate-operator", "somebody-else")
        .header("content-type", "application/wasm")
        .body(SWAP_V1.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let uploaded: Value = r.json().await.expect("json");
    assert_eq!(uploaded["version"]["uploaded_by"], "lead", "{uploaded}");
    // The bootstrap token still takes its name from the header.
    let r = app
        .client
        .post(format!("{}/admin/adapters/swap/activate", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-paygate-operator", "night-shift")
        .json(&json!({ "version": uploaded["version"]["sha256"] }))
        .send()
        .await
        .expect("activate");
    assert_eq!(r.status(), StatusCode::OK);
    let (_, swap) = app.admin_get("/admin/adapters/swap").await;
    assert_eq!(
        swap["activations"][0]["activated_by"], "night-shift",
        "{swap}"
    );
}

in_both_settings!(
    each_role_may_do_what_it_allows_and_is_refused_the_rest,
    a_revoked_operator_is_refused_from_the_next_request_on,
    every_state_changing_admin_request_is_audited_with_who_what_where_and_the_outcome,
    a_named_operators_token_names_who_uploaded_an_adapter_whatever_the_header_says,
);

#[tokio::test]
async fn without_a_bootstrap_token_an_operators_token_still_opens_the_admin_api() {
    let app = TestApp::spawn().await;
    let lead = token(&operator(&app, "lead", "admin").await);
    let peer = {
        let mut vars: Vec<(&str, String)> = vec![
            ("PAYGATE_LISTEN", "127.0.0.1:0".into()),
            ("PAYGATE_DATA_DIR", app.config_value("PAYGATE_DATA_DIR")),
            ("PAYGATE_CACHE_DIR", app.config_value("PAYGATE_CACHE_DIR")),
        ];
        vars.retain(|(_, v)| !v.is_empty());
        let config = paygate_e2e::paygate::config::Config::from_lookup(|k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .expect("config");
        paygate_e2e::paygate::app::spawn(config)
            .await
            .expect("starts")
    };
    let url = format!("http://{}", peer.addr);
    let r = app
        .client
        .get(format!("{url}/admin/merchants"))
        .send()
        .await
        .expect("peer");
    assert_error(r, StatusCode::NOT_FOUND, "admin_disabled").await;
    let r = app
        .client
        .get(format!("{url}/admin/merchants"))
        .bearer_auth(&lead)
        .send()
        .await
        .expect("peer");
    assert_eq!(r.status(), StatusCode::OK);
    peer.stop().await.expect("peer stops");
}
