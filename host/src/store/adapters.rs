//! The adapter registry (migration 0011): adapter versions with their component bytes, at
//! most one active per provider, and the log of activations. The activation to apply is
//! decided by the service with `domain::adapter`; [`activate`] applies exactly it.

use sqlx::Row;

use super::{now_ms, Applied, Db, StoreError};
use crate::domain::adapter::{Activation, ActivationReason, VersionStatus};

/// A version as listed: everything but the component's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// Lower-case hex SHA-256 of the component bytes: the version's identity.
    pub sha256: String,
    pub provider: String,
    /// The version the adapter gives in `info()` (with build metadata for a rebuilt
    /// bundled adapter, see `domain::adapter::bundled_version_label`).
    pub version: String,
    pub contract_version: String,
    pub size_bytes: i64,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
    /// Who uploaded it: `paygate` for a bundled adapter, else the operator's name.
    pub uploaded_by: String,
    pub status: VersionStatus,
}

/// A version to store.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub sha256: &'a str,
    pub provider: &'a str,
    pub version: &'a str,
    pub contract_version: &'a str,
    pub component: &'a [u8],
    pub uploaded_by: &'a str,
}

/// One activation, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    pub activation: Activation,
    /// Milliseconds since the Unix epoch.
    pub activated_at: i64,
    pub activated_by: String,
}

/// What storing a version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new version.
    Inserted,
    /// These exact bytes were stored before: nothing changed.
    AlreadyThere,
    /// Another build of the provider holds this version string (a version names one build
    /// for good): nothing stored. Carries that build's sha256.
    VersionTaken { sha256: String },
}

const COLUMNS: &str =
    "sha256, provider, version, contract_version, size_bytes, uploaded_at, uploaded_by, status";

/// Stores a version as inactive, unless its bytes are there already or its version string
/// names another build.
pub async fn insert(db: &Db, new: &NewVersion<'_>) -> Result<Stored, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO adapter_versions (sha256, provider, version, contract_version, size_bytes,
             component, uploaded_at, uploaded_by, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'inactive')
         ON CONFLICT DO NOTHING",
    )
    .bind(new.sha256)
    .bind(new.provider)
    .bind(new.version)
    .bind(new.contract_version)
    .bind(new.component.len() as i64)
    .bind(new.component.to_vec())
    .bind(now_ms())
    .bind(new.uploaded_by)
    .execute(&db.pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Stored::Inserted);
    }
    // Which of the two unique keys held it: the same bytes, or the same version string.
    if get(db, new.sha256).await?.is_some() {
        return Ok(Stored::AlreadyThere);
    }
    match by_version(db, new.provider, new.version).await? {
        Some(other) => Ok(Stored::VersionTaken {
            sha256: other.sha256,
        }),
        // Deleted between the two statements: nothing deletes versions, so this is a
        // database that changed under paygate.
        None => Err(StoreError::Corrupt(format!(
            "adapter version {} of {} could be neither stored nor found",
            new.version, new.provider
        ))),
    }
}

/// The version with this sha256.
pub async fn get(db: &Db, sha256: &str) -> Result<Option<VersionRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM adapter_versions WHERE sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(record).transpose()
}

/// The version of `provider` with this version string.
pub async fn by_version(
    db: &Db,
    provider: &str,
    version: &str,
) -> Result<Option<VersionRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM adapter_versions WHERE provider = $1 AND version = $2"
    ))
    .bind(provider)
    .bind(version)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(record).transpose()
}

/// The versions of `provider` whose sha256 starts with `prefix` (hex digits only: the
/// caller checked), at most two: enough to tell one from several.
pub async fn by_sha256_prefix(
    db: &Db,
    provider: &str,
    prefix: &str,
) -> Result<Vec<VersionRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM adapter_versions WHERE provider = $1 AND sha256 LIKE $2
         ORDER BY sha256 LIMIT 2"
    ))
    .bind(provider)
    .bind(format!("{prefix}%"))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(record).collect()
}

/// Every version, of one provider or of all, newest upload first per provider.
pub async fn list(db: &Db, provider: Option<&str>) -> Result<Vec<VersionRecord>, StoreError> {
    let rows = match provider {
        Some(p) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM adapter_versions WHERE provider = $1
             ORDER BY uploaded_at DESC, sha256"
            ))
            .bind(p)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!(
            "SELECT {COLUMNS} FROM adapter_versions ORDER BY provider, uploaded_at DESC, sha256"
        ))
            .fetch_all(&db.pool)
            .await?
        }
    };
    rows.iter().map(record).collect()
}

/// The active version of every provider, as (provider, sha256): what each paygate process
/// compares with what it runs, every few seconds. One index-only read.
pub async fn active(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT provider, sha256 FROM adapter_versions WHERE status = 'active' ORDER BY provider",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("provider")?, r.try_get("sha256")?)))
        .collect()
}

/// The bytes of a stored component.
pub async fn component(db: &Db, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row = sqlx::query("SELECT component FROM adapter_versions WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get("component")).transpose()?)
}

/// The last `limit` activations of `provider`, newest first.
pub async fn activations(
    db: &Db,
    provider: &str,
    limit: i64,
) -> Result<Vec<ActivationRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT sha256, previous_sha256, reason, activated_at, activated_by
         FROM adapter_activations WHERE provider = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(provider)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let reason: String = r.try_get("reason")?;
            Ok(ActivationRecord {
                activation: Activation {
                    sha256: r.try_get("sha256")?,
                    previous_sha256: r.try_get("previous_sha256")?,
                    reason: ActivationReason::parse(&reason).ok_or_else(|| {
                        StoreError::Corrupt(format!("adapter_activations.reason `{reason}`"))
                    })?,
                },
                activated_at: r.try_get("activated_at")?,
                activated_by: r.try_get("activated_by")?,
            })
        })
        .collect()
}

/// The last activation of `provider`.
pub async fn last_activation(db: &Db, provider: &str) -> Result<Option<Activation>, StoreError> {
    Ok(activations(db, provider, 1)
        .await?
        .into_iter()
        .next()
        .map(|a| a.activation))
}

/// Applies an activation the service decided: `sha256` becomes `provider`'s active version
/// and the one active until now (`expected_active`, as read when deciding) inactive, with
/// the activation logged; one transaction. `LostRace` when the active version is no
/// longer `expected_active` (another activation came first: nothing written).
pub async fn activate(
    db: &Db,
    provider: &str,
    sha256: &str,
    expected_active: Option<&str>,
    reason: ActivationReason,
    by: &str,
) -> Result<Applied<Activation>, StoreError> {
    let mut tx = db.pool.begin().await?;
    let deactivated = sqlx::query(
        "UPDATE adapter_versions SET status = 'inactive'
         WHERE provider = $1 AND status = 'active' RETURNING sha256",
    )
    .bind(provider)
    .fetch_optional(&mut *tx)
    .await?;
    let previous: Option<String> = deactivated.map(|r| r.try_get("sha256")).transpose()?;
    if previous.as_deref() != expected_active {
        tx.rollback().await?;
        return Ok(Applied::LostRace);
    }
    let activated = sqlx::query(
        "UPDATE adapter_versions SET status = 'active' WHERE sha256 = $1 AND provider = $2",
    )
    .bind(sha256)
    .bind(provider)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from);
    match activated {
        Ok(done) if done.rows_affected() == 1 => {}
        // The partial unique index: another transaction activated a version meanwhile.
        Err(e) if e.is_unique_violation() => {
            tx.rollback().await?;
            return Ok(Applied::LostRace);
        }
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(StoreError::Corrupt(format!(
                "adapter version {sha256} of {provider} disappeared while being activated"
            )))
        }
    }
    sqlx::query(
        "INSERT INTO adapter_activations (provider, sha256, previous_sha256, reason, activated_at, activated_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(provider)
    .bind(sha256)
    .bind(previous.as_deref())
    .bind(reason.as_str())
    .bind(now_ms())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Applied::Done(Activation {
        sha256: sha256.to_owned(),
        previous_sha256: previous,
        reason,
    }))
}

fn record(row: &sqlx::any::AnyRow) -> Result<VersionRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(VersionRecord {
        sha256: row.try_get("sha256")?,
        provider: row.try_get("provider")?,
        version: row.try_get("version")?,
        contract_version: row.try_get("contract_version")?,
        size_bytes: row.try_get("size_bytes")?,
        uploaded_at: row.try_get("uploaded_at")?,
        uploaded_by: row.try_get("uploaded_by")?,
        status: VersionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("adapter_versions.status `{status}`")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        super::super::temporary().await
    }

    fn version<'a>(sha: &'a str, version: &'a str) -> NewVersion<'a> {
        NewVersion {
            sha256: sha,
            provider: "mock",
            version,
            contract_version: "2.0.0",
            component: b"\0asm-not-really",
            uploaded_by: "ops",
        }
    }

    #[tokio::test]
    async fn the_same_bytes_are_stored_once_and_a_version_string_names_one_build() {
        let (_dir, db) = db().await;
        assert_eq!(
            insert(&db, &version("aa", "1.0.0")).await.expect("insert"),
            Stored::Inserted
        );
        assert_eq!(
            insert(&db, &version("aa", "1.0.0")).await.expect("again"),
            Stored::AlreadyThere
        );
        assert_eq!(
            insert(&db, &version("bb", "1.0.0"))
                .await
                .expect("other build"),
            Stored::VersionTaken {
                sha256: "aa".into()
            }
        );
        let stored = get(&db, "aa").await.expect("get").expect("stored");
        assert_eq!(stored.status, VersionStatus::Inactive);
        assert_eq!(stored.size_bytes, 15);
        assert_eq!(
            component(&db, "aa").await.expect("bytes").as_deref(),
            Some(&b"\0asm-not-really"[..])
        );
    }

    #[tokio::test]
    async fn an_activation_swaps_the_active_version_and_logs_the_previous_one() {
        let (_dir, db) = db().await;
        insert(&db, &version("aa", "1.0.0")).await.expect("v1");
        insert(&db, &version("bb", "2.0.0")).await.expect("v2");
        let first = activate(
            &db,
            "mock",
            "aa",
            None,
            ActivationReason::Bundled,
            "paygate",
        )
        .await
        .expect("first");
        assert!(first.is_done());
        let second = activate(
            &db,
            "mock",
            "bb",
            Some("aa"),
            ActivationReason::Activate,
            "ops",
        )
        .await
        .expect("second");
        assert_eq!(
            second,
            Applied::Done(Activation {
                sha256: "bb".into(),
                previous_sha256: Some("aa".into()),
                reason: ActivationReason::Activate,
            })
        );
        assert_eq!(
            active(&db).await.expect("active"),
            vec![("mock".to_owned(), "bb".to_owned())]
        );
        assert_eq!(
            last_activation(&db, "mock").await.expect("last"),
            Some(Activation {
                sha256: "bb".into(),
                previous_sha256: Some("aa".into()),
                reason: ActivationReason::Activate,
            })
        );
        assert_eq!(activations(&db, "mock", 10).await.expect("log").len(), 2);
    }

    #[tokio::test]
    async fn an_activation_decided_on_a_stale_read_loses_the_race_and_writes_nothing() {
        let (_dir, db) = db().await;
        insert(&db, &version("aa", "1.0.0")).await.expect("v1");
        insert(&db, &version("bb", "2.0.0")).await.expect("v2");
        activate(
            &db,
            "mock",
            "aa",
            None,
            ActivationReason::Bundled,
            "paygate",
        )
        .await
        .expect("first");
        // Decided while nothing was active: another activation came first.
        let stale = activate(&db, "mock", "bb", None, ActivationReason::Activate, "ops")
            .await
            .expect("stale");
        assert_eq!(stale, Applied::LostRace);
        assert_eq!(
            active(&db).await.expect("active"),
            vec![("mock".to_owned(), "aa".to_owned())]
        );
        assert_eq!(activations(&db, "mock", 10).await.expect("log").len(), 1);
    }

    #[tokio::test]
    async fn a_version_is_found_by_its_string_or_a_prefix_of_its_sha256() {
        let (_dir, db) = db().await;
        insert(&db, &version("abcdef01", "1.0.0"))
            .await
            .expect("v1");
        insert(&db, &version("abcdef02", "2.0.0"))
            .await
            .expect("v2");
        assert_eq!(
            by_version(&db, "mock", "2.0.0")
                .await
                .expect("by version")
                .map(|v| v.sha256),
            Some("abcdef02".into())
        );
        assert_eq!(
            by_sha256_prefix(&db, "mock", "abcdef0")
                .await
                .expect("both")
                .len(),
            2
        );
        assert_eq!(
            by_sha256_prefix(&db, "mock", "abcdef01")
                .await
                .expect("one")
                .len(),
            1
        );
        assert!(by_sha256_prefix(&db, "wechat", "abcdef01")
            .await
            .expect("none")
            .is_empty());
    }
}
