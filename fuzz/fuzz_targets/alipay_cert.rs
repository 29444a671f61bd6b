//! Alipay's certificate mode as configured by a merchant: the certificate SN rules (issuer
//! text, serial in hex to decimal, MD5), the root chain's SN, and the choice of mode from
//! the certificates the host lists.
//!
//! Input: records of four lines each: the secret (`app`, `alipay`, `root`, or anything for
//! none), the issuer, the serial (hex), the signature algorithm (OID); `public` on a line
//! of its own adds the public key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_alipay::cert::{cert_sn, root_cert_sn, serial_decimal, CertInfo, KeyMode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let has_public_key = lines.contains(&"public");
    let (mut app, mut alipay, mut root) = (
        None::<Vec<CertInfo>>,
        None::<Vec<CertInfo>>,
        None::<Vec<CertInfo>>,
    );
    for record in lines.chunks(4) {
        let [slot, issuer, serial, algorithm] = record else {
            continue;
        };
        let _ = serial_decimal(serial);
        let _ = cert_sn(issuer, serial);
        let info = CertInfo {
            serial: (*serial).to_owned(),
            issuer: (*issuer).to_owned(),
            signature_algorithm: (*algorithm).to_owned(),
            rsa_key: serial.len() % 2 == 0,
        };
        let list = match *slot {
            "app" => &mut app,
            "alipay" => &mut alipay,
            "root" => &mut root,
            _ => continue,
        };
        list.get_or_insert_with(Vec::new).push(info);
    }
    if let Some(root) = &root {
        let _ = root_cert_sn(root.iter().map(|c| {
            (
                c.issuer.as_str(),
                c.serial.as_str(),
                c.signature_algorithm.as_str(),
            )
        }));
    }
    if let Ok(mode) = KeyMode::configured(
        has_public_key,
        app.as_deref(),
        alipay.as_deref(),
        root.as_deref(),
    ) {
        let _ = mode.certificate_serials();
        for line in &lines {
            let _ = mode.check(true, Some(line), true);
            let _ = mode.check_notification(Some(line));
        }
    }
});
