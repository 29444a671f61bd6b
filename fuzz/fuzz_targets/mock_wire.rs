//! The mock adapter's reading of the sandbox provider: a notification's signature headers
//! (account, freshness, hex) and its `trade.paid` body, the trade and refund answers, and
//! the error map.
//!
//! Input: the HTTP status on the first line, then header lines, a blank line, the body;
//! the body is read as a notification and as each answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_mock::wire::{self, NotificationHeaders, RefundCreated, Trade, TradeCreated};

/// The clock the freshness check runs against (the seeds' timestamps are near it).
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let (status, rest) = paygate_fuzz::first_line(data);
    let status: u16 = status.trim().parse().unwrap_or(200);
    let (headers, body) = paygate_fuzz::message(rest);
    if let Ok(signed) = NotificationHeaders::read(&headers, "acct_demo", NOW) {
        let _ = wire::notification_message(signed.timestamp, signed.nonce, body);
    }
    let _ = wire::paid_notification(body);
    let _ = wire::error_for(status, body);
    if let Ok(trade) = serde_json::from_slice::<Trade>(body) {
        let _ = wire::trade_status(trade);
    }
    if let Ok(created) = serde_json::from_slice::<TradeCreated>(body) {
        let _ = format!("{created:?}");
    }
    if let Ok(refund) = serde_json::from_slice::<RefundCreated>(body) {
        let _ = wire::refund_status("P1700000000A1".to_owned(), "CNY", refund);
    }
});
