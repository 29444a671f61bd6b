//! paygate as a real process (`paygate-server`), for tests that kill it or run two.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use paygate_e2e::Merchant;

/// A running paygate process, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts paygate with `env`; returns it and the demo merchant if this was the first start.
pub fn start(env: &HashMap<String, String>) -> (Server, Option<Merchant>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate-server"))
        .envs(env)
        .stdout(Stdio::piped())
        .spawn()
        .expect("paygate starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut demo = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["demo", id, key] => {
                demo = Some(Merchant {
                    id: id.to_string(),
                    api_key: key.to_string(),
                    webhook_secret: String::new(),
                })
            }
            ["listening", addr] => {
                return (
                    Server {
                        child,
                        url: format!("http://{addr}"),
                    },
                    demo,
                )
            }
            _ => {}
        }
    }
    panic!("paygate exited before serving");
}
