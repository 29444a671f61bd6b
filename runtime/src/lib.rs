//! The wasm runtime: owns wasmtime. The engine (with epoch interruption and the pooling
//! allocator), the compiled-component cache (in memory and on disk, one artifact per engine
//! configuration), the linker with the host's imports (`http`, `keys`, `log`, and an empty
//! WASI) for both contract versions, the active adapter per provider, and typed calls that
//! run each in a fresh store under a CPU budget, a memory cap and a wall-clock timeout, and
//! whose answer must fit a size cap.
//! Adapters of contract 1.0.0 and 2.0.0 run side by side: the contract a component exports
//! is read before it is instantiated, and its calls go through the matching bindings
//! (`bindings.rs` for 2.0.0, `v1.rs` for 1.0.0), answering in the current types. Nothing
//! outside this module imports wasmtime.

mod bindings;
mod call;
pub mod granted;
mod http;
mod imports;
mod keys;
mod ops;
mod outcome;
mod v1;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

pub use bindings::contract;
/// The `http` import's request and answer, for a [`Transport::Scripted`].
pub use bindings::paygate::provider::http::{
    Error as HttpError, Method as HttpMethod, Request as HttpRequest, Response as HttpResponse,
};
pub use call::{CallError, Grants, Limits};
pub use http::{Allowlist, HttpLimits, Transport};
pub use keys::{kind_name, parse_kind, KeyParseError, KeyRing};
pub use outcome::{Answer, CallOutcome};

use bindings::{Adapter, AdapterPre};

/// The export that tells a 2.0.0 component.
const V2_EXPORT_NAME: &str = "paygate:provider/provider@2.0.0";
/// The export that tells a component that reconciles (`wit/bills`).
const BILLS_EXPORT_NAME: &str = "paygate:bills/bills@1.0.0";

use ops::Operation;

/// A compiled adapter ready to instantiate, through the bindings of its contract.
enum Pre {
    V1(v1::AdapterPre<CallState>),
    V2(AdapterPre<CallState>),
}

/// An instantiated adapter.
enum Instance {
    V1(v1::Adapter),
    V2(Adapter),
    /// Instantiated for a `bills` call only.
    Bills(bindings::bills::BillsExport),
}
use call::{check_answer_size, classify, CallState, CpuBudgetExceeded};
use contract::{
    AdapterInfo, BillError, BillRow, Config, Notification, PayRequest, PayResponse, ProviderError,
    RefundRequest, RefundStatus, Refusal, TradeStatus,
};

/// How often the engine's epoch advances: the granularity of the CPU budget.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Adapter calls running at once. The pooling allocator has this many instance slots; calls
/// beyond it wait for a slot instead of failing.
const MAX_CONCURRENT_CALLS: u32 = 256;

/// Why an adapter could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    #[error("not a valid adapter component: {0}")]
    Compile(String),
    #[error("the component does not implement the paygate:provider contract: {0}")]
    Contract(String),
    #[error("the adapter failed its self-test: {0}")]
    SelfTest(String),
    #[error("{0}")]
    Import(#[from] granted::ImportNotGranted),
}

/// An adapter version, compiled and checked, ready to instantiate.
pub struct LoadedAdapter {
    /// What the adapter said of itself at load.
    pub info: AdapterInfo,
    /// SHA-256 of the component bytes, lower-case hex: the version's identity.
    pub sha256: String,
    /// The secret names `info` declares, shared with each call's store: asking `keys` for a
    /// declared secret the merchant left out is normal, for any other name it is not.
    secret_names: Arc<[String]>,
    pre: Pre,
    /// The `bills` export's bindings, for a 2.0.0 component that exports it.
    bills: Option<bindings::bills::BillsExportPre<CallState>>,
}

impl LoadedAdapter {
    /// Whether this version exports `paygate:bills/bills@1.0.0`: whether paygate can
    /// reconcile its provider.
    pub fn reconciles(&self) -> bool {
        self.bills.is_some()
    }
}

impl std::fmt::Debug for LoadedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAdapter")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// The wasm runtime. One per process; shared by every request.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    /// Where the `http` import's allowed requests go: the network (no redirects), or a
    /// test script.
    transport: Transport,
    /// Where compiled artifacts are kept across restarts; `None` compiles every start.
    cache_dir: Option<PathBuf>,
    /// The active version per provider name. Swapped atomically: running calls keep the
    /// `Arc` they started with.
    active: RwLock<HashMap<String, Arc<LoadedAdapter>>>,
    /// Compiled components by sha256, so re-activating a version does not recompile.
    compiled: RwLock<HashMap<String, Component>>,
    /// Tells the epoch ticker thread to stop when the runtime is dropped.
    ticker_stop: Arc<AtomicBool>,
    /// One permit per instance slot; a call holds one for its store's lifetime.
    slots: Arc<tokio::sync::Semaphore>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A runtime under `limits`, caching compiled components in `cache_dir` (`None`:
    /// compile at every start), whose adapters' allowed requests go to the network.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Runtime, RuntimeError> {
        let client = http::client().map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Runtime::with_transport(limits, cache_dir, Transport::Network(client))
    }

    /// A runtime whose adapters' allowed requests go to `transport` (a
    /// [`Transport::Scripted`] for the adapter test harness).
    pub fn with_transport(
        limits: Limits,
        cache_dir: Option<PathBuf>,
        transport: Transport,
    ) -> Result<Runtime, RuntimeError> {
        let engine = match build_engine(&limits, true) {
            Ok(engine) => engine,
            Err(e) => {
                // The pooling allocator reserves virtual memory up front; where that is not
                // allowed, on-demand allocation still works, only slower per call.
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                build_engine(&limits, false).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?
            }
        };
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Adapter::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        v1::Adapter::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (stop, ticking) = (ticker_stop.clone(), engine.clone());
        std::thread::Builder::new()
            .name("paygate-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;

        Ok(Runtime {
            engine,
            linker,
            limits,
            transport,
            cache_dir,
            active: RwLock::new(HashMap::new()),
            compiled: RwLock::new(HashMap::new()),
            ticker_stop,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS as usize)),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or takes from the cache) a component, checks it implements the contract,
    /// imports nothing its contract does not grant ([`granted::check_imports`]) and
    /// passes its self-test (`info` answers with a sane description), without activating
    /// it.
    pub async fn prepare(&self, wasm: &[u8]) -> Result<Arc<LoadedAdapter>, RuntimeError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = self.component(&sha256, wasm).await?;
        let exports: Vec<String> = component
            .component_type()
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let contract_version = if exports.iter().any(|n| n == V2_EXPORT_NAME) {
            contract::CONTRACT_VERSION
        } else if exports.iter().any(|n| n == v1::EXPORT_NAME) {
            "1.0.0"
        } else {
            return Err(RuntimeError::Contract(format!(
                "it exports neither {V2_EXPORT_NAME} nor {} (it exports: {})",
                v1::EXPORT_NAME,
                exports.join(", ")
            )));
        };
        // Before linking: an import the linker lacks would otherwise fail as a link error,
        // where the operator needs to read which import the contract does not grant.
        granted::check_imports(imports.iter().map(String::as_str), contract_version)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Contract(format!("{e:#}")))?;
        let contract_error = |e: wasmtime::Error| RuntimeError::Contract(format!("{e:#}"));
        // Only a 2.0.0 component can export `bills`: the package uses the 2.0.0 types.
        let bills = if contract_version == contract::CONTRACT_VERSION
            && exports.iter().any(|n| n == BILLS_EXPORT_NAME)
        {
            Some(
                bindings::bills::BillsExportPre::new(instance_pre.clone())
                    .map_err(contract_error)?,
            )
        } else {
            None
        };
        let pre = if contract_version == contract::CONTRACT_VERSION {
            Pre::V2(AdapterPre::new(instance_pre).map_err(contract_error)?)
        } else {
            Pre::V1(v1::AdapterPre::new(instance_pre).map_err(contract_error)?)
        };

        let mut store = self.store(
            "(self-test)",
            Grants {
                keys: Arc::default(),
                allowlist: Allowlist::default(),
            },
            &self.limits,
        );
        let info = async {
            match &pre {
                Pre::V2(pre) => {
                    let bindings = pre.instantiate_async(&mut store).await?;
                    bindings
                        .paygate_provider_provider()
                        .call_info(&mut store)
                        .await
                }
                Pre::V1(pre) => {
                    let bindings = pre.instantiate_async(&mut store).await?;
                    v1::info(&bindings, &mut store).await
                }
            }
        };
        let info = tokio::time::timeout(self.limits.wall_timeout, info)
            .await
            .map_err(|_| RuntimeError::SelfTest("info() did not return in time".into()))?
            .map_err(|e| {
                RuntimeError::SelfTest(classify("(self-test)", &self.limits, e).to_string())
            })?;
        check_answer_size("(self-test)", Limits::MAX_ANSWER_BYTES, &info)
            .map_err(|e| RuntimeError::SelfTest(e.to_string()))?;
        check_info(&info, contract_version).map_err(RuntimeError::SelfTest)?;
        let secret_names = info.secrets.iter().map(|s| s.name.clone()).collect();
        Ok(Arc::new(LoadedAdapter {
            info,
            sha256,
            secret_names,
            pre,
            bills,
        }))
    }

    /// Makes `adapter` the active version for its provider. Calls already running finish on
    /// the version they started with; the previous version is returned.
    pub fn activate(&self, adapter: Arc<LoadedAdapter>) -> Option<Arc<LoadedAdapter>> {
        let mut active = self.active.write().unwrap_or_else(|p| p.into_inner());
        tracing::info!(provider = %adapter.info.name, version = %adapter.info.version, sha256 = %adapter.sha256, "adapter activated");
        active.insert(adapter.info.name.clone(), adapter)
    }

    /// The active version for `provider`.
    pub fn adapter(&self, provider: &str) -> Option<Arc<LoadedAdapter>> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(provider)
            .cloned()
    }

    /// Every active adapter, by provider name.
    pub fn adapters(&self) -> Vec<Arc<LoadedAdapter>> {
        let mut all: Vec<_> = self
            .active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        all
    }

    /// The compiled component `sha256`: from memory, from the disk cache, or compiled (and
    /// written to the disk cache). Deserialising and compiling run on a blocking thread: a
    /// large component takes seconds to compile, and the async workers serve payments.
    async fn component(&self, sha256: &str, wasm: &[u8]) -> Result<Component, RuntimeError> {
        if let Some(c) = self
            .compiled
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
        {
            return Ok(c.clone());
        }
        let started = Instant::now();
        let artifact = self.cache_dir.as_ref().map(|dir| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()))
        });
        let engine = self.engine.clone();
        let wasm = wasm.to_vec();
        let (component, from_cache) = tokio::task::spawn_blocking(move || {
            let cached = artifact.as_ref().filter(|p| p.exists()).and_then(|p| {
                // SAFETY: the artifact was written by this host's own `serialize` into its
                // cache directory, for this exact engine configuration (the file name
                // carries both).
                match unsafe { Component::deserialize_file(&engine, p) } {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(path = %p.display(), error = %e, "ignoring unusable compiled artifact");
                        None
                    }
                }
            });
            match cached {
                Some(c) => Ok::<_, RuntimeError>((c, true)),
                None => {
                    let c = Component::new(&engine, &wasm)
                        .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
                    if let Some(path) = &artifact {
                        if let Err(e) = write_artifact(path, &c) {
                            tracing::warn!(path = %path.display(), error = %e, "could not cache compiled adapter");
                        }
                    }
                    Ok((c, false))
                }
            }
        })
        .await
        .map_err(|e| RuntimeError::Compile(format!("the compile task failed: {e}")))??;
        tracing::info!(
            sha256,
            from_cache,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "adapter component ready"
        );
        self.compiled
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256.to_owned(), component.clone());
        Ok(component)
    }

    fn store(&self, adapter: &str, grants: Grants, limits: &Limits) -> Store<CallState> {
        let state = CallState::new(adapter, grants, limits, self.transport.clone());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let budget = limits.cpu_budget;
        store.epoch_deadline_callback(move |ctx| {
            if ctx.data().guest_time() > budget {
                return Err(CpuBudgetExceeded.into());
            }
            // Yield to the executor at every tick, so other tasks and the wall-clock timeout
            // run while a guest computes.
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        store
    }

    /// A fresh instance of the active version of `provider` for a call under `limits`:
    /// through its `bills` export when `bills` is asked, else through its contract.
    async fn instantiate(
        &self,
        provider: &str,
        grants: Grants,
        limits: &Limits,
        bills: bool,
    ) -> Result<(Store<CallState>, Instance), CallError> {
        let adapter = self
            .adapter(provider)
            .ok_or_else(|| CallError::UnknownAdapter(provider.to_owned()))?;
        if bills && adapter.bills.is_none() {
            return Err(CallError::NoBills {
                adapter: provider.to_owned(),
                version: adapter.info.version.clone(),
            });
        }
        // The semaphore is never closed, so acquiring only waits.
        let slot = self.slots.clone().acquire_owned().await.ok();
        let mut store = self.store(&adapter.info.name, grants, limits);
        store.data_mut().slot = slot;
        store.data_mut().secret_names = adapter.secret_names.clone();
        let instance = match (&adapter.bills, &adapter.pre) {
            (Some(pre), _) if bills => pre.instantiate_async(&mut store).await.map(Instance::Bills),
            (_, Pre::V2(pre)) => pre.instantiate_async(&mut store).await.map(Instance::V2),
            (_, Pre::V1(pre)) => pre.instantiate_async(&mut store).await.map(Instance::V1),
        }
        .map_err(|e| classify(provider, limits, e))?;
        Ok((store, instance))
    }

    /// Ends a call: an answer over [`Limits::MAX_ANSWER_BYTES`] refused, its outcome counted
    /// (`paygate_adapter_calls_total` by provider, op and [`CallOutcome`]), its time
    /// measured, and logged.
    fn finish<R: Answer + serde::Serialize>(
        &self,
        provider: &str,
        op: &'static str,
        limits: &Limits,
        answer_cap: usize,
        store: &Store<CallState>,
        result: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        store.data().flush_output();
        let elapsed = store.data().started.elapsed();
        let outcome = match result {
            Err(_) => Err(CallError::Timeout {
                adapter: provider.to_owned(),
                timeout_ms: limits.wall_timeout.as_millis(),
            }),
            Ok(Err(e)) => Err(classify(provider, limits, e)),
            Ok(Ok(r)) => check_answer_size(provider, answer_cap, &r).map(|()| r),
        };
        let label = CallOutcome::of_call(&outcome).as_str();
        metrics::counter!("paygate_adapter_calls_total", "provider" => provider.to_owned(), "op" => op, "outcome" => label).increment(1);
        metrics::histogram!("paygate_adapter_call_seconds", "provider" => provider.to_owned(), "op" => op).record(elapsed.as_secs_f64());
        match &outcome {
            Ok(_) => tracing::info!(
                provider,
                op,
                outcome = label,
                elapsed_us = elapsed.as_micros() as u64,
                "adapter call done"
            ),
            Err(e) => {
                tracing::error!(provider, op, elapsed_us = elapsed.as_micros() as u64, error = %e, "adapter call failed")
            }
        }
        outcome
    }

    /// One adapter call, the one way every operation runs: a fresh instance of the active
    /// version of `provider` with `grants`, `op` through the bindings of the contract the
    /// version exports, under the wall-clock timeout, its outcome counted and logged by
    /// [`Runtime::finish`].
    async fn call<O: Operation>(
        &self,
        provider: &str,
        grants: Grants,
        op: O,
    ) -> Result<O::Answer, CallError> {
        let limits = op.limits(&self.limits);
        let (mut store, instance) = self
            .instantiate(provider, grants, &limits, op.bills())
            .await?;
        let result =
            tokio::time::timeout(limits.wall_timeout, op.invoke(&instance, &mut store)).await;
        self.finish(
            provider,
            op.name(),
            &limits,
            op.answer_cap(),
            &store,
            result,
        )
    }

    /// Instantiates the active version of `provider` and drops the instance: what every
    /// call pays before its own work (benchmarks; a liveness check that runs no guest code).
    pub async fn instantiate_only(&self, provider: &str) -> Result<(), CallError> {
        let grants = Grants {
            keys: Arc::default(),
            allowlist: Allowlist::default(),
        };
        self.instantiate(provider, grants, &self.limits, false)
            .await
            .map(drop)
    }

    /// Calls `info()` of the active adapter in a fresh instance (no grants): the fixed cost of
    /// a call, and a liveness check of the adapter.
    pub async fn query_info(&self, provider: &str) -> Result<AdapterInfo, CallError> {
        let grants = Grants {
            keys: Arc::default(),
            allowlist: Allowlist::default(),
        };
        self.call(provider, grants, ops::Info).await
    }

    pub async fn pay(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        req: &PayRequest,
    ) -> Result<Result<PayResponse, ProviderError>, CallError> {
        self.call(provider, grants, ops::Pay { config, req }).await
    }

    pub async fn query(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        payment_no: &str,
    ) -> Result<Result<TradeStatus, ProviderError>, CallError> {
        let op = ops::Query {
            label: "query",
            config,
            payment_no,
        };
        self.call(provider, grants, op).await
    }

    /// [`Runtime::query`] of a configuration's test (a trade that cannot exist), counted
    /// under `op="test"`: a failed onboarding test is not a failing payment query, and
    /// alerts on the provider's outcomes must not fire for it.
    pub async fn test_query(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        payment_no: &str,
    ) -> Result<Result<TradeStatus, ProviderError>, CallError> {
        let op = ops::Query {
            label: "test",
            config,
            payment_no,
        };
        self.call(provider, grants, op).await
    }

    pub async fn close(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        payment_no: &str,
    ) -> Result<Result<(), ProviderError>, CallError> {
        self.call(provider, grants, ops::Close { config, payment_no })
            .await
    }

    pub async fn refund(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        req: &RefundRequest,
    ) -> Result<Result<RefundStatus, ProviderError>, CallError> {
        self.call(provider, grants, ops::Refund { config, req })
            .await
    }

    /// Asks for a refund's state. A 1.0.0 adapter cannot: `unsupported`, and the caller
    /// falls back to submitting the refund again under the same refund number.
    pub async fn query_refund(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        payment_no: &str,
        refund_no: &str,
    ) -> Result<Result<RefundStatus, ProviderError>, CallError> {
        let op = ops::QueryRefund {
            config,
            payment_no,
            refund_no,
        };
        self.call(provider, grants, op).await
    }

    /// The provider's bill for `day` (`YYYY-MM-DD`, the provider's time zone), through the
    /// active version's `bills` export, under larger limits than other calls (a 16 MiB
    /// download, a 16 MiB answer, 60 s). A version that does not export `bills` fails
    /// with [`CallError::NoBills`] without running.
    pub async fn fetch_bill(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        day: &str,
    ) -> Result<Result<Vec<BillRow>, BillError>, CallError> {
        self.call(provider, grants, ops::FetchBill { config, day })
            .await
    }

    pub async fn parse_notification(
        &self,
        provider: &str,
        grants: Grants,
        config: &Config,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Result<Notification, Refusal>, CallError> {
        let op = ops::ParseNotification {
            config,
            headers: &headers,
            body: &body,
        };
        self.call(provider, grants, op).await
    }
}

fn build_engine(limits: &Limits, pooling: bool) -> wasmtime::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_CALLS + 8)
            // Room for every call slot to run a Python adapter's 38 core instances, with
            // their memories and tables (see `call::MAX_CORE_INSTANCES`); the pool reserves
            // address space, and commits memory only as instances use it.
            .total_core_instances(MAX_CONCURRENT_CALLS * 40)
            .total_memories(MAX_CONCURRENT_CALLS * 4)
            .total_tables(MAX_CONCURRENT_CALLS * 8)
            .max_core_instances_per_component(call::MAX_CORE_INSTANCES as u32)
            .max_memories_per_component(call::MAX_MEMORIES as u32)
            .max_tables_per_component(call::MAX_TABLES as u32)
            .total_stacks(256)
            .max_memory_size(limits.memory_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

fn write_artifact(path: &std::path::Path, component: &Component) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The self-test of an adapter's description; `exported` is the contract version whose
/// interface the component exports.
fn check_info(info: &AdapterInfo, exported: &str) -> Result<(), String> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 32
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(format!(
            "provider name `{}` must be 1-32 characters of [a-z0-9-]",
            info.name
        ));
    }
    if info.contract_version.split('.').next() != exported.split('.').next() {
        return Err(format!(
            "says it was built for contract {}, but exports the interface of {exported}",
            info.contract_version
        ));
    }
    if info.channels.is_empty() {
        return Err("declares no channel".into());
    }
    Ok(())
}
