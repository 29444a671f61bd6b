//! `sandbox-simulator`: the sandbox provider on its own, outside paygate (paygate serves the
//! same under `/sandbox` when its `sandbox` feature is on). Keeps its trades in a SQLite file
//! of its own, and runs until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use clap::Parser;
use sandbox_simulator::Sandbox;

#[derive(Parser)]
#[command(about = "The sandbox payment provider (plugins/mock/PROTOCOL.md), on its own")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9091")]
    listen: String,
    /// The sandbox's database, a SQLite file (created if missing).
    #[arg(long, default_value = "./sandbox-data/sandbox.db")]
    database: PathBuf,
    /// The URL people and paygate reach the sandbox at [default: http://<listen>/sandbox].
    #[arg(long)]
    public_url: Option<String>,
    /// The grace paygate adds to an order's deadline when it opens a trade
    /// (`PAYGATE_PROVIDER_GRACE`, in seconds): the checkout page shows the trade's deadline
    /// less this, which is the order's deadline the merchant sees.
    #[arg(long, default_value_t = 60)]
    deadline_grace_seconds: u64,
    /// Log filter.
    #[arg(long, default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    if let Some(dir) = args.database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{addr}/sandbox"));
    let sandbox = Sandbox::open(&args.database, public_url.clone(), reqwest::Client::new())
        .await
        .with_context(|| format!("sandbox database {}", args.database.display()))?
        .with_deadline_grace(std::time::Duration::from_secs(args.deadline_grace_seconds));
    let account = sandbox.create_account().await?;
    let tasks = sandbox.notification_tasks().clone();
    let app = Router::new().nest("/sandbox", sandbox.router());
    println!("sandbox provider on {public_url}");
    println!();
    println!("A new account; configure paygate's mock provider for a merchant with it:");
    println!();
    // The key guards fake money only, so it may be shown; paygate reads secrets from files.
    println!(
        "  printf %s {} | paygate providers configure <merchant id> mock \\",
        account.api_key
    );
    println!("    --set sandbox_url={public_url} \\");
    println!("    --set account_id={} \\", account.account_id);
    println!("    --secret-file api_key=/dev/stdin");
    println!();
    println!("More accounts: curl -X POST {public_url}/accounts. Ctrl-C stops it.");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tasks.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), tasks.wait()).await;
    Ok(())
}
