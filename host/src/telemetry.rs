//! Logging: `tracing` to stderr (stdout is for what a command prints), filtered by
//! `PAYGATE_LOG` / `RUST_LOG`, in colour only on a terminal.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
