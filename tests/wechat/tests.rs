//! The simulator against its own protocol, over real HTTP: a small merchant client signs
//! requests with the fixture merchant key and checks every answer's signature with the
//! platform public key; a small receiver takes notifications.

use std::sync::Arc;
use std::time::Duration;

use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::protocol;
use super::{SimConfig, WechatSimulator};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(SimConfig::fixture_dir().join(name)).expect("fixture")
}

struct Merchant {
    sim: WechatSimulator,
    config: SimConfig,
    key: SigningKey<Sha256>,
    platform: VerifyingKey<Sha256>,
    http: reqwest::Client,
}

impl Merchant {
    async fn start() -> Merchant {
        let mut config = SimConfig::with_fixture_keys();
        config.time_scale = 1000.0;
        Merchant {
            sim: WechatSimulator::spawn(config.clone(), "127.0.0.1:0")
                .await
                .expect("simulator"),
            config,
            key: SigningKey::from_pkcs8_pem(&fixture("merchant_private_key.pem")).expect("key"),
            platform: VerifyingKey::from_public_key_pem(&fixture("platform_public_key.pem"))
                .expect("key"),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request signed with `key`; checks the answer's signature; (status, JSON).
    async fn call_with(
        &self,
        key: &SigningKey<Sha256>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let nonce = protocol::random_alnum(32);
        let signature = protocol::sign(
            key,
            &protocol::request_message(method, path, &timestamp, &nonce, body.as_bytes()),
        );
        let auth = format!(
            "{} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            protocol::AUTH_SCHEME,
            self.config.mchid,
            self.config.merchant_serial_no
        );
        let url = format!("{}{path}", self.sim.base_url());
        let request = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        };
        let r = request
            .header("authorization", auth)
            .send()
            .await
            .expect("simulator");
        let status = r.status().as_u16();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (ts, nonce, sig, serial) = (
            header("wechatpay-timestamp"),
            header("wechatpay-nonce"),
            header("wechatpay-signature"),
            header("wechatpay-serial"),
        );
        assert_eq!(serial, self.config.platform_public_key_id);
        assert_eq!(header("wechatpay-signature-type"), protocol::AUTH_SCHEME);
        let bytes = r.bytes().await.expect("body");
        assert!(
            protocol::verify(
                &self.platform,
                &protocol::response_message(&ts, &nonce, &bytes),
                &sig
            ),
            "every answer is signed by the platform key (status {status})"
        );
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(&self.key, method, path, body).await
    }

    fn order(&self, no: &str, total: u64, expires_in: i64, notify_url: &str) -> Value {
        let at = time::OffsetDateTime::now_utc().unix_timestamp() + expires_in;
        json!({"appid": self.config.appid, "mchid": self.config.mchid, "description": "Green tea",
               "out_trade_no": no, "time_expire": protocol::beijing_time(at), "notify_url": notify_url,
               "amount": {"total": total, "currency": "CNY"}})
    }
}

#[tokio::test]
async fn a_signed_native_order_gets_a_code_url_in_a_signed_answer() {
    let m = Merchant::start().await;
    let (status, body) = m
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(m.order("T100001", 100, 600, "http://127.0.0.1:1/n")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["code_url"]
        .as_str()
        .expect("code_url")
        .starts_with("weixin://wxpay/bizpayurl?pr="));
    let (status, tx) = m
        .call(
            "GET",
            &format!(
                "/v3/pay/transactions/out-trade-no/T100001?mchid={}",
                m.config.mchid
            ),
            None,
        )
        .await;
    assert_eq!((status, tx["trade_state"].clone()), (200, json!("NOTPAY")));
    let (status, body) = m
        .call(
            "GET",
            "/v3/pay/transactions/out-trade-no/T999999?mchid=1900009191",
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("ORDER_NOT_EXIST"))
    );
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_a_signed_sign_error() {
    let m = Merchant::start().await;
    let other = SigningKey::from_pkcs8_pem(&fixture("other_private_key.pem")).expect("key");
    let (status, body) = m
        .call_with(
            &other,
            "POST",
            "/v3/pay/transactions/native",
            Some(m.order("T100002", 100, 600, "http://127.0.0.1:1/n")),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, json!("SIGN_ERROR")),
        "{body}"
    );
    assert_eq!(m.sim.stats().signature_failures, 1);
    assert!(m.sim.trade("T100002").is_none());
}

#[tokio::test]
async fn a_repeated_order_gets_the_same_code_url_unless_its_parameters_differ() {
    let m = Merchant::start().await;
    let order = m.order("T100003", 100, 600, "http://127.0.0.1:1/n");
    let (_, first) = m
        .call("POST", "/v3/pay/transactions/native", Some(order.clone()))
        .await;
    let (status, again) = m
        .call("POST", "/v3/pay/transactions/native", Some(order.clone()))
        .await;
    assert_eq!((status, &again), (200, &first));
    let mut other = order;
    other["amount"]["total"] = json!(101);
    let (status, body) = m
        .call("POST", "/v3/pay/transactions/native", Some(other))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("OUT_TRADE_NO_USED"))
    );
    let mut bad = m.order("T100004", 100, 600, "http://127.0.0.1:1/n");
    bad["time_expire"] = json!("2026-11-23 10:34:56");
    let (status, body) = m
        .call("POST", "/v3/pay/transactions/native", Some(bad))
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("PARAM_ERROR")));
}

#[tokio::test]
async fn close_of_a_paid_trade_answers_orderpaid_and_pay_of_a_closed_one_order_closed() {
    let m = Merchant::start().await;
    for no in ["T200001", "T200002"] {
        m.call(
            "POST",
            "/v3/pay/transactions/native",
            Some(m.order(no, 100, 600, "http://127.0.0.1:1/n")),
        )
        .await;
    }
    let paid = m
        .http
        .post(format!("{}/sim/trades/T200001/pay", m.sim.base_url()))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 200);
    let close = |no: &'static str| {
        let path = format!("/v3/pay/transactions/out-trade-no/{no}/close");
        let body = json!({"mchid": m.config.mchid});
        let m = &m;
        async move { m.call("POST", &path, Some(body)).await }
    };
    let (status, body) = close("T200001").await;
    assert_eq!((status, body["code"].clone()), (400, json!("ORDERPAID")));
    assert_eq!(close("T200002").await.0, 204);
    assert_eq!(
        close("T200002").await.0,
        204,
        "closing a closed trade succeeds"
    );
    let (status, body) = m
        .call(
            "POST",
            "/v3/pay/transactions/native",
            Some(m.order("T200002", 100, 600, "http://127.0.0.1:1/n")),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!("ORDER_CLOSED")));
}

#[tokio::test]
async fn an_unpaid_trade_closes_by_itself_at_time_expire() {
    let m = Merchant::start().await;
    m.call(
        "POST",
        "/v3/pay/transactions/native",
        Some(m.order("T300001", 100, 1, "http://127.0.0.1:1/n")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(m.sim.trade("T300001").expect("trade").trade_state, "CLOSED");
    let r = m
        .http
        .post(format!("{}/sim/trades/T300001/pay", m.sim.base_url()))
        .send()
        .await
        .expect("pay");
    assert_eq!(r.status(), 409, "too late to pay");
}

/// The notifications a receiver got: headers and body of each.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A notification receiver answering the statuses in `replies` in turn (then 204).
async fn receiver(
    replies: Vec<u16>,
) -> (String, Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>) {
    let seen: Received = Arc::default();
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
                    log.lock().await.push((headers, body.to_vec()));
                    let status = replies.lock().await.next().unwrap_or(204);
                    axum::http::StatusCode::from_u16(status).expect("status")
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

#[tokio::test]
async fn a_paid_trade_is_notified_encrypted_and_signed_and_retried_until_204() {
    let m = Merchant::start().await;
    let (url, seen) = receiver(vec![500, 500]).await;
    m.call(
        "POST",
        "/v3/pay/transactions/native",
        Some(m.order("T400001", 1234, 600, &url)),
    )
    .await;
    m.http
        .post(format!("{}/sim/trades/T400001/pay", m.sim.base_url()))
        .send()
        .await
        .expect("pay");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.lock().await.len() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().await;
    assert_eq!(seen.len(), 3, "500, 500, then 204 stops the retries");
    let (headers, body) = &seen[2];
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(protocol::verify(
        &m.platform,
        &protocol::response_message(&h("wechatpay-timestamp"), &h("wechatpay-nonce"), body),
        &h("wechatpay-signature")
    ));
    let envelope: Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!(envelope["event_type"], "TRANSACTION.SUCCESS");
    assert_eq!(seen[0].1, *body, "the same notification on every retry");
    let r = &envelope["resource"];
    let key: [u8; 32] = m.config.apiv3_key.as_bytes().try_into().expect("32 bytes");
    let plain = protocol::decrypt_resource(
        &key,
        r["nonce"].as_str().expect("nonce"),
        r["associated_data"].as_str().expect("aad"),
        r["ciphertext"].as_str().expect("ciphertext"),
    )
    .expect("decrypts with the APIv3 key");
    let tx: Value = serde_json::from_slice(&plain).expect("transaction JSON");
    assert_eq!(
        (tx["trade_state"].clone(), tx["amount"]["total"].clone()),
        (json!("SUCCESS"), json!(1234))
    );
    let trade = m.sim.trade("T400001").expect("trade");
    let statuses: Vec<_> = trade.notifications.iter().map(|n| n.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(204)]);
}
