//! `paygate-adapter-test`: unit-test an adapter component (`.wasm`) without a running
//! paygate. The component runs in paygate's own runtime, under the same sandbox and limits,
//! with the merchant configuration the test gives it: settings (base-URL settings make its
//! allowlist, as in paygate), secrets held in memory (the adapter signs and decrypts through
//! the `keys` import and never sees them), and scripted answers for its HTTP requests (none
//! leaves the process; a request without an answer fails as a connection error would). Every
//! request that passed the allowlist is recorded for the test to check (its headers, its
//! body, its signature).
//!
//! ```no_run
//! # async fn example() -> Result<(), paygate_adapter_test::HarnessError> {
//! use paygate_adapter_test::{contract::SecretKind, Harness, HttpMethod};
//!
//! let wasm = std::fs::read("target/wasm32-wasip2/adapter/paygate_acme.wasm").unwrap();
//! let mut acme = Harness::load(&wasm).await?;
//! acme.setting("base_url", "https://api.acme.example");
//! acme.secret("api_key", SecretKind::HmacKey, "test-key")?;
//! acme.answer(HttpMethod::Post, "https://api.acme.example/pay", 200, r#"{"pay_url": "https://acme.example/p/1"}"#);
//! let action = acme.pay(&Harness::pay_request("P1", 1234, "CNY", "web")).await?;
//! assert_eq!(acme.requests().len(), 1);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub use paygate_runtime::contract;
pub use paygate_runtime::{HttpError, HttpMethod, HttpRequest, HttpResponse};

use contract::{
    AdapterInfo, Config, Money, Notification, PayRequest, PayResponse, Payer, ProviderError,
    RefundRequest, RefundStatus, Refusal, SecretKind, TradeStatus,
};
use paygate_runtime::{Allowlist, CallError, Grants, KeyRing, Limits, Runtime, Transport};

/// What can go wrong around the adapter (the adapter's own answers are the `Ok` values).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The component does not load: not a component, no contract paygate runs, an import
    /// its contract does not grant, or a failed self-test.
    #[error("the adapter does not load: {0}")]
    Load(String),
    /// A setting or secret the test gave is unusable (a base URL paygate would not call, a
    /// key that does not parse as its kind).
    #[error("{0}")]
    Configuration(String),
    /// The call failed without an answer: a trap, the CPU budget, the memory cap, the
    /// timeout, an oversized answer.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// One scripted answer: for the next request with this method and URL.
struct Scripted {
    method: HttpMethod,
    url: String,
    response: HttpResponse,
}

/// The scripted answers not used yet, and every request the adapter sent.
#[derive(Default)]
struct Script {
    answers: VecDeque<Scripted>,
    seen: Vec<HttpRequest>,
}

/// One adapter under test, with its merchant configuration and its scripted provider.
pub struct Harness {
    runtime: Runtime,
    info: AdapterInfo,
    settings: Vec<(String, String)>,
    /// Shared with the calls under way; only this harness holds it between calls.
    keys: Arc<KeyRing>,
    script: Arc<Mutex<Script>>,
}

fn lock(script: &Mutex<Script>) -> std::sync::MutexGuard<'_, Script> {
    script.lock().unwrap_or_else(|p| p.into_inner())
}

impl Harness {
    /// Loads a component as paygate does (compiled, its imports checked, `info()` run as a
    /// self-test), under paygate's default limits. It is compiled for each harness: compiled
    /// code is native code, and a shared cache directory another user could write to is not
    /// a place to load it from.
    pub async fn load(wasm: &[u8]) -> Result<Harness, HarnessError> {
        Harness::load_with(wasm, Limits::default()).await
    }

    /// [`Harness::load`] under other limits (a CPU budget, a memory cap, a timeout).
    pub async fn load_with(wasm: &[u8], limits: Limits) -> Result<Harness, HarnessError> {
        let script = Arc::new(Mutex::new(Script::default()));
        let answers = script.clone();
        let transport = Transport::Scripted(Arc::new(move |req: &HttpRequest| {
            let mut script = lock(&answers);
            script.seen.push(req.clone());
            let at = script
                .answers
                .iter()
                .position(|a| a.method == req.method && a.url == req.url);
            match at.and_then(|i| script.answers.remove(i)) {
                Some(answer) => Ok(answer.response),
                None => Err(HttpError::Connection(format!(
                    "the test scripted no answer for {:?} {}",
                    req.method, req.url
                ))),
            }
        }));
        let runtime = Runtime::with_transport(limits, None, transport)
            .map_err(|e| HarnessError::Load(e.to_string()))?;
        let adapter = runtime
            .prepare(wasm)
            .await
            .map_err(|e| HarnessError::Load(e.to_string()))?;
        let info = adapter.info.clone();
        runtime.activate(adapter);
        Ok(Harness {
            runtime,
            info,
            settings: Vec::new(),
            keys: Arc::default(),
            script,
        })
    }

    /// What the adapter says of itself (from its self-test at load).
    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Sets a setting of the merchant's configuration (replacing an earlier value).
    pub fn setting(&mut self, name: &str, value: &str) -> &mut Harness {
        self.settings.retain(|(n, _)| n != name);
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Holds a secret of the merchant's configuration, parsed as `kind` as paygate parses
    /// it (PEM or bare base64 keys, a 32-byte AES key, certificates...).
    pub fn secret(
        &mut self,
        name: &str,
        kind: SecretKind,
        value: &str,
    ) -> Result<&mut Harness, HarnessError> {
        // Calls borrow the harness, so none holds the ring while it is changed.
        let keys = Arc::get_mut(&mut self.keys).ok_or_else(|| {
            HarnessError::Configuration("secrets cannot change while a call runs".into())
        })?;
        keys.insert(name, kind, value)
            .map_err(|e| HarnessError::Configuration(format!("secret `{name}`: {e}")))?;
        Ok(self)
    }

    /// Scripts the provider's answer to the next `method` request to exactly `url`. Answers
    /// are used once each, in the order given for the same method and URL.
    pub fn answer(
        &mut self,
        method: HttpMethod,
        url: &str,
        status: u16,
        body: &str,
    ) -> &mut Harness {
        self.answer_with(
            method,
            url,
            HttpResponse {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.as_bytes().to_vec(),
            },
        )
    }

    /// [`Harness::answer`] with the whole response (headers a provider signs its answers
    /// with, a body that is not JSON).
    pub fn answer_with(
        &mut self,
        method: HttpMethod,
        url: &str,
        response: HttpResponse,
    ) -> &mut Harness {
        lock(&self.script).answers.push_back(Scripted {
            method,
            url: url.to_owned(),
            response,
        });
        self
    }

    /// Every request the adapter sent so far that its allowlist let through, in order (one
    /// to an origin outside it is refused before it reaches the script, as in paygate).
    pub fn requests(&self) -> Vec<HttpRequest> {
        lock(&self.script).seen.clone()
    }

    /// Scripted answers no request used.
    pub fn unused_answers(&self) -> Vec<String> {
        lock(&self.script)
            .answers
            .iter()
            .map(|a| format!("{:?} {}", a.method, a.url))
            .collect()
    }

    /// A pay request with what every test needs: a deadline an hour from now, a notify URL.
    pub fn pay_request(payment_no: &str, minor: u64, currency: &str, channel: &str) -> PayRequest {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        PayRequest {
            payment_no: payment_no.to_owned(),
            amount: Money {
                minor,
                currency: currency.to_owned(),
            },
            subject: "paygate adapter test".into(),
            channel: channel.to_owned(),
            expires_at: now + 3600,
            notify_url: "https://paygate.example/v1/notify/test/m_test".into(),
            payer: Payer {
                open_id: None,
                client_ip: None,
                return_url: None,
            },
        }
    }

    fn config(&self) -> Config {
        Config {
            merchant_id: "m_test".into(),
            settings: self.settings.clone(),
        }
    }

    /// The call's grants: the keys, and the allowlist paygate builds from the base-URL
    /// settings the adapter declares.
    fn grants(&self) -> Result<Grants, HarnessError> {
        let mut allowlist = Allowlist::default();
        for spec in self.info.settings.iter().filter(|s| s.is_base_url) {
            let value = self
                .settings
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, v)| v.clone())
                .or_else(|| spec.default_value.clone());
            if let Some(url) = value {
                allowlist.allow_base_url(&url).map_err(|e| {
                    HarnessError::Configuration(format!("setting `{}`: {e}", spec.name))
                })?;
            }
        }
        Ok(Grants {
            keys: self.keys.clone(),
            allowlist,
        })
    }

    pub async fn pay(
        &self,
        req: &PayRequest,
    ) -> Result<Result<PayResponse, ProviderError>, HarnessError> {
        let name = &self.info.name;
        Ok(self
            .runtime
            .pay(name, self.grants()?, &self.config(), req)
            .await?)
    }

    pub async fn query(
        &self,
        payment_no: &str,
    ) -> Result<Result<TradeStatus, ProviderError>, HarnessError> {
        let name = &self.info.name;
        Ok(self
            .runtime
            .query(name, self.grants()?, &self.config(), payment_no)
            .await?)
    }

    pub async fn close(&self, payment_no: &str) -> Result<Result<(), ProviderError>, HarnessError> {
        let name = &self.info.name;
        Ok(self
            .runtime
            .close(name, self.grants()?, &self.config(), payment_no)
            .await?)
    }

    pub async fn refund(
        &self,
        req: &RefundRequest,
    ) -> Result<Result<RefundStatus, ProviderError>, HarnessError> {
        let name = &self.info.name;
        Ok(self
            .runtime
            .refund(name, self.grants()?, &self.config(), req)
            .await?)
    }

    pub async fn query_refund(
        &self,
        payment_no: &str,
        refund_no: &str,
    ) -> Result<Result<RefundStatus, ProviderError>, HarnessError> {
        let name = &self.info.name;
        Ok(self
            .runtime
            .query_refund(name, self.grants()?, &self.config(), payment_no, refund_no)
            .await?)
    }

    /// Hands the adapter a provider's notification, as paygate's notify endpoint does.
    pub async fn parse_notification(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Result<Notification, Refusal>, HarnessError> {
        let name = &self.info.name;
        let headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Ok(self
            .runtime
            .parse_notification(name, self.grants()?, &self.config(), headers, body.to_vec())
            .await?)
    }
}
