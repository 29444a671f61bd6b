//! Alipay's asynchronous notifications: the form body decoded, the texts `sign` covers, the
//! key a notification's `alipay_cert_sn` names (certificate mode), and the trade it reports
//! (app, state, amount in yuan, Beijing times).
//!
//! Input: the notification's form body (`a=1&b=2`), as Alipay POSTs it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_alipay::cert::{CertInfo, KeyMode};
use paygate_alipay::protocol::{self, param};
use paygate_sdk::encoding::{base64_decode, decode_form};

const APP_ID: &str = "2015102700040153";
const CLASS1: &str =
    "CN=Ant Financial Certification Authority Class 1 R1,OU=Certification Authority,O=Ant Financial,C=CN";

fn cert(serial: &str, algorithm: &str) -> CertInfo {
    CertInfo {
        serial: serial.into(),
        issuer: CLASS1.into(),
        signature_algorithm: algorithm.into(),
        rsa_key: true,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(params) = decode_form(data) else {
        return;
    };
    let _ = param(&params, "sign").map(base64_decode);
    let texts = protocol::notification_signed_texts(&params);
    assert!(!texts.is_empty());
    let _ = protocol::notification_sign_content(&params);
    let sha256 = "1.2.840.113549.1.1.11";
    let certificates = KeyMode::configured(
        false,
        Some(&[cert("2020051862039D4090897BA4D51C2126", sha256)]),
        Some(&[cert("20200514E63C2FE04D538716FE21358B", sha256)]),
        Some(&[cert("0A", sha256)]),
    );
    for mode in [Ok(KeyMode::PublicKey), certificates] {
        if let Ok(mode) = mode {
            let _ = mode.check_notification(param(&params, "alipay_cert_sn"));
        }
    }
    let _ = paygate_alipay::notified_trade(&params, APP_ID);
});
