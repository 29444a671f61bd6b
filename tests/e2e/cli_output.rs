//! The `paygate` command as a script or a log shipper sees it: a command's output alone on
//! stdout, log lines on stderr (no colour into a file or a pipe, JSON lines when asked),
//! commands other than `serve` quiet below a warning unless asked, listings as JSON with
//! `--json`. Runs the binary built from `host/src/main.rs` on a data directory of its own.

use std::process::{Command, Output};

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs `paygate ARGS` in a fresh data directory, stdout and stderr piped.
fn paygate(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_readme-paygate"));
    command
        .args(args)
        .env("PAYGATE_DATA_DIR", dir)
        .env_remove("PAYGATE_LOG")
        .env_remove("RUST_LOG")
        .env_remove("PAYGATE_LOG_FORMAT")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        command.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("paygate runs");
    let run = Run {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        status.success(),
        "paygate {args:?} failed: {status}\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    run
}

#[test]
fn a_command_prints_only_its_output_on_stdout_and_no_colour_into_a_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = paygate(dir.path(), &["merchants", "create", "shop"], &[]);
    let lines: Vec<&str> = created.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", created.stdout);
    assert!(lines[0].starts_with("merchant id: m_"), "{}", lines[0]);
    assert!(lines[1].starts_with("API key:"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("webhook secret: whsec_"),
        "{}",
        lines[2]
    );

    let verbose = paygate(dir.path(), &["-v", "providers", "list"], &[]);
    assert!(
        verbose.stderr.contains(" INFO "),
        "-v logs at info: {}",
        verbose.stderr
    );
    assert!(
        !verbose.stderr.contains('\u{1b}') && !verbose.stdout.contains('\u{1b}'),
        "no escape codes into a pipe: {:?}",
        verbose.stderr
    );
    assert!(
        !verbose.stdout.contains(" INFO "),
        "log lines stay off stdout: {}",
        verbose.stdout
    );
    assert!(verbose.stdout.contains("mock "), "{}", verbose.stdout);
}

#[test]
fn a_command_other_than_serve_logs_only_warnings_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quiet = paygate(dir.path(), &["providers", "list"], &[]);
    assert_eq!(quiet.stderr, "", "nothing below a warning");
    let asked = paygate(
        dir.path(),
        &["providers", "list"],
        &[("PAYGATE_LOG", "info")],
    );
    assert!(asked.stderr.contains(" INFO "), "{}", asked.stderr);
}

#[test]
fn logs_are_one_json_object_per_line_with_log_format_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, env) in [
        (
            vec!["--log-format", "json", "-v", "providers", "list"],
            vec![],
        ),
        (
            vec!["-v", "providers", "list"],
            vec![("PAYGATE_LOG_FORMAT", "json")],
        ),
    ] {
        let run = paygate(dir.path(), &args, &env);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(!lines.is_empty(), "{args:?} logged nothing");
        for line in lines {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{args:?}: not a JSON line ({e}): {line}"));
            assert!(
                event["level"].is_string() && event["timestamp"].is_string(),
                "{line}"
            );
            assert!(event["fields"]["message"].is_string(), "{line}");
        }
    }
}

#[test]
fn listing_commands_print_json_with_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    paygate(dir.path(), &["merchants", "create", "shop"], &[]);
    let parse = |args: &[&str]| -> serde_json::Value {
        let run = paygate(dir.path(), args, &[("PAYGATE_LOG", "info")]);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", run.stdout))
    };
    let providers = parse(&["providers", "list", "--json"]);
    let names: Vec<&str> = providers
        .as_array()
        .expect("an array of adapters")
        .iter()
        .filter_map(|a| a["provider"].as_str())
        .collect();
    assert!(
        names.contains(&"mock") && names.contains(&"wechat"),
        "{names:?}"
    );
    let merchants = parse(&["merchants", "list", "--json"]);
    assert_eq!(merchants["merchants"][0]["name"], "shop");
    assert!(parse(&["adapters", "list", "--json"]).is_array());
    assert!(parse(&["operators", "list", "--json"])["operators"].is_array());
    assert!(parse(&["audit", "list", "--json"])["entries"].is_array());
    let key_file = dir.path().join("mock-api-key");
    std::fs::write(&key_file, "sk_test\n").expect("key file");
    let secret = format!("api_key={}", key_file.display());
    let configured = paygate(
        dir.path(),
        &[
            "providers",
            "configure",
            "shop",
            "mock",
            "--set",
            "sandbox_url=http://127.0.0.1:9/sandbox",
            "--set",
            "account_id=acct_1",
            "--secret-file",
            &secret,
            "--no-test",
        ],
        &[],
    );
    assert_eq!(configured.stderr, "");
    let shown = parse(&["providers", "show", "shop", "mock", "--json"]);
    assert_eq!(shown["provider"], "mock");
    assert_eq!(
        shown["settings"]["sandbox_url"],
        "http://127.0.0.1:9/sandbox"
    );
    assert_eq!(
        shown["secret_names"],
        serde_json::json!(["api_key"]),
        "names only"
    );
}

#[test]
fn events_commands_say_they_need_a_running_paygate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_readme-paygate"))
        .args(["events", "redeliver", "evt_1"])
        .env("PAYGATE_DATA_DIR", dir.path())
        .env_remove("PAYGATE_URL")
        .output()
        .expect("paygate runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--url"), "{said}");
}
