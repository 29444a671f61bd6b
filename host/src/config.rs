//! paygate's configuration: one struct, read from an optional TOML file
//! (`PAYGATE_CONFIG`) and then from the environment, which wins. Logged at start with
//! secrets redacted.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// A secret value: its `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("bad config file {path}: {source}")]
    Toml {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Everything paygate can be told. Field names are the environment variables without
/// `PAYGATE_`, in lower case (the TOML file uses the same names).
#[derive(Clone, Debug)]
pub struct Config {
    /// `PAYGATE_LISTEN`: the address the HTTP server binds.
    pub listen: SocketAddr,
    /// `PAYGATE_DATA_DIR`: SQLite database, master key and compiled-adapter cache.
    pub data_dir: PathBuf,
    /// `PAYGATE_CACHE_DIR`: compiled adapters; default `<data dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`; default SQLite in the data dir.
    pub database_url: Option<Secret>,
    /// `REDIS_URL`: selects the Redis delay queue (and event stream); unset: the SQL queue.
    pub redis_url: Option<Secret>,
    /// `PAYGATE_REDIS_PREFIX`: every Redis key paygate writes starts with it.
    pub redis_prefix: String,
    /// `PAYGATE_WEBHOOK_SCHEDULE`: delays between webhook attempts; after the last, failed.
    pub webhook_schedule: Vec<Duration>,
    /// `PAYGATE_WEBHOOK_ORDER_WAIT`: how long an order's webhook waits, at most, while an
    /// earlier event of the same order is still pending (being retried); then it goes
    /// anyway, out of order. `0s` turns the ordering off. Default 5 minutes.
    pub webhook_order_wait: Duration,
    /// `PAYGATE_QUEUE_LEASE`: how long a claimed task is held before it is due again (its
    /// worker died). Longer than the slowest task: two adapter calls.
    pub queue_lease: Duration,
    /// `PAYGATE_QUEUE_WATCH_INTERVAL`: how often paygate looks whether the delay queue lost
    /// its keys (Redis flushed, restarted without persistence, failed over) and, if so,
    /// puts the open work back at once.
    pub queue_watch_interval: Duration,
    /// `PAYGATE_RECONCILE_INTERVAL`: how often paygate puts back, page by page, any open
    /// work the delay queue does not hold, whatever the watch saw.
    pub reconcile_interval: Duration,
    /// `PAYGATE_BILLS_AT`: when each day's bills are reconciled, the next day, as `HH:MM`
    /// Beijing time (the providers' bill time zone); default `10:30`, after WeChat Pay's
    /// bills are ready at 10:00 and Alipay's at 09:00. `off`: only on demand.
    pub bills_at: Option<time::Time>,
    /// `PAYGATE_STATUS_SYNC_SCHEDULE`: delays of the active status queries after a trade is
    /// opened; the last one repeats until the deadline.
    pub status_sync_schedule: Vec<Duration>,
    /// `PAYGATE_PUBLIC_URL`: the base URL providers and browsers reach paygate at.
    pub public_url: Option<String>,
    /// `PAYGATE_ADMIN_TOKEN`: bearer token of the admin API; unset turns it off.
    pub admin_token: Option<Secret>,
    /// `PAYGATE_MASTER_KEY`: 64 hex digits encrypting secrets at rest; default a key
    /// generated once into the data dir.
    pub master_key: Option<Secret>,
    /// `PAYGATE_SANDBOX`: serve the sandbox provider; default on with SQLite, off otherwise.
    pub sandbox: Option<bool>,
    /// `PAYGATE_WORKERS`: run the delay queue's workers (default true). `false` makes an
    /// instance that serves the API only, beside others that do the timed work (and lets
    /// tests drive the queue one step at a time).
    pub workers: bool,
    /// `PAYGATE_REPAY_CUTOFF`: refuse a pay call when less than this remains.
    pub repay_cutoff: Duration,
    /// `PAYGATE_ACTION_MARGIN`: a stored pay action is handed out again only while at least
    /// this much of the provider's own lifetime of it remains (the payer needs time to pay).
    pub action_margin: Duration,
    /// `PAYGATE_FLAG_AFTER_REFUSALS`: after this many refused status queries at an order's
    /// deadline (a merchant's key rotated or broken), its payment is flagged for an operator;
    /// paygate keeps asking.
    pub flag_after_refusals: u32,
    /// `PAYGATE_PROVIDER_GRACE`: the provider's deadline is the order's plus this.
    pub provider_grace: Duration,
    /// `PAYGATE_ADAPTER_CPU_BUDGET`: guest CPU time per adapter call.
    pub adapter_cpu_budget: Duration,
    /// `PAYGATE_ADAPTER_MEMORY_MB`: memory cap per adapter call.
    pub adapter_memory_mb: usize,
    /// `PAYGATE_ADAPTER_TIMEOUT`: wall-clock time per adapter call.
    pub adapter_timeout: Duration,
    /// `PAYGATE_ADAPTER_HTTP_TIMEOUT`: timeout of one outbound request of an adapter.
    pub adapter_http_timeout: Duration,
    /// `PAYGATE_ADAPTER_MAX_COMPONENT_MB`: largest adapter component an upload accepts.
    pub adapter_max_component_mb: usize,
    /// `PAYGATE_ADAPTER_FOLLOW_INTERVAL`: how often this process checks the registry for an
    /// activation made by another process (or the CLI) on the same database.
    pub adapter_follow_interval: Duration,
    /// `PAYGATE_STARTUP_TIMEOUT`: how long start-up waits, in all, for an unreachable
    /// database or Redis (retrying, with a logged countdown) before it gives up.
    pub startup_timeout: Duration,
    /// `PAYGATE_LOG` (or `RUST_LOG`): tracing filter.
    pub log: String,
    /// Whether `log` was given (environment or file) rather than defaulted: commands other
    /// than `serve` log only warnings unless it was.
    pub log_given: bool,
    /// `PAYGATE_LOG_FORMAT`: `text` (default; colour only on a terminal, never with
    /// `NO_COLOR`) or `json` (one object per line, for log shippers).
    pub log_format: crate::telemetry::LogFormat,
    /// `PAYGATE_MASTER_KEY_PREVIOUS`: previous master keys (64 hex digits each, comma
    /// separated) that still open what they sealed and never seal: set during a rotation
    /// (see README, "Rotating the master key"). The embedded setting also reads
    /// `<data dir>/master.key.previous`.
    pub master_key_previous: Option<Secret>,
    // Destinations and limits (issue 16).
    /// `PAYGATE_WEBHOOK_ALLOW`: host names and networks a webhook (or the sandbox's
    /// notification) may go to whatever they resolve to, comma separated.
    pub webhook_allow: crate::domain::destination::AllowList,
    /// `PAYGATE_RATE_LIMIT_MERCHANT`: `/v1/*` requests per second per API key (`N` or
    /// `N:BURST`; `off` or `0` disables).
    pub rate_limit_merchant: Option<RateLimit>,
    /// `PAYGATE_RATE_LIMIT_IP`: `/v1/*` requests per second per client IP (notifications
    /// aside).
    pub rate_limit_ip: Option<RateLimit>,
    /// `PAYGATE_RATE_LIMIT_NOTIFY`: `/v1/notify/*` requests per second per client IP.
    pub rate_limit_notify: Option<RateLimit>,
    /// `PAYGATE_HEADER_TIMEOUT`: how long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// `PAYGATE_BODY_TIMEOUT`: how long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// `PAYGATE_MAX_CONNECTIONS`: connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

/// A rate limit: a sustained rate and the burst allowed above it (GCRA: `burst` requests
/// at once, then one every `1 / per_second` seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

fn rate_limit(
    key: &'static str,
    given: Option<String>,
    default: &str,
) -> Result<Option<RateLimit>, ConfigError> {
    parse_rate_limit(given.as_deref().unwrap_or(default))
        .map_err(|reason| ConfigError::Invalid { key, reason })
}

/// Parses `N` (burst N), `N:BURST`, or `0`/`off` (no limit).
pub fn parse_rate_limit(v: &str) -> Result<Option<RateLimit>, String> {
    let v = v.trim();
    if v == "0" || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{v}` is not `N`, `N:BURST` (positive numbers) or `off`"))
    };
    let (rate, burst) = match v.split_once(':') {
        Some((r, b)) => (number(r)?, number(b)?),
        None => {
            let r = number(v)?;
            (r, r)
        }
    };
    Ok(Some(RateLimit {
        per_second: rate,
        burst,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<String>,
    cache_dir: Option<String>,
    database_url: Option<Secret>,
    public_url: Option<String>,
    redis_url: Option<Secret>,
    redis_prefix: Option<String>,
    status_sync_schedule: Option<String>,
    queue_lease: Option<String>,
    queue_watch_interval: Option<String>,
    reconcile_interval: Option<String>,
    bills_at: Option<String>,
    webhook_schedule: Option<String>,
    webhook_order_wait: Option<String>,
    admin_token: Option<Secret>,
    master_key: Option<Secret>,
    sandbox: Option<bool>,
    workers: Option<bool>,
    repay_cutoff: Option<String>,
    action_margin: Option<String>,
    flag_after_refusals: Option<u32>,
    provider_grace: Option<String>,
    adapter_cpu_budget: Option<String>,
    adapter_memory_mb: Option<usize>,
    adapter_timeout: Option<String>,
    adapter_http_timeout: Option<String>,
    adapter_max_component_mb: Option<usize>,
    adapter_follow_interval: Option<String>,
    startup_timeout: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    master_key_previous: Option<Secret>,
    webhook_allow: Option<String>,
    rate_limit_merchant: Option<String>,
    rate_limit_ip: Option<String>,
    rate_limit_notify: Option<String>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    max_connections: Option<usize>,
}

impl Config {
    /// Reads the process environment (and the file it names).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads configuration through `env`, a lookup of environment variables.
    pub fn from_lookup(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = match env("PAYGATE_CONFIG") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|source| ConfigError::Toml {
                    path,
                    source: Box::new(source),
                })?
            }
            None => FileConfig::default(),
        };
        let pick = |key: &str, from_file: Option<String>| env(key).or(from_file);
        let listen = pick("PAYGATE_LISTEN", file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen.parse().map_err(|e| ConfigError::Invalid {
            key: "PAYGATE_LISTEN",
            reason: format!("`{listen}`: {e}"),
        })?;
        let duration = |key: &'static str,
                        from_file: Option<String>,
                        default: Duration|
         -> Result<Duration, ConfigError> {
            match pick(key, from_file) {
                Some(v) => {
                    parse_duration(&v).map_err(|reason| ConfigError::Invalid { key, reason })
                }
                None => Ok(default),
            }
        };
        let public_url =
            pick("PAYGATE_PUBLIC_URL", file.public_url).map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &public_url {
            if !url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https")) {
                return Err(ConfigError::Invalid {
                    key: "PAYGATE_PUBLIC_URL",
                    reason: format!("`{u}` is not an http(s) URL"),
                });
            }
        }
        let log = env("PAYGATE_LOG").or_else(|| env("RUST_LOG")).or(file.log);
        let log_format = match pick("PAYGATE_LOG_FORMAT", file.log_format) {
            Some(v) => crate::telemetry::LogFormat::parse(&v).ok_or(ConfigError::Invalid {
                key: "PAYGATE_LOG_FORMAT",
                reason: format!("`{v}` is not text or json"),
            })?,
            None => crate::telemetry::LogFormat::Text,
        };
        let sandbox = match pick("PAYGATE_SANDBOX", None) {
            Some(v) => Some(parse_bool(&v).ok_or(ConfigError::Invalid {
                key: "PAYGATE_SANDBOX",
                reason: format!("`{v}` is not true/false"),
            })?),
            None => file.sandbox,
        };
        let workers = match pick("PAYGATE_WORKERS", None) {
            Some(v) => parse_bool(&v).ok_or(ConfigError::Invalid {
                key: "PAYGATE_WORKERS",
                reason: format!("`{v}` is not true/false"),
            })?,
            None => file.workers.unwrap_or(true),
        };
        let memory = match pick("PAYGATE_ADAPTER_MEMORY_MB", None) {
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                key: "PAYGATE_ADAPTER_MEMORY_MB",
                reason: format!("`{v}` is not a number"),
            })?,
            None => file.adapter_memory_mb.unwrap_or(64),
        };
        let flag_after_refusals = match pick("PAYGATE_FLAG_AFTER_REFUSALS", None) {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(ConfigError::Invalid {
                    key: "PAYGATE_FLAG_AFTER_REFUSALS",
                    reason: format!("`{v}` is not a number from 1 up"),
                })?,
            None => file.flag_after_refusals.unwrap_or(5),
        };
        let max_component_mb =
            match pick("PAYGATE_ADAPTER_MAX_COMPONENT_MB", None) {
                Some(v) => v.parse().ok().filter(|n| (1..=1024).contains(n)).ok_or(
                    ConfigError::Invalid {
                        key: "PAYGATE_ADAPTER_MAX_COMPONENT_MB",
                        reason: format!("`{v}` is not a number from 1 to 1024"),
                    },
                )?,
                None => file.adapter_max_component_mb.unwrap_or(8),
            };
        if !(4..=4096).contains(&memory) {
            return Err(ConfigError::Invalid {
                key: "PAYGATE_ADAPTER_MEMORY_MB",
                reason: "must be from 4 to 4096".into(),
            });
        }
        Ok(Config {
            listen,
            data_dir: PathBuf::from(
                pick("PAYGATE_DATA_DIR", file.data_dir).unwrap_or_else(|| "./paygate-data".into()),
            ),
            cache_dir: pick("PAYGATE_CACHE_DIR", file.cache_dir).map(PathBuf::from),
            database_url: env("DATABASE_URL").map(Secret).or(file.database_url),
            public_url,
            redis_url: env("REDIS_URL").map(Secret).or(file.redis_url),
            redis_prefix: pick("PAYGATE_REDIS_PREFIX", file.redis_prefix)
                .unwrap_or_else(|| "paygate".into()),
            status_sync_schedule: parse_schedule(
                &pick("PAYGATE_STATUS_SYNC_SCHEDULE", file.status_sync_schedule)
                    .unwrap_or_else(|| "10s,30s,60s,2m,5m".into()),
            )
            .map_err(|reason| ConfigError::Invalid {
                key: "PAYGATE_STATUS_SYNC_SCHEDULE",
                reason,
            })?,
            webhook_schedule: parse_schedule(
                &pick("PAYGATE_WEBHOOK_SCHEDULE", file.webhook_schedule)
                    .unwrap_or_else(|| "10s,30s,1m,5m,15m,1h,6h".into()),
            )
            .map_err(|reason| ConfigError::Invalid {
                key: "PAYGATE_WEBHOOK_SCHEDULE",
                reason,
            })?,
            webhook_order_wait: duration(
                "PAYGATE_WEBHOOK_ORDER_WAIT",
                file.webhook_order_wait,
                Duration::from_secs(300),
            )?,
            queue_lease: duration(
                "PAYGATE_QUEUE_LEASE",
                file.queue_lease,
                Duration::from_secs(90),
            )?,
            queue_watch_interval: nonzero(
                "PAYGATE_QUEUE_WATCH_INTERVAL",
                duration(
                    "PAYGATE_QUEUE_WATCH_INTERVAL",
                    file.queue_watch_interval,
                    Duration::from_secs(5),
                )?,
            )?,
            reconcile_interval: nonzero(
                "PAYGATE_RECONCILE_INTERVAL",
                duration(
                    "PAYGATE_RECONCILE_INTERVAL",
                    file.reconcile_interval,
                    Duration::from_secs(600),
                )?,
            )?,
            bills_at: bills_at(pick("PAYGATE_BILLS_AT", file.bills_at))?,
            admin_token: env("PAYGATE_ADMIN_TOKEN").map(Secret).or(file.admin_token),
            master_key: env("PAYGATE_MASTER_KEY").map(Secret).or(file.master_key),
            sandbox,
            workers,
            repay_cutoff: duration(
                "PAYGATE_REPAY_CUTOFF",
                file.repay_cutoff,
                Duration::from_secs(60),
            )?,
            action_margin: duration(
                "PAYGATE_ACTION_MARGIN",
                file.action_margin,
                Duration::from_secs(60),
            )?,
            flag_after_refusals,
            provider_grace: duration(
                "PAYGATE_PROVIDER_GRACE",
                file.provider_grace,
                Duration::from_secs(60),
            )?,
            adapter_cpu_budget: duration(
                "PAYGATE_ADAPTER_CPU_BUDGET",
                file.adapter_cpu_budget,
                Duration::from_millis(500),
            )?,
            adapter_memory_mb: memory,
            adapter_timeout: duration(
                "PAYGATE_ADAPTER_TIMEOUT",
                file.adapter_timeout,
                Duration::from_secs(30),
            )?,
            adapter_http_timeout: duration(
                "PAYGATE_ADAPTER_HTTP_TIMEOUT",
                file.adapter_http_timeout,
                Duration::from_secs(10),
            )?,
            adapter_max_component_mb: max_component_mb,
            adapter_follow_interval: duration(
                "PAYGATE_ADAPTER_FOLLOW_INTERVAL",
                file.adapter_follow_interval,
                Duration::from_secs(2),
            )?,
            startup_timeout: duration(
                "PAYGATE_STARTUP_TIMEOUT",
                file.startup_timeout,
                Duration::from_secs(30),
            )?,
            log_given: log.is_some(),
            log: log.unwrap_or_else(|| "info".into()),
            log_format,
            master_key_previous: env("PAYGATE_MASTER_KEY_PREVIOUS")
                .map(Secret)
                .or(file.master_key_previous),
            webhook_allow: crate::domain::destination::AllowList::parse(
                &pick("PAYGATE_WEBHOOK_ALLOW", file.webhook_allow).unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::Invalid {
                key: "PAYGATE_WEBHOOK_ALLOW",
                reason,
            })?,
            rate_limit_merchant: rate_limit(
                "PAYGATE_RATE_LIMIT_MERCHANT",
                pick("PAYGATE_RATE_LIMIT_MERCHANT", file.rate_limit_merchant),
                "5000:10000",
            )?,
            rate_limit_ip: rate_limit(
                "PAYGATE_RATE_LIMIT_IP",
                pick("PAYGATE_RATE_LIMIT_IP", file.rate_limit_ip),
                "10000:20000",
            )?,
            rate_limit_notify: rate_limit(
                "PAYGATE_RATE_LIMIT_NOTIFY",
                pick("PAYGATE_RATE_LIMIT_NOTIFY", file.rate_limit_notify),
                "1000:10000",
            )?,
            header_timeout: duration(
                "PAYGATE_HEADER_TIMEOUT",
                file.header_timeout,
                Duration::from_secs(10),
            )?,
            body_timeout: duration(
                "PAYGATE_BODY_TIMEOUT",
                file.body_timeout,
                Duration::from_secs(30),
            )?,
            max_connections: match pick("PAYGATE_MAX_CONNECTIONS", None) {
                Some(v) => v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(ConfigError::Invalid {
                        key: "PAYGATE_MAX_CONNECTIONS",
                        reason: format!("`{v}` is not a number from 1 up"),
                    })?,
                None => file.max_connections.unwrap_or(8192),
            },
        })
    }

    /// The database URL in force: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("paygate.db").display()
            ),
        }
    }

    /// Where compiled adapter artifacts are kept.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// Whether the embedded setting (SQLite) is in force.
    pub fn is_embedded(&self) -> bool {
        !self.database_url().starts_with("postgres")
    }

    /// Whether to serve the sandbox provider: as configured, else on in the embedded setting
    /// of a build that has it (the `sandbox` feature). Asked for in a build without it,
    /// start-up refuses (see `app::spawn`).
    pub fn sandbox_enabled(&self) -> bool {
        self.sandbox
            .unwrap_or_else(|| cfg!(feature = "sandbox") && self.is_embedded())
    }

    /// The base URL providers and browsers reach paygate at.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// The database URL with any password masked, for logs.
    pub fn database_url_redacted(&self) -> String {
        let url = self.database_url();
        match url::Url::parse(&url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("[redacted]"));
                u.to_string()
            }
            _ => url,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `d` unless it is zero (an interval of zero would spin).
/// `PAYGATE_BILLS_AT`: `HH:MM` (default `10:30`) or `off`.
fn bills_at(value: Option<String>) -> Result<Option<time::Time>, ConfigError> {
    let value = value.unwrap_or_else(|| "10:30".into());
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let invalid = || ConfigError::Invalid {
        key: "PAYGATE_BILLS_AT",
        reason: format!("`{value}` is not HH:MM (Beijing time) or `off`"),
    };
    let (h, m) = value.trim().split_once(':').ok_or_else(invalid)?;
    let (Ok(h), Ok(m)) = (h.parse::<u8>(), m.parse::<u8>()) else {
        return Err(invalid());
    };
    time::Time::from_hms(h, m, 0)
        .map(Some)
        .map_err(|_| invalid())
}

fn nonzero(key: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::Invalid {
            key,
            reason: "give a non-zero duration".into(),
        });
    }
    Ok(d)
}

/// Parses a comma-separated list of durations (`10s,30s,2m`); at least one, none zero.
pub fn parse_schedule(v: &str) -> Result<Vec<Duration>, String> {
    let steps = v
        .split(',')
        .map(|s| parse_duration(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.is_empty() || steps.iter().any(Duration::is_zero) {
        return Err(format!("`{v}`: give at least one non-zero duration"));
    }
    Ok(steps)
}

/// Parses `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{v}` is not a duration like 500ms, 10s, 2m, 1h"))?;
    let seconds_per = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(format!("`{v}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    // Checked: `n * 3600` overflows for a number of hours past u64::MAX / 3600.
    n.checked_mul(seconds_per)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{v}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn no_configuration_means_embedded_sqlite_with_sandbox() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.is_embedded() && c.sandbox_enabled());
        assert!(c
            .database_url()
            .starts_with("sqlite://./paygate-data/paygate.db"));
        assert_eq!(c.repay_cutoff, Duration::from_secs(60));
        assert_eq!(c.public_url(c.listen), "http://127.0.0.1:8080");
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn postgres_turns_the_sandbox_off_unless_asked() {
        let c = config(&[("DATABASE_URL", "postgres://u:pw@db/paygate")]).expect("valid");
        assert!(!c.sandbox_enabled());
        let c = config(&[
            ("DATABASE_URL", "postgres://u:pw@db/paygate"),
            ("PAYGATE_SANDBOX", "true"),
        ])
        .expect("valid");
        assert!(c.sandbox_enabled());
    }

    #[test]
    fn secrets_are_redacted_in_the_logged_form() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/paygate"),
            ("PAYGATE_ADMIN_TOKEN", "admintoken123"),
            ("PAYGATE_MASTER_KEY", "ab".repeat(32).as_str()),
            ("PAYGATE_MASTER_KEY_PREVIOUS", "cd".repeat(32).as_str()),
        ])
        .expect("valid");
        let shown = format!("{c:?} {}", c.database_url_redacted());
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("admintoken123")
                && !shown.contains("abab")
                && !shown.contains("cdcd"),
            "{shown}"
        );
    }

    #[test]
    fn status_sync_schedule_defaults_and_parses() {
        let c = config(&[]).expect("defaults");
        let secs: Vec<u64> = c
            .status_sync_schedule
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [10, 30, 60, 120, 300]);
        assert_eq!(
            parse_schedule("1s, 2s"),
            Ok(vec![Duration::from_secs(1), Duration::from_secs(2)])
        );
        assert!(parse_schedule("1s,0s").is_err());
        assert!(parse_schedule("").is_err());
        assert!(config(&[("PAYGATE_STATUS_SYNC_SCHEDULE", "soon")]).is_err());
    }

    #[test]
    fn bills_are_reconciled_at_half_past_ten_unless_told_otherwise_or_off() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.bills_at, time::Time::from_hms(10, 30, 0).ok());
        let c = config(&[("PAYGATE_BILLS_AT", "09:05")]).expect("valid");
        assert_eq!(c.bills_at, time::Time::from_hms(9, 5, 0).ok());
        let c = config(&[("PAYGATE_BILLS_AT", "off")]).expect("valid");
        assert_eq!(c.bills_at, None);
        for bad in ["24:00", "10", "10:60", "half past ten", ""] {
            assert!(config(&[("PAYGATE_BILLS_AT", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_order_wait_defaults_to_five_minutes_and_zero_turns_it_off() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.webhook_order_wait, Duration::from_secs(300));
        let c = config(&[("PAYGATE_WEBHOOK_ORDER_WAIT", "0s")]).expect("valid");
        assert_eq!(c.webhook_order_wait, Duration::ZERO);
        assert!(config(&[("PAYGATE_WEBHOOK_ORDER_WAIT", "a while")]).is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    /// `n * 60` and `n * 3600` overflowed: a panic with overflow checks (the fuzz target
    /// `config_file` crashes on it; its seeds keep the input), a wrapped, far shorter
    /// duration without them.
    #[test]
    fn a_duration_too_long_to_hold_is_refused_not_wrapped() {
        let hours = u64::MAX / 3600 + 1;
        let e = parse_duration(&format!("{hours}h")).expect_err("overflows");
        assert!(e.contains("too long"), "{e}");
        assert!(parse_duration(&format!("{}m", u64::MAX / 60 + 1)).is_err());
        assert!(parse_schedule(&format!("10s,{hours}h")).is_err());
        assert_eq!(
            parse_duration(&format!("{}h", u64::MAX / 3600)),
            Ok(Duration::from_secs(u64::MAX / 3600 * 3600))
        );
        assert_eq!(
            parse_duration(&format!("{}ms", u64::MAX)),
            Ok(Duration::from_millis(u64::MAX))
        );
    }

    #[test]
    fn startup_waits_thirty_seconds_for_its_services_unless_told() {
        assert_eq!(
            config(&[]).expect("defaults").startup_timeout,
            Duration::from_secs(30)
        );
        let c = config(&[("PAYGATE_STARTUP_TIMEOUT", "2s")]).expect("valid");
        assert_eq!(c.startup_timeout, Duration::from_secs(2));
        let e = config(&[("PAYGATE_STARTUP_TIMEOUT", "a while")]).expect_err("invalid");
        assert!(e.to_string().starts_with("PAYGATE_STARTUP_TIMEOUT"), "{e}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let e = config(&[("PAYGATE_LISTEN", "nowhere")]).expect_err("invalid");
        assert!(e.to_string().starts_with("PAYGATE_LISTEN"));
        let e = config(&[("PAYGATE_REPAY_CUTOFF", "soon")]).expect_err("invalid");
        assert!(e.to_string().starts_with("PAYGATE_REPAY_CUTOFF"));
    }

    #[test]
    fn environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("paygate.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nrepay_cutoff = \"30s\"\n",
        )
        .expect("write");
        let p = path.display().to_string();
        let c = config(&[("PAYGATE_CONFIG", &p)]).expect("file");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.repay_cutoff, Duration::from_secs(30));
        let c =
            config(&[("PAYGATE_CONFIG", &p), ("PAYGATE_LISTEN", "127.0.0.1:9001")]).expect("file");
        assert_eq!(c.listen.port(), 9001);
    }

    #[test]
    fn rate_limits_default_to_sizes_the_benchmark_passes_and_can_be_turned_off() {
        let c = config(&[]).expect("defaults");
        assert_eq!(
            c.rate_limit_merchant,
            Some(RateLimit {
                per_second: 5000,
                burst: 10000
            })
        );
        assert_eq!(c.rate_limit_notify.map(|r| r.per_second), Some(1000));
        assert_eq!(c.max_connections, 8192);
        let c = config(&[
            ("PAYGATE_RATE_LIMIT_MERCHANT", "off"),
            ("PAYGATE_RATE_LIMIT_IP", "0"),
            ("PAYGATE_RATE_LIMIT_NOTIFY", "5"),
        ])
        .expect("config");
        assert_eq!((c.rate_limit_merchant, c.rate_limit_ip), (None, None));
        assert_eq!(
            c.rate_limit_notify,
            Some(RateLimit {
                per_second: 5,
                burst: 5
            })
        );
        for bad in ["-1", "x", "5:0", "5:"] {
            let e = config(&[("PAYGATE_RATE_LIMIT_IP", bad)]).expect_err(bad);
            assert!(e.to_string().starts_with("PAYGATE_RATE_LIMIT_IP"), "{e}");
        }
    }

    #[test]
    fn the_webhook_allow_list_is_read_and_a_bad_entry_names_its_variable() {
        let c = config(&[("PAYGATE_WEBHOOK_ALLOW", "hooks.internal,10.0.0.0/8")]).expect("ok");
        assert_ne!(c.webhook_allow, Default::default());
        let e = config(&[("PAYGATE_WEBHOOK_ALLOW", "10.0.0.0/99")]).expect_err("bad");
        assert!(e.to_string().starts_with("PAYGATE_WEBHOOK_ALLOW"), "{e}");
    }
}
