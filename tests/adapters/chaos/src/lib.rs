//! The chaos adapter: a misbehaving adapter for the sandbox tests of `tests/e2e/
//! runtime_limits.rs`, never shipped. It owns nothing but misbehaviours: each limit the host
//! puts on an adapter (CPU budget, memory cap, answer size cap, outbound allowlist, key
//! ring, the empty WASI world) has a pay subject here that pushes against it, so that a test
//! proves the limit holds, fails that one call, and leaves paygate serving the next.
//!
//! Settings: `base_url` (a base-URL setting, so the adapter has an allowlist; the tests give
//! paygate's own URL, whose port `socket` then tries to reach without the `http` import).
//! Secret: `api_key` (`hmac-key`). Channel: `web`.
//!
//! | `pay` subject | what the adapter does |
//! |---|---|
//! | `spin` | loops forever without calling the host |
//! | `oom` | allocates and writes 1 MiB blocks, keeping them, until allocation fails |
//! | `trap` | panics |
//! | `log` | writes a line to stdout, one to stderr and one through the `log` import, then answers normally |
//! | `huge-answer` | answers a redirect whose URL is 4 MiB long |
//! | `forbidden-host` | sends a request to `base_url` (allowed), then to the cloud metadata address (not) |
//! | `files` | reads `/etc/passwd`, lists `/` and `.` with `std::fs` |
//! | `env` | reads the environment variables and the arguments |
//! | `socket` | (the `sockets` build only) opens TCP connections to 127.0.0.1 on `base_url`'s port and on 5432, and resolves `localhost` |
//! | `foreign-key` | signs with `api_key` (declared), then with `merchant_private_key` (not in its configuration) |
//!
//! The probing subjects (`forbidden-host` to `foreign-key`) answer a `rejected` error with
//! code [`OBSERVED`] whose message is the JSON of a [`Report`]: each attempt, whether it
//! reached what it asked for, and what it got (never the content it read). Any other
//! subject answers normally: a redirect to `https://chaos.example/pay/{payment_no}`, no
//! network needed. `query` answers the trade as open, `close` succeeds, refunds and
//! notifications are unsupported: there is no provider behind this adapter.

use std::io::Read;
#[cfg(feature = "sockets")]
use std::net::{TcpStream, ToSocketAddrs};

use paygate_sdk::http::{self, Method};
use paygate_sdk::keys::{self, SignatureAlgorithm};
use paygate_sdk::{
    channel, json_reply, request, required_setting, AdapterInfo, Config, Headers, Notification,
    PayAction, PayRequest, PayResponse, Provider, ProviderError, RefundRequest, RefundStatus,
    Refusal, Rejection, SecretKind, SecretSpec, SettingSpec, TradeState, TradeStatus,
    CONTRACT_VERSION,
};
use serde::Serialize;

/// The secret the adapter declares, an `hmac-key`.
const API_KEY: &str = "api_key";

/// A secret name the adapter never declared (the WeChat Pay adapter's signing key), which
/// the chaos merchant's configuration does not hold.
const FOREIGN_KEY: &str = "merchant_private_key";

/// Where cloud instances read their credentials from: the classic target of a request
/// forged from inside a server.
const METADATA_URL: &str = "https://169.254.169.254/latest/meta-data/";

/// The rejection code of a probe's report.
const OBSERVED: &str = "OBSERVED";

/// Length of the `huge-answer` URL: far over the host's answer cap, well within the
/// default memory cap.
const HUGE_URL_BYTES: usize = 4 << 20;

/// What a probing subject saw: the rejection message of its answer, as JSON.
#[derive(Debug, Default, Serialize)]
struct Report {
    attempts: Vec<Attempt>,
}

/// One thing the adapter tried.
#[derive(Debug, Serialize)]
struct Attempt {
    /// What was tried, e.g. `read /etc/passwd`.
    what: String,
    /// Whether it got what it asked for (a file's bytes, a connection, a signature...).
    reached: bool,
    /// The error, or a short description of what came back.
    detail: String,
}

impl Report {
    fn record<T, E: std::fmt::Display>(
        &mut self,
        what: impl Into<String>,
        result: Result<T, E>,
        describe: impl FnOnce(T) -> String,
    ) {
        let (reached, detail) = match result {
            Ok(value) => (true, describe(value)),
            Err(e) => (false, e.to_string()),
        };
        self.attempts.push(Attempt {
            what: what.into(),
            reached,
            detail,
        });
    }

    /// The report as the answer of the call.
    fn answer(self) -> ProviderError {
        let message = serde_json::to_string(&self)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot write the report: {e}\"}}"));
        ProviderError::Rejected(Rejection {
            code: OBSERVED.into(),
            message,
        })
    }
}

struct Chaos;

impl Provider for Chaos {
    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "chaos".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            channels: vec![channel("web", &[])],
            settings: vec![SettingSpec {
                name: "base_url".into(),
                required: true,
                description: "a base URL, so the adapter has an allowlist; `socket` also \
                              tries its port directly"
                    .into(),
                is_base_url: true,
                default_value: None,
            }],
            secrets: vec![SecretSpec {
                name: API_KEY.into(),
                kind: SecretKind::HmacKey,
                required: true,
                description: "any HMAC key: `foreign-key` signs with it before asking for \
                              a key it does not have"
                    .into(),
            }],
        }
    }

    fn pay(config: Config, request: PayRequest) -> Result<PayResponse, ProviderError> {
        let redirect = |url: String| PayResponse {
            action: PayAction::Redirect(url),
            provider_trade_id: None,
            action_expires_at: None,
        };
        match request.subject.as_str() {
            "spin" => spin(),
            "oom" => hoard(),
            "trap" => panic!("chaos: the adapter panics on purpose"),
            "log" => {
                println!("chaos: a line on stdout");
                eprintln!("chaos: a line on stderr");
                paygate_sdk::log::info("chaos: a line through the log import");
            }
            "huge-answer" => {
                let mut url = String::with_capacity(HUGE_URL_BYTES + 64);
                url.push_str("https://chaos.example/pay/");
                url.push_str(&request.payment_no);
                url.push_str("?pad=");
                url.extend(std::iter::repeat_n('x', HUGE_URL_BYTES));
                return Ok(redirect(url));
            }
            "forbidden-host" => return Err(forbidden_host(&config)?.answer()),
            "files" => return Err(files().answer()),
            "env" => return Err(env().answer()),
            #[cfg(feature = "sockets")]
            "socket" => return Err(sockets(&config)?.answer()),
            "foreign-key" => return Err(foreign_key().answer()),
            _ => {}
        }
        Ok(redirect(format!(
            "https://chaos.example/pay/{}",
            request.payment_no
        )))
    }

    fn query(_config: Config, payment_no: String) -> Result<TradeStatus, ProviderError> {
        // No provider stands behind this adapter: a trade it handed out waits for a payer
        // until paygate closes it at its deadline.
        Ok(TradeStatus {
            payment_no,
            state: TradeState::Open,
            provider_trade_id: None,
            paid_amount: None,
            paid_at: None,
        })
    }

    fn close(_config: Config, _payment_no: String) -> Result<(), ProviderError> {
        // Nothing was opened anywhere, so there is nothing to close.
        Ok(())
    }

    fn refund(_config: Config, _request: RefundRequest) -> Result<RefundStatus, ProviderError> {
        Err(ProviderError::Unsupported(
            "the chaos adapter never takes money, so it has nothing to refund".into(),
        ))
    }

    fn query_refund(
        _config: Config,
        _payment_no: String,
        _refund_no: String,
    ) -> Result<RefundStatus, ProviderError> {
        Err(ProviderError::Unsupported(
            "the chaos adapter never takes money, so it has nothing to refund".into(),
        ))
    }

    fn parse_notification(
        _config: Config,
        _headers: Headers,
        _body: Vec<u8>,
    ) -> Result<Notification, Refusal> {
        Err(Refusal {
            error: ProviderError::Unsupported("the chaos adapter sends no notifications".into()),
            reply: json_reply(400, &serde_json::json!({"code": "FAIL"})),
        })
    }
}

/// Loops forever without calling the host: only the CPU budget can stop it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        // `black_box` hides the value from the optimiser, so the loop stays.
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until allocation fails: only the memory cap can stop it.
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // `vec![1; n]` writes every byte, so the pages are really used; the block stays
        // alive in `hoard` until an allocation fails and the instance aborts.
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// A request to `base_url` (in the allowlist: it must go through, or the probe proves
/// nothing), then one to the metadata address (not in it).
fn forbidden_host(config: &Config) -> Result<Report, ProviderError> {
    let base = required_setting(config, "base_url")?;
    let mut report = Report::default();
    for url in [base, METADATA_URL] {
        report.record(
            format!("GET {url}"),
            http::send(&request(Method::Get, url)).map_err(describe_http),
            |response| format!("HTTP {}", response.status),
        );
    }
    Ok(report)
}

fn describe_http(e: http::Error) -> String {
    match e {
        http::Error::Denied(m) => format!("denied: {m}"),
        http::Error::Timeout => "timeout".into(),
        http::Error::Connection(m) => format!("connection: {m}"),
        http::Error::TooLarge => "too-large".into(),
        http::Error::Invalid(m) => format!("invalid: {m}"),
    }
}

/// The host's files, through WASI: a file every Unix has, the root and the working
/// directory. Only sizes and names are reported, never contents.
fn files() -> Report {
    let mut report = Report::default();
    report.record(
        "read /etc/passwd",
        std::fs::File::open("/etc/passwd").and_then(|mut f| {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
        }),
        |n| format!("read {n} bytes"),
    );
    for dir in ["/", "."] {
        report.record(
            format!("list {dir}"),
            std::fs::read_dir(dir).and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<std::io::Result<Vec<String>>>()
            }),
            |names| format!("{} entries: {}", names.len(), names.join(", ")),
        );
    }
    report
}

/// The process's environment and arguments: names only, never values.
fn env() -> Report {
    let mut report = Report::default();
    let vars: Vec<String> = std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    report.record(
        "environment variables",
        non_empty(vars, "no environment variables"),
        |names| format!("{} variables: {}", names.len(), names.join(", ")),
    );
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    report.record("arguments", non_empty(args, "no arguments"), |args| {
        format!("{} arguments: {}", args.len(), args.join(" "))
    });
    report
}

/// `Ok(items)` if there are any: having some is having reached something.
fn non_empty(items: Vec<String>, none: &str) -> Result<Vec<String>, String> {
    if items.is_empty() {
        Err(none.to_owned())
    } else {
        Ok(items)
    }
}

/// Raw sockets, past the `http` import: paygate's own port (taken from `base_url`, which
/// the `http` import may call), PostgreSQL's, and a name lookup. Only in the build with the
/// `sockets` feature: using them makes the component import `wasi:sockets`, and the other
/// tests load a chaos adapter that imports only what a Rust adapter needs.
#[cfg(feature = "sockets")]
fn sockets(config: &Config) -> Result<Report, ProviderError> {
    let base = required_setting(config, "base_url")?;
    let own_port = base
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|port| port.parse::<u16>().ok())
        .ok_or_else(|| ProviderError::Config(format!("`{base}` names no port")))?;
    let mut report = Report::default();
    for port in [own_port, 5432] {
        report.record(
            format!("connect 127.0.0.1:{port}"),
            TcpStream::connect(("127.0.0.1", port)),
            |stream| match stream.peer_addr() {
                Ok(peer) => format!("connected to {peer}"),
                Err(_) => "connected".into(),
            },
        );
    }
    report.record(
        "resolve localhost",
        ("localhost", 80)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>()),
        |addrs| format!("{addrs:?}"),
    );
    Ok(report)
}

/// A signature with the declared key (it must work, or the probe proves nothing), then one
/// with a key the configuration does not hold.
fn foreign_key() -> Report {
    let mut report = Report::default();
    for name in [API_KEY, FOREIGN_KEY] {
        report.record(
            format!("sign with `{name}`"),
            keys::sign(name, SignatureAlgorithm::HmacSha256, b"chaos").map_err(|e| match e {
                keys::Error::UnknownKey(m) => format!("unknown-key: {m}"),
                keys::Error::WrongKind(m) => format!("wrong-kind: {m}"),
                keys::Error::InvalidInput(m) => format!("invalid-input: {m}"),
                keys::Error::DecryptFailed => "decrypt-failed".into(),
            }),
            |signature| format!("a {}-byte signature", signature.len()),
        );
    }
    report
}

paygate_sdk::export_adapter!(Chaos);
