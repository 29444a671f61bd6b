//! WeChat Pay notifications as the adapter reads them before and after the host's keys
//! act: the `Wechatpay-*` signature headers (every check that needs no key: presence,
//! signature type, the key the serial names, freshness, probes, base64), the JSON envelope
//! and its resource's base64, then the decrypted resource (a transaction or a refund) and
//! its map to the contract.
//!
//! Input: header lines, a blank line, the body; the body is read both as the envelope and
//! as a decrypted resource (both are WeChat's JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_sdk::encoding::base64_decode;
use paygate_wechat::protocol::{claims_signature, PlatformKeys, SignedHeaders};
use paygate_wechat::wire::{self, Envelope, RefundNotice, Transaction};

/// The clock the freshness check runs against (the seeds' timestamps are near it).
const NOW: i64 = 1_700_000_000;
const MCHID: &str = "1900000109";

fuzz_target!(|data: &[u8]| {
    let (headers, body) = paygate_fuzz::message(data);
    let Ok(keys) = PlatformKeys::configured(
        Some("PUB_KEY_ID_0114232134912410000000000000000001"),
        true,
        vec!["5157F09EFDC096DE15EBE81A47057A7232F1B8E1".to_owned()],
    ) else {
        return;
    };
    let _ = claims_signature(&headers);
    if let Ok(signed) = SignedHeaders::read(&headers, &keys, NOW) {
        let message =
            paygate_wechat::protocol::response_message(signed.timestamp, signed.nonce, body);
        assert!(message.ends_with(b"\n"));
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let _ = envelope.resource.algorithm == wire::AEAD_AES_256_GCM;
        let _ = base64_decode(&envelope.resource.ciphertext);
        let _ = envelope.event_type.starts_with(wire::REFUND_EVENT_PREFIX);
    }
    if let Ok(refund) = serde_json::from_slice::<RefundNotice>(body) {
        let _ = wire::refund_status(
            refund.out_trade_no,
            refund.out_refund_no,
            refund.refund_id,
            &refund.refund_status,
            refund.amount,
        );
    }
    if let Ok(transaction) = serde_json::from_slice::<Transaction>(body) {
        let _ = wire::trade_status(transaction, MCHID, None);
    }
});
