//! An Alipay OpenAPI gateway simulator (RSA2), for paygate's tests and for demos by hand
//! (`cargo run -p alipay-simulator`).
//!
//! It serves Alipay's one endpoint, `/gateway.do`, over real HTTP for one app: parameters
//! from the query string and/or a form body, decoded once; every request's `sign` verified
//! with the app's public key (or its public-key certificate, whose SN and the root SN the
//! request must name); answers signed with Alipay's key over the exact text of their
//! `*_response` member (refusals of an unknown app unsigned); trades follow Alipay's state
//! machine (a precreate trade exists only once the buyer scans; page.pay / wap.pay show a
//! cashier page with a Pay button); and trade changes are notified to the `notify_url` as
//! signed forms, retried on Alipay's schedule (compressible by a time scale) until the
//! receiver answers `success`. Knobs under `/sim/knobs` drop notifications, slow or fail
//! answers, or sign them with the wrong key; `/sim/trades/...` lets a test (or a person)
//! scan, pay and finish trades and send chosen notifications. The same controls are
//! methods of [`AlipaySimulator`]. A day's trade bill is served as Alipay serves it
//! (`alipay.data.dataservice.bill.downloadurl.query`, then a zip of GBK CSV files); bill
//! knobs leave a trade out, add another system's, or change an amount.
//!
//! `protocol.rs`: parameters, signatures, JSON answers, times (pure); `bills.rs`: the trade
//! bill's files (pure); `money.rs`: yuan as
//! whole fen (pure); `certs.rs`: certificate SNs (pure); `trades.rs`: the state machine
//! (pure); `gateway/`: `/gateway.do` and the cashier; `notify.rs`: notifications;
//! `control.rs`: the `/sim` endpoints and the demo page.

pub mod bills;
mod certs;
mod control;
mod gateway;
mod money;
mod notify;
mod protocol;
mod trades;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use certs::{cert_sn, root_cert_sn};
pub use notify::Fault;

/// The fixture app's id (an app id of the 2021 series, 16 digits).
pub const APP_ID: &str = "2021000000000001";
/// The fixture merchant's partner id (`seller_id`, 2088 and 12 digits).
pub const SELLER_ID: &str = "2088000000000001";
/// The SN of `fixtures/app_cert.pem` (`app_cert_sn`).
pub const APP_CERT_SN: &str = "8dc70bc9c50ee1b19aeba9ad53020ebd";
/// The SN of `fixtures/alipay_cert.pem` (`alipay_cert_sn` of answers).
pub const ALIPAY_CERT_SN: &str = "f7f38ad12ebb915afec3af1db6d85082";
/// The root SN of `fixtures/alipay_root_cert.pem` (`alipay_root_cert_sn`): its two RSA roots.
pub const ALIPAY_ROOT_CERT_SN: &str =
    "4fbebb4afa7d1fd5b328e2b75447be01_2e705da5b7ab97e5b20e8ccd1aa53b43";

/// The fixture files (under [`SimConfig::fixture_dir`]).
pub const APP_PRIVATE_KEY_FILE: &str = "app_private_key.pem";
pub const APP_PUBLIC_KEY_FILE: &str = "app_public_key.pem";
pub const ALIPAY_PRIVATE_KEY_FILE: &str = "alipay_private_key.pem";
pub const ALIPAY_PUBLIC_KEY_FILE: &str = "alipay_public_key.pem";
pub const OTHER_PRIVATE_KEY_FILE: &str = "other_private_key.pem";
pub const OTHER_PUBLIC_KEY_FILE: &str = "other_public_key.pem";
pub const APP_CERT_FILE: &str = "app_cert.pem";
pub const ALIPAY_CERT_FILE: &str = "alipay_cert.pem";
pub const ALIPAY_ROOT_CERT_FILE: &str = "alipay_root_cert.pem";

/// How the app and Alipay verify each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// 公钥模式: requests verified with the app's public key, answers and notifications
    /// signed with Alipay's key, verified with Alipay's public key.
    #[default]
    PublicKey,
    /// 公钥证书模式: the same keys inside certificates; requests must name the app
    /// certificate (`app_cert_sn`) and Alipay's root certificates (`alipay_root_cert_sn`);
    /// answers name Alipay's public certificate (`alipay_cert_sn`).
    Certificate,
}

impl std::fmt::Display for KeyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyMode::PublicKey => "public-key",
            KeyMode::Certificate => "certificate",
        })
    }
}

impl std::str::FromStr for KeyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<KeyMode, String> {
        match s {
            "public-key" => Ok(KeyMode::PublicKey),
            "certificate" => Ok(KeyMode::Certificate),
            _ => Err(format!("`{s}`: expected public-key or certificate")),
        }
    }
}

/// Which app the simulated Alipay serves, and the keys and certificates of both sides.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub app_id: String,
    /// The merchant's partner id, `seller_id` in answers and notifications.
    pub seller_id: String,
    pub key_mode: KeyMode,
    /// Verifies requests in the public-key mode (PKCS#8 or SPKI PEM).
    pub app_public_key_pem: String,
    /// Signs answers and notifications (PKCS#8 PEM).
    pub alipay_private_key_pem: String,
    /// The app's public-key certificate: verifies requests in the certificate mode; its SN
    /// is the `app_cert_sn` requests must carry.
    pub app_cert_pem: String,
    /// Alipay's public certificate (of the key above): its SN is the answers' `alipay_cert_sn`.
    pub alipay_cert_pem: String,
    /// Alipay's root certificates: their root SN is the `alipay_root_cert_sn` requests must
    /// carry.
    pub alipay_root_cert_pem: String,
    /// Signs what must not verify (knobs and faults).
    pub wrong_private_key_pem: String,
    /// Notification retry delays are divided by it (1.0 = Alipay's real schedule).
    pub time_scale: f64,
    /// The lifetime of a precreate `qr_code` (2 hours) is divided by it (1.0 = Alipay's).
    pub action_lifetime_scale: f64,
    /// How long after payment a trade becomes `TRADE_FINISHED` (the refund period, set by
    /// each merchant's contract with Alipay; 90 days here).
    pub refund_period: Duration,
}

impl SimConfig {
    /// The fixture app of `simulators/alipay/fixtures`, public-key mode. Panics if a fixture
    /// is missing (a broken checkout).
    pub fn with_fixture_keys() -> SimConfig {
        let read = |name: &str| {
            let path = SimConfig::fixture_dir().join(name);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
        };
        SimConfig {
            app_id: APP_ID.into(),
            seller_id: SELLER_ID.into(),
            key_mode: KeyMode::PublicKey,
            app_public_key_pem: read(APP_PUBLIC_KEY_FILE),
            alipay_private_key_pem: read(ALIPAY_PRIVATE_KEY_FILE),
            app_cert_pem: read(APP_CERT_FILE),
            alipay_cert_pem: read(ALIPAY_CERT_FILE),
            alipay_root_cert_pem: read(ALIPAY_ROOT_CERT_FILE),
            wrong_private_key_pem: read(OTHER_PRIVATE_KEY_FILE),
            time_scale: 1.0,
            action_lifetime_scale: 1.0,
            refund_period: Duration::from_secs(90 * 24 * 3600),
        }
    }

    /// Where the fixture keys and certificates are, for operators configuring paygate.
    pub fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
    }

    /// A fixture file's path (`SimConfig::fixture(APP_PRIVATE_KEY_FILE)`).
    pub fn fixture(name: &str) -> std::path::PathBuf {
        SimConfig::fixture_dir().join(name)
    }
}

/// Misbehaviour on demand (`GET`/`PUT /sim/knobs`, [`AlipaySimulator::set_knobs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Trade changes send no notification (recorded as dropped).
    pub drop_notifications: bool,
    /// Every gateway answer waits this long first.
    pub delay_ms: u64,
    /// The next N API calls whose signature verifies fail (signed), as `fail_with` says.
    pub fail_next: u32,
    pub fail_with: Failure,
    /// Signed answers are signed with the wrong key.
    pub wrong_response_signature: bool,
    /// Bills are served at once, the current day's included (what it holds so far), not
    /// from 09:00 the next day: for tests that reconcile the day they paid in.
    pub bills_ready_at_once: bool,
    /// Trades (`out_trade_no`) whose trade row the bill leaves out (a bill row missing).
    pub bill_omit: Vec<String>,
    /// Rows of trades the simulator does not hold (an extra row).
    pub bill_extra: Vec<bills::ExtraRow>,
    /// Amounts (fen) the bill shows for trades instead of their own (an amount difference).
    pub bill_amounts: BTreeMap<String, u64>,
}

/// What a `fail_next` failure answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// `20000 Service Currently Unavailable`, `isp.unknow-error` 系统繁忙 (the documented
    /// abnormal sample of every trade method).
    #[default]
    UnknowError,
    /// `40004 Business Failed`, `ACQ.SYSTEM_ERROR` 系统错误 (each trade method's error table:
    /// 「重新发起请求」).
    SystemError,
}

/// Totals over all trades (`GET /sim/stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Gateway requests by `method` (`(none)` when absent), counted before any check.
    pub requests: BTreeMap<String, u64>,
    /// Requests refused `isv.invalid-signature`.
    pub signature_failures: u64,
    /// Notification attempts (each retry counts).
    pub notifications_sent: u64,
    /// Attempts answered exactly `success`.
    pub notifications_acknowledged: u64,
    /// Notifications not sent because of the `drop_notifications` knob.
    pub notifications_dropped: u64,
}

/// How the buyer scans or pays (`POST /sim/trades/{no}/scan|pay`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayOptions {
    /// The precreate `qr_code` the buyer scans: it must have been handed out for this trade
    /// and not have expired. Absent: the trade is scanned or paid directly, unchecked.
    pub qr_code: Option<String>,
}

/// One notification sent now (`POST /sim/trades/{no}/notify`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyRequest {
    pub fault: Fault,
}

impl From<Fault> for NotifyRequest {
    fn from(fault: Fault) -> NotifyRequest {
        NotifyRequest { fault }
    }
}

/// Why a control action was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no trade {0}")]
    UnknownTrade(String),
    /// The trade's state does not allow it (closed, expired, already paid...), or the
    /// `qr_code` given is unknown or expired.
    #[error("{0}")]
    NotAllowed(String),
    /// The notification receiver did not answer (connection refused, timeout).
    #[error("no answer from the notify_url: {0}")]
    NoAnswer(String),
}

/// Everything the simulator holds, behind one lock (held briefly, never across an await).
#[derive(Default)]
pub(crate) struct State {
    trades: BTreeMap<String, trades::Trade>,
    /// Bills handed out for download, by token.
    bill_files: BTreeMap<String, BillFile>,
    knobs: Knobs,
    stats: Stats,
}

/// A bill ready for download (`GET /downloadBillFile.resource?...&token=`).
pub(crate) struct BillFile {
    pub bytes: Vec<u8>,
    pub expires_at_ms: i64,
}

/// The SNs of the certificate mode.
struct Sns {
    app: String,
    alipay: String,
    root: String,
}

/// The simulator's keys and state, shared by its handlers and background tasks.
struct Sim {
    config: SimConfig,
    /// Verifies requests: the app public key, or the app certificate's key.
    app: VerifyingKey<Sha256>,
    alipay: SigningKey<Sha256>,
    wrong: SigningKey<Sha256>,
    /// In the certificate mode.
    sns: Option<Sns>,
    state: Mutex<State>,
    /// Sends notifications.
    http: reqwest::Client,
    /// Cancelled when the [`AlipaySimulator`] is dropped: stops the server (gracefully, so
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

/// The key inside a certificate (its SubjectPublicKeyInfo).
fn certificate_key(pem: &str, what: &str) -> anyhow::Result<RsaPublicKey> {
    use x509_cert::der::Encode;
    let chain = certs::read_chain(pem).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let spki = chain[0].tbs_certificate.subject_public_key_info.to_der()?;
    RsaPublicKey::from_public_key_der(&spki).with_context(|| format!("{what}: not an RSA key"))
}

/// The verifying key and SNs of `config`'s mode.
fn load_keys(config: &SimConfig) -> anyhow::Result<(VerifyingKey<Sha256>, Option<Sns>)> {
    match config.key_mode {
        KeyMode::PublicKey => Ok((
            VerifyingKey::from_public_key_pem(&config.app_public_key_pem)
                .context("app public key")?,
            None,
        )),
        KeyMode::Certificate => {
            let alipay = RsaPrivateKey::from_pkcs8_pem(&config.alipay_private_key_pem)
                .context("Alipay private key")?;
            anyhow::ensure!(
                certificate_key(&config.alipay_cert_pem, "Alipay certificate")?
                    == RsaPublicKey::from(&alipay),
                "the Alipay certificate is not of the Alipay private key"
            );
            let sn = |r: Result<String, String>, what: &str| {
                r.map_err(|e| anyhow::anyhow!("{what}: {e}"))
            };
            let sns = Sns {
                app: sn(cert_sn(&config.app_cert_pem), "app certificate")?,
                alipay: sn(cert_sn(&config.alipay_cert_pem), "Alipay certificate")?,
                root: sn(
                    root_cert_sn(&config.alipay_root_cert_pem),
                    "root certificates",
                )?,
            };
            let key = certificate_key(&config.app_cert_pem, "app certificate")?;
            Ok((VerifyingKey::new(key), Some(sns)))
        }
    }
}

/// A running simulator. Dropping it stops the server and its notification deliveries.
pub struct AlipaySimulator {
    sim: Arc<Sim>,
    addr: std::net::SocketAddr,
}

impl AlipaySimulator {
    /// Starts the simulator on `listen` (`127.0.0.1:0` for a free port).
    pub async fn spawn(config: SimConfig, listen: &str) -> anyhow::Result<AlipaySimulator> {
        for (name, scale) in [
            ("time scale", config.time_scale),
            ("action lifetime scale", config.action_lifetime_scale),
        ] {
            anyhow::ensure!(scale > 0.0, "the {name} must be above 0, not {scale}");
        }
        let (app, sns) = load_keys(&config)?;
        let sim = Arc::new(Sim {
            app,
            sns,
            alipay: SigningKey::from_pkcs8_pem(&config.alipay_private_key_pem)
                .context("Alipay private key")?,
            wrong: SigningKey::from_pkcs8_pem(&config.wrong_private_key_pem)
                .context("wrong private key")?,
            config,
            state: Mutex::new(State::default()),
            // Alipay gives up on a notification that gets no answer in time; 5 s here.
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
            .merge(gateway::router())
            .with_state(sim.clone());
        let server =
            axum::serve(listener, app).with_graceful_shutdown(sim.stop.clone().cancelled_owned());
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!("alipay simulator: server stopped: {e}");
            }
        });
        let ticker = sim.clone();
        sim.spawn(async move {
            // Closes expired trades and finishes those past their refund period even when
            // nobody asks about them, so views and notifications are on time.
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                notify::tick(&ticker);
            }
        });
        Ok(AlipaySimulator { sim, addr })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/gateway.do`: paygate's `gateway`.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.base_url())
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.sim.config
    }

    /// The buyer scans the precreate QR code (as `POST /sim/trades/{no}/scan`), through
    /// `options.qr_code` if given: the trade now exists, `WAIT_BUYER_PAY`. Its view.
    pub async fn scan(&self, out_trade_no: &str, options: PayOptions) -> Result<Value, SimError> {
        control::scan(&self.sim, out_trade_no, options)
    }

    /// The buyer pays (as `POST /sim/trades/{no}/pay`), scanning first if needed: the trade
    /// becomes `TRADE_SUCCESS` and its notification goes out. Its view.
    pub async fn pay(&self, out_trade_no: &str, options: PayOptions) -> Result<Value, SimError> {
        control::pay(&self.sim, out_trade_no, options)
    }

    /// The refund period ends now (as `POST /sim/trades/{no}/finish`): `TRADE_FINISHED`,
    /// notified. Its view.
    pub async fn finish(&self, out_trade_no: &str) -> Result<Value, SimError> {
        control::finish(&self.sim, out_trade_no)
    }

    /// The trade's view (as `GET /sim/trades/{no}`).
    pub async fn trade(&self, out_trade_no: &str) -> Option<Value> {
        control::trade_view(&self.sim, out_trade_no)
    }

    /// Every trade's view.
    pub async fn trades(&self) -> Vec<Value> {
        control::trade_views(&self.sim)
    }

    /// Sends one notification of the trade's current state now, outside the retry schedule,
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

impl Drop for AlipaySimulator {
    fn drop(&mut self) {
        self.sim.stop.cancel();
    }
}

#[cfg(test)]
mod tests;
