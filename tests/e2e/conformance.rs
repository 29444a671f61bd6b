//! The conformance check (`paygate adapters check`) of every adapter the project ships:
//! the mock against the sandbox (as the CLI runs it), the WeChat Pay adapter against the
//! WeChat Pay simulator and the Alipay adapter against the Alipay simulator, each through
//! a driver of [`paygate::conformance::Simulator`] for that simulator.

use std::future::Future;

use paygate::conformance::{self, Report, Simulator};
use paygate_e2e::paygate;
use serde_json::{json, Value};

/// The configuration the CLI would run the check under: default limits, the suite's
/// compiled-adapter cache.
fn config() -> paygate::config::Config {
    let cache = std::env::temp_dir().join("paygate-test-cache");
    paygate::config::Config::from_lookup(|k| match k {
        "PAYGATE_CACHE_DIR" => Some(cache.display().to_string()),
        _ => None,
    })
    .expect("configuration")
}

fn assert_passed(report: &Report) {
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "{} {} against {}:\n{}",
        report.provider,
        report.version,
        report.simulator,
        failed.join("\n")
    );
    assert_eq!(report.checks.len(), conformance::CHECKS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_adapter_conforms_against_the_sandbox() {
    let report = conformance::run(
        paygate::adapters::MOCK,
        &conformance::sandbox::SandboxSimulator,
        &config(),
    )
    .await
    .expect("the check runs");
    assert_passed(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wechat_adapter_conforms_against_the_wechat_simulator() {
    let mut sim_config = wechat_simulator::SimConfig::with_fixture_keys();
    // WeChat's notification retries (15 s, 15 s, 30 s...) in milliseconds.
    sim_config.time_scale = 1000.0;
    let sim = wechat_simulator::WechatSimulator::spawn(sim_config, "127.0.0.1:0")
        .await
        .expect("the simulator starts");
    let report = conformance::run(paygate::adapters::WECHAT, &Wechat(sim), &config())
        .await
        .expect("the check runs");
    assert_passed(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alipay_adapter_conforms_against_the_alipay_simulator() {
    let mut sim_config = alipay_simulator::SimConfig::with_fixture_keys();
    sim_config.time_scale = 1000.0;
    let sim = alipay_simulator::AlipaySimulator::spawn(sim_config, "127.0.0.1:0")
        .await
        .expect("the simulator starts");
    let report = conformance::run(paygate::adapters::ALIPAY, &Alipay(sim), &config())
        .await
        .expect("the check runs");
    assert_passed(&report);
}

/// The WeChat Pay simulator, with its fixture merchant and WeChat Pay public key.
struct Wechat(wechat_simulator::WechatSimulator);

impl Simulator for Wechat {
    fn describe(&self) -> String {
        format!("the WeChat Pay simulator at {}", self.0.base_url())
    }

    fn open_account(&self, _paygate: &str) -> impl Future<Output = Result<Value, String>> + Send {
        let c = self.0.config();
        let fixture = |name: &str| {
            let path = wechat_simulator::SimConfig::fixture_dir().join(name);
            std::fs::read_to_string(&path).map_err(|e| format!("fixture {}: {e}", path.display()))
        };
        let account = (|| {
            Ok(json!({
                "settings": {
                    "mchid": c.mchid, "appid": c.appid, "merchant_serial_no": c.merchant_serial_no,
                    "api_base": self.0.base_url(), "platform_public_key_id": c.platform_public_key_id,
                },
                "secrets": {
                    "merchant_private_key": fixture("merchant_private_key.pem")?,
                    "apiv3_key": fixture("apiv3_key.txt")?,
                    "platform_public_key": fixture("platform_public_key.pem")?,
                },
            }))
        })();
        async move { account }
    }

    async fn payer_opens(&self, _payment_no: &str) -> Result<(), String> {
        // A WeChat Pay trade exists from the order call on.
        Ok(())
    }

    fn pay(
        &self,
        _paygate: &str,
        payment_no: &str,
        notify: bool,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let payment_no = payment_no.to_owned();
        async move {
            let knobs = self.0.knobs().await;
            let mut quiet = knobs.clone();
            quiet.drop_notifications = !notify;
            self.0.set_knobs(quiet).await;
            let paid = self
                .0
                .pay(&payment_no, wechat_simulator::PayOptions::default())
                .await;
            self.0.set_knobs(knobs).await;
            paid.map(|_| ()).map_err(|e| e.to_string())
        }
    }

    async fn acknowledged(&self, _paygate: &str, _payment_no: &str) -> Result<u64, String> {
        Ok(self.0.stats().await.notifications_acknowledged)
    }

    fn forge_paid_notification(
        &self,
        _notify_url: &str,
        _account: &Value,
        payment_no: &str,
        _amount: i64,
    ) -> impl Future<Output = Result<(bool, String), String>> + Send {
        let payment_no = payment_no.to_owned();
        async move {
            let (status, body) = self
                .0
                .notify_now(&payment_no, wechat_simulator::Fault::BadSignature)
                .await
                .map_err(|e| e.to_string())?;
            // WeChat Pay takes 200 or 204 as received; anything else is sent again.
            Ok((matches!(status, 200 | 204), format!("{status} {body}")))
        }
    }
}

/// The Alipay simulator, with its fixture app and Alipay public key.
struct Alipay(alipay_simulator::AlipaySimulator);

impl Simulator for Alipay {
    fn describe(&self) -> String {
        format!("the Alipay simulator at {}", self.0.base_url())
    }

    fn open_account(&self, _paygate: &str) -> impl Future<Output = Result<Value, String>> + Send {
        let fixture = |name: &str| {
            let path = alipay_simulator::SimConfig::fixture(name);
            std::fs::read_to_string(&path).map_err(|e| format!("fixture {}: {e}", path.display()))
        };
        let account = (|| {
            Ok(json!({
                "settings": {"app_id": self.0.config().app_id, "gateway": self.0.gateway_url()},
                "secrets": {
                    "app_private_key": fixture("app_private_key.pem")?,
                    "alipay_public_key": fixture("alipay_public_key.pem")?,
                },
            }))
        })();
        async move { account }
    }

    fn payer_opens(&self, payment_no: &str) -> impl Future<Output = Result<(), String>> + Send {
        // A precreate trade exists at Alipay only once the payer has scanned its QR code.
        let payment_no = payment_no.to_owned();
        async move {
            self.0
                .scan(&payment_no, alipay_simulator::PayOptions::default())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }

    fn pay(
        &self,
        _paygate: &str,
        payment_no: &str,
        notify: bool,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let payment_no = payment_no.to_owned();
        async move {
            let knobs = self.0.knobs().await;
            let mut quiet = knobs.clone();
            quiet.drop_notifications = !notify;
            self.0.set_knobs(quiet).await;
            let paid = self
                .0
                .pay(&payment_no, alipay_simulator::PayOptions::default())
                .await;
            self.0.set_knobs(knobs).await;
            paid.map(|_| ()).map_err(|e| e.to_string())
        }
    }

    async fn acknowledged(&self, _paygate: &str, _payment_no: &str) -> Result<u64, String> {
        Ok(self.0.stats().await.notifications_acknowledged)
    }

    fn forge_paid_notification(
        &self,
        _notify_url: &str,
        _account: &Value,
        payment_no: &str,
        _amount: i64,
    ) -> impl Future<Output = Result<(bool, String), String>> + Send {
        let payment_no = payment_no.to_owned();
        async move {
            let (status, body) = self
                .0
                .notify_now(&payment_no, alipay_simulator::Fault::BadSignature)
                .await
                .map_err(|e| e.to_string())?;
            // Alipay takes the text `success` as received; anything else is sent again.
            Ok((body.trim() == "success", format!("{status} {body}")))
        }
    }
}
