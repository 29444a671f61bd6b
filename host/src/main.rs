//! The `paygate` command: `serve`, and operator commands on the same data directory.

mod cli;

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
    /// How log lines (on stderr) are written: `text`, or `json` for log shippers. Overrides
    /// PAYGATE_LOG_FORMAT.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = log_format)]
    log_format: Option<paygate::telemetry::LogFormat>,
    /// Logs at info level, as `serve` does: commands other than `serve` log only warnings
    /// and errors unless this flag or PAYGATE_LOG asks for more.
    #[arg(long, short, global = true)]
    verbose: bool,
}

fn log_format(v: &str) -> Result<paygate::telemetry::LogFormat, String> {
    paygate::telemetry::LogFormat::parse(v).ok_or_else(|| format!("`{v}` is not text or json"))
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
    /// Lists the providers (adapters) and configures them for merchants.
    Providers {
        #[command(subcommand)]
        command: ProviderCommand,
    },
    /// The adapter registry: list, show, upload, check, activate and roll back versions.
    Adapters {
        #[command(subcommand)]
        command: cli::adapters::AdapterCommand,
    },
    /// Named operators of the admin API: create (with a role), list, revoke.
    Operators {
        #[command(subcommand)]
        command: cli::operators::OperatorCommand,
    },
    /// What waits for an operator (flagged payments, failed webhooks), and resolving a flag.
    Flags {
        #[command(subcommand)]
        command: cli::flags::FlagCommand,
    },
    /// An event's delivery history, and sending webhooks again (through `--url`).
    Events {
        #[command(subcommand)]
        command: cli::events::EventCommand,
    },
    /// The audit log of state-changing admin requests.
    Audit {
        #[command(subcommand)]
        command: cli::operators::AuditCommand,
    },
    /// Reconciles a day against the providers' bills now (through `--url`), and prints
    /// what each bill says and what differs from paygate's record.
    Reconcile(cli::reconcile::ReconcileCommand),
    /// The master key: re-seal every stored secret under the current one.
    Keys {
        #[command(subcommand)]
        command: cli::keys::MasterKeyCommand,
    },
}

#[derive(Subcommand)]
enum ProviderCommand {
    /// Lists the active adapters with the settings and secrets a configuration carries.
    List {
        /// Prints the admin API's shape (`GET /admin/adapters`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stores a merchant's configuration for a provider, checked as the admin API checks it,
    /// then tested with a harmless query to the provider (see `test`); a failed test stores
    /// nothing. Settings left out get their default; secrets left out keep their stored value.
    Configure {
        /// The merchant's id (`m_...`) or name.
        merchant_id: String,
        /// The provider (`wechat`, `alipay`, `mock`).
        provider: String,
        /// A setting, `NAME=VALUE` (repeat for each).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = name_value)]
        settings: Vec<(String, String)>,
        /// A secret read from a file, `NAME=PATH` (repeat for each; `NAME=/dev/stdin` reads
        /// standard input). Secrets never go on the command line, where shells and process
        /// lists keep them.
        #[arg(long = "secret-file", value_name = "NAME=PATH", value_parser = name_value)]
        secret_files: Vec<(String, String)>,
        /// Removes a stored secret (repeat for each), e.g. `alipay_public_key` when a merchant
        /// moves to certificates.
        #[arg(long = "remove-secret", value_name = "NAME")]
        remove_secrets: Vec<String>,
        /// Stores the configuration without testing it (a provider not reachable from here).
        #[arg(long)]
        no_test: bool,
    },
    /// Shows a merchant's configuration for a provider: settings and secret names only.
    Show {
        /// The merchant's id (`m_...`) or name.
        merchant_id: String,
        provider: String,
        /// Prints the admin API's shape (`GET /admin/merchants/{id}/providers/{provider}`).
        #[arg(long)]
        json: bool,
    },
    /// Tests a merchant's stored configuration with a harmless round trip: a query of a
    /// payment number that cannot exist, which a working configuration gets a verified
    /// "no such trade" for. Exits with 1, saying what is wrong, when the test fails.
    Test {
        /// The merchant's id (`m_...`) or name (`demo`).
        merchant: String,
        /// The provider (`wechat`, `alipay`, `mock`).
        provider: String,
        /// Prints the result as JSON (the admin API's `POST .../test` answer).
        #[arg(long)]
        json: bool,
    },
}

/// `NAME=VALUE` as a pair.
fn name_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{arg}` is not NAME=VALUE")),
    }
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Creates a merchant and prints its id and API key (shown this once).
    Create {
        /// The merchant's display name.
        name: String,
        /// Its merchant-wide webhook endpoint (see `webhook`).
        #[arg(long, value_name = "URL")]
        notify_url: Option<String>,
    },
    /// Lists merchants, newest first: id, name, creation time, webhook endpoint, providers.
    List {
        /// How many (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Starts after this merchant id (the last of the previous page).
        #[arg(long, value_name = "MERCHANT_ID")]
        after: Option<String>,
        /// Only merchants of exactly this name.
        #[arg(long)]
        name: Option<String>,
        /// Prints JSON (the admin API's `GET /admin/merchants` answer) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows one merchant: id, name, webhook endpoint, configured providers; never a secret.
    Show {
        /// The merchant's id (`m_...`) or name (`demo` for the demo merchant).
        merchant: String,
        /// Prints JSON (the admin API's `GET /admin/merchants/{id}` answer).
        #[arg(long)]
        json: bool,
    },
    /// Sets the merchant-wide webhook endpoint: orders created without a `notify_url` have
    /// their events delivered there, signed with the merchant's webhook secret.
    #[command(group(clap::ArgGroup::new("endpoint").required(true).args(["url", "remove"])))]
    Webhook {
        /// The merchant's id (`m_...`) or name.
        merchant: String,
        /// An absolute http(s) URL.
        url: Option<String>,
        /// Removes the endpoint instead.
        #[arg(long)]
        remove: bool,
    },
    /// A merchant's API keys: list, create another, revoke one.
    Keys {
        #[command(subcommand)]
        command: cli::keys::ApiKeyCommand,
    },
}

// mimalloc instead of glibc's malloc: a request allocates and frees many small buffers on
// whichever worker thread runs it, and glibc's arenas spent about 5% of the CPU of a
// create+pay flow in malloc, free and consolidation (perf, bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // A command's output is on stdout and its log on stderr; below a warning, a command
    // other than `serve` says nothing in its log unless asked.
    let filter = match cli.command {
        Command::Serve => config.log.as_str(),
        _ if config.log_given => config.log.as_str(),
        _ if cli.verbose => "info",
        _ => "warn",
    };
    paygate::telemetry::init(filter, cli.log_format.unwrap_or(config.log_format));
    let result = match cli.command {
        Command::Serve => serve(config).await,
        Command::Merchants { command } => cli::merchants::run(config, command).await,
        Command::Adapters { command } => cli::adapters::run(config, command).await,
        Command::Providers { command } => providers(config, command).await,
        Command::Operators { command } => cli::operators::run(config, command).await,
        Command::Audit { command } => cli::operators::run_audit(config, command).await,
        Command::Flags { command } => cli::flags::run(config, command).await,
        Command::Events { command } => cli::events::run(config, command).await,
        Command::Keys { command } => cli::keys::run_master_key(config, command).await,
        Command::Reconcile(command) => cli::reconcile::run(config, command).await,
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
        println!(
            "  webhook secret: {}   (verifies paygate's webhooks; shown this once)",
            demo.webhook_secret
        );
        println!("  find it again: paygate merchants show demo");
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

async fn create_merchant(
    config: Config,
    name: &str,
    notify_url: Option<&str>,
) -> anyhow::Result<()> {
    let (db, vault) = paygate::app::open_storage(&config).await?;
    let created = paygate::service::merchants::new_merchant(&db, &vault, name, notify_url).await?;
    println!("merchant id: {}", created.merchant.id);
    println!("API key:     {}", created.api_key);
    println!("webhook secret: {}", created.webhook_secret);
    Ok(())
}

async fn providers(config: Config, command: ProviderCommand) -> anyhow::Result<()> {
    let (db, vault) = paygate::app::open_storage(&config).await?;
    let (runtime, _) = paygate::app::load_adapters_for_tools(&config, &db).await?;
    match command {
        ProviderCommand::List { json: true } => {
            let list: Vec<paygate::api::adapters::AdapterView> = runtime
                .adapters()
                .iter()
                .map(|a| a.as_ref().into())
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            Ok(())
        }
        ProviderCommand::List { json: false } => {
            for adapter in runtime.adapters() {
                let info = &adapter.info;
                println!(
                    "{} {} (contract {}), channels: {}",
                    info.name,
                    info.version,
                    info.contract_version,
                    info.channels
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for s in &info.settings {
                    // A setting with a default may be left out: the default is stored.
                    let need = match (&s.default_value, s.required) {
                        (Some(d), _) => format!("optional, default {d}"),
                        (None, true) => "required".to_owned(),
                        (None, false) => "optional".to_owned(),
                    };
                    println!("  setting {} ({need}): {}", s.name, s.description);
                }
                for s in &info.secrets {
                    println!(
                        "  secret  {} ({}, {}): {}",
                        s.name,
                        paygate::runtime::kind_name(s.kind),
                        if s.required { "required" } else { "optional" },
                        s.description
                    );
                }
            }
            Ok(())
        }
        ProviderCommand::Configure {
            merchant_id,
            provider,
            settings,
            secret_files,
            remove_secrets,
            no_test,
        } => {
            let mut secrets = std::collections::BTreeMap::new();
            for (name, path) in secret_files {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read secret `{name}` from {path}: {e}"))?;
                // A trailing newline is the editor's, not the key's.
                secrets.insert(name, Some(text.trim().to_owned()));
            }
            for name in remove_secrets {
                secrets.insert(name, None);
            }
            let merchant_id = cli::merchants::merchant_id(&db, &merchant_id).await?;
            let test = if no_test {
                paygate::service::provider_test::TestFirst::No
            } else {
                paygate::service::provider_test::TestFirst::Yes
            };
            let stored = paygate::service::merchants::configure_provider(
                &db,
                &vault,
                &runtime,
                &merchant_id,
                &provider,
                settings.into_iter().collect(),
                secrets,
                test,
            )
            .await?;
            println!("configured {provider} for merchant {merchant_id}");
            print_provider_config(&stored.config);
            cli::merchants::print_configure_test(stored.test.as_ref());
            Ok(())
        }
        ProviderCommand::Test {
            merchant,
            provider,
            json,
        } => cli::merchants::test_provider(&config, &runtime, &merchant, &provider, json).await,
        ProviderCommand::Show {
            merchant_id,
            provider,
            json,
        } => {
            let merchant_id = cli::merchants::merchant_id(&db, &merchant_id).await?;
            let stored = paygate::store::provider_configs::get(&db, &merchant_id, &provider)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("merchant {merchant_id} has no configuration for {provider}")
                })?;
            if json {
                let view = paygate::api::views::ProviderConfigView::from(&stored);
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_provider_config(&stored);
            }
            Ok(())
        }
    }
}

/// Settings and secret names; secret values are write-only.
fn print_provider_config(cfg: &paygate::store::provider_configs::ProviderConfig) {
    for (name, value) in &cfg.settings {
        println!("  {name} = {value}");
    }
    for name in cfg.secrets.keys() {
        println!("  {name} = (secret, stored sealed)");
    }
}
