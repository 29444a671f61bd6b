//! A merchant's provider configuration as paygate reads it before any call: each secret
//! parsed as its kind (RSA keys in PEM or bare base64, AES-256 keys, HMAC keys, PEM
//! certificate bundles and the serials and issuers listed from them), and the base-URL
//! settings that make an adapter's allowlist.
//!
//! Input: the kind on the first line (`rsa-private-key`, `rsa-public-key`, `aes256-key`,
//! `hmac-key`, `x509-certificates`, `base-url`; else picked by the line's length), then the
//! value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_runtime::contract::SecretKind;
use paygate_runtime::{parse_kind, Allowlist, KeyRing};

const KINDS: [SecretKind; 5] = [
    SecretKind::RsaPrivateKey,
    SecretKind::RsaPublicKey,
    SecretKind::Aes256Key,
    SecretKind::HmacKey,
    SecretKind::X509Certificates,
];

fuzz_target!(|data: &[u8]| {
    let (kind, value) = paygate_fuzz::first_line(data);
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    if kind.trim() == "base-url" {
        let mut allowlist = Allowlist::default();
        if allowlist.allow_base_url(value).is_ok() {
            // A URL under an allowed base is allowed.
            let _ = allowlist.check(value);
        }
        return;
    }
    let kind = parse_kind(kind.trim()).unwrap_or(KINDS[kind.len() % KINDS.len()]);
    let mut ring = KeyRing::default();
    if ring.insert("secret", kind, value).is_ok() {
        assert!(ring.holds("secret"));
        if let Ok(certificates) = ring.certificates("secret") {
            assert!(!certificates.is_empty());
        }
    }
});
