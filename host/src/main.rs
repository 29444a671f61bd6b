//! The `paygate` command: `serve`, and operator commands on the same data directory.

use clap::{Parser, Subcommand};

use paygate::config::Config;

#[derive(Parser)]
#[command(
    name = "paygate",
    version,
    about = "Payment gateway hub with sandboxed provider adapters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (embedded default: SQLite in ./paygate-data, mock adapter, sandbox).
    Serve,
    /// Manages merchants.
    Merchants {
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Creates a merchant and prints its id and API key (shown this once).
    Create {
        /// The merchant's display name.
        name: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paygate: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    paygate::telemetry::init(&config.log);
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Merchants {
            command: MerchantCommand::Create { name },
        } => create_merchant(config, &name).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paygate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = paygate::app::spawn(config).await?;
    if let Some(demo) = &running.demo {
        println!();
        println!("  First start: a demo merchant was created with the mock provider configured.");
        println!("  merchant id: {}", demo.id);
        println!(
            "  API key:     {}   (shown this once; paygate keeps only its hash)",
            demo.api_key
        );
        println!();
    }
    println!(
        "paygate listening on http://{} (public URL {})",
        running.addr, running.public_url
    );
    let token = running.shutdown_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down");
            token.cancel();
        }
    });
    running.wait().await?;
    Ok(())
}

async fn create_merchant(config: Config, name: &str) -> anyhow::Result<()> {
    let (db, vault) = paygate::app::open_storage(&config).await?;
    let created = paygate::service::merchants::new_merchant(&db, &vault, name).await?;
    println!("merchant id: {}", created.merchant.id);
    println!("API key:     {}", created.api_key);
    println!("webhook secret: {}", created.webhook_secret);
    Ok(())
}
