//! What the simulator's tests talk to it with: a small merchant client that signs requests
//! with the fixture merchant key (optionally sending `Wechatpay-Serial`) and checks the
//! signature of every signed answer with the platform key its `Wechatpay-Serial` names (the
//! public key or the certificate), and a small notification receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::super::certificate::read_certificate;
use super::super::protocol;
use super::super::verification::Signer;
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
    /// The WeChat Pay public key (`PUB_KEY_ID_...`).
    pub platform: VerifyingKey<Sha256>,
    /// The platform certificate's public key.
    pub certificate: VerifyingKey<Sha256>,
    /// Sent as the `Wechatpay-Serial` request header when set (the key the merchant asks
    /// answers to be signed with, as wechatpay-go does).
    pub wechatpay_serial: Option<String>,
    pub http: reqwest::Client,
}

/// An answer, its signature checked if it has one.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    /// The platform key whose signature verified; `None`: the answer is unsigned (it has no
    /// `Wechatpay-*` header at all).
    pub signer: Option<Signer>,
}

impl Answer {
    pub fn code(&self) -> (u16, &str) {
        (self.status, self.body["code"].as_str().unwrap_or_default())
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// An answer as received, nothing checked.
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Merchant {
    /// A simulator whose retries come a thousand times faster than WeChat's.
    pub async fn start() -> Merchant {
        Merchant::start_with(|_| {}).await
    }

    /// The same, with `change` made to the configuration first.
    pub async fn start_with(change: impl FnOnce(&mut SimConfig)) -> Merchant {
        let mut config = SimConfig::with_fixture_keys();
        config.time_scale = 1000.0;
        change(&mut config);
        let certificate = read_certificate(&config.platform_certificate_pem).expect("certificate");
        Merchant {
            sim: WechatSimulator::spawn(config.clone(), "127.0.0.1:0")
                .await
                .expect("simulator"),
            key: key("merchant_private_key.pem"),
            platform: VerifyingKey::from_public_key_pem(&fixture("platform_public_key.pem"))
                .expect("public key"),
            certificate: VerifyingKey::from_public_key_der(&certificate.public_key_der)
                .expect("the certificate's public key"),
            config,
            wechatpay_serial: None,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request with this `authorization` (none if `None`), and `Wechatpay-Serial` if
    /// set; nothing checked.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: &str,
        authorization: Option<String>,
    ) -> Raw {
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
        if let Some(serial) = &self.wechatpay_serial {
            request = request.header("wechatpay-serial", serial);
        }
        let r = request.send().await.expect("simulator answers");
        Raw {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.expect("body").to_vec(),
        }
    }

    /// The platform key a `Wechatpay-Serial` names.
    pub fn key_named(&self, serial: &str) -> Option<(Signer, &VerifyingKey<Sha256>)> {
        if serial == self.config.platform_public_key_id {
            Some((Signer::PublicKey, &self.platform))
        } else if serial == self.config.platform_certificate_serial {
            Some((Signer::Certificate, &self.certificate))
        } else {
            None
        }
    }

    /// Sends a request as [`Merchant::send_raw`] does, and checks the answer as a merchant
    /// must: an answer with any `Wechatpay-*` header has them all and verifies with the key
    /// its serial names; an answer without them is not a 2xx (an unsigned 2xx is forged).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        authorization: Option<String>,
    ) -> Answer {
        let Raw {
            status,
            headers,
            body,
        } = self.send_raw(method, path, body, authorization).await;
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(!header("request-id").is_empty());
        let signed = headers
            .keys()
            .any(|name| name.as_str().starts_with("wechatpay-"));
        let signer = if signed {
            assert_eq!(header("wechatpay-signature-type"), protocol::AUTH_SCHEME);
            assert_eq!(header("wechatpay-nonce").len(), 32);
            let serial = header("wechatpay-serial");
            let (signer, key) = self
                .key_named(&serial)
                .unwrap_or_else(|| panic!("an answer signed by an unknown key {serial}"));
            assert!(
                protocol::verify(
                    key,
                    &protocol::response_message(
                        &header("wechatpay-timestamp"),
                        &header("wechatpay-nonce"),
                        &body
                    ),
                    &header("wechatpay-signature")
                ),
                "a signed answer verifies with the key its serial names (status {status})"
            );
            Some(signer)
        } else {
            assert!(
                !(200..300).contains(&status),
                "an unsigned {status} answer would be forged"
            );
            None
        };
        Answer {
            status,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            headers,
            signer,
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
        self.authorization_as(
            (&self.config.mchid, &self.config.merchant_serial_no),
            key,
            (method, path, body),
        )
    }

    /// The `Authorization` of a request signed with `key`, naming this `mchid` and
    /// `serial_no`.
    pub fn authorization_as(
        &self,
        (mchid, serial_no): (&str, &str),
        key: &SigningKey<Sha256>,
        (method, path, body): (&str, &str, &str),
    ) -> String {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let nonce = protocol::random_alnum(32);
        let signature = protocol::sign(
            key,
            &protocol::request_message(method, path, &timestamp, &nonce, body.as_bytes()),
        );
        // The Java SDK's order and spacing, not the documentation's.
        format!(
            "{} mchid=\"{mchid}\", nonce_str=\"{nonce}\", timestamp=\"{timestamp}\", serial_no=\"{serial_no}\", signature=\"{signature}\"",
            protocol::AUTH_SCHEME,
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

    /// `PUT /sim/knobs` over HTTP with this change; the knobs.
    pub async fn knobs(&self, change: Value) -> Value {
        let r = self
            .http
            .put(format!("{}/sim/knobs", self.sim.base_url()))
            .json(&change)
            .send()
            .await
            .expect("knobs");
        assert_eq!(r.status(), 200, "knobs {change}");
        r.json().await.expect("knobs JSON")
    }

    /// A jsapi order body for `openid`.
    pub fn jsapi_order(&self, no: &str, openid: &str) -> Value {
        let mut order = self.order(no, 100, 600, "http://127.0.0.1:1/notify");
        order["payer"] = json!({ "openid": openid });
        order
    }

    /// An h5 order body from `payer_client_ip`.
    pub fn h5_order(&self, no: &str, payer_client_ip: &str) -> Value {
        let mut order = self.order(no, 100, 600, "http://127.0.0.1:1/notify");
        order["scene_info"] =
            json!({"payer_client_ip": payer_client_ip, "h5_info": {"type": "Wap"}});
        order
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

    /// The platform key that signed it: the one its `Wechatpay-Serial` names, if the
    /// signature verifies with it.
    pub fn signed_by(&self, m: &Merchant) -> Option<Signer> {
        let (signer, key) = m.key_named(self.header("wechatpay-serial"))?;
        self.verifies(key).then_some(signer)
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
