//! A WeChat Pay API v3 simulator (direct merchant), for paygate's tests and for demos by
//! hand (`cargo run -p wechat-simulator`).
//!
//! It serves WeChat's endpoints over real HTTP for one merchant: every request's
//! `Authorization` signature is verified with the merchant's public key, every answer (errors
//! and 204s included) is signed with the platform key, trades follow WeChat's state machine,
//! and paid trades (and succeeded refunds) are notified to their `notify_url` with an
//! AEAD_AES_256_GCM-encrypted resource, retried on WeChat's schedule (compressible by a time
//! scale). Knobs under `/sim/knobs` drop notifications, slow or fail answers, or sign them
//! with the wrong key; `/sim/trades/...` lets a test (or a person) pay trades and send chosen
//! notifications. The same controls are methods of [`WechatSimulator`].
//!
//! `protocol.rs`: signatures, encryption, times (pure); `trades.rs`: the state machines
//! (pure); `v3.rs`: WeChat's endpoints; `control.rs`: the `/sim` endpoints and the demo
//! page; `notify.rs`: notification delivery.

mod control;
mod notify;
mod protocol;
mod trades;
mod v3;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use notify::Fault;

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
    /// `simulators/wechat/fixtures`. Panics if a fixture is missing (a broken checkout).
    pub fn with_fixture_keys() -> SimConfig {
        let read = |name: &str| {
            let path = SimConfig::fixture_dir().join(name);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
        };
        SimConfig {
            mchid: "1900009191".into(),
            appid: "wxd678efh567hg6787".into(),
            merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            merchant_public_key_pem: read("merchant_public_key.pem"),
            platform_private_key_pem: read("platform_private_key.pem"),
            platform_public_key_id: "PUB_KEY_ID_0114232134912410000000000000".into(),
            // The file has no newline; trimming guards against an editor adding one.
            apiv3_key: read("apiv3_key.txt").trim().to_owned(),
            wrong_private_key_pem: read("other_private_key.pem"),
            time_scale: 1.0,
        }
    }

    /// Where the fixture keys are, for operators configuring paygate against the binary.
    pub fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }
}

/// Misbehaviour on demand (`GET`/`PUT /sim/knobs`, [`WechatSimulator::set_knobs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Paid trades and succeeded refunds send no notification (recorded as dropped).
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

/// Totals over all trades (`GET /sim/stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Requests by endpoint (`POST /v3/pay/transactions/native`...), counted before their
    /// signature is checked.
    pub requests: BTreeMap<String, u64>,
    /// Requests answered `401 SIGN_ERROR`.
    pub signature_failures: u64,
    /// Notification attempts (each retry counts).
    pub notifications_sent: u64,
    /// Attempts answered 200 or 204.
    pub notifications_acknowledged: u64,
    /// Notifications not sent because of the `drop_notifications` knob.
    pub notifications_dropped: u64,
}

/// How the payer pays (`POST /sim/trades/{no}/pay`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayOptions {
    /// The payer's openid (a random one if absent; a jsapi trade keeps its own).
    pub openid: Option<String>,
}

/// One notification sent now (`POST /sim/trades/{no}/notify`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyRequest {
    pub fault: Fault,
    /// Reported as the transaction's `amount.total` and `payer_total` instead of the
    /// trade's (correctly signed and encrypted: WeChat itself reporting another amount).
    pub amount_total: Option<u64>,
}

impl From<Fault> for NotifyRequest {
    fn from(fault: Fault) -> NotifyRequest {
        NotifyRequest {
            fault,
            amount_total: None,
        }
    }
}

/// Why a control action was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no trade {0}")]
    UnknownTrade(String),
    /// The trade's state does not allow it (closed, expired, already paid...).
    #[error("{0}")]
    NotAllowed(String),
    /// The notification receiver did not answer (connection refused, timeout).
    #[error("no answer from the notify_url: {0}")]
    NoAnswer(String),
}

/// Everything the simulator holds, behind one lock (held briefly, never across an await).
#[derive(Default)]
struct State {
    trades: BTreeMap<String, trades::Trade>,
    /// By `out_refund_no`.
    refunds: BTreeMap<String, trades::Refund>,
    knobs: Knobs,
    stats: Stats,
}

/// The simulator's keys and state, shared by its handlers and background tasks.
struct Sim {
    config: SimConfig,
    platform: SigningKey<Sha256>,
    wrong: SigningKey<Sha256>,
    merchant: VerifyingKey<Sha256>,
    apiv3_key: [u8; 32],
    state: Mutex<State>,
    /// Sends notifications; WeChat waits 5 s for a reply.
    http: reqwest::Client,
    /// Cancelled when the [`WechatSimulator`] is dropped: stops the server (gracefully, so
    /// kept-alive connections close too), the ticker and every notification delivery.
    stop: CancellationToken,
}

impl Sim {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data, still worth serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `task` until it ends or the simulator stops.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        tokio::spawn(self.stop.clone().run_until_cancelled_owned(task));
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
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
        anyhow::ensure!(
            config.time_scale > 0.0,
            "the time scale must be above 0, not {}",
            config.time_scale
        );
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
                .timeout(Duration::from_secs(5))
                .build()?,
            stop: CancellationToken::new(),
        });
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .merge(control::router())
            .fallback(v3::handle)
            .with_state(sim.clone());
        let server =
            axum::serve(listener, app).with_graceful_shutdown(sim.stop.clone().cancelled_owned());
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!("wechat simulator: server stopped: {e}");
            }
        });
        let ticker = sim.clone();
        sim.spawn(async move {
            // Closes expired trades and settles refunds even when nobody asks about them,
            // so the trade view and the refund notifications are on time.
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                v3::tick(&ticker);
            }
        });
        Ok(WechatSimulator { sim, addr })
    }

    /// `http://127.0.0.1:PORT`: paygate's `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The payer pays the trade (as `POST /sim/trades/{no}/pay`); its view.
    pub async fn pay(&self, out_trade_no: &str, options: PayOptions) -> Result<Value, SimError> {
        control::pay(&self.sim, out_trade_no, options)
    }

    /// `NOTPAY` -> `USERPAYING`; the trade's view.
    pub async fn userpaying(&self, out_trade_no: &str) -> Result<Value, SimError> {
        control::mark(&self.sim, out_trade_no, trades::TradeState::UserPaying)
    }

    /// `NOTPAY`/`USERPAYING` -> `PAYERROR`; the trade's view.
    pub async fn payerror(&self, out_trade_no: &str) -> Result<Value, SimError> {
        control::mark(&self.sim, out_trade_no, trades::TradeState::PayError)
    }

    /// `NOTPAY`/`USERPAYING` -> `REVOKED`; the trade's view.
    pub async fn revoke(&self, out_trade_no: &str) -> Result<Value, SimError> {
        control::mark(&self.sim, out_trade_no, trades::TradeState::Revoked)
    }

    /// The trade's view (as `GET /sim/trades/{no}`): state, counters, refunds,
    /// notifications.
    pub async fn trade(&self, out_trade_no: &str) -> Option<Value> {
        control::trade_view(&self.sim, out_trade_no)
    }

    /// Every trade's view.
    pub async fn trades(&self) -> Vec<Value> {
        control::trade_views(&self.sim)
    }

    /// Sends one transaction notification of the trade now, outside the retry schedule,
    /// with `request`'s fault (a [`Fault`] will do); the receiver's status and body.
    pub async fn notify_now(
        &self,
        out_trade_no: &str,
        request: impl Into<NotifyRequest>,
    ) -> Result<(u16, String), SimError> {
        control::notify_now(&self.sim, out_trade_no, request.into()).await
    }

    pub async fn knobs(&self) -> Knobs {
        self.sim.state().knobs.clone()
    }

    /// Replaces every knob (`PUT /sim/knobs` changes only the ones it names); the knobs.
    pub async fn set_knobs(&self, knobs: Knobs) -> Knobs {
        self.sim.state().knobs = knobs.clone();
        knobs
    }

    pub async fn stats(&self) -> Stats {
        self.sim.state().stats.clone()
    }
}

impl Drop for WechatSimulator {
    fn drop(&mut self) {
        self.sim.stop.cancel();
    }
}

#[cfg(test)]
mod tests;
