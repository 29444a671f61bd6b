//! WeChat Pay's answers to the adapter's requests: which answers must verify (`accept`,
//! with a verifier that says yes or no from the input), the error map of non-2xx bodies,
//! and the JSON of pay, query and refund answers with their maps to the contract.
//!
//! Input: the HTTP status on the first line, then header lines, a blank line, the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_sdk::http::Response;
use paygate_wechat::wire::{self, PayAnswer, Refund, Transaction};

const MCHID: &str = "1900000109";

fuzz_target!(|data: &[u8]| {
    let (status, rest) = paygate_fuzz::first_line(data);
    let status: u16 = status.trim().parse().unwrap_or(200);
    let (headers, body) = paygate_fuzz::message(rest);
    let verifies = body.len() % 2 == 0;
    let response = Response {
        status,
        headers,
        body: body.to_vec(),
    };
    let _ = paygate_wechat::accept(response, "POST /v3/pay/transactions/native", |_, _| {
        if verifies {
            Ok(())
        } else {
            Err("does not verify".to_owned())
        }
    });
    let _ = wire::error_for(status, body, true);
    let _ = wire::error_for(status, body, false);
    if let Ok(pay) = serde_json::from_slice::<PayAnswer>(body) {
        let _ = (pay.code_url, pay.prepay_id, pay.h5_url);
    }
    if let Ok(transaction) = serde_json::from_slice::<Transaction>(body) {
        let _ = wire::trade_status(transaction, MCHID, Some("P1700000000A1"));
    }
    if let Ok(refund) = serde_json::from_slice::<Refund>(body) {
        let _ = wire::refund_status(
            "P1700000000A1".to_owned(),
            refund.out_refund_no,
            refund.refund_id,
            &refund.status,
            refund.amount,
        );
    }
});
