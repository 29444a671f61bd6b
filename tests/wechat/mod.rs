//! A WeChat Pay API v3 simulator (direct merchant), for paygate's tests and for demos by
//! hand (`cargo run -p paygate-e2e --bin wechat-simulator`).
//!
//! It serves WeChat's endpoints over real HTTP for one merchant: every request's
//! `Authorization` signature is verified with the merchant's public key, every answer (errors
//! and 204s included) is signed with the platform key, trades follow WeChat's state machine,
//! and paid trades are notified to their `notify_url` with an AEAD_AES_256_GCM-encrypted
//! resource, retried on WeChat's schedule (compressible by a time scale). Knobs under
//! `/sim/knobs` drop notifications, slow or fail answers, or sign them with the wrong key;
//! `/sim/trades/...` lets a test (or a person) pay trades and send chosen notifications.
//!
//! `protocol.rs`: signatures, encryption, times; `trades.rs`: the state machines;
//! `server.rs`: the HTTP endpoints; `notify.rs`: notification delivery.

mod notify;
mod protocol;
mod server;
mod trades;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

pub use trades::{Refund, Trade};

/// Who the simulated merchant is, and the keys of both sides.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mchid: String,
    pub appid: String,
    /// Must equal the `serial_no` of requests' `Authorization`.
    pub merchant_serial_no: String,
    /// Verifies requests.
    pub merchant_public_key_pem: String,
    /// Signs answers and notifications.
    pub platform_private_key_pem: String,
    /// Sent as `Wechatpay-Serial`.
    pub platform_public_key_id: String,
    /// The 32-byte APIv3 key that encrypts notification resources.
    pub apiv3_key: String,
    /// Signs what must not verify (knobs and faults).
    pub wrong_private_key_pem: String,
    /// Notification retry delays are divided by it (1.0 = WeChat's real schedule).
    pub time_scale: f64,
}

impl SimConfig {
    /// WeChat's documentation's example merchant, with the test keys of
    /// `tests/fixtures/wechat`.
    pub fn with_fixture_keys() -> SimConfig {
        let read = |name: &str| {
            let path = format!("{}/fixtures/wechat/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
        };
        SimConfig {
            mchid: "1900009191".into(),
            appid: "wxd678efh567hg6787".into(),
            merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            merchant_public_key_pem: read("merchant_public_key.pem"),
            platform_private_key_pem: read("platform_private_key.pem"),
            platform_public_key_id: "PUB_KEY_ID_0114232134912410000000000000".into(),
            apiv3_key: read("apiv3_key.txt").trim().to_owned(),
            wrong_private_key_pem: read("other_private_key.pem"),
            time_scale: 1.0,
        }
    }

    /// Where the fixture keys are, for operators configuring paygate against the binary.
    pub fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wechat")
    }
}

/// Misbehaviour on demand (`GET`/`PUT /sim/knobs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Knobs {
    /// Paid trades send no notification (recorded as dropped).
    pub drop_notifications: bool,
    /// Every `/v3` answer waits this long first.
    pub delay_ms: u64,
    /// The next N `/v3` requests answer `500 SYSTEM_ERROR` (signed).
    pub fail_next: u32,
    /// `/v3` answers are signed with the wrong key.
    pub wrong_response_signature: bool,
    /// Refunds stay `PROCESSING` this long before `SUCCESS` (0: `SUCCESS` at once).
    pub refund_processing_ms: u64,
}

/// A partial change of the knobs: what is absent stays.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsChange {
    pub drop_notifications: Option<bool>,
    pub delay_ms: Option<u64>,
    pub fail_next: Option<u32>,
    pub wrong_response_signature: Option<bool>,
    pub refund_processing_ms: Option<u64>,
}

/// Totals over all trades.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Requests by endpoint (`POST /v3/pay/transactions/native`...).
    pub requests: BTreeMap<String, u64>,
    pub signature_failures: u64,
    pub notifications_sent: u64,
    pub notifications_acknowledged: u64,
    pub notifications_dropped: u64,
}

/// Everything the simulator holds.
#[derive(Default)]
struct State {
    trades: BTreeMap<String, Trade>,
    refunds: BTreeMap<String, Refund>,
    knobs: Knobs,
    stats: Stats,
}

/// The simulator's keys and state, shared by its handlers and delivery tasks.
struct Sim {
    config: SimConfig,
    platform: SigningKey<Sha256>,
    wrong: SigningKey<Sha256>,
    merchant: VerifyingKey<Sha256>,
    apiv3_key: [u8; 32],
    state: Mutex<State>,
    http: reqwest::Client,
    /// The server and every delivery; aborted when the simulator is dropped.
    tasks: Mutex<JoinSet<()>>,
}

impl Sim {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .spawn(task);
    }
}

/// A running simulator. Dropping it stops the server and its notification deliveries.
pub struct WechatSimulator {
    sim: Arc<Sim>,
    addr: std::net::SocketAddr,
}

impl WechatSimulator {
    /// Starts the simulator on `listen` (`127.0.0.1:0` for a free port).
    pub async fn spawn(config: SimConfig, listen: &str) -> anyhow::Result<WechatSimulator> {
        let apiv3_key: [u8; 32] = config
            .apiv3_key
            .as_bytes()
            .try_into()
            .context("the APIv3 key must be 32 bytes")?;
        let sim = Arc::new(Sim {
            platform: SigningKey::from_pkcs8_pem(&config.platform_private_key_pem)
                .context("platform private key")?,
            wrong: SigningKey::from_pkcs8_pem(&config.wrong_private_key_pem)
                .context("wrong private key")?,
            merchant: VerifyingKey::from_public_key_pem(&config.merchant_public_key_pem)
                .context("merchant public key")?,
            apiv3_key,
            config,
            state: Mutex::new(State::default()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?,
            tasks: Mutex::new(JoinSet::new()),
        });
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let app = server::router(sim.clone());
        sim.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("wechat simulator: server stopped: {e}");
            }
        });
        let ticker = Arc::downgrade(&sim);
        sim.spawn(async move {
            // Closes expired trades and settles refunds even when nobody asks about them.
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let Some(sim) = ticker.upgrade() else { return };
                server::tick(&sim);
            }
        });
        Ok(WechatSimulator { sim, addr })
    }

    /// `http://127.0.0.1:PORT`: paygate's `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A trade as the simulator holds it.
    pub fn trade(&self, out_trade_no: &str) -> Option<Trade> {
        self.sim.state().trades.get(out_trade_no).cloned()
    }

    pub fn stats(&self) -> Stats {
        self.sim.state().stats.clone()
    }
}

impl Drop for WechatSimulator {
    fn drop(&mut self) {
        self.sim
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .abort_all();
    }
}

#[cfg(test)]
mod tests;
