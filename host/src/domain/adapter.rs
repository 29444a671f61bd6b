//! The adapter registry's rules: what an uploaded component may be (its size, its name; the
//! imports its contract grants are the runtime's rule, `paygate_runtime::granted`), which version a provider runs after a start or a roll back,
//! and how a rebuilt bundled adapter is told apart from the release it shares a version
//! with. The registry's store and the wasm runtime apply what these decide.

/// Whether a stored adapter version is the one its provider runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// The provider's calls run on it; at most one version per provider.
    Active,
    /// Stored and checked; ready to activate (a roll back target, or an upload not yet
    /// activated).
    Inactive,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<VersionStatus> {
        match s {
            "active" => Some(VersionStatus::Active),
            "inactive" => Some(VersionStatus::Inactive),
            _ => None,
        }
    }
}

/// Why a version became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationReason {
    /// paygate activated the adapter it ships, at start.
    Bundled,
    /// An operator activated a version.
    Activate,
    /// An operator rolled back to the version active before.
    Rollback,
}

impl ActivationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationReason::Bundled => "bundled",
            ActivationReason::Activate => "activate",
            ActivationReason::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<ActivationReason> {
        match s {
            "bundled" => Some(ActivationReason::Bundled),
            "activate" => Some(ActivationReason::Activate),
            "rollback" => Some(ActivationReason::Rollback),
            _ => None,
        }
    }
}

/// The last activation of a provider's adapter, as the registry recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// The version it made active (its sha256).
    pub sha256: String,
    /// The version active before it, if there was one: a roll back's target.
    pub previous_sha256: Option<String>,
    pub reason: ActivationReason,
}

/// What a start does with the adapter paygate ships for a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundledAtStart {
    /// Make the bundled build active: no version is active yet, or the active one was put
    /// there by an earlier start and is an older release (an upgrade of paygate upgrades
    /// its own adapters).
    Activate,
    /// The active version was put there by a start of a paygate that ships a release at
    /// least as new: a replica of an older paygate (a rolling upgrade, a canary) never
    /// downgrades what every process runs. The bundled build is registered, ready to
    /// activate.
    KeepNewerBundled,
    /// The bundled build is already the active one.
    AlreadyActive,
    /// An operator chose the active version (activate or roll back): a restart, or an
    /// upgrade of paygate, never undoes that choice. The bundled build is registered, ready
    /// to activate.
    KeepOperatorChoice,
}

/// The rule of a start for one bundled adapter whose sha256 is `bundled` and whose release
/// is `bundled_version`, given the provider's last activation and the version string of
/// the build it activated. Releases compare by semver precedence (build metadata ignored);
/// a version that is not semver never counts as newer.
pub fn bundled_at_start(
    bundled: &str,
    bundled_version: &str,
    last: Option<&Activation>,
    active_version: Option<&str>,
) -> BundledAtStart {
    match last {
        None => BundledAtStart::Activate,
        Some(a) if a.sha256 == bundled => BundledAtStart::AlreadyActive,
        Some(a) => match a.reason {
            ActivationReason::Bundled => {
                let release = |v: &str| semver::Version::parse(v).ok();
                match (release(bundled_version), active_version.and_then(release)) {
                    (Some(new), Some(old)) if new.cmp_precedence(&old).is_gt() => {
                        BundledAtStart::Activate
                    }
                    // The active build is not a release this rule can compare: the newer
                    // one is the one that can be told apart.
                    (Some(_), None) => BundledAtStart::Activate,
                    _ => BundledAtStart::KeepNewerBundled,
                }
            }
            ActivationReason::Activate | ActivationReason::Rollback => {
                BundledAtStart::KeepOperatorChoice
            }
        },
    }
}

/// Why a roll back cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error("no version of `{0}` has been activated yet")]
    NeverActivated(String),
    #[error("`{0}` has had only one active version: there is nothing to roll back to")]
    NoPreviousVersion(String),
}

/// The version a roll back of `provider` activates: the one active before the last
/// activation. Like `kubectl rollout undo`, rolling back twice returns to where it started.
pub fn rollback_target<'a>(
    provider: &str,
    last: Option<&'a Activation>,
) -> Result<&'a str, RollbackError> {
    let last = last.ok_or_else(|| RollbackError::NeverActivated(provider.to_owned()))?;
    last.previous_sha256
        .as_deref()
        .ok_or_else(|| RollbackError::NoPreviousVersion(provider.to_owned()))
}

/// The version under which a bundled build is registered. A bundled build whose `version`
/// another build of the same provider already holds (a developer's rebuild that did not
/// bump it) is registered as `version+<first 12 hex digits of its sha256>`: semver's build
/// metadata, the same version of another build.
pub fn bundled_version_label(version: &str, sha256: &str, taken_by_other_build: bool) -> String {
    if taken_by_other_build {
        let build: String = sha256.chars().take(12).collect();
        format!("{version}+{build}")
    } else {
        version.to_owned()
    }
}

/// Why a component cannot be registered, before or after it compiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the component is {size} bytes, over this paygate's limit of {limit} bytes (PAYGATE_ADAPTER_MAX_COMPONENT_MB)")]
    TooLarge { size: usize, limit: usize },
    #[error("the upload is empty: send the component's bytes as the request body")]
    Empty,
    #[error("the component says it is the adapter of `{found}`, not of `{expected}`")]
    NameMismatch { expected: String, found: String },
    #[error("`{0}` cannot name a provider: the admin API uses it for the registry itself")]
    ReservedName(String),
}

/// Checks the size of a component before it is compiled; `limit` in bytes.
pub fn check_size(size: usize, limit: usize) -> Result<(), UploadError> {
    if size == 0 {
        return Err(UploadError::Empty);
    }
    if size > limit {
        return Err(UploadError::TooLarge { size, limit });
    }
    Ok(())
}

/// Names an adapter may not take: `/admin/adapters/{provider}` would not reach them.
const RESERVED_NAMES: &[&str] = &["versions", "check"];

/// Checks that the name an adapter gives itself in `info()` is the provider it was
/// uploaded for (when the operator named one), and not a name the registry's paths use.
pub fn check_name(expected: Option<&str>, found: &str) -> Result<(), UploadError> {
    if RESERVED_NAMES.contains(&found) {
        return Err(UploadError::ReservedName(found.to_owned()));
    }
    match expected {
        Some(expected) if expected != found => Err(UploadError::NameMismatch {
            expected: expected.to_owned(),
            found: found.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Whether an operator's reference to a version can be a sha256 prefix: 8 to 64 lower-case
/// hex digits. A version string is looked up first; only a reference that names no version
/// is then tried as a prefix, so a version like `20261130` still names itself.
pub fn may_be_sha256_prefix(reference: &str) -> bool {
    (8..=64).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activation(sha: &str, previous: Option<&str>, reason: ActivationReason) -> Activation {
        Activation {
            sha256: sha.into(),
            previous_sha256: previous.map(Into::into),
            reason,
        }
    }

    #[test]
    fn a_provider_without_an_active_version_gets_the_bundled_one() {
        assert_eq!(
            bundled_at_start("b", "0.2.0", None, None),
            BundledAtStart::Activate
        );
    }

    #[test]
    fn a_bundled_build_already_active_stays_as_it_is() {
        let last = activation("b", None, ActivationReason::Bundled);
        assert_eq!(
            bundled_at_start("b", "0.2.0", Some(&last), Some("0.2.0")),
            BundledAtStart::AlreadyActive
        );
    }

    #[test]
    fn an_upgrade_of_paygate_replaces_an_older_bundled_release() {
        let last = activation("old", None, ActivationReason::Bundled);
        assert_eq!(
            bundled_at_start("new", "0.3.0", Some(&last), Some("0.2.1")),
            BundledAtStart::Activate
        );
        assert_eq!(
            bundled_at_start("new", "0.10.0", Some(&last), Some("0.9.0")),
            BundledAtStart::Activate,
            "by semver, not by text"
        );
    }

    #[test]
    fn an_older_paygate_starting_beside_a_newer_one_downgrades_nothing() {
        let last = activation("new", None, ActivationReason::Bundled);
        for (older, active) in [
            ("0.2.0", "0.3.0"),
            ("0.3.0", "0.3.0"),
            ("0.3.0", "0.3.0+0a1b2c3d4e5f"),
        ] {
            assert_eq!(
                bundled_at_start("old", older, Some(&last), Some(active)),
                BundledAtStart::KeepNewerBundled,
                "{older} against {active}"
            );
        }
    }

    #[test]
    fn a_start_never_undoes_an_operators_activation_or_roll_back() {
        for reason in [ActivationReason::Activate, ActivationReason::Rollback] {
            let last = activation("chosen", Some("b"), reason);
            assert_eq!(
                bundled_at_start("b", "9.0.0", Some(&last), Some("0.1.0")),
                BundledAtStart::KeepOperatorChoice,
                "{reason:?}"
            );
        }
    }

    #[test]
    fn roll_back_targets_the_version_active_before_the_last_activation() {
        let last = activation("v2", Some("v1"), ActivationReason::Activate);
        assert_eq!(rollback_target("mock", Some(&last)), Ok("v1"));
    }

    #[test]
    fn rolling_back_a_roll_back_returns_to_where_it_started() {
        let undo = activation("v1", Some("v2"), ActivationReason::Rollback);
        assert_eq!(rollback_target("mock", Some(&undo)), Ok("v2"));
    }

    #[test]
    fn roll_back_without_a_previous_version_is_refused() {
        assert_eq!(
            rollback_target("mock", None),
            Err(RollbackError::NeverActivated("mock".into()))
        );
        let first = activation("v1", None, ActivationReason::Bundled);
        assert_eq!(
            rollback_target("mock", Some(&first)),
            Err(RollbackError::NoPreviousVersion("mock".into()))
        );
    }

    #[test]
    fn a_rebuilt_bundled_adapter_with_an_unchanged_version_gets_build_metadata() {
        assert_eq!(
            bundled_version_label("0.2.0", "abcdef0123456789", false),
            "0.2.0"
        );
        assert_eq!(
            bundled_version_label("0.2.0", "abcdef0123456789", true),
            "0.2.0+abcdef012345"
        );
    }

    #[test]
    fn a_component_over_the_size_limit_or_empty_is_refused_before_compiling() {
        assert_eq!(check_size(100, 100), Ok(()));
        assert_eq!(
            check_size(101, 100),
            Err(UploadError::TooLarge {
                size: 101,
                limit: 100
            })
        );
        assert_eq!(check_size(0, 100), Err(UploadError::Empty));
    }

    #[test]
    fn an_adapter_must_name_the_provider_it_was_uploaded_for() {
        assert_eq!(check_name(None, "mock"), Ok(()));
        assert_eq!(check_name(Some("mock"), "mock"), Ok(()));
        assert!(matches!(
            check_name(Some("wechat"), "mock"),
            Err(UploadError::NameMismatch { .. })
        ));
        assert_eq!(
            check_name(None, "versions"),
            Err(UploadError::ReservedName("versions".into()))
        );
    }

    #[test]
    fn only_eight_to_sixty_four_lower_case_hex_digits_may_be_a_sha256_prefix() {
        assert!(may_be_sha256_prefix("0a1b2c3d"));
        assert!(may_be_sha256_prefix(&"f".repeat(64)));
        assert!(!may_be_sha256_prefix("0a1b2c3"));
        assert!(!may_be_sha256_prefix(&"f".repeat(65)));
        assert!(!may_be_sha256_prefix("0A1B2C3D"));
        assert!(!may_be_sha256_prefix("1.2.0"));
        assert!(!may_be_sha256_prefix("2.0.0+abcdef012345"));
    }
}
