//! The Alipay gateway's answers: the raw-text JSON scanner that cuts out what `sign`
//! covers, the answer's `sign` and `alipay_cert_sn`, the outcome and each method's result
//! with the maps to the contract (states, refund states, amounts, errors).
//!
//! Input: the method on the first line (one of the adapter's, picked by the line's length
//! when it names none), then the answer's body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_alipay::protocol::{self, answer};
use paygate_alipay::wire::{
    self, Outcome, PrecreateAnswer, QueryAnswer, RefundAnswer, RefundQueryAnswer,
};
use paygate_alipay::{json, money};

const METHODS: [&str; 5] = [
    wire::PRECREATE,
    wire::QUERY,
    wire::CLOSE,
    wire::REFUND,
    wire::REFUND_QUERY,
];

fuzz_target!(|data: &[u8]| {
    let (method, body) = paygate_fuzz::first_line(data);
    let method = METHODS
        .iter()
        .find(|m| **m == method.trim())
        .copied()
        .unwrap_or(METHODS[method.len() % METHODS.len()]);
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    if let Ok(members) = json::members(text) {
        let _ = json::only(&members, "sign");
    }
    let Ok(answer) = answer(method, text) else {
        return;
    };
    let _ = protocol::signed_texts(answer.content);
    let Ok(outcome) = serde_json::from_str::<Outcome>(answer.content) else {
        return;
    };
    let _ = wire::error_for(&outcome, answer.sign.is_some());
    if let Ok(a) = serde_json::from_str::<PrecreateAnswer>(answer.content) {
        let _ = (a.out_trade_no, a.qr_code);
    }
    if let Ok(a) = serde_json::from_str::<QueryAnswer>(answer.content) {
        let _ = wire::queried_state(&a);
        let _ = wire::paid_amount(a.total_amount.as_deref());
        let _ = a.send_pay_date.as_deref().map(protocol::parse_beijing_time);
        let _ = money::is_positive(a.refund_fee.as_deref());
    }
    if let Ok(a) = serde_json::from_str::<RefundAnswer>(answer.content) {
        let _ = wire::refund_state(a.fund_change.as_deref());
    }
    if let Ok(a) = serde_json::from_str::<RefundQueryAnswer>(answer.content) {
        let _ = wire::queried_refund_state(&a);
        let _ = a.refund_amount.as_deref().map(money::parse_yuan);
    }
});
