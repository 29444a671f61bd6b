//! The `paygate` binary as an operator runs it: `serve` with no configuration but a data
//! directory, and `merchants create` on the same directory while the server runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The admin token of the servers these tests start (and of `--url` commands).
const ADMIN_TOKEN: &str = "cli-test-admin-token";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field(line: &str, label: &str) -> Option<String> {
    line.trim().strip_prefix(label).map(|rest| {
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

/// Starts `paygate serve` on `dir` at a free port; returns it, the demo merchant's API key
/// if this was the first start, and the address it listens on (`host:port`).
fn serve(dir: &std::path::Path) -> (Server, Option<String>, String) {
    serve_on(dir, "127.0.0.1:0")
}

/// [`serve`] on the address `listen`.
fn serve_on(dir: &std::path::Path, listen: &str) -> (Server, Option<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .arg("serve")
        .env("PAYGATE_DATA_DIR", dir)
        .env("PAYGATE_LISTEN", listen)
        .env("PAYGATE_LOG", "warn")
        .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .expect("paygate serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    // First start prints the demo merchant's key once, then the address.
    let (mut demo_key, mut addr) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        demo_key = demo_key.or_else(|| field(&line, "API key:"));
        if let Some(a) = line.strip_prefix("paygate listening on http://") {
            addr = a.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let addr = addr.expect("the server prints its address");
    (server, demo_key, addr)
}

#[test]
fn merchants_create_works_beside_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, demo_key, addr) = serve(dir.path());
    assert!(
        demo_key.is_some_and(|k| k.starts_with("pk_")),
        "the demo merchant's API key is printed at first start"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .args(["merchants", "create", "Acme Tea"])
        .env("PAYGATE_DATA_DIR", dir.path())
        .env("PAYGATE_LOG", "warn")
        .output()
        .expect("paygate merchants create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .lines()
        .find_map(|l| field(l, "merchant id:"))
        .expect("prints the id");
    let key = text
        .lines()
        .find_map(|l| field(l, "API key:"))
        .expect("prints the key");
    assert!(id.starts_with("m_") && key.starts_with("pk_"));

    // The running server accepts the new key at once: an unknown order is 404, not 401.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/v1/orders/ord_unknown"))
            .bearer_auth(&key)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request")
            .status()
    });
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    drop(server);
}

/// Runs `paygate ARGS` on `dir`; (success, stdout, stderr).
fn paygate(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .args(args)
        .env("PAYGATE_DATA_DIR", dir)
        .env("PAYGATE_LOG", "warn")
        .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PAYGATE_OPERATOR", "ops-cli")
        .output()
        .expect("paygate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn providers_configure_checks_a_wechat_configuration_and_never_prints_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out, err) = paygate(dir.path(), &["merchants", "create", "Acme Tea"]);
    assert!(ok, "{err}");
    let id = out
        .lines()
        .find_map(|l| field(l, "merchant id:"))
        .expect("prints the id");
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../simulators/wechat/fixtures");
    let file = |name: &str, file: &str| format!("{name}={keys}/{file}");
    let private = file("merchant_private_key", "merchant_private_key.pem");
    let public = file("platform_public_key", "platform_public_key.pem");
    let apiv3 = file("apiv3_key", "apiv3_key.txt");
    // --no-test: the default api_base is WeChat Pay itself, out of reach here.
    let mut args = vec![
        "providers",
        "configure",
        &id,
        "wechat",
        "--no-test",
        "--set",
        "appid=wxd678efh567hg6787",
        "--set",
        "merchant_serial_no=5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "--secret-file",
        &private,
        "--secret-file",
        &public,
        "--secret-file",
        &apiv3,
    ];

    let (ok, _, err) = paygate(dir.path(), &args);
    assert!(!ok, "a missing setting is refused");
    assert!(err.contains("mchid"), "{err}");

    args.extend([
        "--set",
        "mchid=1900009191",
        "--set",
        "platform_public_key_id=PUB_KEY_ID_0114232134912410000000000000",
    ]);
    let (ok, out, err) = paygate(dir.path(), &args);
    assert!(ok, "{err}");
    assert!(
        out.contains("api_base = https://api.mch.weixin.qq.com"),
        "{out}"
    );
    assert!(out.contains("merchant_private_key = (secret"), "{out}");
    assert!(
        !out.contains("PRIVATE KEY") && !out.contains("Wq3mT8vZ"),
        "{out}"
    );

    let (ok, out, err) = paygate(dir.path(), &["providers", "show", &id, "wechat"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("apiv3_key = (secret") && !out.contains("Wq3mT8vZ"),
        "{out}"
    );

    // A public key where the private key belongs is refused, naming it.
    let wrong = file("merchant_private_key", "platform_public_key.pem");
    let at = args
        .iter()
        .position(|a| *a == private)
        .expect("the private key argument");
    args[at] = &wrong;
    let (ok, _, err) = paygate(dir.path(), &args);
    assert!(!ok && err.contains("merchant_private_key"), "{err}");
}

#[test]
fn merchants_are_found_again_and_a_provider_configuration_is_tested_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _, addr) = serve(dir.path());
    let sandbox_url = format!("sandbox_url=http://{addr}/sandbox");

    // The demo merchant, by its name, whatever its id.
    let (ok, out, err) = paygate(dir.path(), &["merchants", "show", "demo", "--json"]);
    assert!(ok, "{err}");
    let demo: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let id = demo["id"].as_str().expect("id").to_owned();
    assert_eq!(demo["providers"], serde_json::json!(["mock"]), "{demo}");
    let (ok, out, err) = paygate(dir.path(), &["merchants", "create", "Acme Tea"]);
    assert!(ok, "{err}");
    assert!(out.contains("merchant id:"), "{out}");
    let (ok, out, err) = paygate(dir.path(), &["merchants", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PROVIDERS"),
        "{out}"
    );
    assert!(lines[1].contains("Acme Tea"), "newest first: {out}");
    assert!(
        lines[2].contains(&id) && lines[2].contains("demo") && lines[2].contains("mock"),
        "{out}"
    );

    // The demo's configuration reaches the sandbox this server serves.
    let (ok, out, err) = paygate(dir.path(), &["providers", "test", "demo", "mock"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("ok: mock for merchant {id}")),
        "{out}"
    );

    // A placeholder account is refused, in the sandbox's words, and nothing is stored...
    let placeholder = [
        "providers",
        "configure",
        "demo",
        "mock",
        "--set",
        &sandbox_url,
        "--set",
        "account_id=sbx_...",
    ];
    let (ok, _, err) = paygate(dir.path(), &placeholder);
    assert!(
        !ok && err.contains("was not stored") && err.contains("unknown account"),
        "{err}"
    );
    let (ok, out, _) = paygate(dir.path(), &["providers", "test", &id, "mock"]);
    assert!(ok, "the stored configuration still works: {out}");
    // ...unless told not to test it; then `providers test` fails, saying why.
    let mut untested = placeholder.to_vec();
    untested.push("--no-test");
    let (ok, out, err) = paygate(dir.path(), &untested);
    assert!(ok && out.contains("stored untested"), "{out}{err}");
    let (ok, out, err) = paygate(dir.path(), &["providers", "test", "demo", "mock", "--json"]);
    assert!(!ok, "a failed test exits non-zero");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        report["error"]["code"], "provider_misconfigured",
        "{report}"
    );
    assert!(err.contains("unknown account"), "{err}");

    // The merchant-wide webhook endpoint.
    let (ok, out, err) = paygate(
        dir.path(),
        &[
            "merchants",
            "webhook",
            "demo",
            "https://shop.example/paygate",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("webhook:   https://shop.example/paygate"),
        "{out}"
    );
    let (ok, _, err) = paygate(dir.path(), &["merchants", "webhook", "demo", "not a url"]);
    assert!(!ok && err.contains("notify_url"), "{err}");
    let (ok, out, err) = paygate(dir.path(), &["merchants", "webhook", "demo", "--remove"]);
    assert!(ok && out.contains("webhook:   none"), "{out}{err}");

    let (ok, _, err) = paygate(dir.path(), &["merchants", "show", "nobody"]);
    assert!(
        !ok && err.contains("no merchant has the id or name `nobody`"),
        "{err}"
    );
    drop(server);
}

/// The mock adapter as built against contract 1.0.0: a second build of `mock` to upload.
const MOCK_1_0_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/adapters/mock-1.0.0.wasm"
);

#[test]
fn adapter_versions_are_managed_from_the_command_line_on_the_data_directory_and_through_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _, addr) = serve(dir.path());
    let url = format!("http://{addr}");

    let (ok, out, err) = paygate(dir.path(), &["adapters", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("PROVIDER  VERSION"), "{out}");
    assert_eq!(
        lines.len(),
        4,
        "a header and the three bundled adapters: {out}"
    );
    assert!(lines[1..].iter().all(|l| l.contains(" active ")), "{out}");

    let (ok, out, err) = paygate(dir.path(), &["adapters", "check", MOCK_1_0_0]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: mock 0.1.0 (contract 1.0.0"), "{out}");

    // Through the running server's admin API.
    let (ok, out, err) = paygate(
        dir.path(),
        &["adapters", "upload", MOCK_1_0_0, "--url", &url, "--json"],
    );
    assert!(ok, "{err}");
    let uploaded: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(uploaded["created"], true, "{uploaded}");
    assert_eq!(uploaded["version"]["uploaded_by"], "ops-cli", "{uploaded}");
    let (ok, out, err) = paygate(
        dir.path(),
        &["adapters", "activate", "mock", "0.1.0", "--url", &url],
    );
    assert!(ok, "{err}");
    assert!(out.contains("is active, replacing 0.2.0"), "{out}");

    // On the data directory: the server follows within seconds.
    let (ok, out, err) = paygate(dir.path(), &["adapters", "show", "mock"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("mock: active 0.1.0"), "{out}");
    let (ok, out, err) = paygate(dir.path(), &["adapters", "rollback", "mock"]);
    assert!(ok, "{err}");
    assert!(out.contains("is active, replacing 0.1.0"), "{out}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let followed = rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let active: serde_json::Value = reqwest::Client::new()
                .get(format!("{url}/admin/adapters/mock"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("JSON");
            if active["running_here"] == active["active"]["sha256"]
                && active["active"]["version"] == "0.2.0"
                || std::time::Instant::now() > deadline
            {
                return active;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(followed["active"]["version"], "0.2.0", "{followed}");
    assert_eq!(
        followed["running_here"], followed["active"]["sha256"],
        "{followed}"
    );

    let (ok, _, err) = paygate(dir.path(), &["adapters", "rollback", "nosuch"]);
    assert!(!ok && err.contains("no version of `nosuch`"), "{err}");
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").expect("write");
    let junk = junk.display().to_string();
    let (ok, _, err) = paygate(dir.path(), &["adapters", "upload", &junk, "--url", &url]);
    assert!(!ok && err.contains("invalid_adapter"), "{err}");
    drop(server);
}

#[test]
fn the_conformance_check_passes_the_bundled_mock_and_fails_an_adapter_of_another_protocol() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = dir.path().join("mock.wasm");
    std::fs::write(&mock, paygate::adapters::MOCK).expect("write");
    let (ok, out, err) = paygate(
        dir.path(),
        &["adapters", "check", &mock.display().to_string()],
    );
    assert!(ok, "{out}\n{err}");
    for check in [
        "upload",
        "configuration test",
        "pay",
        "repay",
        "query: paid",
        "query: unknown trade",
        "notification: paid",
        "notification: forged signature",
        "close",
        "refund",
        "refund query",
        "provider timeout",
    ] {
        assert!(out.contains(&format!("PASS  {check} ")), "{check}: {out}");
    }
    assert!(out.contains("all 12 checks passed"), "{out}");

    // The WeChat Pay adapter does not speak the sandbox's protocol: its configuration is
    // refused, every later check is reported as not run, and the exit status says so.
    let wechat = dir.path().join("wechat.wasm");
    std::fs::write(&wechat, paygate::adapters::WECHAT).expect("write");
    let (ok, out, err) = paygate(
        dir.path(),
        &["adapters", "check", &wechat.display().to_string(), "--json"],
    );
    assert!(!ok, "{out}");
    assert!(err.contains("11 of 12 conformance checks failed"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["adapter"]["provider"], "wechat", "{report}");
    assert_eq!(report["conformance"]["passed"], false, "{report}");
    assert_eq!(
        report["conformance"]["checks"][0]["passed"], true,
        "{report}"
    );
    assert_eq!(
        report["conformance"]["checks"][1]["name"],
        "configuration test"
    );
    assert!(
        report["conformance"]["checks"][2]["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("not run")),
        "{report}"
    );
}

/// Runs `paygate ARGS` on `dir` with `envs` added (or replacing the defaults).
fn paygate_with(
    dir: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
    command
        .args(args)
        .env("PAYGATE_DATA_DIR", dir)
        .env("PAYGATE_LOG", "warn")
        .env("PAYGATE_ADMIN_TOKEN", ADMIN_TOKEN);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("paygate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn api_keys_operators_and_the_audit_log_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _, addr) = serve(dir.path());
    let url = format!("http://{addr}");

    // A second key for the demo merchant, on the data directory.
    let (ok, out, err) = paygate(
        dir.path(),
        &[
            "merchants",
            "keys",
            "create",
            "demo",
            "--label",
            "v2",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let key = created["api_key"].as_str().expect("key").to_owned();
    let merchant = created["merchant_id"]
        .as_str()
        .expect("merchant")
        .to_owned();
    let (ok, out, err) = paygate(dir.path(), &["merchants", "keys", "list", "demo"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ID"), "{out}");
    assert_eq!(out.lines().count(), 3, "a header and two keys: {out}");
    assert!(!out.contains(&key), "never the key: {out}");

    // A read-only operator, through the server; refused what it may not do.
    let (ok, out, err) = paygate(
        dir.path(),
        &[
            "operators",
            "create",
            "auditor",
            "--role",
            "read",
            "--url",
            &url,
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let auditor: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let token = auditor["token"].as_str().expect("token").to_owned();
    assert_eq!(auditor["created_by"], "ops-cli", "{auditor}");
    let as_auditor = [("PAYGATE_ADMIN_TOKEN", token.as_str())];
    let (ok, _, err) = paygate_with(
        dir.path(),
        &["merchants", "keys", "create", &merchant, "--url", &url],
        &as_auditor,
    );
    assert!(!ok && err.contains("forbidden_role"), "{err}");
    let (ok, out, err) = paygate_with(
        dir.path(),
        &[
            "merchants",
            "keys",
            "list",
            &merchant,
            "--url",
            &url,
            "--json",
        ],
        &as_auditor,
    );
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        listed["keys"].as_array().expect("keys").len(),
        2,
        "{listed}"
    );
    let (ok, out, err) = paygate_with(
        dir.path(),
        &["audit", "list", "--url", &url, "--json"],
        &as_auditor,
    );
    assert!(ok, "{err}");
    let audit: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let newest = &audit["entries"][0];
    assert_eq!(
        (
            newest["operator"].as_str(),
            newest["status"].as_u64(),
            newest["error_code"].as_str()
        ),
        (Some("auditor"), Some(403), Some("forbidden_role")),
        "{audit}"
    );

    // Revoke the new key on the data directory; the operator too.
    let key_id = created["id"].as_str().expect("id");
    let (ok, out, err) = paygate(dir.path(), &["merchants", "keys", "revoke", "demo", key_id]);
    assert!(ok && out.starts_with("revoked"), "{out}{err}");
    let (ok, _, err) = paygate(dir.path(), &["operators", "revoke", "auditor"]);
    assert!(ok, "{err}");
    let (ok, _, err) = paygate_with(dir.path(), &["audit", "list", "--url", &url], &as_auditor);
    assert!(!ok && err.contains("unauthorized"), "{err}");
    let (ok, out, err) = paygate(dir.path(), &["audit", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("POST /admin/operators"), "{out}");
    drop(server);
}

#[test]
fn the_embedded_master_key_is_rotated_with_generate_and_the_secrets_open_under_the_new_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo merchant's provider configuration names the sandbox at the server's
    // address: the server after the rotation listens on the same one.
    let (server, _, addr) = serve(dir.path());
    drop(server);
    let old_key = std::fs::read_to_string(dir.path().join("master.key")).expect("key");

    let (ok, out, err) = paygate(dir.path(), &["keys", "rotate", "--generate", "--json"]);
    assert!(ok, "{err}");
    let done: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(done["webhook_secrets"].as_u64() >= Some(1), "{done}");
    assert!(done["provider_configs"].as_u64() >= Some(1), "{done}");
    assert_eq!(done["verifier"], true, "{done}");
    let new_key = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    assert_ne!(new_key, old_key);
    let previous =
        std::fs::read_to_string(dir.path().join("master.key.previous")).expect("previous");
    assert_eq!(previous.trim(), old_key.trim());

    // Again: nothing to do.
    let (ok, out, err) = paygate(dir.path(), &["keys", "rotate"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(": 0 webhook secrets, 0 provider configurations, verifier already"),
        "{out}"
    );
    // The previous key is no longer needed: paygate starts with the new key alone, and the
    // demo merchant's provider secret opens (tested against the server's sandbox).
    std::fs::remove_file(dir.path().join("master.key.previous")).expect("remove");
    let (server, _, _) = serve_on(dir.path(), &addr);
    let (ok, out, err) = paygate(dir.path(), &["providers", "test", "demo", "mock"]);
    assert!(ok && out.starts_with("ok: mock"), "{out}{err}");
    drop(server);
    // With PAYGATE_MASTER_KEY, --generate is refused with what to do instead.
    let (ok, _, err) = paygate_with(
        dir.path(),
        &["keys", "rotate", "--generate"],
        &[("PAYGATE_MASTER_KEY", new_key.trim())],
    );
    assert!(!ok && err.contains("PAYGATE_MASTER_KEY_PREVIOUS"), "{err}");
}
