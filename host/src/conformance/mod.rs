//! The conformance check of an adapter component (`paygate adapters check FILE`): a
//! throwaway paygate (a temporary data directory, SQLite, its sandbox) runs the component
//! while a provider simulator plays the provider, and the check drives paygate's own API
//! through the stories every adapter must get right: the configuration test, pay, repay,
//! each state a query reports (open, paid, closed, refunded, unknown), a paid notification
//! and a forged one, close, refund and refund query, and a provider that never answers.
//! Each check passes or fails on its own, with what was seen.
//!
//! The simulator is behind [`Simulator`]; [`sandbox::SandboxSimulator`] speaks the sandbox
//! provider's protocol (`plugins/mock/PROTOCOL.md`), which paygate serves itself.

pub mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::config::Config;
use crate::runtime::contract::{ProviderError, RefundState, TradeState};

/// The amount of every order the check creates, in minor units of CNY.
const AMOUNT: i64 = 1234;

/// How long a check waits for something paygate does in the background (a status query
/// due every second, a notification, a refund) before it fails.
const WAIT: Duration = Duration::from_secs(15);

/// What a provider simulator does for the check.
pub trait Simulator: Sync {
    /// For the report: which simulator, and which protocol it speaks.
    fn describe(&self) -> String;

    /// Opens an account at the simulator and returns a merchant's configuration for it:
    /// `{"settings": {...}, "secrets": {...}}` as `PUT /admin/merchants/{id}/providers/{p}`
    /// takes it. `paygate` is the throwaway paygate's base URL.
    fn open_account(&self, paygate: &str) -> impl Future<Output = Result<Value, String>> + Send;

    /// The payer opens the trade's action (scans the QR code, opens the page). Some
    /// providers create the trade only then: an Alipay `precreate` trade is unknown
    /// (`ACQ.TRADE_NOT_EXIST`) until the payer scans it.
    fn payer_opens(&self, payment_no: &str) -> impl Future<Output = Result<(), String>> + Send;

    /// The payer pays trade `payment_no`; the simulator notifies paygate when `notify`.
    fn pay(
        &self,
        paygate: &str,
        payment_no: &str,
        notify: bool,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// How many of the trade's notifications paygate acknowledged.
    fn acknowledged(
        &self,
        paygate: &str,
        payment_no: &str,
    ) -> impl Future<Output = Result<u64, String>> + Send;

    /// Delivers to paygate a "paid" notification for the open trade `payment_no` of
    /// `amount`, signed without the provider's key, as someone forging one would; whether
    /// paygate's answer acknowledged it (in the provider's protocol) and that answer, for
    /// the report. `account` is what [`Simulator::open_account`] returned, `notify_url`
    /// where paygate takes the provider's notifications for this merchant.
    fn forge_paid_notification(
        &self,
        notify_url: &str,
        account: &Value,
        payment_no: &str,
        amount: i64,
    ) -> impl Future<Output = Result<(bool, String), String>> + Send;
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: &'static str,
    pub passed: bool,
    /// What was seen (passed) or what went wrong (failed).
    pub detail: String,
    pub elapsed_ms: u64,
}

/// Every check, in the order run.
#[derive(Debug, Clone)]
pub struct Report {
    pub provider: String,
    pub version: String,
    pub simulator: String,
    pub checks: Vec<CheckResult>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// Runs the check of `component` against `simulator`, under the adapter limits and with the
/// compiled-adapter cache of `base`. An `Err` is a check that could not run at all (paygate
/// did not start); a failing adapter is a report with failed checks.
pub async fn run<S: Simulator>(
    component: &[u8],
    simulator: &S,
    base: &Config,
) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let token = hex::encode(rand::random::<[u8; 16]>());
    let vars: HashMap<&str, String> = HashMap::from([
        ("PAYGATE_LISTEN", "127.0.0.1:0".to_owned()),
        ("PAYGATE_DATA_DIR", dir.path().display().to_string()),
        ("PAYGATE_CACHE_DIR", base.cache_dir().display().to_string()),
        ("PAYGATE_ADMIN_TOKEN", token.clone()),
        ("PAYGATE_SANDBOX", "true".to_owned()),
        // A query every second, and a provider that never answers found out in 2 s.
        ("PAYGATE_STATUS_SYNC_SCHEDULE", "1s".to_owned()),
        ("PAYGATE_ADAPTER_HTTP_TIMEOUT", "2s".to_owned()),
        (
            "PAYGATE_ADAPTER_TIMEOUT",
            format!("{}ms", base.adapter_timeout.as_millis().max(5000)),
        ),
        (
            "PAYGATE_ADAPTER_CPU_BUDGET",
            format!("{}ms", base.adapter_cpu_budget.as_millis()),
        ),
        (
            "PAYGATE_ADAPTER_MEMORY_MB",
            base.adapter_memory_mb.to_string(),
        ),
        (
            "PAYGATE_ADAPTER_MAX_COMPONENT_MB",
            base.adapter_max_component_mb.to_string(),
        ),
        ("PAYGATE_STARTUP_TIMEOUT", "10s".to_owned()),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).cloned())?;
    let running = crate::app::spawn(config).await?;
    let paygate = format!("http://{}", running.addr);
    let ctx = Ctx {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        paygate,
        token,
    };
    let mut results = Results::default();
    let (provider, version) = all(&ctx, &mut results, component, simulator, &running).await;
    running.stop().await?;
    Ok(Report {
        provider,
        version,
        simulator: simulator.describe(),
        checks: results.0,
    })
}

/// The throwaway paygate, as the check reaches it.
struct Ctx {
    http: reqwest::Client,
    paygate: String,
    token: String,
}

/// The results so far.
#[derive(Default)]
struct Results(Vec<CheckResult>);

/// A merchant of the throwaway paygate, configured for the adapter under check.
struct Merchant {
    id: String,
    api_key: String,
}

/// An order paid for (or being paid) through the adapter.
struct Trade {
    order_id: String,
    payment_no: String,
}

impl Results {
    /// Runs `check` and records its result; its value when it passed.
    async fn check<T>(
        &mut self,
        name: &'static str,
        check: impl Future<Output = Result<(T, String), String>>,
    ) -> Option<T> {
        let started = Instant::now();
        let result = check.await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (value, passed, detail) = match result {
            Ok((value, detail)) => (Some(value), true, detail),
            Err(detail) => (None, false, detail),
        };
        self.0.push(CheckResult {
            name,
            passed,
            detail,
            elapsed_ms,
        });
        value
    }

    /// Records `name` as not run because `missing` failed.
    fn not_run(&mut self, name: &'static str, missing: &str) {
        self.0.push(CheckResult {
            name,
            passed: false,
            detail: format!("not run: needs {missing}, which failed"),
            elapsed_ms: 0,
        });
    }
}

/// Every check, in order; the provider and version of the component.
async fn all<S: Simulator>(
    ctx: &Ctx,
    results: &mut Results,
    component: &[u8],
    simulator: &S,
    running: &crate::app::Running,
) -> (String, String) {
    let registry = running.adapters.clone();
    let uploaded = results
            .check("upload", async {
                let up = registry
                    .upload(component, None, "conformance")
                    .await
                    .map_err(|e| e.to_string())?;
                let v = up.version;
                registry
                    .activate(&v.provider, &v.sha256, "conformance")
                    .await
                    .map_err(|e| e.to_string())?;
                let detail = format!(
                    "{} {} (contract {}): compiles, imports only what its contract grants, info() answers",
                    v.provider, v.version, v.contract_version
                );
                Ok(((v.provider, v.version), detail))
            })
            .await;
    let Some((provider, version)) = uploaded else {
        for name in CHECKS.iter().skip(1) {
            results.not_run(name, "upload");
        }
        return ("?".into(), "?".into());
    };
    let Some(adapter) = running.runtime.adapter(&provider) else {
        return (provider, version);
    };
    let channel = adapter
        .info
        .channels
        .first()
        .map(|c| (c.name.clone(), !c.binds.is_empty()));
    let base_urls: Vec<(String, Option<String>)> = adapter
        .info
        .settings
        .iter()
        .filter(|s| s.is_base_url)
        .map(|s| (s.name.clone(), s.default_value.clone()))
        .collect();

    let account = results
            .check("configuration test", async {
                let account = simulator.open_account(&ctx.paygate).await?;
                let merchant = ctx.merchant("conformance").await?;
                let (status, body) = ctx
                    .admin_put(
                        &format!("/admin/merchants/{}/providers/{provider}", merchant.id),
                        &account,
                    )
                    .await?;
                if status != StatusCode::OK {
                    return Err(format!("storing a configuration for the simulator's account (tested with a query of a trade that cannot exist) answered {status}: {body}"));
                }
                let detail = body["test"]["detail"].as_str().unwrap_or_default().to_owned();
                Ok(((merchant, account), detail))
            })
            .await;
    let Some((merchant, account)) = account else {
        for name in CHECKS.iter().skip(2) {
            results.not_run(name, "configuration test");
        }
        return (provider, version);
    };
    let Some((channel, binds)) = channel else {
        return (provider, version);
    };
    let pay_body = |order_id: &str| {
        let mut body = json!({"order_ids": [order_id], "provider": provider, "channel": channel});
        if binds {
            body["payer"] = json!({"open_id": "conformance-open-id", "client_ip": "127.0.0.1"});
        }
        body
    };

    // pay, then repay: the same trade, its action again.
    let paid_by_query = results
        .check("pay", async {
            let trade = ctx.pay(&merchant, &pay_body).await?;
            simulator.payer_opens(&trade.payment_no).await?;
            let status = ctx
                .ask_trade(running, &merchant, &provider, &trade.payment_no)
                .await?;
            expect_state(&status, TradeState::Open)?;
            let detail = format!(
                "201 with an action; the provider reports {} open",
                trade.payment_no
            );
            Ok((trade, detail))
        })
        .await;
    match &paid_by_query {
        Some(trade) => {
            results.check("repay", async {
                    let (status, body) = ctx
                        .post(&merchant.api_key, "/v1/payments", &pay_body(&trade.order_id))
                        .await?;
                    if status != StatusCode::CREATED || body["payment_no"] != trade.payment_no.as_str() {
                        return Err(format!("paying the same order again answered {status}: {body}; expected 201 with payment_no {}", trade.payment_no));
                    }
                    Ok(((), format!("the same payment number, reused: {}", body["reused"])))
                })
                .await;
        }
        None => results.not_run("repay", "pay"),
    }

    // query: paid, without a notification; paygate's status query settles the order.
    let settled = match &paid_by_query {
        Some(trade) => {
            results
                .check("query: paid", async {
                    simulator
                        .pay(&ctx.paygate, &trade.payment_no, false)
                        .await?;
                    let status = ctx
                        .ask_trade(running, &merchant, &provider, &trade.payment_no)
                        .await?;
                    expect_state(&status, TradeState::Paid)?;
                    let amount = status
                        .as_ref()
                        .ok()
                        .and_then(|s| s.paid_amount.as_ref())
                        .map(|m| m.minor);
                    if amount != Some(AMOUNT as u64) {
                        return Err(format!(
                            "the query reports paid with amount {amount:?}, expected {AMOUNT}"
                        ));
                    }
                    ctx.wait_order(&merchant, &trade.order_id, "paid").await?;
                    Ok((
                        (),
                        format!(
                        "paid {AMOUNT} reported by query; paygate's status query settled the order"
                    ),
                    ))
                })
                .await
        }
        None => {
            results.not_run("query: paid", "pay");
            None
        }
    };

    results
        .check("query: unknown trade", async {
            let status = ctx
                .ask_trade(running, &merchant, &provider, "pgconformance0unknown0trade")
                .await?;
            match status {
                Err(ProviderError::NotFound) => Ok(((), "not-found".to_owned())),
                other => Err(format!(
                    "a query of a trade that does not exist answered {other:?}; expected not-found"
                )),
            }
        })
        .await;

    // A notification, verified by the adapter, settles an order.
    results.check("notification: paid", async {
            let trade = ctx.pay(&merchant, &pay_body).await?;
                simulator.payer_opens(&trade.payment_no).await?;
            simulator.pay(&ctx.paygate, &trade.payment_no, true).await?;
            ctx.wait_order(&merchant, &trade.order_id, "paid").await?;
            let acknowledged = simulator.acknowledged(&ctx.paygate, &trade.payment_no).await?;
            if acknowledged == 0 {
                return Err("the order is paid, but paygate never acknowledged the provider's notification (the adapter's reply)".into());
            }
            Ok(((), format!("the order is paid; the provider saw {acknowledged} acknowledgement(s)")))
        })
        .await;

    // A forged notification is refused and changes nothing; then the trade is closed.
    let open = results
            .check("notification: forged signature", async {
                let trade = ctx.pay(&merchant, &pay_body).await?;
                simulator.payer_opens(&trade.payment_no).await?;
                let notify_url = format!("{}/v1/notify/{provider}/{}", ctx.paygate, merchant.id);
                let (acknowledged, answer) = simulator
                    .forge_paid_notification(&notify_url, &account, &trade.payment_no, AMOUNT)
                    .await?;
                let order = ctx.order(&merchant, &trade.order_id).await?;
                if acknowledged || order["state"] != "pending" {
                    return Err(format!("a notification signed without the provider's key was answered {answer} and left the order {}", order["state"]));
                }
                Ok((trade, format!("refused ({answer}); the order stays pending")))
            })
            .await;
    match open {
        Some(trade) => {
            results
                .check("close", async {
                    let (status, body) = ctx
                        .post(
                            &merchant.api_key,
                            &format!("/v1/orders/{}/cancel", trade.order_id),
                            &json!({}),
                        )
                        .await?;
                    if status != StatusCode::OK || body["state"] != "cancelled" {
                        return Err(format!(
                            "cancelling the order (closing its trade) answered {status}: {body}"
                        ));
                    }
                    let status = ctx
                        .ask_trade(running, &merchant, &provider, &trade.payment_no)
                        .await?;
                    expect_state(&status, TradeState::Closed)?;
                    Ok((
                        (),
                        "the order is cancelled; the provider reports the trade closed".to_owned(),
                    ))
                })
                .await;
        }
        None => results.not_run("close", "notification: forged signature"),
    }

    // refund, then refund query.
    match (settled, &paid_by_query) {
        (Some(()), Some(trade)) => {
            let refund = results
                .check("refund", async {
                    let (status, body) = ctx
                        .post(
                            &merchant.api_key,
                            &format!("/v1/payments/{}/refunds", trade.payment_no),
                            &json!({"amount": AMOUNT, "reason": "conformance check"}),
                        )
                        .await?;
                    if status != StatusCode::CREATED {
                        return Err(format!("a full refund answered {status}: {body}"));
                    }
                    let refund_no = body["refund_no"].as_str().unwrap_or_default().to_owned();
                    ctx.wait_refund(&merchant, &trade.payment_no, &refund_no)
                        .await?;
                    let status = ctx
                        .ask_trade(running, &merchant, &provider, &trade.payment_no)
                        .await?;
                    expect_state(&status, TradeState::Refunded)?;
                    Ok((
                        refund_no,
                        "the refund succeeded; the provider reports the trade refunded".to_owned(),
                    ))
                })
                .await;
            match refund {
                Some(refund_no) => {
                    results.check("refund query", async {
                            let answer = running
                                .gateway
                                .ask_provider_about_refund(&merchant.id, &provider, &trade.payment_no, &refund_no)
                                .await
                                .map_err(|e| e.to_string())?;
                            match answer {
                                Ok(s) if s.state == RefundState::Succeeded => Ok(((), format!("{refund_no} succeeded"))),
                                Err(ProviderError::Unsupported(m)) => Ok(((), format!("unsupported ({m}): paygate submits the refund again instead"))),
                                other => Err(format!("query-refund of a refund that succeeded answered {other:?}")),
                            }
                        })
                        .await;
                }
                None => results.not_run("refund query", "refund"),
            }
        }
        _ => {
            results.not_run("refund", "query: paid");
            results.not_run("refund query", "query: paid");
        }
    }

    // A provider that accepts connections and never answers.
    results.check("provider timeout", async {
            let stall = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let port = stall.local_addr().map_err(|e| e.to_string())?.port();
            let holding = tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = stall.accept().await {
                    held.push(socket);
                }
            });
            let mut config = account.clone();
            for (name, default) in &base_urls {
                let Some(url) = config["settings"][name].as_str().map(str::to_owned).or(default.clone()) else {
                    continue;
                };
                config["settings"][name] = Value::String(stalled(&url, port)?);
            }
            let merchant = ctx.merchant("conformance-unreachable").await?;
            let (status, body) = ctx
                .admin_put(&format!("/admin/merchants/{}/providers/{provider}?test=false", merchant.id), &config)
                .await?;
            if status != StatusCode::OK {
                return Err(format!("storing a configuration pointing at a silent provider answered {status}: {body}"));
            }
            let order = ctx.order_for(&merchant).await?;
            let (status, body) = ctx.post(&merchant.api_key, "/v1/payments", &pay_body(&order)).await?;
            holding.abort();
            if status != StatusCode::SERVICE_UNAVAILABLE || body["error"]["code"] != "provider_unreachable" {
                return Err(format!("paying through a provider that never answers answered {status}: {body}; expected 503 provider_unreachable (the adapter's `unreachable`)"));
            }
            Ok(((), "503 provider_unreachable: the outcome is unknown and the payment can be retried".to_owned()))
        })
        .await;
    (provider, version)
}

impl Ctx {
    async fn merchant(&self, name: &str) -> Result<Merchant, String> {
        let r = self
            .http
            .post(format!("{}/admin/merchants", self.paygate))
            .bearer_auth(&self.token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        match (body["id"].as_str(), body["api_key"].as_str()) {
            (Some(id), Some(key)) => Ok(Merchant {
                id: id.to_owned(),
                api_key: key.to_owned(),
            }),
            _ => Err(format!("creating a merchant answered {body}")),
        }
    }

    async fn admin_put(&self, path: &str, body: &Value) -> Result<(StatusCode, Value), String> {
        let r = self
            .http
            .put(format!("{}{path}", self.paygate))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn post(
        &self,
        key: &str,
        path: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.paygate))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn order(&self, merchant: &Merchant, id: &str) -> Result<Value, String> {
        self.http
            .get(format!("{}/v1/orders/{id}", self.paygate))
            .bearer_auth(&merchant.api_key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }

    /// A new order of [`AMOUNT`]; its id.
    async fn order_for(&self, merchant: &Merchant) -> Result<String, String> {
        let out_trade_no = format!("C{}", hex::encode(rand::random::<[u8; 12]>()));
        let (status, body) = self
            .post(
                &merchant.api_key,
                "/v1/orders",
                &json!({"out_trade_no": out_trade_no, "amount": AMOUNT, "currency": "CNY",
                        "subject": "paygate conformance check", "ttl_seconds": 1800}),
            )
            .await?;
        match body["id"].as_str() {
            Some(id) if status == StatusCode::CREATED => Ok(id.to_owned()),
            _ => Err(format!("creating an order answered {status}: {body}")),
        }
    }

    /// A new order, paid through the adapter: 201 with an action.
    async fn pay(
        &self,
        merchant: &Merchant,
        pay_body: &impl Fn(&str) -> Value,
    ) -> Result<Trade, String> {
        let order_id = self.order_for(merchant).await?;
        let (status, body) = self
            .post(&merchant.api_key, "/v1/payments", &pay_body(&order_id))
            .await?;
        match body["payment_no"].as_str() {
            Some(no) if status == StatusCode::CREATED && body["action"].is_object() => Ok(Trade {
                order_id,
                payment_no: no.to_owned(),
            }),
            _ => Err(format!("paying an order answered {status}: {body}")),
        }
    }

    async fn ask_trade(
        &self,
        running: &crate::app::Running,
        merchant: &Merchant,
        provider: &str,
        payment_no: &str,
    ) -> Result<Result<crate::runtime::contract::TradeStatus, ProviderError>, String> {
        running
            .gateway
            .ask_provider_about_trade(&merchant.id, provider, payment_no)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits until the order is in `state`.
    async fn wait_order(&self, merchant: &Merchant, id: &str, state: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let order = self.order(merchant, id).await?;
            if order["state"] == state {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the order is {} after {} s, not {state}",
                    order["state"],
                    WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the refund has succeeded.
    async fn wait_refund(
        &self,
        merchant: &Merchant,
        payment_no: &str,
        refund_no: &str,
    ) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let payment: Value = self
                .http
                .get(format!("{}/v1/payments/{payment_no}", self.paygate))
                .bearer_auth(&merchant.api_key)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let state = payment["refunds"]
                .as_array()
                .and_then(|all| all.iter().find(|r| r["refund_no"] == refund_no))
                .map(|r| r["state"].clone())
                .unwrap_or(Value::Null);
            if state == "succeeded" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "refund {refund_no} is {state} after {} s, not succeeded",
                    WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every check, in the order run.
pub const CHECKS: &[&str] = &[
    "upload",
    "configuration test",
    "pay",
    "repay",
    "query: paid",
    "query: unknown trade",
    "notification: paid",
    "notification: forged signature",
    "close",
    "refund",
    "refund query",
    "provider timeout",
];

fn expect_state(
    status: &Result<crate::runtime::contract::TradeStatus, ProviderError>,
    expected: TradeState,
) -> Result<(), String> {
    match status {
        Ok(s) if s.state == expected => Ok(()),
        other => Err(format!(
            "the provider's trade should be {expected:?}; the adapter's query answered {other:?}"
        )),
    }
}

/// `url` with its host and port replaced by a local port that never answers (plain http:
/// the allowlist admits it on loopback).
fn stalled(url: &str, port: u16) -> Result<String, String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| format!("base URL {url}: {e}"))?;
    url.set_scheme("http")
        .map_err(|_| format!("base URL {url}: cannot be made http"))?;
    url.set_host(Some("127.0.0.1")).map_err(|e| e.to_string())?;
    url.set_port(Some(port))
        .map_err(|_| "cannot set a port".to_owned())?;
    Ok(url.to_string())
}

/// `{"settings": ..., "secrets": ...}` from two maps.
pub fn configuration(settings: BTreeMap<&str, String>, secrets: BTreeMap<&str, String>) -> Value {
    json!({ "settings": settings, "secrets": secrets })
}
