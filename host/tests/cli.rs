//! The `paygate` binary as an operator runs it: `serve` with no configuration but a data
//! directory, and `merchants create` on the same directory while the server runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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

#[test]
fn merchants_create_works_beside_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .arg("serve")
        .env("PAYGATE_DATA_DIR", dir.path())
        .env("PAYGATE_LISTEN", "127.0.0.1:0")
        .env("PAYGATE_LOG", "warn")
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
