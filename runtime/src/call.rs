//! One adapter call: the store's data (`CallState`), the limits applied to it, and how a
//! trap, an exhausted limit or an oversized answer becomes a clear error for that call alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::http::{Allowlist, HttpLimits, Transport};
use super::keys::KeyRing;

/// Per-call limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// CPU time the guest may use in one call (host calls excluded).
    pub cpu_budget: Duration,
    /// Largest linear memory of one call, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for the whole call, host calls included.
    pub wall_timeout: Duration,
    pub http: HttpLimits,
}

impl Limits {
    /// Largest answer one call may return, in bytes of its JSON form. The memory cap bounds
    /// what an adapter holds while it runs, not what it hands over: without this, an answer
    /// of tens of megabytes (a runaway string, a hostile adapter) would be copied into the
    /// host, stored with the payment and sent to clients. The largest honest answers are
    /// a few kilobytes (an Alipay page form, a notification's reply), so 256 KiB leaves them
    /// ample room. Counted as JSON, a `list<u8>` (a reply's body) weighs up to four bytes a
    /// byte, which still leaves a reply some 64 KiB.
    ///
    /// A constant rather than a field: `app::load_adapters` builds `Limits` field by field,
    /// and this cap has no reason to differ between deployments yet.
    pub const MAX_ANSWER_BYTES: usize = 256 << 10;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_budget: Duration::from_millis(500),
            memory_bytes: 64 << 20,
            wall_timeout: Duration::from_secs(30),
            http: HttpLimits {
                timeout: Duration::from_secs(10),
                max_response_bytes: 1 << 20,
            },
        }
    }
}

/// What a call may use: its merchant's keys and allowlist. Built by the caller.
#[derive(Clone, Debug)]
pub struct Grants {
    pub keys: Arc<KeyRing>,
    pub allowlist: Allowlist,
}

/// Core instances, memories and tables one call's store may create. A Rust adapter has 3
/// core instances and 1-2 memories; a componentize-py (Python) adapter carries its
/// interpreter as 14 core modules and instantiates 38 of them. The caps stop a component
/// that multiplies instances, not a language.
pub const MAX_CORE_INSTANCES: usize = 64;
pub const MAX_MEMORIES: usize = 16;
pub const MAX_TABLES: usize = 64;

/// How much stdout/stderr one call may write; the rest is dropped.
const OUTPUT_CAPACITY: usize = 16 << 10;

/// The store's data for one call. Owned by the call's `Store`, dropped with it.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    pub(super) keys: Arc<KeyRing>,
    pub(super) allowlist: Allowlist,
    pub(super) transport: Transport,
    pub(super) http_limits: HttpLimits,
    /// When the call started, and how long it waited in host calls: their difference is
    /// the guest's own time, which the CPU budget bounds.
    pub(super) started: Instant,
    pub(super) host_time: Duration,
    pub(super) stdout: MemoryOutputPipe,
    pub(super) stderr: MemoryOutputPipe,
    /// Which adapter runs, for log lines.
    pub(super) adapter: String,
    /// The secret names the adapter declares (see `keys.rs`); empty for a self-test.
    pub(super) secret_names: Arc<[String]>,
    /// The runtime's instance slot this call holds; released with the store.
    pub(super) slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl CallState {
    pub(super) fn new(
        adapter: &str,
        grants: Grants,
        limits: &Limits,
        transport: Transport,
    ) -> CallState {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        // An empty WASI context: no preopened directories, environment, arguments, network
        // or stdin. Clocks and random are WASI's defaults; output is captured for the log.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .instances(MAX_CORE_INSTANCES)
                .memories(MAX_MEMORIES)
                .tables(MAX_TABLES)
                .build(),
            keys: grants.keys,
            allowlist: grants.allowlist,
            transport,
            http_limits: limits.http,
            started: Instant::now(),
            host_time: Duration::ZERO,
            stdout,
            stderr,
            adapter: adapter.to_owned(),
            secret_names: Arc::new([]),
            slot: None,
        }
    }

    /// Guest time used so far.
    pub(super) fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.host_time)
    }

    /// Writes what the guest printed into the host's log.
    pub(super) fn flush_output(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                tracing::info!(adapter = %self.adapter, stream, "{line}");
            }
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Why an adapter call failed without an answer from the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no adapter is active for provider `{0}`")]
    UnknownAdapter(String),
    #[error(
        "adapter `{adapter}` {version} does not export paygate:bills/bills@1.0.0: paygate \
         cannot reconcile this provider with it"
    )]
    NoBills { adapter: String, version: String },
    #[error("adapter `{adapter}` exceeded its CPU budget of {budget_ms} ms")]
    CpuBudget { adapter: String, budget_ms: u128 },
    #[error("adapter `{adapter}` exceeded its memory cap of {cap_bytes} bytes")]
    Memory { adapter: String, cap_bytes: usize },
    #[error("adapter `{adapter}` did not finish within {timeout_ms} ms")]
    Timeout { adapter: String, timeout_ms: u128 },
    #[error("adapter `{adapter}` trapped: {message}")]
    Trap { adapter: String, message: String },
    #[error(
        "adapter `{adapter}` answered {bytes} bytes, more than the cap of {cap_bytes} bytes \
         for one answer"
    )]
    AnswerTooLarge {
        adapter: String,
        bytes: usize,
        cap_bytes: usize,
    },
}

/// Refuses an answer larger than `cap_bytes` in its JSON form (see
/// [`Limits::MAX_ANSWER_BYTES`]), as a failure of the call.
pub(super) fn check_answer_size<R: serde::Serialize>(
    adapter: &str,
    cap_bytes: usize,
    answer: &R,
) -> Result<(), CallError> {
    let bytes = json_size(answer);
    if bytes > cap_bytes {
        return Err(CallError::AnswerTooLarge {
            adapter: adapter.to_owned(),
            bytes,
            cap_bytes,
        });
    }
    Ok(())
}

/// The length of `value` written as JSON, counted without building the text.
fn json_size<R: serde::Serialize>(value: &R) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // The contract's types have string keys only and a counter never fails to write, so
    // this cannot fail; if it somehow did, the answer counts as unbounded and is refused.
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Marks the trap raised by the epoch callback, so it can be told apart from a guest trap.
#[derive(Debug)]
pub(super) struct CpuBudgetExceeded;

impl std::fmt::Display for CpuBudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CPU budget exceeded")
    }
}

impl std::error::Error for CpuBudgetExceeded {}

/// Turns a wasmtime error into the call's error.
pub(super) fn classify(adapter: &str, limits: &Limits, err: wasmtime::Error) -> CallError {
    if err.downcast_ref::<CpuBudgetExceeded>().is_some() {
        return CallError::CpuBudget {
            adapter: adapter.to_owned(),
            budget_ms: limits.cpu_budget.as_millis(),
        };
    }
    let text = format!("{err:?}");
    if text.contains("forcing trap when growing memory") || text.contains("memory allocation") {
        return CallError::Memory {
            adapter: adapter.to_owned(),
            cap_bytes: limits.memory_bytes,
        };
    }
    let message = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("{trap}"),
        None => format!("{err}"),
    };
    CallError::Trap {
        adapter: adapter.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{PayAction, PayResponse, ProviderError};

    fn redirect(len: usize) -> Result<PayResponse, ProviderError> {
        Ok(PayResponse {
            action: PayAction::Redirect(format!("https://x.example/{}", "a".repeat(len))),
            provider_trade_id: None,
            action_expires_at: None,
        })
    }

    #[test]
    fn an_answer_within_the_cap_passes() {
        assert_eq!(
            check_answer_size("chaos", Limits::MAX_ANSWER_BYTES, &redirect(8 << 10)),
            Ok(())
        );
    }

    #[test]
    fn an_answer_over_the_cap_fails_the_call_naming_its_size_and_the_cap() {
        let e = check_answer_size("chaos", Limits::MAX_ANSWER_BYTES, &redirect(4 << 20))
            .expect_err("4 MiB is over the cap");
        let CallError::AnswerTooLarge {
            adapter,
            bytes,
            cap_bytes,
        } = &e
        else {
            panic!("not AnswerTooLarge: {e:?}");
        };
        assert_eq!(adapter, "chaos");
        assert!(*bytes > 4 << 20, "{bytes}");
        assert_eq!(*cap_bytes, 256 << 10);
        let message = e.to_string();
        assert!(
            message.contains(&bytes.to_string()) && message.contains("262144"),
            "{message}"
        );
    }

    #[test]
    fn the_size_counted_is_the_length_of_the_json_form() {
        let answer = redirect(100);
        let text = serde_json::to_string(&answer).expect("JSON");
        assert_eq!(json_size(&answer), text.len());
    }
}
