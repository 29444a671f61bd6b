//! WeChat Pay's trade bill (交易账单, type ALL): the downloaded file's checks (`bill_text`:
//! gunzipped when it is gzip, capped, checked against the SHA1 WeChat announces of the plain
//! bill, UTF-8), the bill's rows (`parse_bill`: the header's columns found by name, the
//! backtick-led fields, the summary that ends the rows, times, currencies, amounts, fees,
//! states), the download URL's origin check and the bill day.
//!
//! Input: a selector on the first line, then the rest:
//! - `text`: the bill's text (`parse_bill`; bytes that are not UTF-8 replaced);
//! - `file`: the downloaded file, gzip or plain (`bill_text`, then `parse_bill` on what it
//!   returns). The announced hash is the right one (the target gunzips the file to know it),
//!   so that what the file holds is checked and parsed, not refused for its hash;
//! - `url`: the `download_url` on the first line of the rest, the API base on the second;
//! - `day`: the bill day (`trade_bill_path`, `day_end`).
//!
//! Any other selector picks one by its length.
#![no_main]

use std::io::Read;

use flate2::read::GzDecoder;
use libfuzzer_sys::fuzz_target;
use paygate_sdk::hex_encode;
use paygate_wechat::bill::{self, BillLocation};
use sha1::{Digest, Sha1};

const MODES: [&str; 4] = ["text", "file", "url", "day"];

fuzz_target!(|data: &[u8]| {
    let (selector, rest) = paygate_fuzz::first_line(data);
    let mode = MODES
        .iter()
        .find(|m| **m == selector.trim())
        .copied()
        .unwrap_or(MODES[selector.len() % MODES.len()]);
    match mode {
        "text" => parse(&String::from_utf8_lossy(rest)),
        "file" => file(rest),
        "url" => {
            let (url, base) = paygate_fuzz::first_line(rest);
            let (base, _) = paygate_fuzz::first_line(base);
            let _ = bill::check_download_url(&url, &base);
        }
        _ => {
            let day = String::from_utf8_lossy(rest);
            let _ = bill::trade_bill_path(&day);
            let _ = bill::day_end(&day);
        }
    }
});

fn parse(text: &str) {
    if let Ok(rows) = bill::parse_bill(text) {
        for row in rows {
            assert!(row.amount.minor > 0, "a bill row of no money: {row:?}");
            assert!(!row.payment_no.is_empty() && !row.provider_trade_id.is_empty());
        }
    }
}

/// `bill_text` on `file` with the hash of what it holds: gunzipped (as the adapter does it,
/// capped alike) when it starts like gzip, as it is otherwise.
fn file(file: &[u8]) {
    let plain = if file.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        GzDecoder::new(file)
            .take(bill::MAX_BILL_BYTES + 1)
            .read_to_end(&mut plain)
            .ok()
            .map(|_| plain)
    } else {
        Some(file.to_vec())
    };
    let location = BillLocation {
        // WeChat writes `SHA1`; the case is not held against it.
        hash_type: if file.len() % 2 == 0 { "SHA1" } else { "sha1" }.to_owned(),
        hash_value: hex_encode(&Sha1::digest(plain.as_deref().unwrap_or_default())),
        download_url: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=t".to_owned(),
    };
    match bill::bill_text(file, &location) {
        Ok(text) => {
            assert_eq!(
                Some(text.as_bytes()),
                plain.as_deref(),
                "bill_text returns the bill whose hash it checked"
            );
            parse(&text);
        }
        // A file that gunzips, within the cap, to UTF-8 (or is UTF-8) passes its own hash.
        Err(e) => assert!(
            !plain.as_deref().is_some_and(
                |p| p.len() as u64 <= bill::MAX_BILL_BYTES && std::str::from_utf8(p).is_ok()
            ),
            "a bill refused that matches its hash: {e:?}"
        ),
    }
}
