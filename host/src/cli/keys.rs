//! `paygate merchants keys list | create | revoke MERCHANT` (a merchant's API keys) and
//! `paygate keys rotate` (re-sealing every stored secret under the current master key).
//! The API key commands work on the data directory, or through a running paygate's admin
//! API with `--url`; both print the admin API's shapes with `--json`.

use clap::Subcommand;

use paygate::api::merchants::{ApiKeyListView, ApiKeyView, CreatedKeyView};
use paygate::config::Config;
use paygate::service::merchants as service;

use super::adapters::{print_json, remote, Target};
use super::print_table;

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Lists the merchant's API keys: id, prefix, label, created, last used, revoked.
    /// Never a key.
    List {
        /// The merchant's id (`m_...`), or its name when working on the data directory.
        merchant: String,
        #[command(flatten)]
        target: Target,
    },
    /// Creates another API key for the merchant and prints it (shown this once). Both keys
    /// work until one is revoked.
    Create {
        merchant: String,
        /// What the key is for (`checkout v2`).
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Revokes one of the merchant's keys: refused at once by the process that revokes it
    /// (the command, or the server with `--url`), within 2 s by every other.
    Revoke {
        merchant: String,
        /// The key's id (`key_...`, from `list`).
        key_id: String,
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::List { merchant, target } => {
            let list: ApiKeyListView = match remote(&config, &target)? {
                Some(api) => {
                    api.get(&format!("/admin/merchants/{merchant}/keys"))
                        .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    let id = super::merchants::merchant_id(&db, &merchant).await?;
                    let keys = service::list_api_keys(&db, &id).await?;
                    ApiKeyListView {
                        keys: keys.iter().map(ApiKeyView::from).collect(),
                    }
                }
            };
            if target.json {
                return print_json(&list);
            }
            print_keys(&list.keys);
            Ok(())
        }
        ApiKeyCommand::Create {
            merchant,
            label,
            target,
        } => {
            let created: CreatedKeyView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/merchants/{merchant}/keys"),
                        &serde_json::json!({ "label": label }),
                    )
                    .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    let id = super::merchants::merchant_id(&db, &merchant).await?;
                    CreatedKeyView::from(
                        &service::create_api_key(&db, &id, label.as_deref()).await?,
                    )
                }
            };
            if target.json {
                return print_json(&created);
            }
            println!("key id:  {}", created.key.id);
            println!(
                "API key: {}   (shown this once; paygate keeps only its hash)",
                created.api_key
            );
            println!(
                "both keys work until one is revoked: paygate merchants keys revoke {} KEY_ID",
                created.key.merchant_id
            );
            Ok(())
        }
        ApiKeyCommand::Revoke {
            merchant,
            key_id,
            target,
        } => {
            let revoked: ApiKeyView = match remote(&config, &target)? {
                Some(api) => {
                    api.post_json(
                        &format!("/admin/merchants/{merchant}/keys/{key_id}/revoke"),
                        &serde_json::json!({}),
                    )
                    .await?
                }
                None => {
                    let (db, _) = paygate::app::open_storage(&config).await?;
                    let id = super::merchants::merchant_id(&db, &merchant).await?;
                    let now = paygate::store::now_ms();
                    ApiKeyView::from(&service::revoke_api_key(&db, &id, &key_id, now).await?)
                }
            };
            if target.json {
                return print_json(&revoked);
            }
            println!(
                "revoked {} ({}) of merchant {}",
                revoked.id, revoked.prefix, revoked.merchant_id
            );
            Ok(())
        }
    }
}

fn print_keys(keys: &[ApiKeyView]) {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.prefix.clone(),
                k.label.clone().unwrap_or_else(|| "-".to_owned()),
                k.created_at.clone(),
                k.last_used_at.clone().unwrap_or_else(|| "-".to_owned()),
                k.revoked_at.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    print_table(
        &["ID", "PREFIX", "LABEL", "CREATED", "LAST USED", "REVOKED"],
        &rows,
        "(no keys)",
    );
}

#[derive(Subcommand)]
pub enum MasterKeyCommand {
    /// Re-seals every stored secret (webhook secrets, provider secrets) and the key's
    /// verifier under the current master key (PAYGATE_MASTER_KEY), opening them with the
    /// previous ones (PAYGATE_MASTER_KEY_PREVIOUS). Safe to run again: values already
    /// under the current key are left alone, so an interrupted rotation is finished by
    /// running it again. Exits with 1 while any value opens under no key given.
    Rotate {
        /// Embedded setting only: first writes a new key to `<data dir>/master.key`, keeping
        /// the old one in `master.key.previous`. Run with paygate stopped: it reads its key
        /// files at start, and a server on the old key alone could not open what is re-sealed.
        #[arg(long)]
        generate: bool,
        /// Prints what was done as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_master_key(config: Config, command: MasterKeyCommand) -> anyhow::Result<()> {
    let MasterKeyCommand::Rotate { generate, json } = command;
    if generate {
        if config.master_key.is_some() || !config.is_embedded() {
            anyhow::bail!(
                "--generate writes the embedded setting's key file; with PAYGATE_MASTER_KEY, \
                 make a new key yourself (e.g. `openssl rand -hex 32`), start every instance with \
                 it as PAYGATE_MASTER_KEY and the old one as PAYGATE_MASTER_KEY_PREVIOUS, then \
                 run `paygate keys rotate`"
            );
        }
        // The old key must open this database before it is set aside.
        paygate::app::open_storage(&config).await?;
        let vault = paygate::vault::Vault::generate_in_data_dir(&config.data_dir)?;
        eprintln!(
            "paygate: wrote a new master key ({}) to {}; the old one is kept in {}",
            vault.key_id(),
            config.data_dir.join(paygate::vault::KEY_FILE).display(),
            config
                .data_dir
                .join(paygate::vault::PREVIOUS_KEY_FILE)
                .display()
        );
    }
    let (db, vault) = paygate::app::open_storage(&config).await?;
    let done = paygate::service::master_key::rotate(&db, &vault).await?;
    if json {
        print_json(&done)?;
    } else {
        println!(
            "sealed again under key {}: {} webhook secrets, {} provider configurations, verifier {}",
            done.key_id,
            done.webhook_secrets,
            done.provider_configs,
            if done.verifier { "yes" } else { "already" }
        );
    }
    if !done.complete() {
        anyhow::bail!(
            "{} values open under none of the keys given, and were left as they are: {}",
            done.unreadable.len(),
            done.unreadable.join("; ")
        );
    }
    if !json {
        println!(
            "every stored secret is under key {}: once every paygate on this database runs with it (run this again after restarting them), the previous keys can be dropped",
            done.key_id
        );
    }
    Ok(())
}
