//! The adapter registry's use cases: upload a component (checked before it is stored),
//! list and show versions, activate one, roll back, register the bundled adapters at
//! start, and follow the activations other paygate processes make on the same database.
//!
//! A version is compiled (or taken from the disk cache) before its activation is written,
//! so the switch itself never waits on a compile: calls already running finish on the
//! version they started with (`Runtime::activate` swaps an `Arc`), new calls take the new
//! one.

use std::sync::Arc;

use crate::domain::adapter::{
    self, bundled_at_start, rollback_target, ActivationReason, BundledAtStart, RollbackError,
    UploadError, VersionStatus,
};
use crate::runtime::{LoadedAdapter, Runtime, RuntimeError};
use crate::store::adapters::{
    self as registry, ActivationRecord, NewVersion, Stored, VersionRecord,
};
use crate::store::{Applied, Db};

use super::{ErrorCode, ServiceError};

/// Who registers the bundled adapters, in `uploaded_by` and `activated_by`.
pub const BUNDLED_BY: &str = "paygate";

/// How many activations `show` reports.
const SHOWN_ACTIVATIONS: i64 = 20;

/// The registry of one process: the database every process shares, and this process's
/// runtime.
pub struct AdapterRegistry {
    db: Db,
    runtime: Arc<Runtime>,
    /// Largest component accepted by an upload, in bytes.
    max_component_bytes: usize,
    /// Held while this process's runtime is switched to what the database says (a pass of
    /// `follow`, or an activation's write and switch), so that a pass which read the
    /// database before an activation cannot switch back to what it read.
    switching: tokio::sync::Mutex<()>,
    /// The active version that failed to load here, per provider: not tried again until the
    /// database names another (a failed compile is not retried every few seconds).
    failed: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub version: VersionRecord,
    /// `false` when these exact bytes were stored before (the upload changed nothing).
    pub created: bool,
}

/// A provider's adapter versions and its recent activations.
#[derive(Debug, Clone)]
pub struct ProviderAdapters {
    pub provider: String,
    /// Newest upload first.
    pub versions: Vec<VersionRecord>,
    /// Newest first, at most [`SHOWN_ACTIVATIONS`].
    pub activations: Vec<ActivationRecord>,
    /// The sha256 of the version this process runs: it differs from the active one for the
    /// few seconds before this process follows an activation made by another.
    pub running_here: Option<String>,
}

/// What an activation or a roll back did.
#[derive(Debug, Clone)]
pub struct Activated {
    pub provider: String,
    pub version: VersionRecord,
    /// The version active before, if any.
    pub previous: Option<VersionRecord>,
    /// `false` when the version was already active (nothing changed).
    pub changed: bool,
}

/// A component checked without being stored: what it says of itself.
#[derive(Debug, Clone)]
pub struct Checked {
    pub adapter: Arc<LoadedAdapter>,
    pub size_bytes: usize,
}

impl AdapterRegistry {
    pub fn new(db: Db, runtime: Arc<Runtime>, max_component_bytes: usize) -> AdapterRegistry {
        AdapterRegistry {
            db,
            runtime,
            max_component_bytes,
            switching: tokio::sync::Mutex::new(()),
            failed: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Largest component an upload accepts, in bytes.
    pub fn max_component_bytes(&self) -> usize {
        self.max_component_bytes
    }

    /// Checks a component as an upload would (size, compiles, contract, imports, self-test,
    /// the name of `provider` when given) without storing it.
    pub async fn check(
        &self,
        component: &[u8],
        provider: Option<&str>,
    ) -> Result<Checked, ServiceError> {
        adapter::check_size(component.len(), self.max_component_bytes).map_err(upload_error)?;
        let loaded = self
            .runtime
            .prepare(component)
            .await
            .map_err(runtime_error)?;
        adapter::check_name(provider, &loaded.info.name).map_err(upload_error)?;
        Ok(Checked {
            adapter: loaded,
            size_bytes: component.len(),
        })
    }

    /// Stores a checked component as an inactive version of the provider it names.
    /// Uploading the same bytes again changes nothing; another build under a version
    /// string already stored is refused (409 `adapter_version_exists`).
    pub async fn upload(
        &self,
        component: &[u8],
        provider: Option<&str>,
        by: &str,
    ) -> Result<Uploaded, ServiceError> {
        let checked = self.check(component, provider).await?;
        let info = &checked.adapter.info;
        let stored = registry::insert(
            &self.db,
            &NewVersion {
                sha256: &checked.adapter.sha256,
                provider: &info.name,
                version: &info.version,
                contract_version: &info.contract_version,
                component,
                uploaded_by: by,
            },
        )
        .await?;
        let created = match stored {
            Stored::Inserted => true,
            Stored::AlreadyThere => false,
            Stored::VersionTaken { sha256 } => {
                return Err(ServiceError::conflict(
                    ErrorCode::AdapterVersionExists,
                    format!(
                        "{} {} is already stored as another build (sha256 {sha256}): a version names one build for good; give this build a new version in its info()",
                        info.name, info.version
                    ),
                ))
            }
        };
        let version = registry::get(&self.db, &checked.adapter.sha256)
            .await?
            .ok_or(ServiceError::NotFound("adapter version"))?;
        tracing::info!(provider = %version.provider, version = %version.version, sha256 = %version.sha256, created, by, "adapter version uploaded");
        Ok(Uploaded { version, created })
    }

    /// Every stored version, by provider.
    pub async fn list(&self) -> Result<Vec<VersionRecord>, ServiceError> {
        Ok(registry::list(&self.db, None).await?)
    }

    /// One provider's versions and recent activations; 404 when it has none.
    pub async fn show(&self, provider: &str) -> Result<ProviderAdapters, ServiceError> {
        let versions = registry::list(&self.db, Some(provider)).await?;
        if versions.is_empty() {
            return Err(ServiceError::NotFound("adapter"));
        }
        Ok(ProviderAdapters {
            provider: provider.to_owned(),
            versions,
            activations: registry::activations(&self.db, provider, SHOWN_ACTIVATIONS).await?,
            running_here: self.runtime.adapter(provider).map(|a| a.sha256.clone()),
        })
    }

    /// Makes the version `reference` names (its version string, or a sha256 prefix of at
    /// least 8 hex digits) the active one of `provider`.
    pub async fn activate(
        &self,
        provider: &str,
        reference: &str,
        by: &str,
    ) -> Result<Activated, ServiceError> {
        let target = self.resolve(provider, reference).await?;
        self.switch(provider, target, None, ActivationReason::Activate, by)
            .await
    }

    /// Activates the version that was active before the last activation of `provider`.
    pub async fn rollback(&self, provider: &str, by: &str) -> Result<Activated, ServiceError> {
        let last = registry::last_activation(&self.db, provider).await?;
        let sha256 = rollback_target(provider, last.as_ref()).map_err(|e: RollbackError| {
            ServiceError::conflict(ErrorCode::NoPreviousVersion, e.to_string())
        })?;
        let target = registry::get(&self.db, sha256)
            .await?
            .ok_or(ServiceError::NotFound("adapter version"))?;
        // What is undone is the last activation: if another came since, this one conflicts.
        let undone = last.map(|a| a.sha256);
        self.switch(provider, target, undone, ActivationReason::Rollback, by)
            .await
    }

    /// The version `reference` names among `provider`'s.
    async fn resolve(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<VersionRecord, ServiceError> {
        if let Some(v) = registry::by_version(&self.db, provider, reference).await? {
            return Ok(v);
        }
        if adapter::may_be_sha256_prefix(reference) {
            let mut found = registry::by_sha256_prefix(&self.db, provider, reference).await?;
            match found.len() {
                0 => {}
                1 => return Ok(found.remove(0)),
                _ => {
                    return Err(ServiceError::invalid(
                        ErrorCode::AmbiguousVersion,
                        format!("several versions of {provider} have a sha256 starting with {reference}: give more digits"),
                    ))
                }
            }
        }
        Err(ServiceError::NotFound("adapter version"))
    }

    /// Compiles `target` here (before anything is written, so the switch never waits on
    /// it), writes the activation, then switches this process's runtime. `expected`, when
    /// given, is the version that must still be active (a roll back undoes that one).
    async fn switch(
        &self,
        provider: &str,
        target: VersionRecord,
        expected: Option<String>,
        reason: ActivationReason,
        by: &str,
    ) -> Result<Activated, ServiceError> {
        let loaded = self.load(provider, &target.sha256).await?;
        let _switching = self.switching.lock().await;
        let versions = registry::list(&self.db, Some(provider)).await?;
        let previous = versions
            .iter()
            .find(|v| v.status == VersionStatus::Active)
            .cloned();
        if let Some(expected) = &expected {
            if previous.as_ref().map(|p| &p.sha256) != Some(expected) {
                return Err(ServiceError::conflict(
                    ErrorCode::ActivationConflict,
                    format!("another activation of {provider} happened since the one this roll back undoes; `paygate adapters show {provider}` says which version is active now"),
                ));
            }
        }
        if previous.as_ref().map(|p| &p.sha256) == Some(&target.sha256) {
            // Already active; make sure this process runs it too.
            self.runtime.activate(loaded);
            return Ok(Activated {
                provider: provider.to_owned(),
                version: target,
                previous: None,
                changed: false,
            });
        }
        let applied = registry::activate(
            &self.db,
            provider,
            &target.sha256,
            previous.as_ref().map(|p| p.sha256.as_str()),
            reason,
            by,
        )
        .await?;
        if let Applied::LostRace = applied {
            return Err(ServiceError::conflict(
                ErrorCode::ActivationConflict,
                format!("another activation of {provider} happened meanwhile; `paygate adapters show {provider}` says which version is active now"),
            ));
        }
        self.runtime.activate(loaded);
        tracing::info!(provider, version = %target.version, sha256 = %target.sha256, reason = reason.as_str(), by, "adapter version activated");
        let mut version = target;
        version.status = VersionStatus::Active;
        Ok(Activated {
            provider: provider.to_owned(),
            version,
            previous: previous.map(|mut p| {
                p.status = VersionStatus::Inactive;
                p
            }),
            changed: true,
        })
    }

    /// The stored component `sha256` of `provider`, compiled (memory cache, disk cache, or
    /// a compile). A component that names another provider now than at its upload (its
    /// `info()` may differ between runs) is refused: it would take that provider's place.
    async fn load(&self, provider: &str, sha256: &str) -> Result<Arc<LoadedAdapter>, ServiceError> {
        let bytes = registry::component(&self.db, sha256)
            .await?
            .ok_or(ServiceError::NotFound("adapter version"))?;
        let loaded = self.runtime.prepare(&bytes).await.map_err(|e| {
            ServiceError::internal(
                "a stored adapter version no longer loads",
                anyhow::anyhow!("{sha256}: {e}"),
            )
        })?;
        if loaded.info.name != provider {
            return Err(ServiceError::internal(
                "a stored adapter version names another provider",
                anyhow::anyhow!(
                    "{sha256}, stored for {provider}, now says it is {}",
                    loaded.info.name
                ),
            ));
        }
        Ok(loaded)
    }

    /// Registers the adapters shipped in the binary as versions and, where the rule of
    /// `domain::adapter::bundled_at_start` says so, activates them. Run at every start,
    /// before [`AdapterRegistry::follow`] loads what is active.
    pub async fn register_bundled(&self, bundled: &[(&str, &[u8])]) -> Result<(), anyhow::Error> {
        for (file, component) in bundled {
            let loaded = self
                .runtime
                .prepare(component)
                .await
                .map_err(|e| anyhow::anyhow!("bundled adapter {file}: {e}"))?;
            let info = &loaded.info;
            let mut version = info.version.clone();
            loop {
                let stored = registry::insert(
                    &self.db,
                    &NewVersion {
                        sha256: &loaded.sha256,
                        provider: &info.name,
                        version: &version,
                        contract_version: &info.contract_version,
                        component,
                        uploaded_by: BUNDLED_BY,
                    },
                )
                .await?;
                match stored {
                    Stored::Inserted | Stored::AlreadyThere => break,
                    Stored::VersionTaken { .. } if version == info.version => {
                        version =
                            adapter::bundled_version_label(&info.version, &loaded.sha256, true);
                    }
                    Stored::VersionTaken { sha256 } => anyhow::bail!(
                        "bundled adapter {file}: version {version} is held by build {sha256}"
                    ),
                }
            }
            let last = registry::last_activation(&self.db, &info.name).await?;
            let active_version = match &last {
                Some(a) => registry::get(&self.db, &a.sha256).await?.map(|v| v.version),
                None => None,
            };
            let decision = bundled_at_start(
                &loaded.sha256,
                &info.version,
                last.as_ref(),
                active_version.as_deref(),
            );
            match decision {
                BundledAtStart::Activate => {
                    let applied = registry::activate(
                        &self.db,
                        &info.name,
                        &loaded.sha256,
                        last.as_ref().map(|a| a.sha256.as_str()),
                        ActivationReason::Bundled,
                        BUNDLED_BY,
                    )
                    .await?;
                    if applied.is_done() {
                        tracing::info!(provider = %info.name, %version, sha256 = %loaded.sha256, "bundled adapter activated");
                    }
                    // A lost race: another process starting at the same time decided;
                    // `follow` loads whatever is active now.
                }
                BundledAtStart::AlreadyActive => {}
                BundledAtStart::KeepNewerBundled => tracing::info!(
                    provider = %info.name,
                    bundled = %version,
                    active = active_version.as_deref().unwrap_or("?"),
                    "a paygate shipping a release at least as new activated this provider's adapter; the bundled build is registered, not activated"
                ),
                BundledAtStart::KeepOperatorChoice => tracing::info!(
                    provider = %info.name,
                    bundled = %version,
                    "an operator chose this provider's active adapter version; the bundled build is registered, not activated"
                ),
            }
        }
        Ok(())
    }

    /// Makes this process run the active version of every provider, as the database says:
    /// at start, and every few seconds after, so an activation made through another process
    /// (or the CLI) reaches this one. How many providers switched. A version that fails to
    /// load here is logged and skipped: this process keeps what it runs.
    pub async fn follow(&self) -> Result<usize, ServiceError> {
        let _switching = self.switching.lock().await;
        let mut switched = 0;
        for (provider, sha256) in registry::active(&self.db).await? {
            let running = self.runtime.adapter(&provider).map(|a| a.sha256.clone());
            if running.as_deref() == Some(sha256.as_str()) {
                continue;
            }
            let known_bad = lock(&self.failed).get(&provider) == Some(&sha256);
            if known_bad {
                continue;
            }
            match self.load(&provider, &sha256).await {
                Ok(loaded) => {
                    self.runtime.activate(loaded);
                    lock(&self.failed).remove(&provider);
                    switched += 1;
                }
                Err(e) => {
                    tracing::error!(provider, sha256, error = %e, "cannot load the active adapter version; still running the previous one, and not trying this version again until another is activated");
                    lock(&self.failed).insert(provider, sha256);
                }
            }
        }
        Ok(switched)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn upload_error(e: UploadError) -> ServiceError {
    let code = match e {
        UploadError::TooLarge { .. } => ErrorCode::AdapterTooLarge,
        UploadError::Empty => ErrorCode::InvalidAdapter,
        UploadError::NameMismatch { .. } | UploadError::ReservedName(_) => {
            ErrorCode::AdapterNameMismatch
        }
    };
    ServiceError::invalid(code, e.to_string())
}

fn runtime_error(e: RuntimeError) -> ServiceError {
    match e {
        RuntimeError::Import(e) => {
            ServiceError::invalid(ErrorCode::AdapterImportNotGranted, e.to_string())
        }
        RuntimeError::Engine(_) => ServiceError::internal("the wasm engine failed", e),
        RuntimeError::Compile(_) | RuntimeError::Contract(_) | RuntimeError::SelfTest(_) => {
            ServiceError::invalid(ErrorCode::InvalidAdapter, e.to_string())
        }
    }
}
