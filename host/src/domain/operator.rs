//! Operators of the admin API: their roles, the actions an admin request is, and which role
//! may do which action. One table ([`permits`]) decides every admin request; the API names
//! the action of each route and asks it.

use std::fmt;

/// What an operator's token allows, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads every admin endpoint; changes nothing.
    Read,
    /// Reads, and acts on what waits for an operator (flags, webhooks, provider tests).
    Operate,
    /// Everything: merchants and their keys, providers, adapters, operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Read, Role::Operate, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    /// `read`, `operate` or `admin`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an admin request does. Every admin route is exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Any read: merchants, provider configurations, adapters, flags, keys (never a key
    /// itself), operators (never a token), the audit log.
    Read,
    /// Tests a stored provider configuration with a harmless query (changes nothing stored,
    /// but talks to the provider).
    TestProvider,
    /// Acts on what a flag is about: resolves a payment's flag with a note, retries a failed
    /// refund.
    ActOnFlag,
    /// Sends a webhook again (one event, or every failed delivery of a merchant).
    ActOnWebhook,
    /// Reconciles a day against the providers' bills now (talks to the providers; what it
    /// finds goes through the same rules as the daily run).
    Reconcile,
    /// Creates a merchant, changes its webhook endpoint, creates or revokes its API keys.
    ChangeMerchant,
    /// Stores a merchant's provider configuration (settings and secrets).
    ChangeProvider,
    /// Uploads, checks, activates or rolls back an adapter version.
    ChangeAdapter,
    /// Creates or revokes operators.
    ChangeOperator,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Read,
        Action::TestProvider,
        Action::ActOnFlag,
        Action::ActOnWebhook,
        Action::Reconcile,
        Action::ChangeMerchant,
        Action::ChangeProvider,
        Action::ChangeAdapter,
        Action::ChangeOperator,
    ];

    /// The least role that may do it.
    pub fn least_role(self) -> Role {
        match self {
            Action::Read => Role::Read,
            Action::TestProvider | Action::ActOnFlag | Action::ActOnWebhook | Action::Reconcile => {
                Role::Operate
            }
            Action::ChangeMerchant
            | Action::ChangeProvider
            | Action::ChangeAdapter
            | Action::ChangeOperator => Role::Admin,
        }
    }
}

/// Whether an operator of `role` may do `action`: roles are ordered, each allowing what the
/// ones below it allow.
pub fn permits(role: Role, action: Action) -> bool {
    role >= action.least_role()
}

/// Who is behind an admin request: the operator's name, the id of the token used, its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    /// `op_...`, or [`BOOTSTRAP`] for `PAYGATE_ADMIN_TOKEN`.
    pub token_id: String,
    pub role: Role,
}

impl Caller {
    /// Whether the caller may do `action`.
    pub fn may(&self, action: Action) -> bool {
        permits(self.role, action)
    }
}

/// Why an operator name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an operator name is 1 to 64 characters: letters, digits, `.`, `_`, `-`, `@`")]
pub struct InvalidOperatorName;

/// The name reserved for `PAYGATE_ADMIN_TOKEN`'s token id in the audit log.
pub const BOOTSTRAP: &str = "bootstrap";

/// Checks an operator's name: 1 to 64 of ASCII letters, digits and `._-@` (a name goes into
/// logs and tables as is), and not [`BOOTSTRAP`].
pub fn check_name(name: &str) -> Result<&str, InvalidOperatorName> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
        && name != BOOTSTRAP;
    if ok {
        Ok(name)
    } else {
        Err(InvalidOperatorName)
    }
}

/// Whether an HTTP method changes state (and so is written to the audit log).
pub fn is_state_changing(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// How often the last use of a credential (an API key, an operator token) is written: a
/// busy key costs one write a minute per process, not one per request.
pub const LAST_USED_EVERY_MS: i64 = 60_000;

/// Whether to write a credential's use at `now_ms`, given when this process last wrote it
/// (`None`: never). Pure.
pub fn record_use(last_written_ms: Option<i64>, now_ms: i64) -> bool {
    match last_written_ms {
        None => true,
        Some(at) => now_ms - at >= LAST_USED_EVERY_MS || now_ms < at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_exactly_the_actions_at_or_below_it() {
        use Action::{
            ActOnFlag, ActOnWebhook, ChangeAdapter, ChangeMerchant, ChangeOperator, ChangeProvider,
            Reconcile, TestProvider,
        };
        use Role::{Admin, Operate, Read};
        // The whole table, written out: a change to it is a change to this test.
        let expected: &[(Role, Action, bool)] = &[
            (Read, Action::Read, true),
            (Read, TestProvider, false),
            (Read, ActOnFlag, false),
            (Read, ActOnWebhook, false),
            (Read, Reconcile, false),
            (Read, ChangeMerchant, false),
            (Read, ChangeProvider, false),
            (Read, ChangeAdapter, false),
            (Read, ChangeOperator, false),
            (Operate, Action::Read, true),
            (Operate, TestProvider, true),
            (Operate, ActOnFlag, true),
            (Operate, ActOnWebhook, true),
            (Operate, Reconcile, true),
            (Operate, ChangeMerchant, false),
            (Operate, ChangeProvider, false),
            (Operate, ChangeAdapter, false),
            (Operate, ChangeOperator, false),
            (Admin, Action::Read, true),
            (Admin, TestProvider, true),
            (Admin, ActOnFlag, true),
            (Admin, ActOnWebhook, true),
            (Admin, Reconcile, true),
            (Admin, ChangeMerchant, true),
            (Admin, ChangeProvider, true),
            (Admin, ChangeAdapter, true),
            (Admin, ChangeOperator, true),
        ];
        assert_eq!(expected.len(), Role::ALL.len() * Action::ALL.len());
        for &(role, action, allowed) in expected {
            assert_eq!(permits(role, action), allowed, "{role} {action:?}");
        }
    }

    #[test]
    fn roles_read_back_from_their_names_and_nothing_else() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for bad in ["", "Admin", "root", "read "] {
            assert_eq!(Role::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn operator_names_are_short_plain_and_not_the_bootstrap_one() {
        for good in ["alice", "night-shift", "ops.bot_2", "a@example.com"] {
            assert_eq!(check_name(good), Ok(good));
        }
        let long = "a".repeat(65);
        for bad in ["", "two words", "tab\t", "bootstrap", "é", long.as_str()] {
            assert_eq!(check_name(bad), Err(InvalidOperatorName), "{bad:?}");
        }
    }

    #[test]
    fn only_post_put_patch_and_delete_change_state() {
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(is_state_changing(m), "{m}");
        }
        for m in ["GET", "HEAD", "OPTIONS", "post"] {
            assert!(!is_state_changing(m), "{m}");
        }
    }

    #[test]
    fn a_use_is_written_at_most_once_a_minute() {
        assert!(record_use(None, 1_000));
        assert!(!record_use(Some(1_000), 1_000));
        assert!(!record_use(Some(1_000), 60_999));
        assert!(record_use(Some(1_000), 61_000));
        // A clock stepped back does not silence the record for good.
        assert!(record_use(Some(100_000), 1_000));
    }
}
