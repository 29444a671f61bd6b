//! `paygate reconcile --date D [--merchant M] [--provider P]`: reconciles a day against the
//! providers' bills now, through a running paygate (`--url`), which calls the providers;
//! then prints each merchant's run: its state, the bill's rows and totals, and the
//! differences recorded for the day. `--json` prints the admin API's answer.

use clap::Args;

use paygate::api::views::ReconciliationView;
use paygate::config::Config;

use super::adapters::{print_json, remote, Target};
use super::print_table;

#[derive(Args)]
pub struct ReconcileCommand {
    /// The bill day, `YYYY-MM-DD` (Beijing time, the providers' bill day).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: String,
    /// Only this merchant (default: every merchant).
    #[arg(long)]
    merchant: Option<String>,
    /// Only this provider (default: every provider whose adapter reconciles).
    #[arg(long)]
    provider: Option<String>,
    #[command(flatten)]
    target: Target,
}

pub async fn run(config: Config, command: ReconcileCommand) -> anyhow::Result<()> {
    let api = remote(&config, &command.target)?.ok_or_else(|| {
        anyhow::anyhow!(
            "a day is reconciled by a running paygate, which fetches the providers' bills: \
             pass --url (or set PAYGATE_URL) and the admin token in PAYGATE_ADMIN_TOKEN"
        )
    })?;
    let body = serde_json::json!({
        "date": command.date,
        "merchant_id": command.merchant,
        "provider": command.provider,
    });
    let runs: Vec<ReconciliationView> = api.post_json("/admin/reconciliations", &body).await?;
    if command.target.json {
        return print_json(&runs);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let totals = r
                .totals
                .iter()
                .map(|t| {
                    format!(
                        "{} collected {} refunded {} fees {}",
                        t.currency, t.collected, t.refunded, t.fees
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                r.merchant_id.clone(),
                r.provider.clone(),
                r.state.clone(),
                format!("{}+{}", r.payment_rows, r.refund_rows),
                r.matched.to_string(),
                r.differences.len().to_string(),
                r.error.clone().unwrap_or(totals),
            ]
        })
        .collect();
    print_table(
        &[
            "MERCHANT",
            "PROVIDER",
            "STATE",
            "ROWS",
            "MATCHED",
            "DIFFERENCES",
            "TOTALS (minor units) / ERROR",
        ],
        &rows,
        "no merchant has a provider whose adapter reconciles",
    );
    let differences: Vec<Vec<String>> = runs
        .iter()
        .flat_map(|r| &r.differences)
        .map(|d| {
            vec![
                d.id.clone(),
                d.merchant_id.clone(),
                d.kind.clone(),
                d.refund_no.clone().unwrap_or_else(|| d.payment_no.clone()),
                d.billed_amount.map(|a| a.to_string()).unwrap_or_default(),
                d.recorded_amount.map(|a| a.to_string()).unwrap_or_default(),
                d.action.clone().unwrap_or_default(),
                if d.resolved_at.is_some() {
                    "resolved"
                } else {
                    "open"
                }
                .to_owned(),
            ]
        })
        .collect();
    if !differences.is_empty() {
        println!();
        print_table(
            &[
                "DIFFERENCE",
                "MERCHANT",
                "KIND",
                "NUMBER",
                "BILLED",
                "RECORDED",
                "ACTION",
                "STATUS",
            ],
            &differences,
            "",
        );
    }
    Ok(())
}
