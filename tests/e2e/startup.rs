//! Start-up checks, on paygate as a real process (`paygate-server`, which ends as `paygate
//! serve` does): a missing service or a wrong master key stops start-up before the port is
//! bound, within the configured wait, with a message that names what and where.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, start};

/// How a start-up that was meant to fail ended.
struct Stopped {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

/// Starts paygate with `env` and waits for it to stop within `bound`, checking all along
/// that nothing listens on `port` (the one it was told to bind). Panics if it still runs
/// after `bound`.
fn start_expecting_failure(env: &HashMap<String, String>, port: u16, bound: Duration) -> Stopped {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate-server"))
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paygate starts");
    let mut stderr = child.stderr.take().expect("stderr");
    // Read stderr beside the polling, so a chatty process never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "paygate bound its port before its start-up checks passed"
        );
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "paygate still ran after {bound:?}; its stderr:\n{}",
                reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Stopped {
        code: status.code(),
        stderr: reader.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

fn base_env(dir: &std::path::Path, port: u16) -> HashMap<String, String> {
    HashMap::from([
        ("PAYGATE_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("PAYGATE_DATA_DIR".into(), dir.display().to_string()),
        (
            "PAYGATE_CACHE_DIR".into(),
            std::env::temp_dir()
                .join("paygate-test-cache")
                .display()
                .to_string(),
        ),
        ("PAYGATE_LOG".into(), "info".into()),
    ])
}

#[test]
fn an_unreachable_redis_stops_start_up_within_the_wait_naming_redis_and_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let closed = free_port();
    let mut env = base_env(dir.path(), port);
    env.insert("REDIS_URL".into(), format!("redis://127.0.0.1:{closed}"));
    env.insert("PAYGATE_STARTUP_TIMEOUT".into(), "2s".into());
    let stopped = start_expecting_failure(&env, port, Duration::from_secs(20));
    assert_eq!(stopped.code, Some(1), "{}", stopped.stderr);
    let address = format!("Redis at 127.0.0.1:{closed} unreachable (connection refused)");
    assert!(
        stopped.stderr.contains(&format!("{address}; retrying in")),
        "no countdown logged:\n{}",
        stopped.stderr
    );
    let last = stopped.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("paygate: {address}; gave up after"))
            && last.contains("PAYGATE_STARTUP_TIMEOUT=2 s")
            && last.contains("correct REDIS_URL"),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped.took >= Duration::from_secs(2),
        "gave up before the wait: {:?}",
        stopped.took
    );
}

#[test]
fn an_unreachable_database_stops_start_up_naming_postgresql_and_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let closed = free_port();
    let mut env = base_env(dir.path(), port);
    env.insert(
        "DATABASE_URL".into(),
        format!("postgres://postgres@127.0.0.1:{closed}/paygate"),
    );
    env.insert("PAYGATE_MASTER_KEY".into(), "ab".repeat(32));
    env.insert("PAYGATE_STARTUP_TIMEOUT".into(), "1s".into());
    let stopped = start_expecting_failure(&env, port, Duration::from_secs(20));
    assert_eq!(stopped.code, Some(1), "{}", stopped.stderr);
    let last = stopped.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "paygate: PostgreSQL at 127.0.0.1:{closed} unreachable (connection refused); gave up after"
        )) && last.contains("start PostgreSQL there, or correct DATABASE_URL"),
        "{}",
        stopped.stderr
    );
}

#[test]
fn a_master_key_other_than_the_one_the_secrets_were_sealed_with_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut env = base_env(dir.path(), port);
    env.insert("PAYGATE_MASTER_KEY".into(), "11".repeat(32));
    // The first start seals the demo merchant's secrets with the first key.
    let (server, demo) = start(&env);
    assert!(demo.is_some(), "the first start creates the demo merchant");
    drop(server);
    env.insert("PAYGATE_MASTER_KEY".into(), "22".repeat(32));
    let stopped = start_expecting_failure(&env, port, Duration::from_secs(30));
    assert_eq!(stopped.code, Some(1), "{}", stopped.stderr);
    let last = stopped.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("paygate: PAYGATE_MASTER_KEY does not open the secrets in this database")
            && last.contains("use the PAYGATE_MASTER_KEY they were sealed with"),
        "{}",
        stopped.stderr
    );
    // The right key still starts it.
    env.insert("PAYGATE_MASTER_KEY".into(), "11".repeat(32));
    let (_server, demo) = start(&env);
    assert!(demo.is_none(), "the same data, not a new start");
}
