//! Test harness for paygate's end-to-end tests: each test gets its own paygate on a random
//! loopback port, with its own temporary data directory and SQLite database, the real
//! mock adapter component and the built-in sandbox provider, over real HTTP.

use std::collections::HashMap;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub use paygate;

pub mod backends;
pub mod resolver;

/// The purpose-built test adapters of `tests/adapters/`, built for wasm32-wasip2 by
/// `build.rs`. Never bundled with paygate: a test uploads and activates them in its own
/// running paygate ([`TestApp::activate_adapter`]).
pub mod test_adapters {
    /// The misbehaving adapter (provider `chaos`): its pay subject picks the limit it
    /// pushes against (`tests/adapters/chaos/src/lib.rs`).
    pub static CHAOS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_chaos.wasm"));

    /// The chaos adapter built with its socket probe (feature `sockets`): it imports
    /// `wasi:sockets`, which paygate links with every socket denied.
    pub static CHAOS_SOCKETS: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/paygate_chaos_sockets.wasm"));

    /// The swap adapter (provider `swap`) as version 1.0.0: its pay URL ends in `?v=1.0.0`.
    pub static SWAP_V1: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_swap_v1.wasm"));

    /// The swap adapter as version 2.0.0: its pay URL ends in `?v=2.0.0`.
    pub static SWAP_V2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/paygate_swap_v2.wasm"));

    #[cfg(test)]
    mod tests {
        use super::*;
        use paygate::runtime::{Limits, Runtime};

        #[tokio::test]
        async fn the_test_adapters_load_and_the_two_swap_builds_are_two_versions() {
            assert_ne!(SWAP_V1, SWAP_V2, "two builds, two components");
            let runtime = Runtime::new(Limits::default(), None).expect("runtime");
            for (wasm, name, version) in [
                (CHAOS, "chaos", "0.1.0"),
                (SWAP_V1, "swap", "1.0.0"),
                (SWAP_V2, "swap", "2.0.0"),
            ] {
                let adapter = runtime.prepare(wasm).await.expect("the adapter loads");
                assert_eq!(
                    (adapter.info.name.as_str(), adapter.info.version.as_str()),
                    (name, version)
                );
                assert_eq!(adapter.info.contract_version, "2.0.0");
            }
        }
    }
}

/// The admin token every test paygate is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running paygate for one test. Dropped at the end of the test with its data directory.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub client: Client,
    /// The demo merchant created at first start (mock provider configured).
    pub merchant: Merchant,
    pub running: paygate::app::Running,
    /// The configuration variables it was started with.
    vars: HashMap<String, String>,
    _dir: tempfile::TempDir,
    /// PostgreSQL database and Redis prefix of the production setting, removed on drop.
    _services: Option<backends::ProductionServices>,
    /// Resolves every webhook and sandbox destination; records where deliveries went.
    pub resolver: std::sync::Arc<resolver::TestResolver>,
}

/// Where a test's paygate keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// SQLite + the SQL delay queue (the embedded default).
    Embedded,
    /// PostgreSQL + the Redis delay queue (the production setting).
    Production,
}

/// A merchant's credentials.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub id: String,
    pub api_key: String,
    /// Known for merchants created through the admin API (empty for the demo merchant).
    pub webhook_secret: String,
}

impl TestApp {
    /// Starts paygate with defaults suited to tests; `extra` overrides configuration
    /// variables (`PAYGATE_ADAPTER_CPU_BUDGET`, ...).
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_in(Setting::Embedded, extra).await
    }

    /// Starts paygate in `setting`, with `extra` configuration.
    pub async fn spawn_in(setting: Setting, extra: &[(&str, &str)]) -> TestApp {
        TestApp::start(setting, extra, paygate::clock::Clock::System).await
    }

    /// paygate on stepped time: a manual clock that moves only with [`TestApp::advance`],
    /// and no queue workers: timed work runs when the test calls [`TestApp::run_due`].
    pub async fn spawn_stepped(setting: Setting, extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_stepped_at(setting, extra, paygate::store::now_ms()).await
    }

    /// [`TestApp::spawn_stepped`] with paygate's clock starting at `start_ms` (ms since the
    /// epoch): a paygate whose clock is off from the services' (Redis reads the real time).
    pub async fn spawn_stepped_at(
        setting: Setting,
        extra: &[(&str, &str)],
        start_ms: i64,
    ) -> TestApp {
        let mut vars = vec![("PAYGATE_WORKERS", "false")];
        vars.extend_from_slice(extra);
        TestApp::start(setting, &vars, paygate::clock::Clock::manual(start_ms)).await
    }

    /// Moves paygate's clock (stepped time only).
    pub fn advance(&self, by: std::time::Duration) {
        self.running.clock.advance(by);
    }

    /// Runs one step of `queue`'s worker; how many tasks ran.
    pub async fn run_due(&self, queue: &str) -> usize {
        self.running
            .run_due(queue)
            .await
            .expect("the queue answers")
    }

    async fn start(
        setting: Setting,
        extra: &[(&str, &str)],
        clock: paygate::clock::Clock,
    ) -> TestApp {
        paygate::telemetry::init(
            &std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            paygate::telemetry::LogFormat::Text,
        );
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut vars: HashMap<String, String> = HashMap::from([
            ("PAYGATE_LISTEN".into(), "127.0.0.1:0".into()),
            ("PAYGATE_DATA_DIR".into(), dir.path().display().to_string()),
            ("PAYGATE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            // Compile the mock adapter once for the whole suite, not once per test.
            (
                "PAYGATE_CACHE_DIR".into(),
                std::env::temp_dir()
                    .join("paygate-test-cache")
                    .display()
                    .to_string(),
            ),
        ]);
        let services = match setting {
            Setting::Embedded => None,
            Setting::Production => Some(backends::ProductionServices::create().await),
        };
        for (k, v) in services.iter().flat_map(|s| s.env()) {
            vars.insert(k, v);
        }
        if setting == Setting::Production {
            // The test endpoints listen on loopback, which the production setting refuses as
            // a webhook destination; the destination tests set their own list.
            vars.insert("PAYGATE_WEBHOOK_ALLOW".into(), "127.0.0.0/8,::1".into());
        }
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        let config = paygate::config::Config::from_lookup(|k| vars.get(k).cloned())
            .expect("test configuration");
        let resolver = std::sync::Arc::new(resolver::TestResolver::default());
        let running = paygate::app::spawn_with_resolver(config, clock, resolver.clone())
            .await
            .expect("paygate starts");
        let demo = running
            .demo
            .clone()
            .expect("first start creates the demo merchant");
        TestApp {
            url: format!("http://{}", running.addr),
            client: Client::new(),
            merchant: Merchant {
                id: demo.id,
                api_key: demo.api_key,
                webhook_secret: String::new(),
            },
            running,
            vars,
            _dir: dir,
            _services: services,
            resolver,
        }
    }

    /// A configuration variable it was started with ("" if unset).
    pub fn config_value(&self, key: &str) -> String {
        self.vars.get(key).cloned().unwrap_or_default()
    }

    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request reaches paygate")
    }

    pub async fn post_raw(&self, path: &str, key: &str, body: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request reaches paygate")
    }

    /// `PUT /admin/merchants/{demo}/providers/{provider}` with `body` (settings and secrets),
    /// as an operator stores the demo merchant's configuration.
    pub async fn put_provider(&self, provider: &str, body: &Value) -> Response {
        self.client
            .put(format!(
                "{}/admin/merchants/{}/providers/{provider}",
                self.url, self.merchant.id
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin API")
    }

    /// Waits (real time, up to 20 s) until the provider's notification has paid order `id`
    /// of the merchant whose key is `api_key`.
    pub async fn wait_paid(&self, api_key: &str, id: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let order: Value = self
                .get(&format!("/v1/orders/{id}"), api_key)
                .await
                .json()
                .await
                .expect("json");
            if order["state"] == "paid" || tokio::time::Instant::now() > deadline {
                assert_eq!(order["state"], "paid", "{order}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A fresh account at this paygate's sandbox provider: `{"account_id", "api_key"}`.
    pub async fn sandbox_account(&self) -> Value {
        self.client
            .post(format!("{}/sandbox/accounts", self.url))
            .send()
            .await
            .expect("sandbox")
            .json()
            .await
            .expect("account JSON")
    }

    /// As [`TestApp::put_provider`], with `?test=false`: the configuration is stored without
    /// its test query, as a test that sets up a broken configuration on purpose needs.
    pub async fn put_provider_untested(&self, provider: &str, body: &Value) -> Response {
        self.client
            .put(format!(
                "{}/admin/merchants/{}/providers/{provider}?test=false",
                self.url, self.merchant.id
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin API")
    }

    /// Uploads an adapter component (`POST /admin/adapters/versions`, `?provider=` when
    /// given): status and JSON answer.
    pub async fn upload_adapter(
        &self,
        component: &[u8],
        provider: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/admin/adapters/versions", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/wasm")
            .body(component.to_vec());
        if let Some(p) = provider {
            request = request.query(&[("provider", p)]);
        }
        let r = request.send().await.expect("admin API");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Uploads `component` and activates it through the admin API, as an operator would;
    /// the activation's answer.
    pub async fn activate_adapter(&self, component: &[u8]) -> Value {
        let (status, uploaded) = self.upload_adapter(component, None).await;
        assert!(status.is_success(), "upload: {status} {uploaded}");
        let version = &uploaded["version"];
        let (status, activated) = self
            .admin_post(
                &format!(
                    "/admin/adapters/{}/activate",
                    version["provider"].as_str().expect("provider")
                ),
                &json!({ "version": version["sha256"] }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "activate: {activated}");
        activated
    }

    /// A second paygate process on this one's database (and data directory), on its own
    /// port: what an operator runs beside the first. Stopped by the caller.
    pub async fn spawn_peer(&self) -> paygate::app::Running {
        let mut vars = self.vars.clone();
        vars.insert("PAYGATE_LISTEN".into(), "127.0.0.1:0".into());
        let config = paygate::config::Config::from_lookup(|k| vars.get(k).cloned())
            .expect("test configuration");
        paygate::app::spawn_with_resolver(
            config,
            paygate::clock::Clock::System,
            self.resolver.clone(),
        )
        .await
        .expect("the peer starts")
    }

    /// `GET` on an admin path: status and JSON answer (`null` if none).
    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.get(path, ADMIN_TOKEN).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST` of `body` on an admin path: status and JSON answer (`null` if none).
    pub async fn admin_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self.post(path, ADMIN_TOKEN, body).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON to a provider simulator's control endpoint (`{base_url}{path}`): its status
    /// and JSON answer (`null` if none).
    pub async fn simulator_post(
        &self,
        base_url: &str,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{base_url}{path}"))
            .json(body)
            .send()
            .await
            .expect("simulator");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Sets the knobs a provider simulator's `PUT /sim/knobs` names.
    pub async fn simulator_knobs(&self, base_url: &str, knobs: &Value) {
        let r = self
            .client
            .put(format!("{base_url}/sim/knobs"))
            .json(knobs)
            .send()
            .await
            .expect("simulator");
        assert_eq!(r.status(), StatusCode::OK, "knobs {knobs}");
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .expect("request reaches paygate")
    }

    /// Creates an order for the demo merchant; returns its JSON.
    pub async fn create_order(&self, amount: i64, ttl_seconds: i64) -> Value {
        let body = json!({
            "out_trade_no": format!("T{}", uuid::Uuid::new_v4().simple()),
            "amount": amount, "currency": "CNY", "subject": "Green tea", "ttl_seconds": ttl_seconds,
        });
        let r = self.post("/v1/orders", &self.merchant.api_key, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.expect("order JSON")
    }

    /// Starts payment of `order_ids` with the mock provider; returns status and JSON.
    pub async fn pay(&self, key: &str, order_ids: &[&str], channel: &str) -> (StatusCode, Value) {
        let r = self
            .post(
                "/v1/payments",
                key,
                &json!({"order_ids": order_ids, "provider": "mock", "channel": channel}),
            )
            .await;
        let status = r.status();
        (status, r.json().await.expect("payment JSON"))
    }

    pub async fn order(&self, id: &str) -> Value {
        let r = self
            .get(&format!("/v1/orders/{id}"), &self.merchant.api_key)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("order JSON")
    }

    /// The sandbox's view of a trade (state and counters).
    pub async fn sandbox_trade(&self, payment_no: &str) -> Value {
        let r = self
            .client
            .get(format!("{}/sandbox/trades/{payment_no}", self.url))
            .send()
            .await
            .expect("sandbox");
        assert_eq!(r.status(), StatusCode::OK, "sandbox trade {payment_no}");
        r.json().await.expect("trade JSON")
    }

    /// Pays a sandbox trade as a test tool would (`?notify=..&late=..`).
    pub async fn sandbox_pay(&self, payment_no: &str, query: &str) -> Response {
        self.client
            .post(format!(
                "{}/sandbox/trades/{payment_no}/pay{query}",
                self.url
            ))
            .send()
            .await
            .expect("sandbox")
    }

    /// Polls the order until its state is `state` or 20 s have passed (CI machines are slow).
    pub async fn wait_for_order_state(&self, id: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let order = self.order(id).await;
            if order["state"] == state || tokio::time::Instant::now() > deadline {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Creates another merchant through the admin API, with the mock provider configured
    /// against a fresh sandbox account (`extra_settings` added, e.g. `refunds`).
    pub async fn new_merchant(&self, name: &str, extra_settings: &[(&str, &str)]) -> Merchant {
        self.new_merchant_with_account(name, extra_settings).await.0
    }

    /// As [`TestApp::new_merchant`], also returning the sandbox account id and its key (the
    /// provider's secret, which lets a test sign a notification as the sandbox would).
    pub async fn new_merchant_with_account(
        &self,
        name: &str,
        extra_settings: &[(&str, &str)],
    ) -> (Merchant, String, String) {
        let r = self
            .post("/admin/merchants", ADMIN_TOKEN, &json!({"name": name}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.expect("merchant JSON");
        let account: Value = self
            .client
            .post(format!("{}/sandbox/accounts", self.url))
            .send()
            .await
            .expect("sandbox")
            .json()
            .await
            .expect("account JSON");
        let mut settings = json!({"sandbox_url": format!("{}/sandbox", self.url), "account_id": account["account_id"]});
        for (k, v) in extra_settings {
            settings[*k] = json!(v);
        }
        let id = created["id"].as_str().expect("id").to_owned();
        let body = json!({"settings": settings, "secrets": {"api_key": account["api_key"]}});
        let r = self
            .client
            .put(format!("{}/admin/merchants/{id}/providers/mock", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("admin");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let merchant = Merchant {
            id,
            api_key: created["api_key"].as_str().expect("api key").to_owned(),
            webhook_secret: created["webhook_secret"]
                .as_str()
                .expect("webhook secret")
                .to_owned(),
        };
        let account_id = account["account_id"].as_str().expect("account").to_owned();
        let account_key = account["api_key"].as_str().expect("key").to_owned();
        (merchant, account_id, account_key)
    }

    /// Reads one integer from paygate's database (for checks the API does not expose).
    pub async fn db_i64(&self, sql: &str, bind: &str) -> i64 {
        use sqlx::Row;
        let row = sqlx::query(sql)
            .bind(bind)
            .fetch_one(&self.running.db.pool)
            .await
            .expect("query");
        row.try_get::<i64, _>(0).expect("integer")
    }
}

/// Asserts an error response's status and code; returns its message.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status(), status, "expected {status} {code}");
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
