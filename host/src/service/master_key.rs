//! Master key rotation: `paygate keys rotate` re-seals every stored secret (merchants'
//! webhook secrets, provider configurations' secrets) and the key's verifier under the
//! vault's current key. Each value is replaced by a conditional update on the value read
//! (its own one-statement transaction), so a write racing the rotation is never undone;
//! values already under the current key are skipped, so a rotation stopped half-way is
//! finished by running it again, and running it twice changes nothing.

use std::collections::BTreeMap;

use crate::store::master_key as store;
use crate::store::provider_configs::SealedSecret;
use crate::store::Db;
use crate::vault::{needs_reseal, Vault};

use super::ServiceError;

/// How many rows the rotation reads at a time.
const PAGE: u32 = 200;

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    /// The id of the key everything is sealed under now.
    pub key_id: String,
    /// Merchants' webhook secrets sealed again.
    pub webhook_secrets: u64,
    /// Provider configurations whose secrets were sealed again.
    pub provider_configs: u64,
    /// Whether the verifier was sealed again.
    pub verifier: bool,
    /// Values no key of the vault opens (sealed under a key not given): left as they are;
    /// the rotation is not complete while any is listed.
    pub unreadable: Vec<String>,
}

impl Rotation {
    /// Whether every stored secret is now under the current key.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty()
    }
}

/// Re-seals every stored secret under `vault`'s current key (see the module doc). Passes
/// are repeated (at most three) while a pass lost a race to a concurrent write, so values
/// written meanwhile under an older key are caught too.
pub async fn rotate(db: &Db, vault: &Vault) -> Result<Rotation, ServiceError> {
    let mut total = Rotation {
        key_id: vault.key_id().to_owned(),
        ..Rotation::default()
    };
    for _ in 0..3 {
        let (pass, raced) = one_pass(db, vault).await?;
        total.webhook_secrets += pass.webhook_secrets;
        total.provider_configs += pass.provider_configs;
        total.verifier |= pass.verifier;
        total.unreadable = pass.unreadable;
        if !raced {
            break;
        }
    }
    tracing::info!(
        key_id = %total.key_id,
        webhook_secrets = total.webhook_secrets,
        provider_configs = total.provider_configs,
        verifier = total.verifier,
        unreadable = total.unreadable.len(),
        "master key rotation"
    );
    Ok(total)
}

/// One walk over everything sealed; whether a conditional update lost a race.
async fn one_pass(db: &Db, vault: &Vault) -> Result<(Rotation, bool), ServiceError> {
    let current = vault.key_id().to_owned();
    let mut done = Rotation::default();
    let mut raced = false;

    let mut after: Option<String> = None;
    loop {
        let page = store::webhook_secrets(db, after.as_deref(), PAGE).await?;
        for (id, sealed) in &page {
            if !needs_reseal(sealed, &current) {
                continue;
            }
            match vault.reseal(sealed) {
                Ok(Some(new)) => {
                    if store::replace_webhook_secret(db, id, sealed, &new).await? {
                        done.webhook_secrets += 1;
                    } else {
                        raced = true;
                    }
                }
                Ok(None) => {}
                Err(_) => done
                    .unreadable
                    .push(format!("the webhook secret of merchant {id}")),
            }
        }
        match page.last() {
            Some((id, _)) if page.len() == PAGE as usize => after = Some(id.clone()),
            _ => break,
        }
    }

    let mut after: Option<(String, String)> = None;
    loop {
        let page = store::provider_secrets(
            db,
            after.as_ref().map(|(m, p)| (m.as_str(), p.as_str())),
            PAGE,
        )
        .await?;
        for ((merchant_id, provider), json) in &page {
            let mut secrets: BTreeMap<String, SealedSecret> =
                serde_json::from_str(json).map_err(|e| {
                    ServiceError::internal(
                        "reading stored provider secrets",
                        anyhow::anyhow!("{merchant_id}/{provider}: {e}"),
                    )
                })?;
            let mut changed = false;
            for (name, secret) in secrets.iter_mut() {
                match vault.reseal(&secret.sealed) {
                    Ok(Some(new)) => {
                        secret.sealed = new;
                        changed = true;
                    }
                    Ok(None) => {}
                    Err(_) => done.unreadable.push(format!(
                        "the `{provider}` secret `{name}` of merchant {merchant_id}"
                    )),
                }
            }
            if !changed {
                continue;
            }
            let new = serde_json::to_string(&secrets)
                .map_err(|e| ServiceError::internal("encoding provider secrets", e))?;
            if store::replace_provider_secrets(db, merchant_id, provider, json, &new).await? {
                done.provider_configs += 1;
            } else {
                raced = true;
            }
        }
        match page.last() {
            Some((key, _)) if page.len() == PAGE as usize => after = Some(key.clone()),
            _ => break,
        }
    }

    if let Some(verifier) = store::verifier(db).await? {
        if needs_reseal(&verifier, &current) && vault.opens_verifier(&verifier) {
            if store::replace_verifier(db, &verifier, &vault.seal_verifier()).await? {
                done.verifier = true;
            } else {
                raced = true;
            }
        }
    }
    Ok((done, raced))
}
