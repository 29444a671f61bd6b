//! Benchmark: what running a provider's logic as a sandboxed component costs, against the
//! same logic written natively in the host. For the bundled mock adapter, in one run:
//!   - activating a version: a cold compile (with the self-test), from the disk cache (a
//!     restart, another process), from the memory cache (a re-activation);
//!   - instantiation alone (a fresh store and an instance from the pre-instantiated
//!     component, dropped);
//!   - one call, as paygate makes it (a fresh store, instantiation from the
//!     pre-instantiated component, the call, the store's teardown): `info()` (no host
//!     import used: the fixed cost) and `pay()` (one signed HTTP request to a minimal
//!     provider on loopback), each beside a native function doing the same work;
//!   - calls per second with 64 calls in flight at once, on this machine's cores;
//!   - memory per instance: 64 pay calls held open by a provider that never answers, the
//!     process's resident memory before and during;
//!   - the same adapter written in Python (`plugins/python-mock`, built by its `build.sh`
//!     when componentize-py is installed): activation, instantiation, `info()` and `pay()`.
//!
//! Run: `cargo bench -p paygate --bench adapter_call`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use paygate::runtime::contract::{
    AdapterInfo, ChannelSpec, Config, Money, PayAction, PayRequest, PayResponse, Payer, SecretKind,
    SecretSpec, SettingSpec,
};
use paygate::runtime::{Allowlist, Grants, KeyRing, Limits, Runtime};
use sha2::Sha256;

const WARMUP: usize = 200;
const ITERATIONS: usize = 3000;
/// Calls in flight at once in the throughput and memory runs.
const CONCURRENT: usize = 64;
/// How long each throughput run lasts.
const THROUGHPUT_RUN: Duration = Duration::from_secs(3);
const API_KEY: &str = "bench-key";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<36} n={:<5} median {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
}

/// Times `WARMUP + ITERATIONS` runs of `f`, keeping the last `ITERATIONS`.
async fn sample<F, Fut>(mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARMUP + ITERATIONS {
        let started = Instant::now();
        f().await;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    samples
}

/// The process's resident memory, in KiB (Linux `/proc/self/status`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A minimal provider on loopback that accepts every trade at once.
async fn loopback_provider() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/sandbox/api/trades",
        post(|| async {
            axum::Json(serde_json::json!({
                "payment_no": "P1", "trade_id": "T1", "state": "open",
                "pay_url": "http://127.0.0.1/sandbox/checkout/P1"
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/sandbox")
}

/// A provider that accepts connections and never answers.
async fn silent_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}/sandbox")
}

/// The mock adapter's `info()`, written natively: the same description built in the host.
fn native_info() -> AdapterInfo {
    let setting = |name: &str, required: bool, description: &str, is_base_url: bool| SettingSpec {
        name: name.into(),
        required,
        description: description.into(),
        is_base_url,
        default_value: None,
    };
    AdapterInfo {
        name: "mock".into(),
        version: "0.2.0".into(),
        contract_version: "2.0.0".into(),
        channels: vec![
            ChannelSpec {
                name: "web".into(),
                binds: vec![],
            },
            ChannelSpec {
                name: "qr".into(),
                binds: vec![],
            },
        ],
        settings: vec![
            setting(
                "sandbox_url",
                true,
                "base URL of the sandbox provider, e.g. http://127.0.0.1:8080/sandbox",
                true,
            ),
            setting(
                "account_id",
                true,
                "the merchant's sandbox account (POST /sandbox/accounts)",
                false,
            ),
            setting(
                "refunds",
                false,
                "`off` makes the adapter answer every refund as unsupported",
                false,
            ),
        ],
        secrets: vec![SecretSpec {
            name: "api_key".into(),
            kind: SecretKind::HmacKey,
            required: true,
            description: "the sandbox account's API key".into(),
        }],
    }
}

/// The mock adapter's `pay()`, written natively: the same JSON body, HMAC-SHA256 request
/// signature (PROTOCOL.md) and HTTP request, its answer read into the same action.
async fn native_pay(http: &reqwest::Client, base: &str, req: &PayRequest) -> PayResponse {
    let path = "/sandbox/api/trades";
    let body = serde_json::json!({
        "payment_no": req.payment_no, "amount": req.amount.minor, "currency": req.amount.currency,
        "subject": req.subject, "channel": req.channel, "expires_at": req.expires_at,
        "notify_url": req.notify_url,
    })
    .to_string();
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
    let nonce = hex::encode(rand::random::<[u8; 8]>());
    let mut mac = Hmac::<Sha256>::new_from_slice(API_KEY.as_bytes()).expect("any key length");
    mac.update(format!("POST\n{path}\n{timestamp}\n{nonce}\n{body}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let answer: serde_json::Value = http
        .post(format!("{}/api/trades", base))
        .header("x-sandbox-account", "sbx_bench")
        .header("x-sandbox-timestamp", timestamp)
        .header("x-sandbox-nonce", nonce)
        .header("x-sandbox-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("loopback provider")
        .json()
        .await
        .expect("JSON");
    PayResponse {
        action: PayAction::Redirect(answer["pay_url"].as_str().unwrap_or_default().to_owned()),
        provider_trade_id: answer["trade_id"].as_str().map(str::to_owned),
        action_expires_at: None,
    }
}

/// Calls per second of `call` with [`CONCURRENT`] calls in flight for [`THROUGHPUT_RUN`].
async fn throughput<F, Fut>(call: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + THROUGHPUT_RUN;
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn grants_for(base: &str) -> Grants {
    let mut keys = KeyRing::default();
    keys.insert("api_key", SecretKind::HmacKey, API_KEY)
        .expect("key");
    let mut allowlist = Allowlist::default();
    allowlist.allow_base_url(base).expect("url");
    Grants {
        keys: Arc::new(keys),
        allowlist,
    }
}

fn config_for(base: &str) -> Config {
    Config {
        merchant_id: "m_bench".into(),
        settings: vec![
            ("sandbox_url".into(), base.to_owned()),
            ("account_id".into(), "sbx_bench".into()),
        ],
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        println!(
            "== activating a version of the mock adapter ({} KiB) ==",
            paygate::adapters::MOCK.len() / 1024
        );
        let cache = tempfile::tempdir().expect("cache dir");
        let cold = Runtime::new(Limits::default(), Some(cache.path().to_owned())).expect("runtime");
        let started = Instant::now();
        cold.prepare(paygate::adapters::MOCK).await.expect("loads");
        let cold_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        cold.prepare(paygate::adapters::MOCK).await.expect("loads");
        let memory_ms = started.elapsed().as_secs_f64() * 1e3;
        let restarted =
            Runtime::new(Limits::default(), Some(cache.path().to_owned())).expect("runtime");
        let started = Instant::now();
        restarted
            .prepare(paygate::adapters::MOCK)
            .await
            .expect("loads");
        let disk_ms = started.elapsed().as_secs_f64() * 1e3;
        println!("cold compile + self-test            {cold_ms:>8.1} ms");
        println!("from the disk cache (a restart)     {disk_ms:>8.1} ms");
        println!("from the memory cache               {memory_ms:>8.1} ms");
        drop((cold, restarted));

        let runtime = Arc::new(Runtime::new(Limits::default(), None).expect("runtime"));
        let adapter = runtime
            .prepare(paygate::adapters::MOCK)
            .await
            .expect("mock adapter loads");
        runtime.activate(adapter);
        let base = loopback_provider().await;
        let grants = grants_for(&base);
        let config = config_for(&base);
        let request = PayRequest {
            payment_no: "P1".into(),
            amount: Money {
                minor: 1234,
                currency: "CNY".into(),
            },
            subject: "Green tea".into(),
            channel: "web".into(),
            expires_at: 4_102_444_800,
            notify_url: "http://127.0.0.1/v1/notify/mock/m_bench".into(),
            payer: Payer {
                open_id: None,
                client_ip: None,
                return_url: None,
            },
        };

        println!();
        println!("== one call ==");
        let instantiate = sample(|| async {
            runtime.instantiate_only("mock").await.expect("instance");
        })
        .await;
        report("instantiation alone", instantiate);
        let wasm_info = sample(|| async {
            let answer = runtime.query_info("mock").await.expect("info");
            assert_eq!(answer.name, "mock");
        })
        .await;
        report("info(), wasm (instantiate + call)", wasm_info);
        let native = sample(|| async {
            let info = std::hint::black_box(native_info());
            assert_eq!(info.name, "mock");
        })
        .await;
        report("info(), native", native);
        let wasm_pay = sample(|| async {
            runtime
                .pay("mock", grants.clone(), &config, &request)
                .await
                .expect("call")
                .expect("the loopback provider accepts the trade");
        })
        .await;
        report("pay() incl. loopback HTTP, wasm", wasm_pay);
        let http = reqwest::Client::new();
        let native = sample(|| async {
            let answer = native_pay(&http, &base, &request).await;
            assert!(matches!(answer.action, PayAction::Redirect(_)));
        })
        .await;
        report("pay() incl. loopback HTTP, native", native);

        println!();
        println!(
            "== {CONCURRENT} calls in flight, {} cores ==",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let r = runtime.clone();
        let per_second = throughput(move || {
            let r = r.clone();
            async move {
                r.query_info("mock").await.expect("info");
            }
        })
        .await;
        println!("info(), wasm                        {per_second:>8.0} calls/s");
        let (r, g, c, q) = (
            runtime.clone(),
            grants.clone(),
            config.clone(),
            request.clone(),
        );
        let per_second = throughput(move || {
            let (r, g, c, q) = (r.clone(), g.clone(), c.clone(), q.clone());
            async move {
                r.pay("mock", g, &c, &q)
                    .await
                    .expect("call")
                    .expect("accepted");
            }
        })
        .await;
        println!("pay() incl. loopback HTTP, wasm     {per_second:>8.0} calls/s");
        let (h, b, q) = (http.clone(), base.clone(), request.clone());
        let per_second = throughput(move || {
            let (h, b, q) = (h.clone(), b.clone(), q.clone());
            async move {
                native_pay(&h, &b, &q).await;
            }
        })
        .await;
        println!("pay() incl. loopback HTTP, native   {per_second:>8.0} calls/s");

        println!();
        println!("== memory per instance ==");
        let silent = silent_provider().await;
        let (grants, config) = (grants_for(&silent), config_for(&silent));
        let before = rss_kib();
        let held: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                let (r, g, c, q) = (
                    runtime.clone(),
                    grants.clone(),
                    config.clone(),
                    request.clone(),
                );
                tokio::spawn(async move {
                    let _ = r.pay("mock", g, &c, &q).await;
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let during = rss_kib();
        println!(
            "{CONCURRENT} pay calls waiting on a silent provider: resident memory {} -> {} KiB, {:.0} KiB per instance",
            before,
            during,
            during.saturating_sub(before) as f64 / CONCURRENT as f64
        );
        for h in held {
            h.abort();
        }

        println!();
        python(&base).await;
    });
}

/// The Python adapter beside the Rust one: built by `plugins/python-mock/build.sh`.
async fn python(base: &str) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository");
    let built = std::process::Command::new("bash")
        .arg(repo.join("plugins/python-mock/build.sh"))
        .output();
    let path = match built {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        _ => {
            println!("== the Python adapter: skipped (pip install componentize-py==0.25.1) ==");
            return;
        }
    };
    let wasm = std::fs::read(&path).expect("the built component");
    println!(
        "== the same adapter in Python (pymock, {:.1} MB) ==",
        wasm.len() as f64 / 1e6
    );
    let cache = tempfile::tempdir().expect("cache dir");
    let cold = Runtime::new(Limits::default(), Some(cache.path().to_owned())).expect("runtime");
    let started = Instant::now();
    cold.prepare(&wasm).await.expect("loads");
    println!(
        "cold compile + self-test            {:>8.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(cold);
    let runtime = Runtime::new(Limits::default(), Some(cache.path().to_owned())).expect("runtime");
    let started = Instant::now();
    let adapter = runtime.prepare(&wasm).await.expect("loads");
    println!(
        "from the disk cache (a restart)     {:>8.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    runtime.activate(adapter);
    let mut instantiate = Vec::new();
    let mut info = Vec::new();
    let mut pay = Vec::new();
    let (grants, config) = (grants_for(base), config_for(base));
    let mut request = PayRequest {
        payment_no: "P1".into(),
        amount: Money {
            minor: 1234,
            currency: "CNY".into(),
        },
        subject: "Green tea".into(),
        channel: "web".into(),
        expires_at: 4_102_444_800,
        notify_url: "http://127.0.0.1/v1/notify/pymock/m_bench".into(),
        payer: Payer {
            open_id: None,
            client_ip: None,
            return_url: None,
        },
    };
    // Fewer rounds: each is tens of milliseconds.
    for i in 0..220 {
        let started = Instant::now();
        runtime.instantiate_only("pymock").await.expect("instance");
        let a = started.elapsed();
        let started = Instant::now();
        runtime.query_info("pymock").await.expect("info");
        let b = started.elapsed();
        request.payment_no = format!("P{i}");
        let started = Instant::now();
        runtime
            .pay("pymock", grants.clone(), &config, &request)
            .await
            .expect("call")
            .expect("accepted");
        let c = started.elapsed();
        if i >= 20 {
            instantiate.push(a);
            info.push(b);
            pay.push(c);
        }
    }
    report("instantiation alone", instantiate);
    report("info(), wasm (instantiate + call)", info);
    report("pay() incl. loopback HTTP, wasm", pay);
}
