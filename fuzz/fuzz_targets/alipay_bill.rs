//! Alipay's trade bill (业务明细): the zip `bill_download_url` serves (`bill::parse`: the
//! entries' names, UTF-8 or GBK, the one detail file among them, its CRC and inflation cap),
//! the detail CSV decoded from GBK (the `#` comment lines, quoted fields, CRLF or LF), its
//! header's columns found by name and the rows (kinds, times, signed yuan, fees); and the
//! hour a day's bill exists (`ready_at`).
//!
//! Input: a selector on the first line, then the rest:
//! - `zip`: the downloaded file, as it is;
//! - `csv`: the detail file's bytes (GBK), which the target stores in a zip under Alipay's
//!   name for it (`{pid}_{yyyyMMdd}_业务明细.csv`), beside the summary's name, so that the
//!   CSV is reached without the fuzzer having to keep a zip's lengths and CRC right;
//! - `day`: the bill day.
//!
//! Any other selector picks one by its length.
#![no_main]

use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;
use paygate_alipay::bill;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const MODES: [&str; 3] = ["zip", "csv", "day"];

const DETAIL_NAME: &str = "2088102000000001_20261201_业务明细.csv";
const SUMMARY_NAME: &str = "2088102000000001_20261201_业务明细(汇总).csv";

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = paygate_fuzz::first_line(data);
    let mode = MODES
        .iter()
        .find(|m| **m == selector.trim())
        .copied()
        .unwrap_or(MODES[selector.len() % MODES.len()]);
    match mode {
        "zip" => parse(rest),
        "csv" => parse(&zip_of(rest)),
        _ => {
            let _ = bill::ready_at(&String::from_utf8_lossy(rest));
        }
    }
});

fn parse(zip: &[u8]) {
    if let Ok(rows) = bill::parse(zip) {
        for row in rows {
            assert!(row.amount.minor > 0, "a bill row of no money: {row:?}");
            assert!(!row.provider_trade_id.is_empty());
        }
    }
}

/// A zip of the detail file `detail` and an empty summary, stored (not deflated: the
/// inflation is the `zip` input's part).
fn zip_of(detail: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file(DETAIL_NAME, options).expect("an entry");
    zip.write_all(detail).expect("written");
    zip.start_file(SUMMARY_NAME, options).expect("an entry");
    zip.finish().expect("a zip").into_inner()
}
