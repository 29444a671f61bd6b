//! `paygate adapters list | show | upload | check | activate | rollback`: the adapter
//! registry from the command line. With `--url` (or `PAYGATE_URL`) the command talks to a
//! running paygate's admin API (`PAYGATE_ADMIN_TOKEN`); without, to the data directory (or
//! `DATABASE_URL`) directly, and running paygate processes on that database follow an
//! activation within `PAYGATE_ADAPTER_FOLLOW_INTERVAL`. Both print the admin API's shapes
//! with `--json`.

use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

use paygate::api::adapters::{
    ActivatedView, AdapterDetailView, AdapterVersionView, CheckedView, UploadedView,
    OPERATOR_HEADER,
};
use paygate::config::Config;
use paygate::service::adapters::AdapterRegistry;

use super::print_table;

#[derive(Subcommand)]
pub enum AdapterCommand {
    /// Lists every stored adapter version: provider, version, contract, status, sha256,
    /// size, upload time and who uploaded it.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Shows one provider's versions and its recent activations.
    Show {
        /// The provider (`mock`, `wechat`, `alipay`, ...).
        provider: String,
        #[command(flatten)]
        target: Target,
    },
    /// Uploads an adapter component (.wasm). It is checked first (size, compiles, exports a
    /// contract this paygate runs, imports nothing its contract does not grant, `info()`
    /// answers) and stored inactive: `activate` puts it in service.
    Upload {
        /// The component file.
        file: std::path::PathBuf,
        /// The provider the component must say it is.
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Checks an adapter component without storing it: first as `upload` would (what it
    /// says of itself: channels, settings, secrets), then its conformance: a throwaway
    /// paygate runs it against the sandbox provider through pay, repay, every query state,
    /// a paid and a forged notification, close, refund and refund query, and a provider
    /// that never answers. Exits with 1 when any check fails.
    Check {
        file: std::path::PathBuf,
        #[arg(long)]
        provider: Option<String>,
        /// Only the upload's checks, not the conformance run.
        #[arg(long)]
        static_only: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Makes a stored version the provider's active one. Calls already running finish on
    /// the version they started with.
    Activate {
        provider: String,
        /// The version string, or a prefix of the sha256 (at least 8 hex digits).
        version: String,
        #[command(flatten)]
        target: Target,
    },
    /// Re-activates the version active before the provider's last activation.
    Rollback {
        provider: String,
        #[command(flatten)]
        target: Target,
    },
}

/// Where the command acts, and how it prints.
#[derive(Args)]
pub struct Target {
    /// A running paygate's base URL: the command goes through its admin API with the token
    /// in `PAYGATE_ADMIN_TOKEN` (the bootstrap token, or an operator's own `pgo_...`).
    /// Without it, the command works on the data directory.
    #[arg(long, env = "PAYGATE_URL", value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Prints the admin API's JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub async fn run(config: Config, command: AdapterCommand) -> anyhow::Result<()> {
    let operator = operator_name();
    match command {
        AdapterCommand::List { target } => {
            let list: Vec<AdapterVersionView> = match remote(&config, &target)? {
                Some(api) => api.get("/admin/adapters/versions").await?,
                None => {
                    let registry = local(&config).await?;
                    registry
                        .list()
                        .await?
                        .iter()
                        .map(AdapterVersionView::from)
                        .collect()
                }
            };
            if target.json {
                return print_json(&list);
            }
            print_versions(&list);
            Ok(())
        }
        AdapterCommand::Show { provider, target } => {
            let detail: AdapterDetailView = match remote(&config, &target)? {
                Some(api) => api.get(&format!("/admin/adapters/{provider}")).await?,
                None => {
                    let registry = local(&config).await?;
                    AdapterDetailView::from(&registry.show(&provider).await?)
                }
            };
            if target.json {
                return print_json(&detail);
            }
            print_detail(&detail);
            Ok(())
        }
        AdapterCommand::Upload {
            file,
            provider,
            target,
        } => {
            let component = read_file(&file)?;
            let uploaded: UploadedView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_wasm("/admin/adapters/versions", provider.as_deref(), component)
                        .await?
                }
                None => {
                    let registry = local(&config).await?;
                    UploadedView::from(
                        &registry
                            .upload(&component, provider.as_deref(), &operator)
                            .await?,
                    )
                }
            };
            if target.json {
                return print_json(&uploaded);
            }
            let v = &uploaded.version;
            if uploaded.created {
                println!(
                    "uploaded {} {} (sha256 {}), inactive",
                    v.provider, v.version, v.sha256
                );
            } else {
                println!(
                    "{} {} (sha256 {}) was already stored; status {}",
                    v.provider, v.version, v.sha256, v.status
                );
            }
            println!(
                "activate it: paygate adapters activate {} {}",
                v.provider, v.version
            );
            Ok(())
        }
        AdapterCommand::Check {
            file,
            provider,
            static_only,
            target,
        } => {
            let component = read_file(&file)?;
            let checked: CheckedView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_wasm(
                        "/admin/adapters/check",
                        provider.as_deref(),
                        component.clone(),
                    )
                    .await?
                }
                None => {
                    let registry = local(&config).await?;
                    CheckedView::from(&registry.check(&component, provider.as_deref()).await?)
                }
            };
            let conformance = if static_only {
                None
            } else {
                Some(conformance(&config, &component).await?)
            };
            if target.json {
                print_json(&AdapterCheckView {
                    checked: &checked,
                    conformance: conformance.as_ref().map(ConformanceView::from),
                })?;
            } else {
                print_checked(&checked);
                if let Some(report) = &conformance {
                    print_conformance(report);
                }
            }
            match conformance {
                Some(report) if !report.passed() => {
                    let failed = report.checks.iter().filter(|c| !c.passed).count();
                    anyhow::bail!(
                        "{failed} of {} conformance checks failed",
                        report.checks.len()
                    )
                }
                _ => Ok(()),
            }
        }
        AdapterCommand::Activate {
            provider,
            version,
            target,
        } => {
            let done: ActivatedView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/adapters/{provider}/activate"),
                        &serde_json::json!({ "version": version }),
                    )
                    .await?
                }
                None => {
                    let registry = local(&config).await?;
                    ActivatedView::from(&registry.activate(&provider, &version, &operator).await?)
                }
            };
            print_activated(&done, target.json)
        }
        AdapterCommand::Rollback { provider, target } => {
            let done: ActivatedView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/adapters/{provider}/rollback"),
                        &serde_json::json!({}),
                    )
                    .await?
                }
                None => {
                    let registry = local(&config).await?;
                    ActivatedView::from(&registry.rollback(&provider, &operator).await?)
                }
            };
            print_activated(&done, target.json)
        }
    }
}

/// The conformance run of `component` against the sandbox provider (its own throwaway
/// paygate, under this configuration's adapter limits). A build without the `sandbox`
/// feature says so when the throwaway paygate refuses to start.
async fn conformance(
    config: &Config,
    component: &[u8],
) -> anyhow::Result<paygate::conformance::Report> {
    paygate::conformance::run(
        component,
        &paygate::conformance::sandbox::SandboxSimulator,
        config,
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!("the conformance run could not start (--static-only skips it): {e:#}")
    })
}

/// `check --json`: the upload's checks and the conformance run.
#[derive(serde::Serialize)]
struct AdapterCheckView<'a> {
    #[serde(flatten)]
    checked: &'a CheckedView,
    conformance: Option<ConformanceView>,
}

#[derive(serde::Serialize)]
struct ConformanceView {
    simulator: String,
    passed: bool,
    checks: Vec<CheckView>,
}

#[derive(serde::Serialize)]
struct CheckView {
    name: &'static str,
    passed: bool,
    detail: String,
    elapsed_ms: u64,
}

impl From<&paygate::conformance::Report> for ConformanceView {
    fn from(r: &paygate::conformance::Report) -> Self {
        ConformanceView {
            simulator: r.simulator.clone(),
            passed: r.passed(),
            checks: r
                .checks
                .iter()
                .map(|c| CheckView {
                    name: c.name,
                    passed: c.passed,
                    detail: c.detail.clone(),
                    elapsed_ms: c.elapsed_ms,
                })
                .collect(),
        }
    }
}

fn print_conformance(report: &paygate::conformance::Report) {
    println!();
    println!(
        "conformance of {} {} against {}:",
        report.provider, report.version, report.simulator
    );
    for c in &report.checks {
        println!(
            "  {}  {:<32} {:>6} ms  {}",
            if c.passed { "PASS" } else { "FAIL" },
            c.name,
            c.elapsed_ms,
            c.detail
        );
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        println!("all {} checks passed", report.checks.len());
    }
}

fn print_checked(checked: &CheckedView) {
    let a = &checked.adapter;
    println!(
        "ok: {} {} (contract {}, sha256 {}, {} bytes)",
        a.provider, a.version, a.contract_version, a.sha256, checked.size_bytes
    );
    let channels: Vec<&str> = a.channels.iter().map(|c| c.name.as_str()).collect();
    println!("  channels: {}", channels.join(", "));
    for s in &a.settings {
        println!(
            "  setting {}{}: {}",
            s.name,
            if s.required { "" } else { " (optional)" },
            s.description
        );
    }
    for s in &a.secrets {
        println!("  secret  {} ({}): {}", s.name, s.kind, s.description);
    }
}

/// Who the command acts as: `PAYGATE_OPERATOR`, else the login name, else `cli`; as the
/// admin API takes it (printable ASCII, at most 64 characters: others are left out).
pub(crate) fn operator_name() -> String {
    ["PAYGATE_OPERATOR", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| {
            v.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(64)
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "cli".to_owned())
}

/// The registry on the data directory (or `DATABASE_URL`): nothing registered or loaded
/// by the command itself but the version it acts on.
async fn local(config: &Config) -> anyhow::Result<Arc<AdapterRegistry>> {
    let (db, _) = paygate::app::open_storage(config).await?;
    let (_, registry) = paygate::app::adapter_registry(config, &db)?;
    Ok(registry)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn short(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

fn print_versions(list: &[AdapterVersionView]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            vec![
                v.provider.clone(),
                v.version.clone(),
                v.contract_version.clone(),
                v.status.clone(),
                short(&v.sha256),
                v.size_bytes.to_string(),
                v.uploaded_at.clone(),
                v.uploaded_by.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "PROVIDER", "VERSION", "CONTRACT", "STATUS", "SHA256", "BYTES", "UPLOADED", "BY",
        ],
        &rows,
        "(no adapter versions)",
    );
}

fn print_detail(d: &AdapterDetailView) {
    match &d.active {
        Some(a) => println!("{}: active {} (sha256 {})", d.provider, a.version, a.sha256),
        None => println!("{}: no active version", d.provider),
    }
    if let (Some(here), Some(active)) = (&d.running_here, &d.active) {
        if *here != active.sha256 {
            println!(
                "  (the process that answered still runs sha256 {}: it follows within seconds)",
                short(here)
            );
        }
    }
    println!();
    print_versions(&d.versions);
    println!();
    let version_of = |sha: &str| {
        d.versions
            .iter()
            .find(|v| v.sha256 == sha)
            .map(|v| v.version.clone())
            .unwrap_or_else(|| short(sha))
    };
    let rows: Vec<Vec<String>> = d
        .activations
        .iter()
        .map(|a| {
            vec![
                a.activated_at.clone(),
                a.reason.clone(),
                version_of(&a.sha256),
                a.previous_sha256
                    .as_deref()
                    .map(version_of)
                    .unwrap_or_else(|| "-".into()),
                a.activated_by.clone(),
            ]
        })
        .collect();
    print_table(
        &["ACTIVATED", "REASON", "VERSION", "PREVIOUS", "BY"],
        &rows,
        "(no activations)",
    );
}

fn print_activated(done: &ActivatedView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(done);
    }
    let a = &done.active;
    if !done.changed {
        println!(
            "{} {} was already active; nothing changed",
            done.provider, a.version
        );
        return Ok(());
    }
    match &done.previous {
        Some(p) => println!(
            "{}: {} (sha256 {}) is active, replacing {}",
            done.provider,
            a.version,
            short(&a.sha256),
            p.version
        ),
        None => println!(
            "{}: {} (sha256 {}) is active",
            done.provider,
            a.version,
            short(&a.sha256)
        ),
    }
    Ok(())
}

/// A running paygate's admin API, when `--url` names one.
pub(crate) struct Api {
    base: String,
    token: String,
    operator: String,
    http: reqwest::Client,
}

pub(crate) fn remote(config: &Config, target: &Target) -> anyhow::Result<Option<Api>> {
    let Some(url) = &target.url else {
        return Ok(None);
    };
    let token = config
        .admin_token
        .as_ref()
        .map(|t| t.expose().to_owned())
        .ok_or_else(|| anyhow::anyhow!("--url needs the admin token in PAYGATE_ADMIN_TOKEN"))?;
    Ok(Some(Api {
        base: url.trim_end_matches('/').to_owned(),
        token,
        operator: operator_name(),
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?,
    }))
}

impl Api {
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn post_wasm<T: DeserializeOwned>(
        &self,
        path: &str,
        provider: Option<&str>,
        component: Vec<u8>,
    ) -> anyhow::Result<T> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/wasm")
            .body(component);
        if let Some(p) = provider {
            request = request.query(&[("provider", p)]);
        }
        self.send(request).await
    }

    /// Sends with the admin token and the operator's name; an error answer becomes an error
    /// carrying its code and message.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request
            .bearer_auth(&self.token)
            .header(OPERATOR_HEADER, &self.operator)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach paygate at {}: {e}", self.base))?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    Some(format!(
                        "{} ({})",
                        v["error"]["message"].as_str()?,
                        v["error"]["code"].as_str()?
                    ))
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            anyhow::bail!("paygate answered {status}: {detail}");
        }
        serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("unexpected answer from paygate ({status}): {e}"))
    }
}
