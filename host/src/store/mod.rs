//! Storage: the SQL database (SQLite embedded, PostgreSQL in production) behind one pool,
//! one file per table family. Every money state change is one transaction with a
//! conditional update, so concurrent requests and processes agree.

mod db;
pub mod events;
pub mod idempotency;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod provider_configs;
pub mod refunds;

pub use db::{connect, now_ms, Db, Engine, StoreError};
