//! What the simulator's tests talk to it with: a small merchant client that signs requests
//! with the fixture merchant key and checks every answer's signature with the platform
//! public key, and a small notification receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::super::protocol;
use super::super::{SimConfig, WechatSimulator};

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(SimConfig::fixture_dir().join(name)).expect("fixture")
}

pub fn key(name: &str) -> SigningKey<Sha256> {
    SigningKey::from_pkcs8_pem(&fixture(name)).expect("private key")
}

/// A merchant talking to its own simulator.
pub struct Merchant {
    pub sim: WechatSimulator,
    pub config: SimConfig,
    pub key: SigningKey<Sha256>,
    pub platform: VerifyingKey<Sha256>,
    pub http: reqwest::Client,
}

/// An answer whose signature verified.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> (u16, &str) {
        (self.status, self.body["code"].as_str().unwrap_or_default())
    }
}

impl Merchant {
    /// A simulator whose retries come a thousand times faster than WeChat's.
    pub async fn start() -> Merchant {
        let mut config = SimConfig::with_fixture_keys();
        config.time_scale = 1000.0;
        Merchant {
            sim: WechatSimulator::spawn(config.clone(), "127.0.0.1:0")
                .await
                .expect("simulator"),
            config,
            key: key("merchant_private_key.pem"),
            platform: VerifyingKey::from_public_key_pem(&fixture("platform_public_key.pem"))
                .expect("public key"),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request with this `authorization` (none if `None`); checks the answer's
    /// signature and headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        authorization: Option<String>,
    ) -> Answer {
        let url = format!("{}{path}", self.sim.base_url());
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        };
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let r = request.send().await.expect("simulator answers");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            header("wechatpay-serial"),
            self.config.platform_public_key_id
        );
        assert_eq!(header("wechatpay-signature-type"), protocol::AUTH_SCHEME);
        assert_eq!(header("wechatpay-nonce").len(), 32);
        assert!(!header("request-id").is_empty());
        let bytes = r.bytes().await.expect("body");
        assert!(
            protocol::verify(
                &self.platform,
                &protocol::response_message(
                    &header("wechatpay-timestamp"),
                    &header("wechatpay-nonce"),
                    &bytes
                ),
                &header("wechatpay-signature")
            ),
            "every answer is signed by the platform key (status {status})"
        );
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        }
    }

    /// The `Authorization` of a request signed with `key`.
    pub fn authorization(
        &self,
        key: &SigningKey<Sha256>,
        method: &str,
        path: &str,
        body: &str,
    ) -> String {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let nonce = protocol::random_alnum(32);
        let signature = protocol::sign(
            key,
            &protocol::request_message(method, path, &timestamp, &nonce, body.as_bytes()),
        );
        // The Java SDK's order and spacing, not the documentation's.
        format!(
            "{} mchid=\"{}\", nonce_str=\"{nonce}\", timestamp=\"{timestamp}\", serial_no=\"{}\", signature=\"{signature}\"",
            protocol::AUTH_SCHEME,
            self.config.mchid,
            self.config.merchant_serial_no
        )
    }

    /// A request signed with the merchant key.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let authorization = self.authorization(&self.key, method, path, &body);
        self.send(method, path, &body, Some(authorization)).await
    }

    pub async fn create(&self, kind: &str, order: Value) -> Answer {
        self.call("POST", &format!("/v3/pay/transactions/{kind}"), Some(order))
            .await
    }

    pub async fn query(&self, no: &str) -> Answer {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
            self.config.mchid
        );
        self.call("GET", &path, None).await
    }

    pub async fn close(&self, no: &str) -> Answer {
        let path = format!("/v3/pay/transactions/out-trade-no/{no}/close");
        self.call("POST", &path, Some(json!({"mchid": self.config.mchid})))
            .await
    }

    pub async fn refund(
        &self,
        no: &str,
        out_refund_no: &str,
        (refund, total): (u64, u64),
        notify_url: Option<&str>,
    ) -> Answer {
        let body = json!({"out_trade_no": no, "out_refund_no": out_refund_no, "reason": "damaged",
            "notify_url": notify_url, "amount": {"refund": refund, "total": total, "currency": "CNY"}});
        self.call("POST", "/v3/refund/domestic/refunds", Some(body))
            .await
    }

    /// A native order body, expiring `expires_in` seconds from now.
    pub fn order(&self, no: &str, total: u64, expires_in: i64, notify_url: &str) -> Value {
        let at = time::OffsetDateTime::now_utc().unix_timestamp() + expires_in;
        json!({"appid": self.config.appid, "mchid": self.config.mchid, "description": "Green tea",
               "out_trade_no": no, "time_expire": protocol::beijing_time(at), "notify_url": notify_url,
               "amount": {"total": total, "currency": "CNY"}})
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

    pub fn apiv3_key(&self) -> [u8; 32] {
        self.config
            .apiv3_key
            .as_bytes()
            .try_into()
            .expect("32 bytes")
    }
}

/// One notification as the receiver got it.
#[derive(Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// Whether `Wechatpay-Signature` verifies with `key` over the headers' timestamp and nonce.
    pub fn verifies(&self, key: &VerifyingKey<Sha256>) -> bool {
        protocol::verify(
            key,
            &protocol::response_message(
                self.header("wechatpay-timestamp"),
                self.header("wechatpay-nonce"),
                &self.body,
            ),
            self.header("wechatpay-signature"),
        )
    }

    pub fn envelope(&self) -> Value {
        serde_json::from_slice(&self.body).expect("notification JSON")
    }

    /// The decrypted resource, if it decrypts with `apiv3_key`.
    pub fn resource(&self, apiv3_key: &[u8; 32]) -> Option<Value> {
        let envelope = self.envelope();
        let r = &envelope["resource"];
        let plain = protocol::decrypt_resource(
            apiv3_key,
            r["nonce"].as_str()?,
            r["associated_data"].as_str()?,
            r["ciphertext"].as_str()?,
        )?;
        serde_json::from_slice(&plain).ok()
    }
}

/// A notification receiver answering the statuses in `replies` in turn (then 204): its URL
/// and what it received.
pub async fn receiver(replies: Vec<u16>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = seen.clone();
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                let replies = replies.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                        .collect();
                    log.lock().await.push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let status = replies.lock().await.next().unwrap_or(204);
                    let status = axum::http::StatusCode::from_u16(status).expect("status");
                    if status.is_success() {
                        (status, String::new())
                    } else {
                        (status, r#"{"code":"FAIL","message":"no"}"#.to_owned())
                    }
                }
            },
        ),
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
