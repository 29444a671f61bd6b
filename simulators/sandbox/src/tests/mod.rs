//! Tests of the sandbox against a real SQLite file (one per test) with its migrations
//! applied, driving the router the way the lead mounts it (nested at `/sandbox`).
//! Signatures are computed here from PROTOCOL.md's formulas, not with `sign.rs`, so a
//! mistake in the module's message layout fails the tests instead of agreeing with them.

mod api;
mod checkout;
mod notify;
mod payments;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tower::ServiceExt;

use super::{Sandbox, SandboxAccount};

/// One sandbox on its own database, nested at `/sandbox`, with one account.
pub struct Harness {
    pub sandbox: Sandbox,
    pub app: Router,
    pub account: SandboxAccount,
    _dir: tempfile::TempDir,
}

pub async fn harness() -> Harness {
    harness_with_grace(std::time::Duration::ZERO).await
}

/// [`harness`], for a merchant whose gateway opens trades `grace` after its own deadline.
pub async fn harness_with_grace(grace: std::time::Duration) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::open(
        &dir.path().join("sandbox.db"),
        "http://127.0.0.1:8080/sandbox/".into(),
        reqwest::Client::new(),
    )
    .await
    .expect("sandbox database with its migrations")
    .with_notify_delays(vec![ms(20), ms(40), ms(80)])
    .with_notify_timeout(std::time::Duration::from_secs(5))
    .with_deadline_grace(grace);
    let account = sandbox.create_account().await.expect("account");
    let app = Router::new().nest("/sandbox", sandbox.clone().router());
    Harness {
        sandbox,
        app,
        account,
        _dir: dir,
    }
}

pub fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Lower-case hex HMAC-SHA256, as PROTOCOL.md defines it.
pub fn hmac_hex(key: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A `CreateTrade` body for an amount of CNY, due in 10 minutes.
pub fn trade_body(payment_no: &str, amount: i64) -> Value {
    json!({
        "payment_no": payment_no,
        "amount": amount,
        "currency": "CNY",
        "subject": "A cup of tea",
        "channel": "web",
        "expires_at": now_secs() + 600,
        "notify_url": "http://127.0.0.1:9/notify",
    })
}

impl Harness {
    /// A request signed with `key` at `timestamp` for `account_id`.
    pub fn signed_as(
        &self,
        account_id: &str,
        key: &str,
        timestamp: i64,
        method: &str,
        path: &str,
        body: &str,
    ) -> Request<Body> {
        let nonce = "n0nce0123456789abcdef";
        let message = format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}");
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("x-sandbox-account", account_id)
            .header("x-sandbox-timestamp", timestamp.to_string())
            .header("x-sandbox-nonce", nonce)
            .header("x-sandbox-signature", hmac_hex(key, &message))
            .body(Body::from(body.to_owned()))
            .expect("request")
    }

    /// A request correctly signed by the harness's account, now.
    pub fn signed(&self, method: &str, path: &str, body: &str) -> Request<Body> {
        self.signed_as(
            &self.account.account_id,
            &self.account.api_key,
            now_secs(),
            method,
            path,
            body,
        )
    }

    /// Sends a request; the status and the JSON body (`Null` if not JSON).
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, _, body) = self.call_raw(request).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Sends a request; the status, the headers and the body as text.
    pub async fn call_raw(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            headers,
            String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        )
    }

    pub async fn create_trade(&self, body: &Value) -> (StatusCode, Value) {
        self.call(self.signed("POST", "/sandbox/api/trades", &body.to_string()))
            .await
    }

    /// Creates a CNY trade, asserting it opened.
    pub async fn open_trade(&self, payment_no: &str, amount: i64) {
        let (status, body) = self.create_trade(&trade_body(payment_no, amount)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "open");
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.call(Request::post(path).body(Body::empty()).expect("request"))
            .await
    }

    /// `GET /sandbox/trades/{payment_no}`: the trade with its counters.
    pub async fn detail(&self, payment_no: &str) -> Value {
        let (status, body) = self
            .call(
                Request::get(format!("/sandbox/trades/{payment_no}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Pays without notification, as a test would.
    pub async fn pay(&self, payment_no: &str) -> (StatusCode, Value) {
        self.post(&format!("/sandbox/trades/{payment_no}/pay?notify=false"))
            .await
    }

    /// Moves the trade's deadline into the past without closing it, as time passing would.
    pub async fn let_expire(&self, payment_no: &str) {
        sqlx::query("UPDATE sandbox_trades SET expires_at = $2 WHERE payment_no = $1")
            .bind(payment_no)
            .bind((now_secs() - 1) * 1000)
            .execute(&self.sandbox.pool)
            .await
            .expect("update");
    }
}
