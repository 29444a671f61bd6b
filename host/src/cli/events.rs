//! `paygate events show EVENT_ID | redeliver EVENT_ID | redeliver-failed MERCHANT_ID`: an
//! event's delivery history, and sending webhooks again, through a running paygate's admin
//! API (`--url`): a re-delivery is scheduled on that paygate's queue, so these commands do
//! not work on the data directory alone.

use clap::Subcommand;

use paygate::api::views::{EventDetailView, RedeliveredView};
use paygate::config::Config;

use super::adapters::{print_json, remote, Api, Target};
use super::print_table;

#[derive(Subcommand)]
pub enum EventCommand {
    /// Shows an event (any merchant's) with every delivery attempt and re-delivery.
    Show {
        event_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Sends an event again: a new round of attempts, the first now (refused while its
    /// delivery is under way).
    Redeliver {
        event_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Sends again every failed delivery of a merchant, oldest first.
    RedeliverFailed {
        /// The merchant's id (`m_...`).
        merchant_id: String,
        #[command(flatten)]
        target: Target,
    },
}

fn running(config: &Config, target: &Target) -> anyhow::Result<Api> {
    remote(config, target)?.ok_or_else(|| {
        anyhow::anyhow!(
            "events commands go through a running paygate, whose queue sends the webhook: \
             pass --url (or set PAYGATE_URL) and the admin token in PAYGATE_ADMIN_TOKEN"
        )
    })
}

pub async fn run(config: Config, command: EventCommand) -> anyhow::Result<()> {
    match command {
        EventCommand::Show { event_id, target } => {
            let detail: EventDetailView = running(&config, &target)?
                .get(&format!("/admin/events/{event_id}"))
                .await?;
            print_detail(&detail, target.json)
        }
        EventCommand::Redeliver { event_id, target } => {
            let detail: EventDetailView = running(&config, &target)?
                .post_json(
                    &format!("/admin/events/{event_id}/redeliver"),
                    &serde_json::json!({}),
                )
                .await?;
            print_detail(&detail, target.json)
        }
        EventCommand::RedeliverFailed {
            merchant_id,
            target,
        } => {
            let done: RedeliveredView = running(&config, &target)?
                .post_json(
                    &format!("/admin/merchants/{merchant_id}/events/redeliver"),
                    &serde_json::json!({}),
                )
                .await?;
            if target.json {
                return print_json(&done);
            }
            println!(
                "{} failed deliveries of merchant {merchant_id} sent again",
                done.redelivered
            );
            Ok(())
        }
    }
}

fn print_detail(detail: &EventDetailView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(detail);
    }
    let e = &detail.event;
    println!(
        "event {} ({} #{} of order {}, merchant {}): delivery {}, {} attempts this round",
        e.id, e.kind, e.sequence, detail.order_id, detail.merchant_id, e.delivery, e.attempts
    );
    let rows: Vec<Vec<String>> = detail
        .history
        .iter()
        .map(|h| {
            vec![
                h.n.to_string(),
                h.at.clone(),
                h.kind.clone(),
                h.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                h.operator.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    print_table(
        &["#", "AT", "KIND", "STATUS", "OPERATOR"],
        &rows,
        "(no history)",
    );
    Ok(())
}
