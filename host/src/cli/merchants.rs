//! `paygate merchants list | show | webhook` (finding merchants again) and `providers test`
//! (testing a configuration), on the data directory (or `DATABASE_URL`) a running server
//! uses. Tables for people; `--json` prints the admin API's shapes for scripts.

use paygate::api::merchants::{MerchantListView, MerchantView, ProviderTestView};
use paygate::config::Config;
use paygate::domain::merchant::PageRequest;
use paygate::runtime::Runtime;
use paygate::service::directory::{self, MerchantDetail};
use paygate::service::provider_test::{self, TestOutcome, TestReport};
use paygate::store::Db;

use super::print_table;
use crate::MerchantCommand;

pub async fn run(config: Config, command: MerchantCommand) -> anyhow::Result<()> {
    match command {
        MerchantCommand::Create { name, notify_url } => {
            crate::create_merchant(config, &name, notify_url.as_deref()).await
        }
        MerchantCommand::List {
            limit,
            after,
            name,
            json,
        } => {
            let (db, _) = paygate::app::open_storage(&config).await?;
            let page = PageRequest::new(Some(limit), after.as_deref())?;
            let found = directory::list(&db, &page, name.as_deref()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&MerchantListView::from(&found))?
                );
            } else {
                print_merchants(&found.merchants);
                if let Some(next) = &found.next_after {
                    println!("(more: paygate merchants list --after {next})");
                }
            }
            Ok(())
        }
        MerchantCommand::Show { merchant, json } => {
            let (db, _) = paygate::app::open_storage(&config).await?;
            let found = resolve(&db, &merchant).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&MerchantView::from(&found))?
                );
            } else {
                print_merchant(&found);
            }
            Ok(())
        }
        MerchantCommand::Webhook {
            merchant,
            url,
            remove,
        } => {
            let (db, _) = paygate::app::open_storage(&config).await?;
            let id = resolve(&db, &merchant).await?.merchant.id;
            // clap requires exactly one of the URL and --remove.
            let url = if remove { None } else { url };
            let updated = directory::set_webhook(&db, &id, url.as_deref()).await?;
            print_merchant(&updated);
            Ok(())
        }
        MerchantCommand::Keys { command } => super::keys::run(config, command).await,
    }
}

/// The one merchant `id_or_name` names; an error that says what to do when it names none
/// or several.
pub async fn resolve(db: &Db, id_or_name: &str) -> anyhow::Result<MerchantDetail> {
    let mut found = directory::find(db, id_or_name).await?;
    match found.len() {
        0 => anyhow::bail!(
            "no merchant has the id or name `{id_or_name}` (`paygate merchants list` shows them)"
        ),
        1 => Ok(found.remove(0)),
        _ => anyhow::bail!(
            "several merchants are named `{id_or_name}`: {}; name one by its id",
            found
                .iter()
                .map(|m| m.merchant.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The id of the merchant `id_or_name` names.
pub async fn merchant_id(db: &Db, id_or_name: &str) -> anyhow::Result<String> {
    Ok(resolve(db, id_or_name).await?.merchant.id)
}

/// `paygate providers test`: prints what the provider answered; fails (exit status 1) with
/// what is wrong when the test fails.
pub async fn test_provider(
    config: &Config,
    runtime: &Runtime,
    merchant: &str,
    provider: &str,
    json: bool,
) -> anyhow::Result<()> {
    let (db, vault) = paygate::app::open_storage(config).await?;
    let id = merchant_id(&db, merchant).await?;
    let report = provider_test::test_stored(&db, &vault, runtime, &id, provider).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ProviderTestView::from(&report))?
        );
    }
    match &report.outcome {
        TestOutcome::Passed { detail } => {
            if !json {
                println!(
                    "ok: {provider} for merchant {id} ({} ms): {detail}",
                    report.elapsed_ms
                );
            }
            Ok(())
        }
        TestOutcome::Failed { code, message } => anyhow::bail!(
            "the test of {provider} for merchant {id} failed ({} ms) with {code}: {message}",
            report.elapsed_ms
        ),
    }
}

/// What `providers configure` says about the test it ran.
pub fn print_configure_test(test: Option<&TestReport>) {
    match test {
        Some(report) => {
            if let TestOutcome::Passed { detail } = &report.outcome {
                println!("  tested ({} ms): {detail}", report.elapsed_ms);
            }
        }
        None => println!("  stored untested (--no-test)"),
    }
}

fn print_merchant(m: &MerchantDetail) {
    let view = MerchantView::from(m);
    println!("merchant {}", view.id);
    println!("  name:      {}", view.name);
    println!("  created:   {}", view.created_at);
    match &view.notify_url {
        Some(url) => println!("  webhook:   {url}   (orders without a notify_url of their own)"),
        None => println!("  webhook:   none   (only orders with a notify_url send webhooks)"),
    }
    if view.providers.is_empty() {
        println!(
            "  providers: none   (paygate providers configure {} ...)",
            view.id
        );
    } else {
        println!("  providers: {}", view.providers.join(", "));
    }
}

fn print_merchants(list: &[MerchantDetail]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(MerchantView::from)
        .map(|v| {
            vec![
                v.id,
                v.name,
                v.created_at,
                v.notify_url.unwrap_or_else(|| "-".to_owned()),
                if v.providers.is_empty() {
                    "-".to_owned()
                } else {
                    v.providers.join(",")
                },
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "CREATED", "WEBHOOK", "PROVIDERS"],
        &rows,
        "(no merchants)",
    );
}
