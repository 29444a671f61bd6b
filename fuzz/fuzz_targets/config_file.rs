//! paygate's configuration as an operator writes it: the TOML file `PAYGATE_CONFIG` names
//! and the environment, read by `Config::from_lookup` (addresses, URLs, durations,
//! schedules, numbers, booleans), and the duration and schedule parsers on their own.
//!
//! Input: the file's text, then optionally a line `---` and environment lines
//! `NAME=value`.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use paygate::config::{parse_duration, parse_schedule, Config};

/// One file per fuzzing process, rewritten for each input: in memory (`/dev/shm`) where
/// there is one, as a disk write per input slows the run tenfold.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let dir = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("paygate-fuzz-config-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = text.split_once("\n---\n").unwrap_or((&text, ""));
    for line in toml.lines().chain(env.lines()) {
        let value = line.split_once('=').map_or(line, |(_, v)| v);
        let _ = parse_duration(value);
        let _ = parse_schedule(value);
    }
    let mut vars: HashMap<String, String> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect();
    if std::fs::write(file(), toml.as_bytes()).is_err() {
        return;
    }
    vars.insert("PAYGATE_CONFIG".into(), file().display().to_string());
    if let Ok(config) = Config::from_lookup(|k| vars.get(k).cloned()) {
        // What start-up logs: the redacted database URL.
        let _ = config.database_url_redacted();
        let _ = config.is_embedded();
    }
});
