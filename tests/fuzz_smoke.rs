//! A short, bounded run of every fuzz target in `fuzz/` (cargo-fuzz, libFuzzer): the
//! targets build, and each runs `SECONDS_PER_TARGET` seconds from its committed seeds
//! without a crash. The long runs and their figures are in `fuzz/README.md`.
//!
//! The targets are built once, without a sanitizer (`-s none`: the parsers are safe Rust,
//! and a panic or an arithmetic overflow is what a run finds), unoptimised (`--dev`, with
//! overflow checks: the build is most of this test's time, and wasmtime and cranelift,
//! which the host crates bring in but no target runs, build several times faster so), in
//! their own target directory (`<target dir>/fuzz`): this test runs inside `cargo test`,
//! which holds the main build's lock. The binaries are then run
//! directly, one after the other, each writing what it discovers to a temporary corpus
//! (the committed seeds are only read) and any crash to a temporary directory, whose path
//! the failure names along with the command that reproduces it.
//!
//! It needs `cargo fuzz` (`cargo install cargo-fuzz --locked`; `.ci/run` installs it). The
//! build runs on the toolchain the repository pins, with `RUSTC_BOOTSTRAP=1` for the one
//! unstable flag cargo-fuzz passes, so no nightly is needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// How long each target runs. Twelve targets: under two minutes of running in all.
const SECONDS_PER_TARGET: u64 = 6;

/// Every target of `fuzz/Cargo.toml`.
const TARGETS: [&str; 12] = [
    "wechat_notification",
    "wechat_answer",
    "wechat_bill",
    "alipay_notification",
    "alipay_answer",
    "alipay_cert",
    "alipay_bill",
    "mock_wire",
    "rest_bodies",
    "provider_secrets",
    "config_file",
    "webhook_signature",
];

const INSTALL: &str = "cargo install cargo-fuzz --locked";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// `<target dir>/fuzz`: beside the main build, never inside its locked profile directories.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("fuzz")
}

fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The outer build's settings are for the workspace, not for the fuzz build.
    for var in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(var);
    }
    cargo
}

#[test]
fn every_fuzz_target_builds_and_runs_from_its_seeds_without_a_crash() {
    let root = root();
    let fuzz = root.join("fuzz");
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "cargo-fuzz is missing: install it with `{INSTALL}` (CI's .ci/run does)"
    );

    let target_dir = target_dir(&root);
    let started = Instant::now();
    let build = cargo()
        .current_dir(&fuzz)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "build", "--dev", "-s", "none", "--target-dir"])
        .arg(&target_dir)
        .status()
        .expect("cargo fuzz build runs");
    assert!(
        build.success(),
        "`cargo fuzz build --dev -s none` failed in {}",
        fuzz.display()
    );
    let built_in = started.elapsed();

    let bin = target_dir.join(host_triple()).join("debug");
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mut ran = Vec::new();
    for target in TARGETS {
        let corpus = scratch.path().join("corpus").join(target);
        let artifacts = scratch.path().join("artifacts").join(target);
        std::fs::create_dir_all(&corpus).expect("corpus directory");
        std::fs::create_dir_all(&artifacts).expect("artifacts directory");
        let seeds = fuzz.join("corpus").join(target);
        let started = Instant::now();
        let output = Command::new(bin.join(target))
            .arg(format!("-max_total_time={SECONDS_PER_TARGET}"))
            // An input that takes this long is a hang (libFuzzer's default waits 20 min).
            .arg("-timeout=10")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-print_final_stats=1")
            .arg(&corpus)
            .arg(&seeds)
            .output()
            .unwrap_or_else(|e| panic!("{target}: cannot run {}: {e}", bin.display()));
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let kept = scratch.keep();
            panic!(
                "fuzz target {target} crashed (the input is under {}); reproduce with \
                 `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none {target} <that file>`:\n{}",
                kept.join("artifacts").join(target).display(),
                tail.join("\n")
            );
        }
        let runs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| "?".into());
        ran.push(format!(
            "{target}: {runs} runs in {:.0?}",
            started.elapsed()
        ));
    }
    eprintln!("fuzz smoke: built in {:.0?}; {}", built_in, ran.join("; "));
}

/// The triple cargo-fuzz builds for: the host's.
fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .expect("rustc -vV names the host")
}
