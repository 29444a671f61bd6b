//! What every state machine here shares: states with the names the database stores, and
//! the change a rule decides, which the store applies as a conditional update on the
//! from-state (`UPDATE .. SET state = to WHERE .. AND state = from`).

use std::fmt;

/// A change of state a domain rule decided. Only the rules in `domain` build one, so the
/// store can only apply a transition a rule allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<S> {
    from: S,
    to: S,
}

impl<S: Copy> Change<S> {
    pub(super) fn new(from: S, to: S) -> Self {
        Change { from, to }
    }

    /// The state the row must still be in for the change to apply.
    pub fn from(&self) -> S {
        self.from
    }

    /// The state the row moves to.
    pub fn to(&self) -> S {
        self.to
    }
}

/// The outcome of applying an event to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition<S> {
    /// The row moves.
    To(Change<S>),
    /// It is already there: a repeated event changes nothing (idempotent).
    Unchanged,
}

impl<S: Copy> Transition<S> {
    /// The state after the transition, from `current`.
    pub fn target(&self, current: S) -> S {
        match self {
            Transition::To(c) => c.to(),
            Transition::Unchanged => current,
        }
    }
}

/// An event a state machine does not allow in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {from}; it cannot take `{event:?}`")]
pub struct InvalidTransition<S: fmt::Display + fmt::Debug, E: fmt::Debug> {
    pub what: &'static str,
    pub from: S,
    pub event: E,
}

/// Declares an enum of named states, kinds or flags: its `ALL`, the text the database
/// stores (`as_str`, `parse`) and `Display`. The database's CHECK constraints list the
/// same names; `store` tests that each side accepts exactly the other's.
macro_rules! named {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The name stored in the database and shown by the API.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named;
