//! Builds the adapters paygate ships (`plugins/mock`, `plugins/wechat`, `plugins/alipay`) for wasm32-wasip2, so
//! that one cargo command on a fresh clone yields a `paygate` with its adapters inside. One
//! nested cargo builds them all (they share their dependencies' build); it uses its own
//! target directory, so it never waits on the outer build's lock.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const ADAPTERS: &[(&str, &str)] = &[
    ("paygate-mock", "paygate_mock.wasm"),
    ("paygate-wechat", "paygate_wechat.wasm"),
    ("paygate-alipay", "paygate_alipay.wasm"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", root.join("plugins").display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // Embedded by `sqlx::migrate!`, which cargo does not watch by itself.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("migrations").display()
    );

    // A build without the bundled adapters (`--no-default-features`) builds no wasm.
    if env::var_os("CARGO_FEATURE_BUNDLED_ADAPTERS").is_none() {
        return;
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build.current_dir(&root).arg("build");
    for (package, _) in ADAPTERS {
        build.args(["--package", package]);
    }
    let status = build
        .args([
            "--target",
            "wasm32-wasip2",
            "--profile",
            "adapter",
            "--target-dir",
        ])
        .arg(&target_dir)
        // The outer build's flags and wrappers are for the host target, not for wasm.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{cargo}` to build the bundled adapters: {e}"));
    if !status.success() {
        panic!(
            "building the bundled adapters for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`)"
        );
    }
    for (_, file) in ADAPTERS {
        let built = target_dir.join("wasm32-wasip2").join("adapter").join(file);
        std::fs::copy(&built, out_dir.join(file))
            .unwrap_or_else(|e| panic!("cannot copy {} into OUT_DIR: {e}", built.display()));
    }
}
