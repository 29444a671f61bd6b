//! What the simulator's tests talk to it with: a small merchant client that signs requests
//! with the fixture app key (adding the certificate SNs in the certificate mode) and checks
//! every answer's signature over the raw text of its `*_response` member, as a merchant must;
//! and a small notification receiver.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::super::{protocol, AlipaySimulator, KeyMode, SimConfig};

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(SimConfig::fixture(name)).expect("fixture")
}

pub fn signing_key(name: &str) -> SigningKey<Sha256> {
    SigningKey::from_pkcs8_pem(&fixture(name)).expect("private key")
}

pub fn public_key(name: &str) -> VerifyingKey<Sha256> {
    VerifyingKey::from_public_key_pem(&fixture(name)).expect("public key")
}

pub const NOWHERE: &str = "http://127.0.0.1:1/notify";

/// An app talking to its own simulator.
pub struct Merchant {
    pub sim: AlipaySimulator,
    pub config: SimConfig,
    pub key: SigningKey<Sha256>,
    /// Alipay's public key (the Alipay certificate holds the same key).
    pub alipay: VerifyingKey<Sha256>,
    pub http: reqwest::Client,
}

/// An answer as received, its signature checked over the raw `*_response` text.
#[derive(Debug)]
pub struct Answer {
    pub raw: String,
    pub content_type: String,
    /// The `*_response` member (or `error_response`).
    pub inner: Value,
    /// `None`: no `sign`; `Some(true)`: it verifies with Alipay's public key.
    pub verified: Option<bool>,
    pub alipay_cert_sn: Option<String>,
}

impl Answer {
    pub fn code(&self) -> (&str, &str) {
        let s = |k: &str| self.inner[k].as_str().unwrap_or_default();
        (s("code"), s("sub_code"))
    }

    pub fn sub_msg(&self) -> &str {
        self.inner["sub_msg"].as_str().unwrap_or_default()
    }
}

/// The raw text of the JSON object that follows `"key":` in `body`, found as Alipay's Java SDK
/// finds it (`AlipaySignature.extractSignContent`: from the `{` to its matching `}`, outside
/// quoted strings).
pub fn raw_member<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let start = body.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &body[start..];
    let open = rest.find('{')?;
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for (i, c) in rest[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[open..open + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

impl Merchant {
    /// A public-key-mode simulator whose retries come a thousand times faster than Alipay's.
    pub async fn start() -> Merchant {
        Merchant::start_with(|_| {}).await
    }

    /// The same, with `change` made to the configuration first.
    pub async fn start_with(change: impl FnOnce(&mut SimConfig)) -> Merchant {
        let mut config = SimConfig::with_fixture_keys();
        config.time_scale = 1000.0;
        change(&mut config);
        Merchant {
            sim: AlipaySimulator::spawn(config.clone(), "127.0.0.1:0")
                .await
                .expect("simulator"),
            config,
            key: signing_key("app_private_key.pem"),
            alipay: public_key("alipay_public_key.pem"),
            http: reqwest::Client::new(),
        }
    }

    /// The common parameters of a call of `method` (with the certificate SNs in that mode).
    pub fn params(&self, method: &str, biz: &Value) -> BTreeMap<String, String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut p: BTreeMap<String, String> = [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        p.insert("timestamp".into(), protocol::beijing_time(now));
        p.insert("biz_content".into(), biz.to_string());
        if self.config.key_mode == KeyMode::Certificate {
            p.insert("app_cert_sn".into(), crate::APP_CERT_SN.into());
            p.insert(
                "alipay_root_cert_sn".into(),
                crate::ALIPAY_ROOT_CERT_SN.into(),
            );
        }
        p
    }

    /// Adds `sign`, made with `key` over the request's sign content.
    pub fn sign_with(&self, key: &SigningKey<Sha256>, params: &mut BTreeMap<String, String>) {
        params.remove("sign");
        let sign = protocol::sign(key, &protocol::request_sign_content(params));
        params.insert("sign".into(), sign);
    }

    /// POSTs `params` as the Java SDK does: everything but `biz_content` in the query string,
    /// `biz_content` in the form body. The answer, its signature checked.
    pub async fn send(&self, params: &BTreeMap<String, String>) -> Answer {
        let query = protocol::form_encode(
            params
                .iter()
                .filter(|(k, _)| *k != "biz_content")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let body = protocol::form_encode(
            params
                .get("biz_content")
                .map(|b| ("biz_content", b.as_str())),
        );
        let r = self
            .http
            .post(format!("{}?{query}", self.sim.gateway_url()))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .expect("simulator answers");
        self.read(r, params.get("method").map_or("", String::as_str))
            .await
    }

    /// Reads an answer to `method`, checking its signature as a merchant must.
    pub async fn read(&self, r: reqwest::Response, method: &str) -> Answer {
        assert_eq!(r.status(), 200, "Alipay answers 200, errors included");
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let raw = r.text().await.expect("body");
        let whole: Value = serde_json::from_str(&raw).expect("JSON answer");
        let mut key = protocol::response_key(method);
        if whole.get(&key).is_none() {
            key = "error_response".into();
        }
        let inner_text = raw_member(&raw, &key).unwrap_or_else(|| panic!("no {key} in {raw}"));
        let verified = whole["sign"]
            .as_str()
            .map(|sign| protocol::verify(&self.alipay, inner_text, sign));
        Answer {
            inner: whole[&key].clone(),
            alipay_cert_sn: whole["alipay_cert_sn"].as_str().map(str::to_owned),
            verified,
            content_type,
            raw,
        }
    }

    /// A call of `method` signed with the app key; its answer, which must be signed and
    /// verify.
    pub async fn call(&self, method: &str, biz: Value) -> Answer {
        let mut params = self.params(method, &biz);
        params.insert("notify_url".into(), NOWHERE.into());
        self.sign_with(&self.key, &mut params);
        let a = self.send(&params).await;
        assert_eq!(
            a.verified,
            Some(true),
            "a signed answer that verifies: {}",
            a.raw
        );
        a
    }

    /// `alipay.trade.precreate` of `total_amount` with `notify_url`, expiring in
    /// `expires_in` seconds.
    pub async fn precreate(
        &self,
        no: &str,
        total_amount: &str,
        expires_in: i64,
        notify_url: &str,
    ) -> Answer {
        let mut params = self.params(
            "alipay.trade.precreate",
            &self.order(no, total_amount, expires_in),
        );
        params.insert("notify_url".into(), notify_url.into());
        self.sign_with(&self.key, &mut params);
        let a = self.send(&params).await;
        assert_eq!(a.verified, Some(true), "{}", a.raw);
        a
    }

    /// An order's `biz_content`, expiring `expires_in` seconds from now.
    pub fn order(&self, no: &str, total_amount: &str, expires_in: i64) -> Value {
        let at = time::OffsetDateTime::now_utc().unix_timestamp() + expires_in;
        json!({"out_trade_no": no, "total_amount": total_amount, "subject": "Green tea",
               "time_expire": protocol::beijing_time(at)})
    }

    pub async fn query(&self, no: &str) -> Answer {
        self.call("alipay.trade.query", json!({"out_trade_no": no}))
            .await
    }

    pub async fn close(&self, no: &str) -> Answer {
        self.call("alipay.trade.close", json!({"out_trade_no": no}))
            .await
    }

    pub async fn refund(&self, no: &str, amount: &str, out_request_no: Option<&str>) -> Answer {
        let mut biz = json!({"out_trade_no": no, "refund_amount": amount});
        if let Some(r) = out_request_no {
            biz["out_request_no"] = json!(r);
        }
        self.call("alipay.trade.refund", biz).await
    }

    /// `POST /sim/trades/{no}/{action}` over HTTP: (status, JSON).
    pub async fn control(&self, no: &str, action: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/sim/trades/{no}/{action}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .expect("simulator");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `PUT /sim/knobs` over HTTP with this change: (status, knobs).
    pub async fn knobs(&self, change: Value) -> (u16, Value) {
        let r = self
            .http
            .put(format!("{}/sim/knobs", self.sim.base_url()))
            .json(&change)
            .send()
            .await
            .expect("knobs");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// One notification as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub content_type: String,
    pub body: String,
}

impl Received {
    /// The fields, decoded once.
    pub fn fields(&self) -> BTreeMap<String, String> {
        protocol::read_params("", self.body.as_bytes())
    }

    /// Whether `sign` verifies with `key` over every field but `sign` and `sign_type`.
    pub fn verifies(&self, key: &VerifyingKey<Sha256>) -> bool {
        let fields = self.fields();
        let sign = fields.get("sign").cloned().unwrap_or_default();
        protocol::verify(key, &protocol::notification_sign_content(&fields), &sign)
    }
}

/// A notification receiver answering the bodies in `replies` in turn (then `success`): its
/// URL and what it received.
pub async fn receiver(replies: Vec<&'static str>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            let replies = replies.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().await.push(Received { content_type, body });
                replies.lock().await.next().unwrap_or("success")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Waits until `seen` holds `n` notifications, or 5 s.
pub async fn wait_for(seen: &Mutex<Vec<Received>>, n: usize) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.lock().await.len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.lock().await.clone()
}
