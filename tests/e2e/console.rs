//! The operator console (`/console`), in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`) driven over WebDriver through sign-in, a paid
//! payment's story, re-delivering a failed webhook and activating another adapter version,
//! with a screenshot of each page (`target/tmp/console-screenshots/`). And without a
//! browser, in both settings: every page answers for a session, and a request without the
//! session, or with a forged origin or no CSRF token, changes nothing.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use paygate_e2e::paygate::service::timers::WEBHOOK_QUEUE;
use paygate_e2e::{test_adapters, Setting, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::webhooks::{endpoint, paid_order, statuses};

/// A failed webhook (its one retry ran out) of a paid order: (order id, payment number,
/// event id), and the endpoint, which answers 200 from the third call on.
async fn failed_webhook(app: &TestApp) -> (String, String, String, crate::webhooks::Endpoint) {
    let merchant = app.new_merchant("night-shop", &[]).await;
    let (url, ep) = endpoint(2).await;
    let order_id = paid_order(app, &merchant, &url).await;
    app.wait_paid(&merchant.api_key, &order_id).await;
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1, "the first attempt");
    app.advance(Duration::from_secs(10));
    assert_eq!(app.run_due(WEBHOOK_QUEUE).await, 1, "the retry");
    assert_eq!(statuses(&ep), [500, 500]);
    let (_, flags) = app.admin_get("/admin/flags").await;
    let event_id = flags["webhooks"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a failed webhook is listed: {flags}"))
        .to_owned();
    let order: Value = app
        .get(&format!("/v1/orders/{order_id}"), &merchant.api_key)
        .await
        .json()
        .await
        .expect("the order");
    let payment_no = order["paid_by"]
        .as_str()
        .unwrap_or_else(|| panic!("paid by a payment: {order}"))
        .to_owned();
    (order_id, payment_no, event_id, ep)
}

/// The swap test adapter's two versions stored, the first active: (v1's sha256, v2's).
async fn two_swap_versions(app: &TestApp) -> (String, String) {
    let mut shas = Vec::new();
    for component in [test_adapters::SWAP_V1, test_adapters::SWAP_V2] {
        let (status, uploaded) = app.upload_adapter(component, Some("swap")).await;
        assert!(status.is_success(), "{status} {uploaded}");
        shas.push(
            uploaded["version"]["sha256"]
                .as_str()
                .expect("sha256")
                .to_owned(),
        );
    }
    let (status, body) = app
        .admin_post(
            "/admin/adapters/swap/activate",
            &json!({ "version": shas[0] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (shas.remove(0), shas.remove(0))
}

fn active_swap_version(detail: &Value) -> Option<String> {
    detail["versions"]
        .as_array()?
        .iter()
        .find(|v| v["status"] == "active")
        .and_then(|v| v["version"].as_str().map(str::to_owned))
}

/// A free local port for chromedriver.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// chromedriver and the headless Chromium session it drives; both stop on drop.
struct Chromium {
    driver: Child,
    browser: Option<Browser>,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium. Fails loudly, naming the packages, when
    /// either is missing: the console's tests need a real browser.
    async fn start() -> Chromium {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromedriver does not run ({e}): apt-get install chromium chromium-driver (CI's .ci/run does)")
            });
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--lang=en-US"]
            }
        }))
        .expect("capabilities");
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut last = String::new();
        // chromedriver takes a moment to listen; a session then takes Chromium's start.
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&webdriver)
                .await
            {
                Ok(browser) => {
                    return Chromium {
                        driver,
                        browser: Some(browser),
                    }
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no Chromium session through chromedriver on {webdriver}: {last}");
    }

    fn browser(&self) -> &Browser {
        self.browser.as_ref().expect("a live session")
    }

    async fn stop(mut self) {
        if let Some(b) = self.browser.take() {
            let _ = b.close().await;
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Saves what the browser shows as `name.png` under the test target's tmp directory.
async fn screenshot(browser: &Browser, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    path
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} shows: {e}"))
        .text()
        .await
        .expect("text")
}

/// Types `text` into the field `css`.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn click(browser: &Browser, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

/// Clicks `css` and waits for the console's notice of its outcome.
async fn act(browser: &Browser, css: &str, confirm: bool) -> String {
    click(browser, css).await;
    if confirm {
        // hx-confirm asks first; the operator says yes.
        let mut accepted = false;
        for _ in 0..50 {
            if browser.accept_alert().await.is_ok() {
                accepted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(accepted, "{css} asks for confirmation");
    }
    // The page reloads after a success, and shows the outcome again: read the notice of
    // the page that stays.
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(notice) = browser
            .find(Locator::Css("#notice.ok, #notice.error"))
            .await
        {
            match notice.text().await {
                Ok(text) if !text.is_empty() => return text,
                Ok(_) => {}
                Err(e) => last = e.to_string(),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css}: no outcome shown ({last})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_reads_a_story_redelivers_and_activates_in_chromium() {
    let app =
        TestApp::spawn_stepped(Setting::Embedded, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s")]).await;
    let (order_id, payment_no, event_id, ep) = failed_webhook(&app).await;
    let (_, v2) = two_swap_versions(&app).await;
    let chromium = Chromium::start().await;
    let b = chromium.browser();
    let mut shots = Vec::new();

    // Without a session every page leads to the sign-in form.
    b.goto(&format!("{}/console/flags", app.url))
        .await
        .expect("goto");
    assert_eq!(b.current_url().await.expect("url").path(), "/console/login");
    type_into(b, "#token", "not-a-token").await;
    click(b, "#sign-in").await;
    assert!(text_of(b, "#login-error")
        .await
        .contains("not an operator's"));
    shots.push(screenshot(b, "01-sign-in-refused").await);

    type_into(b, "#token", ADMIN_TOKEN).await;
    type_into(b, "#name", "night-op").await;
    click(b, "#sign-in").await;
    assert_eq!(text_of(b, "#operator").await, "night-op");
    assert_eq!(b.current_url().await.expect("url").path(), "/console");
    // The session cookie: HttpOnly, SameSite=Strict, expiring; the token in no URL.
    let cookie = b
        .get_named_cookie("paygate_console")
        .await
        .expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert!(cookie.expires().is_some(), "the session expires");
    assert!(!b
        .current_url()
        .await
        .expect("url")
        .as_str()
        .contains(ADMIN_TOKEN));
    let overview = b.source().await.expect("page");
    assert!(
        overview.contains("Orders created") && overview.contains("Delay queues"),
        "{overview}"
    );
    assert!(text_of(b, "#queues").await.contains("webhook"));
    shots.push(screenshot(b, "02-overview").await);

    // A paid payment's whole story, found by its number.
    b.find(Locator::Css("header .search input"))
        .await
        .expect("search")
        .send_keys(&format!("{payment_no}\n"))
        .await
        .expect("type");
    let story = text_of(b, "#story").await;
    assert!(story.contains(&order_id), "{story}");
    let payment = text_of(b, &format!("#payment-{payment_no}")).await;
    assert!(payment.contains("paid"), "{payment}");
    assert!(
        payment.contains("pay") && payment.contains("ok"),
        "the pay call: {payment}"
    );
    assert!(
        payment.contains("yes"),
        "a verified notification: {payment}"
    );
    let events = text_of(b, "#events").await;
    assert!(
        events.contains("order.paid") && events.contains("failed"),
        "{events}"
    );
    assert!(events.contains("HTTP 500"), "each attempt: {events}");
    shots.push(screenshot(b, "03-story").await);

    // The failed webhook, re-delivered from the deliveries page.
    b.goto(&format!("{}/console/deliveries", app.url))
        .await
        .expect("goto");
    assert!(text_of(b, "#failed-deliveries").await.contains(&event_id));
    shots.push(screenshot(b, "04-deliveries-failed").await);
    let notice = act(b, &format!("#delivery-{event_id} button"), false).await;
    assert!(notice.starts_with("Done"), "{notice}");
    assert_eq!(
        app.run_due(WEBHOOK_QUEUE).await,
        1,
        "its new attempt is due now"
    );
    assert_eq!(statuses(&ep), [500, 500, 200]);
    b.refresh().await.expect("reload");
    text_of(b, "#no-failed").await;
    let (_, detail) = app.admin_get(&format!("/admin/events/{event_id}")).await;
    assert_eq!(detail["event"]["delivery"], "delivered", "{detail}");
    assert_eq!(detail["history"][2]["operator"], "night-op", "{detail}");
    shots.push(screenshot(b, "05-deliveries-after").await);

    // Another adapter version, activated.
    b.goto(&format!("{}/console/adapters", app.url))
        .await
        .expect("goto");
    assert!(text_of(b, "#adapter-swap").await.contains("2.0.0"));
    shots.push(screenshot(b, "06-adapters-before").await);
    let notice = act(b, "#adapter-swap button.activate", true).await;
    assert!(notice.starts_with("Done"), "{notice}");
    let (_, swap) = app.admin_get("/admin/adapters/swap").await;
    assert_eq!(
        active_swap_version(&swap).as_deref(),
        Some("2.0.0"),
        "{swap}"
    );
    assert!(swap.to_string().contains(&v2));
    shots.push(screenshot(b, "07-adapters-after").await);

    // An action's answer is never put into the page: a merchant named with htmx markup
    // that would send a roll-back as the operator (out-of-band swap, fired on load) is
    // created, and nothing else is requested.
    let markup = r#"<b id="notice" hx-swap-oob="true" hx-trigger="load" hx-post="/admin/adapters/swap/rollback">x</b>"#;
    b.execute(
        r#"const button = document.createElement("button");
           button.id = "inject";
           button.setAttribute("hx-post", "/admin/merchants");
           button.setAttribute("hx-swap", "none");
           button.setAttribute("hx-vals", JSON.stringify({ name: arguments[0] }));
           document.querySelector("main").appendChild(button);
           htmx.process(button);"#,
        vec![json!(markup)],
    )
    .await
    .expect("a button added");
    let notice = act(b, "#inject", false).await;
    assert!(notice.starts_with("Done"), "{notice}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, swap) = app.admin_get("/admin/adapters/swap").await;
    assert_eq!(
        active_swap_version(&swap).as_deref(),
        Some("2.0.0"),
        "no roll-back ran: {swap}"
    );

    // The other pages, and the audit log naming the operator of each console action.
    for (page, css, name) in [
        ("/console/flags", "main", "08-flags"),
        ("/console/merchants", "#merchants", "09-merchants"),
        ("/console/audit", "#audit", "10-audit"),
    ] {
        b.goto(&format!("{}{page}", app.url)).await.expect("goto");
        text_of(b, css).await;
        shots.push(screenshot(b, name).await);
    }
    let audit = text_of(b, "#audit").await;
    assert!(
        audit.contains("POST /admin/events/{event_id}/redeliver"),
        "{audit}"
    );
    assert!(
        audit.contains("POST /admin/adapters/{provider}/activate"),
        "{audit}"
    );
    assert!(!audit.contains("/rollback"), "{audit}");
    assert!(audit.contains("night-op"), "{audit}");
    assert!(
        audit.contains("POST /console/login") && audit.contains("401"),
        "refused sign-ins too: {audit}"
    );
    b.goto(&format!("{}/console/merchants", app.url))
        .await
        .expect("goto");
    let merchant_link = b
        .find(Locator::Css("#merchants a"))
        .await
        .expect("a merchant");
    merchant_link.click().await.expect("click");
    text_of(b, ".provider, .empty").await;
    shots.push(screenshot(b, "11-merchant").await);

    // Signing out ends the session: the cookie is gone, and it opens nothing any more.
    click(b, "#sign-out").await;
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#sign-in"))
        .await
        .expect("the sign-in form");
    assert!(
        b.get_named_cookie("paygate_console").await.is_err(),
        "the cookie is removed"
    );
    let r = app
        .client
        .post(format!("{}/admin/events/{event_id}/redeliver", app.url))
        .header("cookie", format!("paygate_console={}", cookie.value()))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a signed-out session");
    chromium.stop().await;
    eprintln!("console screenshots:");
    for s in shots {
        eprintln!("  {}", s.display());
    }
}

/// Posts the sign-in form as a browser on the console's page would: the answer, not
/// followed.
async fn post_sign_in(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}/console/login", app.url))
        .header("origin", &app.url)
        .form(&[("token", token), ("name", name)])
        .send()
        .await
        .expect("sign in")
}

/// The `name=value` of the session cookie an answer sets.
fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// Signs in with the bootstrap token as `name`: the session cookie's value and the CSRF
/// token the pages carry.
async fn sign_in(app: &TestApp, name: &str) -> (String, String) {
    let r = post_sign_in(app, ADMIN_TOKEN, name).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=28800", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute}: {set_cookie}");
    }
    let session = session_cookie(&r)
        .strip_prefix("paygate_console=")
        .expect("the cookie's value")
        .to_owned();
    let page = console_page(app, &session, "/console").await;
    let csrf = page
        .split("\"X-CSRF-Token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page carries the CSRF token: {page}"))
        .to_owned();
    (session, csrf)
}

async fn console_page(app: &TestApp, session: &str, path: &str) -> String {
    let r = app
        .client
        .get(format!("{}{path}", app.url))
        .header("cookie", format!("paygate_console={session}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{path}: {csp}"
    );
    // The text as a browser shows it (the templates escape `/` and quotes).
    r.text()
        .await
        .expect("page")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
}

async fn every_console_page_answers_and_forged_requests_change_nothing(setting: Setting) {
    let app = TestApp::spawn_stepped(setting, &[("PAYGATE_WEBHOOK_SCHEDULE", "10s")]).await;
    let (order_id, payment_no, event_id, _ep) = failed_webhook(&app).await;
    two_swap_versions(&app).await;
    let (session, csrf) = sign_in(&app, "day-op").await;

    let (_, merchants) = app.admin_get("/admin/merchants?name=night-shop").await;
    let merchant_id = merchants["merchants"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the merchant: {merchants}"))
        .to_owned();
    for (path, expect) in [
        ("/console".to_owned(), "1 failed webhook".to_owned()),
        (format!("/console/find?q={payment_no}"), order_id.clone()),
        (format!("/console/find?q={order_id}"), payment_no.clone()),
        (
            "/console/find?q=nothing-has-this".to_owned(),
            "not-found".to_owned(),
        ),
        ("/console/flags".to_owned(), event_id.clone()),
        ("/console/deliveries".to_owned(), event_id.clone()),
        ("/console/merchants".to_owned(), merchant_id.clone()),
        (
            format!("/console/merchants/{merchant_id}"),
            "Provider configurations".to_owned(),
        ),
        ("/console/adapters".to_owned(), "mock".to_owned()),
        ("/console/audit".to_owned(), "/console/login".to_owned()),
    ] {
        let page = console_page(&app, &session, &path).await;
        assert!(page.contains(&expect), "{path} shows {expect}");
    }
    let pending = || async {
        let (_, detail) = app.admin_get(&format!("/admin/events/{event_id}")).await;
        detail["event"]["delivery"].clone()
    };
    let redeliver = format!("{}/admin/events/{event_id}/redeliver", app.url);

    // No session, a forged origin, no CSRF token, a wrong one: refused, nothing changes.
    let r = app.client.post(&redeliver).send().await.expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let cookie = format!("paygate_console={session}");
    for (origin, token, why) in [
        (
            Some("http://evil.example"),
            Some(csrf.as_str()),
            "another origin, even with the token",
        ),
        (None, None, "no CSRF token"),
        (Some(app.url.as_str()), Some("forged"), "a wrong CSRF token"),
    ] {
        let mut request = app.client.post(&redeliver).header("cookie", &cookie);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        if let Some(t) = token {
            request = request.header("x-csrf-token", t);
        }
        let r = request.send().await.expect("POST");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{why}");
        let body: Value = r.json().await.expect("error body");
        assert_eq!(body["error"]["code"], "csrf_rejected", "{why}: {body}");
        assert_eq!(pending().await, "failed", "{why}: nothing changed");
    }
    // A sign-in posted from another site is refused too (it would plant a session).
    let r = app
        .client
        .post(format!("{}/console/login", app.url))
        .header("origin", "http://evil.example")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());

    // The same request from the console's own page goes through, in the operator's name.
    let r = app
        .client
        .post(&redeliver)
        .header("cookie", &cookie)
        .header("origin", &app.url)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(pending().await, "pending");
    let (_, audit) = app.admin_get("/admin/audit").await;
    let refused: Vec<&Value> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["error_code"] == "csrf_rejected" && e["route"] != "/console/login")
        .collect();
    assert_eq!(refused.len(), 3, "every forged request is audited: {audit}");
    assert!(refused.iter().all(|e| e["operator"] == "day-op"));

    // A sign-in refused for its origin is in the audit log too.
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["route"] == "/console/login" && e["status"] == 403),
        "{audit}"
    );
    // A page that cannot be read answers as a page, with the API's status and code.
    for (path, status, code) in [
        (
            "/console/merchants/m_nope",
            StatusCode::NOT_FOUND,
            "merchant_not_found",
        ),
        (
            "/console/merchants?after=a&after=b",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/console/audit?before=garbage",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.url))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), status, "{path}");
        let html = r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html");
        let body = r.text().await.expect("page");
        assert!(html && body.contains(code), "{path}: {body}");
    }
    // A merchant id found leads to the merchant's page.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/console/find?q={merchant_id}", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/console/merchants/{merchant_id}").as_str()
    );

    // A revoked operator's session ends with the token.
    let (_, op) = app
        .admin_post(
            "/admin/operators",
            &json!({ "name": "temp", "role": "read" }),
        )
        .await;
    let token = op["token"].as_str().expect("token");
    let r = post_sign_in(&app, token, "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let temp_cookie = session_cookie(&r);
    let page = app
        .client
        .get(format!("{}/console/adapters", app.url))
        .header("cookie", &temp_cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().await.expect("page");
    assert!(
        !text.contains("Roll back"),
        "a `read` operator is offered no action"
    );
    let admin_page = console_page(&app, &session, "/console/adapters").await;
    assert!(admin_page.contains("Roll back"), "an admin is");
    let (status, _) = app
        .admin_post("/admin/operators/temp/revoke", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/console", app.url))
        .header("cookie", &temp_cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "back to the sign-in form"
    );

    // Guessing tokens is slowed: a few sign-ins a minute from one address, then 429.
    let mut statuses = Vec::new();
    for _ in 0..paygate_e2e::paygate::api::limits::SIGN_IN_PER_MINUTE {
        let status = post_sign_in(&app, "guess", "").await.status();
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

in_both_settings!(every_console_page_answers_and_forged_requests_change_nothing);
