//! Start-up checks, run before paygate binds its port: the database, the master key and
//! Redis (when configured). A service that cannot be reached is tried again with a logged
//! countdown, for at most `PAYGATE_STARTUP_TIMEOUT` in all; then start-up stops with an
//! error that names the service, its address and what to do. A service that answers but
//! refuses (a wrong password, a missing database) and a master key that does not open the
//! stored secrets stop it at once. The retry policy is a pure function, [`next_step`].

use std::future::Future;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::queue::{redis_address, redis_ping, RedisQueue};
use crate::store::{self, Db, StoreError};
use crate::vault::{key_verdict, KeyVerdict, Vault};

/// The first wait after a failed attempt; each next one doubles, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// The longest one attempt may take (a host that drops packets answers nothing at all).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest time one attempt is given, even when the budget is nearly spent.
const MIN_ATTEMPT: Duration = Duration::from_secs(1);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Try again after `after`; start-up gives up `gives_up_in` from now.
    Retry {
        after: Duration,
        gives_up_in: Duration,
    },
    /// The budget is spent.
    GiveUp,
}

/// The retry policy: after the `failures`-th failed attempt (1 for the first), `elapsed`
/// into a `budget` of waiting, wait 0.5 s, 1 s, 2 s, 4 s, then 5 s between attempts, never
/// past the budget; give up once it is spent. A zero budget means one attempt.
pub fn next_step(failures: u32, elapsed: Duration, budget: Duration) -> Step {
    let left = budget.saturating_sub(elapsed);
    if left.is_zero() {
        return Step::GiveUp;
    }
    let doublings = failures.saturating_sub(1).min(16);
    let backoff = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    Step::Retry {
        after: backoff.min(left),
        gives_up_in: left,
    }
}

/// A duration for people: `2 s`, `26 s`, `500 ms`.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", (d.as_millis() + 500) / 1000)
    }
}

/// A service start-up waits for.
#[derive(Debug, Clone)]
pub struct Service {
    /// `Redis`, `PostgreSQL`, `SQLite`.
    pub name: &'static str,
    /// Where it was looked for: `127.0.0.1:6379`, a file (never a password).
    pub address: String,
    /// What to do when it cannot be reached.
    pub hint: &'static str,
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Whether trying again may help (nothing answered) or not (it answered no).
    pub transient: bool,
    pub reason: String,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            transient: true,
            reason: reason.into(),
        }
    }

    fn fatal(reason: impl Into<String>) -> Failure {
        Failure {
            transient: false,
            reason: reason.into(),
        }
    }
}

/// Why start-up stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "{} at {} unreachable ({reason}); gave up after {waited} (PAYGATE_STARTUP_TIMEOUT={budget}): {}",
        .service.name, .service.address, .service.hint
    )]
    Unreachable {
        service: Service,
        reason: String,
        waited: String,
        budget: String,
    },
    #[error("{} at {} refused paygate: {reason}; {}", .service.name, .service.address, .service.hint)]
    Refused { service: Service, reason: String },
    #[error(
        "{source_of_key} does not open the secrets in this database ({database}): it does not \
         open {what}, so they were sealed with another key; {fix}"
    )]
    WrongMasterKey {
        source_of_key: String,
        database: String,
        what: String,
        fix: &'static str,
    },
    #[error("{what}: {error}")]
    Storage {
        what: &'static str,
        error: StoreError,
    },
}

/// Start-up's budget of waiting, shared by every service it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    budget: Duration,
}

impl Deadline {
    pub fn new(budget: Duration) -> Deadline {
        Deadline {
            started: Instant::now(),
            budget,
        }
    }
}

/// Runs `attempt` until it succeeds, retrying transient failures on [`next_step`] with a
/// logged countdown, each attempt bounded by a few seconds.
pub async fn wait_for<T, F, Fut>(
    service: &Service,
    deadline: Deadline,
    mut attempt: F,
) -> Result<T, StartupError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut failures = 0;
    loop {
        let left = deadline.budget.saturating_sub(deadline.started.elapsed());
        let limit = left.clamp(MIN_ATTEMPT, ATTEMPT_TIMEOUT);
        let failure = match tokio::time::timeout(limit, attempt()).await {
            Ok(Ok(value)) => {
                if failures > 0 {
                    tracing::info!("{} at {} answers now", service.name, service.address);
                }
                return Ok(value);
            }
            Ok(Err(failure)) => failure,
            Err(_) => Failure::transient(format!("no answer within {}", human(limit))),
        };
        if !failure.transient {
            return Err(StartupError::Refused {
                service: service.clone(),
                reason: failure.reason,
            });
        }
        failures += 1;
        let elapsed = deadline.started.elapsed();
        match next_step(failures, elapsed, deadline.budget) {
            Step::Retry { after, gives_up_in } => {
                tracing::warn!(
                    "{} at {} unreachable ({}); retrying in {}, giving up in {}",
                    service.name,
                    service.address,
                    failure.reason,
                    human(after),
                    human(gives_up_in)
                );
                tokio::time::sleep(after).await;
            }
            Step::GiveUp => {
                return Err(StartupError::Unreachable {
                    service: service.clone(),
                    reason: failure.reason,
                    waited: human(elapsed),
                    budget: human(deadline.budget),
                })
            }
        }
    }
}

/// The reason of an I/O failure, in the words people search for.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::TimedOut => "connection timed out".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

/// The database of `config`, as a start-up dependency.
fn database_service(config: &Config) -> Service {
    let url = config.database_url();
    if config.is_embedded() {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        Service {
            name: "SQLite",
            address: path.split('?').next().unwrap_or(path).to_owned(),
            hint:
                "check that PAYGATE_DATA_DIR (or DATABASE_URL) names a directory paygate may write",
        }
    } else {
        let address = url::Url::parse(&url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(format!("{host}:{}", u.port().unwrap_or(5432)))
            })
            .unwrap_or_else(|| "DATABASE_URL".into());
        Service {
            name: "PostgreSQL",
            address,
            hint: "start PostgreSQL there, or correct DATABASE_URL",
        }
    }
}

/// How an attempt to connect to the database failed.
fn database_failure(e: &StoreError) -> Failure {
    match e {
        StoreError::Database(sqlx::Error::Io(io)) => Failure::transient(io_reason(io)),
        StoreError::Database(sqlx::Error::PoolTimedOut) => {
            Failure::transient("no connection within the pool's timeout")
        }
        // PostgreSQL starting up (57P03) or full (53300): it will let us in later.
        StoreError::Database(sqlx::Error::Database(d))
            if matches!(d.code().as_deref(), Some("57P03" | "53300")) =>
        {
            Failure::transient(d.message().to_owned())
        }
        StoreError::Database(sqlx::Error::Database(d)) => Failure::fatal(d.message().to_owned()),
        other => Failure::fatal(other.to_string()),
    }
}

/// Waits for the database of `config`, then opens its pool and applies the migrations.
pub async fn open_database(config: &Config, deadline: Deadline) -> Result<Db, StartupError> {
    let service = database_service(config);
    let url = config.database_url();
    wait_for(&service, deadline, || async {
        store::probe(&url).await.map_err(|e| database_failure(&e))
    })
    .await?;
    let db = store::open(&url).await.map_err(|e| StartupError::Refused {
        service: service.clone(),
        reason: e.to_string(),
    })?;
    store::migrate(&db)
        .await
        .map_err(|error| StartupError::Storage {
            what: "applying the database migrations",
            error,
        })?;
    Ok(db)
}

/// Checks that `vault` holds the key the database's secrets were sealed with, writing the
/// key's verifier when the database has none yet (see [`key_verdict`]). `from_env` says
/// whether the key came from `PAYGATE_MASTER_KEY` (else from `<data dir>/master.key`).
pub async fn check_master_key(db: &Db, vault: &Vault, config: &Config) -> Result<(), StartupError> {
    let storage = |what| move |error| StartupError::Storage { what, error };
    let verifier = store::master_key::verifier(db)
        .await
        .map_err(storage("reading the master key's verifier"))?;
    let opens = verifier
        .as_deref()
        .map(|sealed| vault.opens_verifier(sealed));
    let verdict = if opens == Some(true) {
        KeyVerdict::Right
    } else {
        let samples = store::master_key::sealed_samples(db)
            .await
            .map_err(storage("reading the stored secrets"))?;
        let opened: Vec<(String, bool)> = samples
            .into_iter()
            .map(|(what, sealed)| (what, vault.open(&sealed).is_ok()))
            .collect();
        key_verdict(opens, &opened)
    };
    match verdict {
        KeyVerdict::Right => Ok(()),
        KeyVerdict::WriteVerifier | KeyVerdict::ReplaceVerifier => {
            if let (KeyVerdict::ReplaceVerifier, Some(old)) = (&verdict, &verifier) {
                tracing::warn!(
                    "the stored master key verifier was written with another key, which sealed \
                     none of the stored secrets: replacing it with this key's"
                );
                store::master_key::replace_verifier(db, old, &vault.seal_verifier())
                    .await
                    .map_err(storage("replacing the master key's verifier"))?;
            }
            store::master_key::insert_verifier(db, &vault.seal_verifier())
                .await
                .map_err(storage("writing the master key's verifier"))?;
            // Another instance starting beside this one may have written its own first.
            let stored = store::master_key::verifier(db)
                .await
                .map_err(storage("reading the master key's verifier"))?;
            match stored {
                Some(sealed) if vault.opens_verifier(&sealed) => {
                    tracing::info!(
                        "the master key's verifier is stored: every start checks the key"
                    );
                    Ok(())
                }
                _ => Err(wrong_key(
                    config,
                    "the master key's verifier another instance just stored".into(),
                )),
            }
        }
        KeyVerdict::Wrong { what } => Err(wrong_key(config, what)),
    }
}

fn wrong_key(config: &Config, what: String) -> StartupError {
    let (source_of_key, fix) = if config.master_key.is_some() {
        (
            "PAYGATE_MASTER_KEY".to_owned(),
            "use the PAYGATE_MASTER_KEY they were sealed with (every instance \
             sharing this database needs that same key)",
        )
    } else {
        (
            format!(
                "the master key in {}",
                config.data_dir.join("master.key").display()
            ),
            "put back the master.key file they were sealed with, or set PAYGATE_MASTER_KEY to \
             that key",
        )
    };
    StartupError::WrongMasterKey {
        source_of_key,
        database: config.database_url_redacted(),
        what,
        fix,
    }
}

/// How an attempt to reach Redis failed.
fn redis_failure(e: &::redis::RedisError) -> Failure {
    if e.is_connection_refusal() {
        Failure::transient("connection refused")
    } else if e.is_timeout() {
        Failure::transient("connection timed out")
    } else if e.is_io_error() || e.is_connection_dropped() {
        Failure::transient(e.to_string())
    } else if e.kind() == ::redis::ErrorKind::BusyLoadingError {
        Failure::transient("Redis is loading its data")
    } else {
        Failure::fatal(e.to_string())
    }
}

/// Waits for Redis at `url`, then connects the delay queue to it.
pub async fn connect_redis(
    url: &str,
    prefix: &str,
    deadline: Deadline,
) -> Result<RedisQueue, StartupError> {
    let service = Service {
        name: "Redis",
        address: redis_address(url),
        hint: "start Redis there, or correct REDIS_URL (leave it unset to use the SQL delay \
               queue)",
    };
    wait_for(&service, deadline, || async {
        redis_ping(url).await.map_err(|e| redis_failure(&e))
    })
    .await?;
    RedisQueue::connect(url, prefix)
        .await
        .map_err(|e| StartupError::Refused {
            service: service.clone(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_secs(30);

    #[test]
    fn retries_back_off_from_half_a_second_to_five_seconds() {
        let delays: Vec<Duration> = (1..=6)
            .map(|n| match next_step(n, Duration::ZERO, BUDGET) {
                Step::Retry { after, .. } => after,
                Step::GiveUp => panic!("gave up with the budget untouched"),
            })
            .collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn the_countdown_says_how_long_is_left_and_no_wait_runs_past_the_budget() {
        assert_eq!(
            next_step(3, Duration::from_secs(4), BUDGET),
            Step::Retry {
                after: Duration::from_secs(2),
                gives_up_in: Duration::from_secs(26)
            }
        );
        assert_eq!(
            next_step(9, Duration::from_millis(29_200), BUDGET),
            Step::Retry {
                after: Duration::from_millis(800),
                gives_up_in: Duration::from_millis(800)
            }
        );
    }

    #[test]
    fn the_budget_spent_gives_up_and_a_zero_budget_means_one_attempt() {
        assert_eq!(next_step(1, BUDGET, BUDGET), Step::GiveUp);
        assert_eq!(
            next_step(1, BUDGET + Duration::from_secs(3), BUDGET),
            Step::GiveUp
        );
        assert_eq!(next_step(1, Duration::ZERO, Duration::ZERO), Step::GiveUp);
    }

    #[test]
    fn durations_read_as_seconds_or_milliseconds() {
        assert_eq!(human(Duration::from_millis(26_400)), "26 s");
        assert_eq!(human(Duration::from_millis(1_500)), "2 s");
        assert_eq!(human(Duration::from_millis(500)), "500 ms");
    }

    #[tokio::test]
    async fn an_unreachable_service_is_retried_until_the_budget_is_spent() {
        let service = Service {
            name: "Redis",
            address: "127.0.0.1:1".into(),
            hint: "start Redis there",
        };
        let mut attempts = 0;
        let started = Instant::now();
        let result: Result<(), _> =
            wait_for(&service, Deadline::new(Duration::from_millis(1200)), || {
                attempts += 1;
                async { Err(Failure::transient("connection refused")) }
            })
            .await;
        let message = result.expect_err("gives up").to_string();
        assert!(attempts >= 2, "{attempts} attempts");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            message.starts_with("Redis at 127.0.0.1:1 unreachable (connection refused); gave up"),
            "{message}"
        );
        assert!(message.ends_with("start Redis there"), "{message}");
    }

    #[tokio::test]
    async fn a_service_that_answers_no_is_not_retried() {
        let service = Service {
            name: "PostgreSQL",
            address: "db:5432".into(),
            hint: "correct DATABASE_URL",
        };
        let mut attempts = 0;
        let result: Result<(), _> = wait_for(&service, Deadline::new(BUDGET), || {
            attempts += 1;
            async { Err(Failure::fatal("password authentication failed")) }
        })
        .await;
        assert_eq!(attempts, 1);
        assert_eq!(
            result.expect_err("refused").to_string(),
            "PostgreSQL at db:5432 refused paygate: password authentication failed; correct DATABASE_URL"
        );
    }

    async fn embedded(dir: &std::path::Path, key: &str) -> (Config, Db, Vault) {
        let vars = std::collections::HashMap::from([
            ("PAYGATE_DATA_DIR".to_owned(), dir.display().to_string()),
            ("PAYGATE_MASTER_KEY".to_owned(), key.to_owned()),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("config");
        let db = open_database(&config, Deadline::new(Duration::ZERO))
            .await
            .expect("database");
        let vault = Vault::from_hex(key).expect("key");
        (config, db, vault)
    }

    #[tokio::test]
    async fn a_database_from_before_verifiers_gets_one_only_from_the_key_that_opens_its_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (right, wrong) = ("11".repeat(32), "22".repeat(32));
        let (_, db, vault) = embedded(dir.path(), &right).await;
        store::merchants::insert(&db, "m_1", "Acme", "hash", &vault.seal("whsec"), None)
            .await
            .expect("merchant");
        let (config, db, other) = embedded(dir.path(), &wrong).await;
        let e = check_master_key(&db, &other, &config)
            .await
            .expect_err("the wrong key is refused");
        let message = e.to_string();
        assert!(
            message.starts_with("PAYGATE_MASTER_KEY does not open the secrets in this database")
                && message.contains("the webhook secret of merchant m_1")
                && message.contains("the PAYGATE_MASTER_KEY they were sealed with"),
            "{message}"
        );
        assert_eq!(store::master_key::verifier(&db).await.expect("read"), None);
        let (config, db, vault) = embedded(dir.path(), &right).await;
        check_master_key(&db, &vault, &config)
            .await
            .expect("the right key");
        let verifier = store::master_key::verifier(&db)
            .await
            .expect("read")
            .expect("written");
        assert!(vault.opens_verifier(&verifier));
        let e = check_master_key(&db, &other, &config)
            .await
            .expect_err("refused: the key opens neither the verifier nor the secrets");
        assert!(
            e.to_string().contains("the webhook secret of merchant m_1"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_verifier_from_a_key_that_sealed_nothing_gives_way_to_the_key_of_the_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (typo, right) = ("33".repeat(32), "11".repeat(32));
        // A command run once with a mistyped key on a database without secrets...
        let (config, db, mistyped) = embedded(dir.path(), &typo).await;
        check_master_key(&db, &mistyped, &config)
            .await
            .expect("no secrets: any key");
        // ...does not lock out the real key, whose verifier replaces it.
        let (config, db, vault) = embedded(dir.path(), &right).await;
        check_master_key(&db, &vault, &config)
            .await
            .expect("the verifier alone sealed nothing");
        let verifier = store::master_key::verifier(&db)
            .await
            .expect("read")
            .expect("written");
        assert!(vault.opens_verifier(&verifier));
        // Once a secret is sealed, the key that sealed it is the only right one.
        store::merchants::insert(&db, "m_1", "Acme", "hash", &vault.seal("whsec"), None)
            .await
            .expect("merchant");
        let (config, db, mistyped) = embedded(dir.path(), &typo).await;
        check_master_key(&db, &mistyped, &config)
            .await
            .expect_err("the typo opens no secret");
    }
}
