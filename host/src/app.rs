//! Start-up: configuration -> data directory -> database (waited for, migrations) -> key
//! vault (its key checked against the database) -> Redis (waited for) -> wasm runtime with
//! the bundled adapters -> the port bound -> sandbox provider -> demo merchant on first
//! start -> HTTP server -> timed work rescheduled. `spawn` is what `paygate serve` and the end-to-end tests both run.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::destination::Policy;
use crate::jobs::{
    BillsHandler, DeadlineHandler, RefundHandler, SyncHandler, WatchIntervals, WebhookHandler,
};
use crate::queue::{
    DelayQueue, Existing, Handler, SqlQueue, Wakes, Worker, WorkerConfig, CLAIM_AHEAD, IDLE_POLL,
};
use crate::runtime::{HttpLimits, Limits, Runtime};
use crate::server::ServerLimits;
use crate::service::adapters::AdapterRegistry;
use crate::service::destinations::{Destinations, Resolver, SystemResolver};
use crate::service::timers::{
    Timers, BILLS_QUEUE, DEADLINE_QUEUE, QUEUES, REFUND_QUEUE, SYNC_QUEUE, WEBHOOK_QUEUE,
};
use crate::service::{Gateway, PayRules};
use crate::startup;
use crate::store;
use crate::vault::Vault;

/// How long shutdown waits for the sandbox's notification deliveries.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The demo merchant created at first start in the embedded setting.
#[derive(Debug, Clone)]
pub struct DemoMerchant {
    pub id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

/// A running paygate.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub gateway: Arc<Gateway>,
    /// The database, for operators' tools and tests that check what the API does not show.
    pub db: store::Db,
    /// The delay queue and the adapters' runtime (activating another adapter version).
    pub queue: DelayQueue,
    pub runtime: Arc<Runtime>,
    /// The adapter registry (upload, activate, roll back) of this process.
    pub adapters: Arc<AdapterRegistry>,
    /// Present on the first start only: its API key is shown this once.
    pub demo: Option<DemoMerchant>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The sandbox's notification deliveries, waited for briefly at shutdown.
    sandbox_tasks: Option<TaskTracker>,
    /// The queue workers; they stop with `shutdown`.
    workers: TaskTracker,
    /// Each queue's handler, for [`Running::run_due`].
    handlers: Vec<(&'static str, Arc<dyn Handler>)>,
    lease: std::time::Duration,
    timers: Timers,
    /// The clock every rule and the queue read.
    pub clock: Clock,
}

impl Running {
    /// Stops accepting requests and waits for the server to finish.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops (Ctrl-C in `paygate serve`), then gives notifications
    /// under way a few seconds to finish.
    pub async fn wait(self) -> std::io::Result<()> {
        let served = self.server.await.map_err(std::io::Error::other)?;
        self.shutdown.cancel();
        self.workers.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.workers.wait())
            .await
            .is_err()
        {
            tracing::warn!("queue tasks still running at shutdown come back after their lease");
        }
        // The record of the last provider calls, which waits up to 50 ms to be written.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.gateway.flush_call_log())
            .await
            .is_err()
        {
            tracing::warn!("the last provider calls' record could not be written at shutdown");
        }
        if let Some(tasks) = self.sandbox_tasks {
            tasks.close();
            if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
                .await
                .is_err()
            {
                tracing::warn!("sandbox notifications still under way were dropped at shutdown");
            }
        }
        served
    }

    /// One step of `queue`'s worker: claims the tasks due by paygate's clock and runs them;
    /// how many ran. With `PAYGATE_WORKERS=false` and a manual clock, tests drive timed
    /// work with this instead of waiting.
    pub async fn run_due(&self, queue: &str) -> Result<usize, crate::queue::QueueError> {
        let Some((_, handler)) = self.handlers.iter().find(|(q, _)| *q == queue) else {
            return Ok(0);
        };
        Worker::new(
            self.timers.queue.clone(),
            worker_config(queue, self.lease),
            handler.clone(),
            self.timers.wakes.of(queue),
        )
        .run_once()
        .await
    }

    /// One look of the queue watch (what the watch loop does every
    /// `PAYGATE_QUEUE_WATCH_INTERVAL`); tests on stepped time call it instead of waiting.
    pub async fn watch_queue(
        &self,
    ) -> Result<crate::service::recovery::Watched, crate::service::ServiceError> {
        self.gateway.watch_queue().await
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Opens the database of `config` (creating the data directory; waiting for an unreachable
/// database up to `PAYGATE_STARTUP_TIMEOUT`) and the vault, and checks that the master key
/// opens the secrets stored there (see [`startup::check_master_key`]).
pub async fn open_storage(config: &Config) -> anyhow::Result<(store::Db, Vault)> {
    open_storage_within(config, startup::Deadline::new(config.startup_timeout)).await
}

async fn open_storage_within(
    config: &Config,
    deadline: startup::Deadline,
) -> anyhow::Result<(store::Db, Vault)> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let vault = open_vault(config)?;
    let db = startup::open_database(config, deadline).await?;
    startup::check_master_key(&db, &vault, config).await?;
    Ok((db, vault))
}

/// The vault of `config`: `PAYGATE_MASTER_KEY` (or the data directory's key file in the
/// embedded setting) sealing, and the previous keys (`PAYGATE_MASTER_KEY_PREVIOUS`, and the
/// data directory's `master.key.previous`) opening too.
pub fn open_vault(config: &Config) -> anyhow::Result<Vault> {
    let vault = match &config.master_key {
        Some(key) => Vault::from_hex(key.expose())
            .map_err(|e| anyhow::anyhow!("PAYGATE_MASTER_KEY: {e}"))?,
        // Instances sharing a database must open each other's sealed secrets: a key made up
        // per data directory would only work on the node that sealed them.
        None if !config.is_embedded() => anyhow::bail!(
            "PAYGATE_MASTER_KEY (64 hex digits) is required with PostgreSQL: every instance must use the same key"
        ),
        None => Vault::from_data_dir(&config.data_dir)?,
    };
    match &config.master_key_previous {
        Some(previous) => vault
            .with_previous(previous.expose())
            .map_err(|e| anyhow::anyhow!("PAYGATE_MASTER_KEY_PREVIOUS: {e}")),
        None => Ok(vault),
    }
}

/// The adapter runtime under the configured limits, and its registry: the bundled adapters
/// registered (activated where `domain::adapter::bundled_at_start` says so), then the
/// active version of every provider loaded (compiled, or taken from the disk cache). What
/// `serve` runs at start.
pub async fn load_adapters(
    config: &Config,
    db: &store::Db,
) -> anyhow::Result<(Arc<Runtime>, Arc<AdapterRegistry>)> {
    let (runtime, registry) = adapter_registry(config, db)?;
    registry
        .register_bundled(&crate::adapters::bundled())
        .await?;
    registry
        .follow()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the active adapter versions: {e}"))?;
    Ok((runtime, registry))
}

/// For the operator commands: the runtime and the registry on the database, running the
/// active versions as the database says, without registering this binary's bundled
/// adapters (a command is not a paygate start; it must not change what the servers run).
/// Only a database no paygate has started on yet gets the bundled ones, as a start would.
pub async fn load_adapters_for_tools(
    config: &Config,
    db: &store::Db,
) -> anyhow::Result<(Arc<Runtime>, Arc<AdapterRegistry>)> {
    let (runtime, registry) = adapter_registry(config, db)?;
    if store::adapters::active(db).await?.is_empty() {
        registry
            .register_bundled(&crate::adapters::bundled())
            .await?;
    }
    registry
        .follow()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the active adapter versions: {e}"))?;
    Ok((runtime, registry))
}

/// The runtime under the configured limits and a registry over `db`, nothing loaded yet.
pub fn adapter_registry(
    config: &Config,
    db: &store::Db,
) -> anyhow::Result<(Arc<Runtime>, Arc<AdapterRegistry>)> {
    let limits = Limits {
        cpu_budget: config.adapter_cpu_budget,
        memory_bytes: config.adapter_memory_mb << 20,
        wall_timeout: config.adapter_timeout,
        http: HttpLimits {
            timeout: config.adapter_http_timeout,
            max_response_bytes: 1 << 20,
        },
    };
    let runtime = Arc::new(Runtime::new(
        limits,
        Some(config.cache_dir().join("adapters")),
    )?);
    let registry = Arc::new(AdapterRegistry::new(
        db.clone(),
        runtime.clone(),
        config.adapter_max_component_mb << 20,
    ));
    Ok((runtime, registry))
}

/// Follows the activations other processes make on the same database, every `interval`,
/// until `shutdown`.
fn follow_activations(
    registry: Arc<AdapterRegistry>,
    interval: std::time::Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // A zero interval would spin; a tenth of a second is already more than often enough.
    let interval = interval.max(std::time::Duration::from_millis(100));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = registry.follow().await {
                tracing::warn!(error = %e, "cannot read the adapter registry; will try again");
            }
        }
    })
}

/// Starts paygate: binds, loads adapters, serves in a background task.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    spawn_with_clock(config, Clock::System).await
}

/// [`spawn`], with every rule and the delay queue reading `clock` (tests step a manual one).
pub async fn spawn_with_clock(config: Config, clock: Clock) -> anyhow::Result<Running> {
    spawn_with_resolver(config, clock, Arc::new(SystemResolver)).await
}

/// The destination rule of `config`: its allow list, and loopback allowed in the embedded
/// setting only (the demo's sandbox and a developer's local endpoint; in production a
/// loopback address is as internal as any).
pub fn destination_policy(config: &Config) -> Policy {
    Policy {
        allow: config.webhook_allow.clone(),
        allow_loopback: config.is_embedded(),
    }
}

/// [`spawn_with_clock`], with webhook destinations resolved by `resolver` (tests inject
/// one they control; see `service::destinations`).
pub async fn spawn_with_resolver(
    config: Config,
    clock: Clock,
    resolver: Arc<dyn Resolver>,
) -> anyhow::Result<Running> {
    tracing::info!(
        listen = %config.listen,
        data_dir = %config.data_dir.display(),
        database = %config.database_url_redacted(),
        public_url = ?config.public_url,
        admin_api = config.admin_token.is_some(),
        sandbox = config.sandbox_enabled(),
        config = ?config,
        "starting paygate"
    );
    if config.sandbox_enabled() && !cfg!(feature = "sandbox") {
        anyhow::bail!(
            "PAYGATE_SANDBOX is on, but this paygate was built without its `sandbox` feature: \
             unset PAYGATE_SANDBOX, or build with the default features"
        );
    }
    // Everything that can be missing or misconfigured is checked before the port is bound:
    // a paygate that listens can serve.
    let deadline = startup::Deadline::new(config.startup_timeout);
    let (db, vault) = open_storage_within(&config, deadline).await?;
    let queue = match &config.redis_url {
        Some(url) => DelayQueue::Redis(
            startup::connect_redis(url.expose(), &config.redis_prefix, deadline).await?,
        ),
        None => DelayQueue::Sql(SqlQueue::new(db.clone())),
    }
    .with_clock(clock.clone());
    let (runtime, registry) = load_adapters(&config, &db).await?;

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url(addr);
    let timers = Timers {
        queue: queue.clone(),
        wakes: Wakes::new(QUEUES),
        sync_schedule: config.status_sync_schedule.clone(),
        grace_ms: config.provider_grace.as_millis() as i64,
        webhook_schedule: config.webhook_schedule.clone(),
        webhook_order_wait: config.webhook_order_wait,
        bills_at: config.bills_at,
    };
    let gateway = Arc::new(Gateway::new(
        db.clone(),
        runtime.clone(),
        vault,
        public_url.clone(),
        PayRules {
            repay_cutoff_ms: config.repay_cutoff.as_millis() as i64,
            action_margin_ms: config.action_margin.as_millis() as i64,
            flag_after_refusals: config.flag_after_refusals,
        },
        timers.clone(),
        clock.clone(),
        Destinations::new(destination_policy(&config), resolver.clone()),
    ));
    let router = api::router(AppState {
        gateway: gateway.clone(),
        adapters: registry.clone(),
        admin_token: config.admin_token.clone(),
        metrics: crate::telemetry::metrics_handle(),
    });
    let (router, demo, sandbox_tasks) =
        with_sandbox(&config, router, &gateway, &public_url, addr, resolver).await?;
    let limits = Arc::new(api::limits::Limits::new(
        config.rate_limit_merchant,
        config.rate_limit_ip,
        config.rate_limit_notify,
    ));
    let router = router.layer(axum::middleware::from_fn_with_state(
        limits,
        api::limits::limit,
    ));
    let router = router.layer(
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(|req: &axum::http::Request<_>| tracing::info_span!("http", method = %req.method(), path = %req.uri().path())),
    );

    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server_limits = ServerLimits {
        header_timeout: config.header_timeout,
        body_timeout: config.body_timeout,
        max_connections: config.max_connections,
    };
    let server = tokio::spawn(crate::server::serve(listener, router, server_limits, stop));
    // The timed work of earlier runs is scheduled again while the server already answers
    // (`/healthz` from the moment the port is bound), before this instance's workers start;
    // scheduling a key twice only replaces it, so a request racing this changes nothing.
    // The marks go in before the reconciliation: a loss during it shows at the watch's
    // first look.
    let reconciled = match gateway.mark_queue().await {
        Ok(()) => gateway.reconcile_timers(Existing::TakeBackClaimed).await,
        Err(e) => Err(e),
    };
    match reconciled {
        Ok(done) => tracing::info!(
            backend = queue.backend(),
            deadlines = done.deadlines.open,
            status_syncs = done.status_syncs.open,
            refunds = done.refunds.open,
            webhooks = done.webhooks.open,
            put_back = done.put_back(),
            "timed work scheduled"
        ),
        Err(e) => {
            shutdown.cancel();
            return Err(e.into());
        }
    }
    if let Some(warning) = gateway.queue_eviction_warning().await {
        tracing::warn!("{warning}");
    }
    follow_activations(
        registry.clone(),
        config.adapter_follow_interval,
        shutdown.clone(),
    );
    let handlers = handlers(&gateway);
    let workers = if config.workers {
        let workers = spawn_workers(&handlers, &timers, config.queue_lease, &shutdown);
        workers.spawn(crate::jobs::watch_queue(
            gateway.clone(),
            WatchIntervals {
                look: config.queue_watch_interval,
                reconcile: config.reconcile_interval,
            },
            shutdown.clone(),
        ));
        workers
    } else {
        tracing::info!(
            "queue workers off (PAYGATE_WORKERS=false): this instance serves the API only"
        );
        TaskTracker::new()
    };
    tracing::info!(%addr, %public_url, "paygate is serving");
    Ok(Running {
        addr,
        public_url,
        gateway,
        db: db.clone(),
        queue: queue.clone(),
        runtime: runtime.clone(),
        adapters: registry,
        demo,
        shutdown,
        server,
        sandbox_tasks,
        workers,
        handlers,
        lease: config.queue_lease,
        timers,
        clock,
    })
}

/// The handler of each queue paygate runs.
fn handlers(gateway: &Arc<Gateway>) -> Vec<(&'static str, Arc<dyn Handler>)> {
    vec![
        (
            DEADLINE_QUEUE,
            Arc::new(DeadlineHandler {
                gateway: gateway.clone(),
            }),
        ),
        (
            SYNC_QUEUE,
            Arc::new(SyncHandler {
                gateway: gateway.clone(),
            }),
        ),
        (
            REFUND_QUEUE,
            Arc::new(RefundHandler {
                gateway: gateway.clone(),
            }),
        ),
        (
            WEBHOOK_QUEUE,
            Arc::new(WebhookHandler {
                gateway: gateway.clone(),
            }),
        ),
        (
            BILLS_QUEUE,
            Arc::new(BillsHandler {
                gateway: gateway.clone(),
            }),
        ),
    ]
}

fn worker_config(queue: &str, lease: std::time::Duration) -> WorkerConfig {
    WorkerConfig {
        queue: queue.to_owned(),
        batch: 16,
        lease,
        idle_poll: IDLE_POLL,
        ahead: CLAIM_AHEAD,
    }
}

/// Two workers per queue: one task's slow provider does not hold up the others.
fn spawn_workers(
    handlers: &[(&'static str, Arc<dyn Handler>)],
    timers: &Timers,
    lease: std::time::Duration,
    shutdown: &CancellationToken,
) -> TaskTracker {
    let tracker = TaskTracker::new();
    for (queue, handler) in handlers {
        for _ in 0..2 {
            let worker = Worker::new(
                timers.queue.clone(),
                worker_config(queue, lease),
                handler.clone(),
                timers.wakes.of(queue),
            );
            tracker.spawn(worker.run(shutdown.clone()));
        }
    }
    tracker
}

/// The URL paygate's own adapters reach it at (the demo merchant's mock calls the sandbox
/// in this process): loopback when paygate listens there or on every interface, so that the
/// plain-http rule of the allowlist (loopback only) holds whatever the public URL is.
#[cfg(feature = "sandbox")]
use crate::domain::destination::{host_ip, Network};

#[cfg(feature = "sandbox")]
fn self_url(addr: SocketAddr, public_url: &str) -> String {
    let port = addr.port();
    match addr.ip() {
        ip if ip.is_loopback() => format!("http://{addr}"),
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{port}"),
        _ => public_url.to_owned(),
    }
}

/// Serves the sandbox provider under `/sandbox` when configured, on its own database
/// (`sandbox.db` in the data directory, never paygate's own), and creates the demo merchant
/// at the first start. Also returns the demo merchant and the sandbox's notification tasks.
#[cfg(feature = "sandbox")]
async fn with_sandbox(
    config: &Config,
    router: axum::Router,
    gateway: &Gateway,
    public_url: &str,
    addr: SocketAddr,
    resolver: Arc<dyn Resolver>,
) -> anyhow::Result<(axum::Router, Option<DemoMerchant>, Option<TaskTracker>)> {
    if !config.sandbox_enabled() {
        return Ok((router, None, None));
    }
    // The sandbox's notifications go where adapters tell it (a notify URL in a pay
    // request): the webhook destination rule applies to them too, with paygate's own
    // address allowed (the one destination the sandbox exists to notify).
    let mut policy = destination_policy(config);
    for own in [
        url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().and_then(host_ip)),
        Some(addr.ip()).filter(|ip| !ip.is_unspecified()),
    ]
    .into_iter()
    .flatten()
    {
        policy.allow = policy.allow.with_network(Network::single(own));
    }
    let destinations = Destinations::new(policy, resolver);
    let http = destinations.client_with_timeout(std::time::Duration::from_secs(10));
    // The client checks the addresses of names; a literal address never reaches a resolver.
    let check = sandbox_simulator::DestinationCheck(Arc::new(move |url: &str| {
        destinations.check_literal(url).map_err(|e| e.to_string())
    }));
    let path = config.data_dir.join("sandbox.db");
    let sandbox = sandbox_simulator::Sandbox::open(&path, format!("{public_url}/sandbox"), http)
        .await
        .map_err(|e| anyhow::anyhow!("sandbox database {}: {e}", path.display()))?
        // The checkout page shows the order's deadline, not the provider's (it plus the grace).
        .with_deadline_grace(config.provider_grace)
        .with_destination_check(check);
    let demo = first_start_demo(gateway, &sandbox, &self_url(addr, public_url)).await?;
    let tasks = sandbox.notification_tasks().clone();
    Ok((router.nest("/sandbox", sandbox.router()), demo, Some(tasks)))
}

/// A build without the `sandbox` feature has no sandbox to serve (`spawn` refuses a
/// configuration that asks for one).
#[cfg(not(feature = "sandbox"))]
async fn with_sandbox(
    _: &Config,
    router: axum::Router,
    _: &Gateway,
    _: &str,
    _: SocketAddr,
    _: Arc<dyn Resolver>,
) -> anyhow::Result<(axum::Router, Option<DemoMerchant>, Option<TaskTracker>)> {
    Ok((router, None, None))
}

/// At the first start of an embedded paygate (no merchant yet), creates a demo merchant
/// with the mock provider configured against the sandbox, which the adapter reaches at
/// `self_url`.
#[cfg(feature = "sandbox")]
async fn first_start_demo(
    gateway: &Gateway,
    sandbox: &sandbox_simulator::Sandbox,
    self_url: &str,
) -> anyhow::Result<Option<DemoMerchant>> {
    if gateway.has_merchants().await? {
        return Ok(None);
    }
    if !gateway.adapters().iter().any(|a| a.info.name == "mock") {
        tracing::warn!(
            "no `mock` adapter is active (a build without the `bundled-adapters` feature): no demo merchant"
        );
        return Ok(None);
    }
    // Named `demo` for good: `paygate merchants show demo` finds it again.
    let created = gateway.create_merchant("demo", None).await?;
    let account = sandbox.create_account().await?;
    use std::collections::BTreeMap;
    let settings = BTreeMap::from([
        ("sandbox_url".to_owned(), format!("{self_url}/sandbox")),
        ("account_id".to_owned(), account.account_id.clone()),
    ]);
    let secrets = BTreeMap::from([("api_key".to_owned(), Some(account.api_key.clone()))]);
    // Untested: paygate does not serve yet, so the sandbox in this process cannot answer.
    gateway
        .configure_provider(
            &created.merchant.id,
            "mock",
            settings,
            secrets,
            crate::service::provider_test::TestFirst::No,
        )
        .await?;
    Ok(Some(DemoMerchant {
        id: created.merchant.id,
        api_key: created.api_key,
        webhook_secret: created.webhook_secret,
    }))
}
