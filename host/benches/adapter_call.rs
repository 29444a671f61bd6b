//! Benchmark: one adapter call into the bundled mock adapter, as paygate makes it: a fresh
//! store, instantiation from the pre-instantiated component, the call, and the store's
//! teardown. Prints median and p99 for
//!   - `info()`: the fixed cost of a call (no host imports used);
//!   - `pay()`: a full pay call, whose one outbound HTTP request goes to a minimal
//!     provider on loopback (stated: the HTTP round trip is included, the sandbox's own
//!     database work is not).
//!
//! Run: `cargo bench -p paygate --bench adapter_call`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use paygate::runtime::contract::{Config, Money, PayRequest, Payer, SecretKind};
use paygate::runtime::{Allowlist, Grants, KeyRing, Limits, Runtime};

const WARMUP: usize = 200;
const ITERATIONS: usize = 3000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<28} n={:<5} median {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let compile_started = Instant::now();
        let runtime = Runtime::new(Limits::default(), None).expect("runtime");
        let adapter = runtime
            .prepare(paygate::adapters::MOCK)
            .await
            .expect("mock adapter loads");
        println!(
            "compile + self-test of the mock adapter: {:.1} ms",
            compile_started.elapsed().as_secs_f64() * 1e3
        );
        runtime.activate(adapter);

        let base = loopback_provider().await;
        let mut keys = KeyRing::default();
        keys.insert("api_key", SecretKind::HmacKey, "bench-key")
            .expect("key");
        let mut allowlist = Allowlist::default();
        allowlist.allow_base_url(&base).expect("url");
        let grants = Grants {
            keys: Arc::new(keys),
            allowlist,
        };
        let config = Config {
            merchant_id: "m_bench".into(),
            settings: vec![
                ("sandbox_url".into(), base.clone()),
                ("account_id".into(), "sbx_bench".into()),
            ],
        };
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

        let mut info = Vec::with_capacity(ITERATIONS);
        for i in 0..WARMUP + ITERATIONS {
            let started = Instant::now();
            let answer = runtime.query_info("mock").await.expect("info");
            let elapsed = started.elapsed();
            assert_eq!(answer.name, "mock");
            if i >= WARMUP {
                info.push(elapsed);
            }
        }
        report("info() (instantiate + call)", info);

        let mut pay = Vec::with_capacity(ITERATIONS);
        for i in 0..WARMUP + ITERATIONS {
            let started = Instant::now();
            let answer = runtime
                .pay("mock", grants.clone(), &config, &request)
                .await
                .expect("call");
            let elapsed = started.elapsed();
            answer.expect("the loopback provider accepts the trade");
            if i >= WARMUP {
                pay.push(elapsed);
            }
        }
        report("pay() incl. loopback HTTP", pay);
    });
}
