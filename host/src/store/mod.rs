//! Storage: the SQL database (SQLite embedded, PostgreSQL in production) behind one pool,
//! one file per table family. Every state change is one the domain decided, applied as a
//! conditional update on its from-state; money state changes are one transaction each.

pub mod activity;
pub mod adapters;
pub mod api_keys;
pub mod audit;
pub mod batch;
pub mod bills;
mod db;
pub mod events;
pub mod flags;
pub mod idempotency;
pub mod listing;
pub mod master_key;
pub mod merchants;
pub mod notifications;
pub mod operators;
pub mod orders;
pub mod payments;
pub mod provider_calls;
pub mod provider_configs;
pub mod refunds;
pub mod sessions;
pub mod settlement;

use db::page;
#[cfg(test)]
pub use db::temporary;
pub use db::{connect, migrate, now_ms, open, probe, Db, Engine, StoreError, ACQUIRE_TIMEOUT};

/// Whether a conditional change applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<T> {
    /// It did; with what it produced.
    Done(T),
    /// A row was not in the change's from-state any more: another request or process
    /// changed it first. Nothing was written.
    LostRace,
}

impl<T> Applied<T> {
    /// `Done(value)` when exactly one row was touched.
    pub fn from_rows(rows: u64, value: T) -> Applied<T> {
        if rows == 1 {
            Applied::Done(value)
        } else {
            Applied::LostRace
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Applied::Done(_))
    }
}
