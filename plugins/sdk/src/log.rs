//! Logging into paygate's log: the host's `log` import ([`log`], [`Level`]) and one function
//! per level. The host tags each line with the adapter, merchant, order and payment of the
//! current call. (`println!` and `eprintln!` reach the log too, untagged by level.)
//!
//! ```no_run
//! # let trade_id = "T1";
//! paygate_sdk::log::info(&format!("trade {trade_id} opened"));
//! ```
//!
//! Never log secrets or whole provider answers that may carry personal data.

pub use crate::bindings::paygate::provider::log::{log, Level};

/// Logs `message` at level `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at level `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at level `info`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at level `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at level `error`.
pub fn error(message: &str) {
    log(Level::Error, message);
}
