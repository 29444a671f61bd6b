//! A WeChat Pay API v3 simulator (direct merchant), for paygate's tests and for demos by
//! hand (`cargo run -p wechat-simulator`).
//!
//! It serves WeChat's endpoints over real HTTP for one merchant: every request's
//! `Authorization` signature is verified with the merchant's public key; answers to verified
//! requests (errors and 204s included) are signed with a platform key, refusals of the
//! request itself (`401 SIGN_ERROR`) are not; trades follow WeChat's state machine; what a
//! pay call hands out (code_url, prepay_id, h5_url) lives as long as WeChat's and is bound
//! as WeChat's is; and paid trades (and settled refunds) are notified to their `notify_url`
//! with an AEAD_AES_256_GCM-encrypted resource, retried on WeChat's schedule (compressible
//! by a time scale). The platform key is the WeChat Pay public key, a platform certificate
//! (`GET /v3/certificates`), or both during a migration ([`Verification`]). Knobs under
//! `/sim/knobs` drop notifications, slow or fail answers, or sign them with the wrong key;
//! `/sim/trades/...` lets a test (or a person) pay trades and send chosen notifications.
//! A day's trade bill is served as WeChat serves it (`GET /v3/bill/tradebill`, then the
//! file); bill knobs leave a trade out, add another system's, or change an amount.
//! The same controls are methods of [`WechatSimulator`].
//!
//! `protocol.rs`: signatures, encryption, times (pure); `trades.rs`: the state machines
//! (pure); `actions.rs`: code_url / prepay_id / h5_url lifetimes and bindings (pure);
//! `bills.rs`: the trade bill's format (pure);
//! `verification.rs`: which platform key signs (pure rules) and the keys; `certificate.rs`:
//! the few X.509 fields needed; `v3/`: WeChat's endpoints; `control.rs`: the `/sim`
//! endpoints and the demo page; `notify.rs`: notification delivery.

mod actions;
pub mod bills;
mod certificate;
mod control;
mod notify;
mod protocol;
mod trades;
mod v3;
mod verification;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
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
pub use verification::{NotificationSigner, Verification};

/// Who the simulated merchant is, and the keys of both sides.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mchid: String,
    pub appid: String,
    /// Must equal the `serial_no` of requests' `Authorization`.
    pub merchant_serial_no: String,
    /// Verifies requests.
    pub merchant_public_key_pem: String,
    /// The WeChat Pay public key's private half: signs answers and notifications in the
    /// public-key mode (and some in the migration mode).
    pub platform_private_key_pem: String,
    /// The public key's id (`PUB_KEY_ID_...`), sent as `Wechatpay-Serial` with what it signs.
    pub platform_public_key_id: String,
    /// The platform certificate (PEM), listed by `GET /v3/certificates` in the certificate
    /// and migration modes.
    pub platform_certificate_pem: String,
    /// The certificate's private key (PKCS#8 PEM): signs in the certificate mode (and some
    /// in the migration mode).
    pub platform_certificate_private_key_pem: String,
    /// The certificate's serial number, 40 upper-case hex digits, sent as `Wechatpay-Serial`
    /// with what the certificate's key signs. Must be the certificate's (checked at start).
    pub platform_certificate_serial: String,
    /// Which platform key(s) exist and sign (default: the public key only).
    pub verification: Verification,
    /// The 32-byte APIv3 key that encrypts notification resources.
    pub apiv3_key: String,
    /// Signs what must not verify (knobs and faults).
    pub wrong_private_key_pem: String,
    /// Notification retry delays are divided by it (1.0 = WeChat's real schedule).
    pub time_scale: f64,
    /// The lifetimes of code_url, prepay_id (2 hours) and h5_url (5 minutes) are divided by
    /// it (1.0 = WeChat's).
    pub action_lifetime_scale: f64,
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
            platform_certificate_pem: read(PLATFORM_CERTIFICATE_FILE),
            platform_certificate_private_key_pem: read("platform_certificate_private_key.pem"),
            platform_certificate_serial: PLATFORM_CERTIFICATE_SERIAL.into(),
            verification: Verification::PublicKey,
            // The file has no newline; trimming guards against an editor adding one.
            apiv3_key: read("apiv3_key.txt").trim().to_owned(),
            wrong_private_key_pem: read("other_private_key.pem"),
            time_scale: 1.0,
            action_lifetime_scale: 1.0,
        }
    }

    /// Where the fixture platform certificate is (for merchants configured with it).
    pub fn platform_certificate_path() -> std::path::PathBuf {
        SimConfig::fixture_dir().join(PLATFORM_CERTIFICATE_FILE)
    }

    /// Where the fixture keys are, for operators configuring paygate against the binary.
    pub fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }
}

/// The serial number of the fixture platform certificate (`fixtures/platform_certificate.pem`).
pub const PLATFORM_CERTIFICATE_SERIAL: &str = "2B865B0AF185684117492CC0BD6A954A13FB4A54";

const PLATFORM_CERTIFICATE_FILE: &str = "platform_certificate.pem";

/// Misbehaviour on demand (`GET`/`PUT /sim/knobs`, [`WechatSimulator::set_knobs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Paid trades and settled refunds send no notification (recorded as dropped).
    pub drop_notifications: bool,
    /// Every `/v3` answer waits this long first.
    pub delay_ms: u64,
    /// The next N `/v3` requests whose signature verifies answer `500 SYSTEM_ERROR`
    /// (signed).
    pub fail_next: u32,
    /// Signed `/v3` answers are signed with the wrong key.
    pub wrong_response_signature: bool,
    /// Refunds stay `PROCESSING` this long before their outcome (0: at once).
    pub refund_processing_ms: u64,
    /// What refunds made from now on end as (`success`, `closed`, `abnormal`).
    pub refund_outcome: RefundOutcome,
    /// Which key signs notifications in the migration mode (`alternate`, `public_key`,
    /// `certificate`); the other modes have one key and ignore it.
    pub notification_signer: NotificationSigner,
    /// Bills are served at once, the current day's included (what it holds so far), not
    /// from 10:00 Beijing time the next day: for tests that reconcile the day they paid in.
    pub bills_ready_at_once: bool,
    /// Trades (`out_trade_no`) the bill leaves out: money WeChat holds that its bill does
    /// not show (a bill row missing).
    pub bill_omit: Vec<String>,
    /// Rows of trades the simulator does not hold (an extra row).
    pub bill_extra: Vec<bills::ExtraRow>,
    /// Amounts (fen) the bill shows for trades instead of their own (an amount difference).
    pub bill_amounts: BTreeMap<String, u64>,
}

/// What a refund ends as after `PROCESSING` (the `refund_outcome` knob).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    #[default]
    Success,
    /// `CLOSED`: the refund failed for good; its amount can be refunded again.
    Closed,
    /// `ABNORMAL`: the user's card was cancelled or frozen (not final at WeChat; final here).
    Abnormal,
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
    /// The code_url / prepay_id / h5_url the payer pays through. Absent: the trade is paid
    /// directly, unchecked. Present: it must have been handed out for this trade and not
    /// have expired; a prepay_id must be paid by its order's openid, an h5_url from its
    /// order's `payer_client_ip`.
    pub action: Option<String>,
    /// The payer's IP (absent: the order's `payer_client_ip`).
    pub client_ip: Option<String>,
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
    /// The trade's state does not allow it (closed, expired, already paid...), or the
    /// action paid through is refused (unknown, expired, another payer or network).
    #[error("{0}")]
    NotAllowed(String),
    /// The notification receiver did not answer (connection refused, timeout).
    #[error("no answer from the notify_url: {0}")]
    NoAnswer(String),
}

/// A bill ready for download (`GET /v3/billdownload/file?token=`).
pub(crate) struct BillFile {
    /// As served: gzipped when `tar_type=GZIP` was asked.
    pub bytes: Vec<u8>,
    pub expires_at_ms: i64,
}

/// Everything the simulator holds, behind one lock (held briefly, never across an await).
#[derive(Default)]
pub(crate) struct State {
    trades: BTreeMap<String, trades::Trade>,
    /// By `out_refund_no`.
    refunds: BTreeMap<String, trades::Refund>,
    /// Bills handed out for download, by token.
    bill_files: BTreeMap<String, BillFile>,
    knobs: Knobs,
    stats: Stats,
}

/// The simulator's keys and state, shared by its handlers and background tasks.
struct Sim {
    config: SimConfig,
    /// The platform's signing keys (public key, certificate).
    keys: verification::PlatformKeys,
    wrong: SigningKey<Sha256>,
    merchant: VerifyingKey<Sha256>,
    apiv3_key: [u8; 32],
    state: Mutex<State>,
    /// Notification attempts so far (which key signs the next one, in the migration mode).
    notification_attempts: AtomicU64,
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
        anyhow::ensure!(
            config.action_lifetime_scale > 0.0,
            "the action lifetime scale must be above 0, not {}",
            config.action_lifetime_scale
        );
        let sim = Arc::new(Sim {
            keys: verification::PlatformKeys::load(&config)?,
            wrong: SigningKey::from_pkcs8_pem(&config.wrong_private_key_pem)
                .context("wrong private key")?,
            merchant: VerifyingKey::from_public_key_pem(&config.merchant_public_key_pem)
                .context("merchant public key")?,
            apiv3_key,
            config,
            state: Mutex::new(State::default()),
            notification_attempts: AtomicU64::new(0),
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

    /// The configuration it runs with (keys, ids, the certificate's serial and PEM).
    pub fn config(&self) -> &SimConfig {
        &self.sim.config
    }

    /// The payer pays the trade (as `POST /sim/trades/{no}/pay`), through
    /// `options.action` if given; its view.
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
