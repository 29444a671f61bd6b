//! `paygate flags list | resolve PAYMENT_NO --flag F --note WHY | retry-refund REFUND_NO`:
//! what waits for an operator (flagged payments, webhooks whose retries ran out, failed
//! refunds, the latest resolutions), resolving a payment's flag, on the data directory or
//! through a running paygate's admin API with `--url`, and retrying a failed refund (through
//! `--url` only: the provider is called by that paygate). All print the admin API's shapes
//! with `--json`.

use clap::Subcommand;

use paygate::api::views::{FlagResolutionView, FlagsView, RefundView};
use paygate::config::Config;
use paygate::service::flags as service;

use super::adapters::{operator_name, print_json, remote, Target};
use super::print_table;

#[derive(Subcommand)]
pub enum FlagCommand {
    /// Lists flagged payments, webhooks whose retries ran out, and the latest resolutions.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Resolves a payment's flag with a note saying why (kept with your name and the time).
    /// Only the flag named is resolved: if the payment carries another by now, nothing
    /// changes and the answer names it.
    Resolve {
        /// The flagged payment's number.
        payment_no: String,
        /// The flag being resolved, as `flags list` shows it (`late_payment`, ...).
        #[arg(long)]
        flag: String,
        /// Why: what you checked or did (1 to 1,000 characters).
        #[arg(long)]
        note: String,
        #[command(flatten)]
        target: Target,
    },
    /// Retries a failed refund under its own refund number, through a running paygate
    /// (`--url`), which submits it to the provider at once.
    RetryRefund {
        /// The failed refund's number (`flags list` shows them).
        refund_no: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(config: Config, command: FlagCommand) -> anyhow::Result<()> {
    match command {
        FlagCommand::List { target } => {
            let flags: FlagsView = match remote(&config, &target)? {
                Some(api) => api.get("/admin/flags").await?,
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    FlagsView::from(&service::overview(&db).await?)
                }
            };
            if target.json {
                return print_json(&flags);
            }
            print_flags(&flags);
            Ok(())
        }
        FlagCommand::Resolve {
            payment_no,
            flag,
            note,
            target,
        } => {
            let resolved: FlagResolutionView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/payments/{payment_no}/flag/resolve"),
                        &serde_json::json!({ "flag": flag, "note": note }),
                    )
                    .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    let flag = service::parse_flag(&flag)?;
                    let now = paygate::store::now_ms();
                    let done =
                        service::resolve(&db, &payment_no, flag, &note, &operator_name(), now)
                            .await?;
                    FlagResolutionView::from(&done)
                }
            };
            if target.json {
                return print_json(&resolved);
            }
            println!(
                "resolved {} on payment {} ({}), by {} at {}",
                resolved.flag,
                resolved.payment_no,
                resolved.id,
                resolved.resolved_by,
                resolved.resolved_at
            );
            Ok(())
        }
        FlagCommand::RetryRefund { refund_no, target } => {
            let api = remote(&config, &target)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "a refund is retried by a running paygate, which calls the provider: pass \
                     --url (or set PAYGATE_URL) and the admin token in PAYGATE_ADMIN_TOKEN"
                )
            })?;
            let refund: RefundView = api
                .post_json(
                    &format!("/admin/refunds/{refund_no}/retry"),
                    &serde_json::json!({}),
                )
                .await?;
            if target.json {
                return print_json(&refund);
            }
            println!(
                "refund {} of payment {}: {}{}",
                refund.refund_no,
                refund.payment_no,
                refund.state,
                refund
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
    }
}

fn print_flags(flags: &FlagsView) {
    let payments: Vec<Vec<String>> = flags
        .payments
        .iter()
        .map(|p| {
            vec![
                p.payment_no.clone(),
                p.merchant_id.clone(),
                p.flag.clone(),
                p.state.clone(),
                format!("{} {}", p.amount, p.currency),
                p.updated_at.clone(),
            ]
        })
        .collect();
    println!("Flagged payments");
    print_table(
        &["PAYMENT", "MERCHANT", "FLAG", "STATE", "AMOUNT", "UPDATED"],
        &payments,
        "(none)",
    );
    let webhooks: Vec<Vec<String>> = flags
        .webhooks
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.kind.clone(),
                e.created_at.clone(),
                e.attempts.to_string(),
                e.last_status
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            ]
        })
        .collect();
    println!("\nWebhooks whose retries ran out");
    print_table(
        &["EVENT", "KIND", "CREATED", "ATTEMPTS", "LAST STATUS"],
        &webhooks,
        "(none)",
    );
    let refunds: Vec<Vec<String>> = flags
        .refunds
        .iter()
        .map(|r| {
            vec![
                r.refund_no.clone(),
                r.payment_no.clone(),
                r.kind.clone(),
                format!("{} {}", r.amount, r.currency),
                r.error.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    println!("\nFailed refunds");
    print_table(
        &["REFUND", "PAYMENT", "KIND", "AMOUNT", "ERROR"],
        &refunds,
        "(none)",
    );
    let resolved: Vec<Vec<String>> = flags
        .resolved
        .iter()
        .map(|r| {
            vec![
                r.payment_no.clone(),
                r.flag.clone(),
                r.resolved_by.clone(),
                r.resolved_at.clone(),
                r.note.clone(),
            ]
        })
        .collect();
    println!("\nResolved lately");
    print_table(
        &["PAYMENT", "FLAG", "BY", "AT", "NOTE"],
        &resolved,
        "(none)",
    );
}
