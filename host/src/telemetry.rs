//! Logging: `tracing` to stderr (stdout is for what a command prints), filtered by
//! `PAYGATE_LOG` / `RUST_LOG`, as text (in colour only when stderr is a terminal and
//! `NO_COLOR` is not set) or as JSON lines (`PAYGATE_LOG_FORMAT=json`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `span`...), for log
    /// shippers.
    Json,
}

impl LogFormat {
    /// `text` or `json`, in any case.
    pub fn parse(v: &str) -> Option<LogFormat> {
        match v.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Whether text logs get colour: only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>).
pub fn colour(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // stderr: stdout carries what a command prints (the first start's demo key,
    // `merchants list`), which must not be mixed with log lines.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            let no_color = std::env::var("NO_COLOR").ok();
            builder
                .with_ansi(colour(std::io::stderr().is_terminal(), no_color.as_deref()))
                .try_init()
        }
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// The process's Prometheus recorder, installed on first use. Metrics are process-wide, so
/// several paygates in one process (tests) share it.
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    use std::sync::OnceLock;
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| {
                    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
                });
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours still renders (empty).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("")), "an empty NO_COLOR is not set");
        assert!(!colour(true, Some("1")));
        assert!(!colour(false, None), "a file or a pipe");
    }

    #[test]
    fn log_formats_are_text_and_json() {
        assert_eq!(LogFormat::parse("json"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse(" TEXT "), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("logfmt"), None);
    }
}
