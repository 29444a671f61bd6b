//! `paygate operators create NAME --role R | list | revoke ID_OR_NAME` and `paygate audit
//! list`: named operators and the audit log, on the data directory or through a running
//! paygate's admin API with `--url`; both print the admin API's shapes with `--json`.

use clap::Subcommand;

use paygate::api::operators::{AuditPageView, CreatedOperatorView, OperatorListView, OperatorView};
use paygate::config::Config;
use paygate::service::{audit, operators as service};

use super::adapters::{print_json, remote, Target};
use super::print_table;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Creates an operator and prints their token (shown this once).
    Create {
        /// 1 to 64 of letters, digits, `.`, `_`, `-`, `@`.
        name: String,
        /// `read`, `operate` or `admin`.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        target: Target,
    },
    /// Lists operators: id, name, role, token prefix, created, last used, revoked.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revokes an operator's token (by id, or the live operator of that name).
    Revoke {
        operator: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Lists state-changing admin requests, newest first.
    List {
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only entries older than this one (the previous page's last id).
        #[arg(long, value_name = "ENTRY_ID")]
        before: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(config: Config, command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Create { name, role, target } => {
            let created: CreatedOperatorView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        "/admin/operators",
                        &serde_json::json!({ "name": name, "role": role }),
                    )
                    .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    CreatedOperatorView::from(&service::create(&db, &name, &role, "cli").await?)
                }
            };
            if target.json {
                return print_json(&created);
            }
            let op = &created.operator;
            println!("operator {} ({}), role {}", op.name, op.id, op.role);
            println!(
                "token: {}   (shown this once; paygate keeps only its hash)",
                created.token
            );
            Ok(())
        }
        OperatorCommand::List { target } => {
            let list: OperatorListView = match remote(&config, &target)? {
                Some(api) => api.get("/admin/operators").await?,
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    OperatorListView {
                        operators: service::list(&db)
                            .await?
                            .iter()
                            .map(OperatorView::from)
                            .collect(),
                    }
                }
            };
            if target.json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .operators
                .iter()
                .map(|o| {
                    vec![
                        o.id.clone(),
                        o.name.clone(),
                        o.role.clone(),
                        o.token_prefix.clone(),
                        o.created_at.clone(),
                        o.last_used_at.clone().unwrap_or_else(|| "-".to_owned()),
                        o.revoked_at.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "NAME",
                    "ROLE",
                    "TOKEN",
                    "CREATED",
                    "LAST USED",
                    "REVOKED",
                ],
                &rows,
                "(no operators: only PAYGATE_ADMIN_TOKEN)",
            );
            Ok(())
        }
        OperatorCommand::Revoke { operator, target } => {
            let revoked: OperatorView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/operators/{operator}/revoke"),
                        &serde_json::json!({}),
                    )
                    .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    OperatorView::from(&service::revoke(&db, &operator).await?)
                }
            };
            if target.json {
                return print_json(&revoked);
            }
            println!("revoked operator {} ({})", revoked.name, revoked.id);
            Ok(())
        }
    }
}

pub async fn run_audit(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List {
        limit,
        before,
        target,
    } = command;
    let page: AuditPageView = match remote(&config, &target)? {
        Some(api) => {
            let mut path = format!("/admin/audit?limit={limit}");
            if let Some(b) = &before {
                path.push_str(&format!("&before={b}"));
            }
            api.get(&path).await?
        }
        None => {
            let (db, _) = paygate::app::open_storage(&config).await?;
            AuditPageView::from(&audit::page(&db, Some(limit), before.as_deref()).await?)
        }
    };
    if target.json {
        return print_json(&page);
    }
    let rows: Vec<Vec<String>> = page
        .entries
        .iter()
        .map(|e| {
            vec![
                e.at.clone(),
                e.operator.clone().unwrap_or_else(|| "-".to_owned()),
                e.token_id.clone().unwrap_or_else(|| "-".to_owned()),
                format!("{} {}", e.method, e.route),
                e.target.to_string(),
                e.client_ip.clone().unwrap_or_else(|| "-".to_owned()),
                match &e.error_code {
                    Some(code) => format!("{} {code}", e.status),
                    None => e.status.to_string(),
                },
            ]
        })
        .collect();
    print_table(
        &[
            "AT", "OPERATOR", "TOKEN", "REQUEST", "TARGET", "FROM", "OUTCOME",
        ],
        &rows,
        "(no audited requests)",
    );
    if let Some(next) = &page.next_before {
        println!("(more: paygate audit list --before {next})");
    }
    Ok(())
}
