//! Builds the purpose-built test adapters under `tests/adapters/` for wasm32-wasip2, as
//! `host/build.rs` builds the shipped ones, so that the end-to-end tests can load them into a
//! running paygate (`paygate_e2e::test_adapters`): the misbehaving `chaos` adapter, and the
//! `swap` adapter twice, as 1.0.0 and 2.0.0. One nested cargo builds them all, in its own
//! target directory, so it never waits on the outer build's lock nor on the bundled
//! adapters' build.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const ADAPTERS: &[(&str, &str)] = &[
    ("paygate-chaos-adapter", "paygate_chaos.wasm"),
    ("paygate-swap-v1", "paygate_swap_v1.wasm"),
    ("paygate-swap-v2", "paygate_swap_v2.wasm"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Only what goes into the components: this script would otherwise rerun on any change
    // to the tests themselves.
    println!("cargo:rerun-if-changed=build.rs");
    for watched in [
        manifest_dir.join("adapters"),
        root.join("plugins").join("sdk"),
        root.join("wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-test-adapters");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let packages: Vec<&str> = ADAPTERS.iter().map(|(package, _)| *package).collect();
    build_wasm(&cargo, &root, &target_dir, &packages, None);
    // The chaos adapter once more with its socket probe, which imports wasi:sockets: in a
    // target directory of its own, so the two builds never replace each other's artifact.
    let sockets_dir = target_dir.with_file_name("wasm-test-adapters-sockets");
    build_wasm(
        &cargo,
        &root,
        &sockets_dir,
        &["paygate-chaos-adapter"],
        Some("paygate-chaos-adapter/sockets"),
    );
    let built = sockets_dir
        .join("wasm32-wasip2")
        .join("adapter")
        .join("paygate_chaos.wasm");
    std::fs::copy(&built, out_dir.join("paygate_chaos_sockets.wasm"))
        .unwrap_or_else(|e| panic!("cannot copy {} into OUT_DIR: {e}", built.display()));
    for (_, file) in ADAPTERS {
        let built = target_dir.join("wasm32-wasip2").join("adapter").join(file);
        std::fs::copy(&built, out_dir.join(file))
            .unwrap_or_else(|e| panic!("cannot copy {} into OUT_DIR: {e}", built.display()));
    }
}

/// Builds `packages` for wasm32-wasip2 with the `adapter` profile into `target_dir`, with
/// `features` when given.
fn build_wasm(
    cargo: &str,
    root: &std::path::Path,
    target_dir: &std::path::Path,
    packages: &[&str],
    features: Option<&str>,
) {
    let mut build = Command::new(cargo);
    build.current_dir(root).arg("build");
    for package in packages {
        build.args(["--package", package]);
    }
    if let Some(features) = features {
        build.args(["--features", features]);
    }
    let status = build
        .args([
            "--target",
            "wasm32-wasip2",
            "--profile",
            "adapter",
            "--target-dir",
        ])
        .arg(target_dir)
        // The outer build's flags and wrappers are for the host target, not for wasm.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{cargo}` to build the test adapters: {e}"));
    if !status.success() {
        panic!(
            "building the test adapters (tests/adapters) for wasm32-wasip2 failed (is the \
             target installed? `rustup target add wasm32-wasip2`)"
        );
    }
}
