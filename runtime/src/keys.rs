//! The `keys` import: signatures and decryption with a merchant's secrets, by name. The
//! key bytes live here, in the host; an adapter only ever gets signatures and plaintexts.
//! A merchant's X.509 certificates (public material) are kept parsed, so an adapter can read
//! their serial numbers and verify with the key of the one a message names.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::bindings::contract::SecretKind;
use super::bindings::paygate::provider::keys::{self, Certificate, Cipher, SignatureAlgorithm};

/// One parsed secret.
enum KeyMaterial {
    RsaPrivate(Box<SigningKey<Sha256>>),
    RsaPublic(Box<VerifyingKey<Sha256>>),
    Aes256(Zeroizing<[u8; 32]>),
    Hmac(Zeroizing<Vec<u8>>),
    Certificates(Vec<X509>),
}

/// One certificate of an `x509-certificates` secret: what the adapter may read, and the RSA
/// key inside it.
struct X509 {
    info: Certificate,
    /// `None` for a certificate with another kind of key (EC, SM2).
    key: Option<VerifyingKey<Sha256>>,
}

/// Whether `now` (Unix seconds) lies in the certificate's validity window: an expired
/// certificate, or one not valid yet, verifies nothing.
fn valid_at(cert: &Certificate, now: i64) -> bool {
    (cert.not_before..=cert.not_after).contains(&now)
}

/// The DER bytes of a key given as bare base64 (no PEM armour), the form Alipay's key tool
/// and console hand out; line breaks and spaces are ignored. `None` if it is not base64.
fn bare_base64(value: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// The certificates of a PEM bundle: each block decoded to DER on its own, then parsed from
/// the DER. Not x509-cert 0.2's `load_pem_chain` (nor `from_pem`): they read through der's
/// streaming `PemReader`, which loops for ever on a truncated certificate (a block of
/// `MIIn`, a SEQUENCE whose length runs past the data; found by the fuzz target
/// `provider_secrets`). As there, only whitespace may surround the blocks.
fn pem_certificates(pem: &str) -> Result<Vec<x509_cert::Certificate>, String> {
    use x509_cert::der::Decode;
    const END: &str = "-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = pem.trim_start();
    while !rest.is_empty() {
        let end = rest
            .find(END)
            .map(|at| at + END.len())
            .ok_or("a certificate without its END line")?;
        let (label, der) =
            x509_cert::der::pem::decode_vec(&rest.as_bytes()[..end]).map_err(|e| e.to_string())?;
        if label != "CERTIFICATE" {
            return Err(format!("a PEM block `{label}`, not CERTIFICATE"));
        }
        certificates.push(x509_cert::Certificate::from_der(&der).map_err(|e| e.to_string())?);
        rest = rest[end..].trim_start();
    }
    Ok(certificates)
}

/// Parses a PEM bundle of one or more certificates with RSA keys.
fn parse_certificates(pem: &str) -> Result<Vec<X509>, String> {
    use x509_cert::der::Encode;
    // x509-cert 0.2's chain loader underflows (panics) on empty input: make sure there is
    // at least one PEM certificate block before handing it the text.
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("expected one or more PEM certificates (-----BEGIN CERTIFICATE-----)".into());
    }
    let chain = pem_certificates(pem)
        .map_err(|e| format!("expected one or more PEM certificates ({e})"))?;
    if chain.is_empty() {
        return Err("expected one or more PEM certificates, found none".into());
    }
    chain
        .iter()
        .map(|cert| {
            let tbs = &cert.tbs_certificate;
            let serial = hex::encode_upper(tbs.serial_number.as_bytes());
            let spki = tbs
                .subject_public_key_info
                .to_der()
                .map_err(|e| format!("certificate {serial}: {e}"))?;
            let key = RsaPublicKey::from_public_key_der(&spki)
                .ok()
                .map(VerifyingKey::<Sha256>::new);
            let seconds = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
            Ok(X509 {
                info: Certificate {
                    serial,
                    issuer: tbs.issuer.to_string(),
                    not_before: seconds(tbs.validity.not_before),
                    not_after: seconds(tbs.validity.not_after),
                    signature_algorithm: cert.signature_algorithm.oid.to_string(),
                    rsa_key: key.is_some(),
                },
                key,
            })
        })
        .collect()
}

/// A merchant's secrets for one provider, parsed once and shared by its calls.
#[derive(Default)]
pub struct KeyRing {
    keys: HashMap<String, KeyMaterial>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.keys.keys().collect();
        names.sort();
        f.debug_struct("KeyRing")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("secret `{name}` is not a valid {kind}: {reason}")]
pub struct KeyParseError {
    pub name: String,
    pub kind: &'static str,
    pub reason: String,
}

/// A human name of a secret kind, for messages.
pub fn kind_name(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::RsaPrivateKey => "rsa-private-key",
        SecretKind::RsaPublicKey => "rsa-public-key",
        SecretKind::Aes256Key => "aes256-key",
        SecretKind::HmacKey => "hmac-key",
        SecretKind::X509Certificates => "x509-certificates",
    }
}

pub fn parse_kind(s: &str) -> Option<SecretKind> {
    [
        SecretKind::RsaPrivateKey,
        SecretKind::RsaPublicKey,
        SecretKind::Aes256Key,
        SecretKind::HmacKey,
        SecretKind::X509Certificates,
    ]
    .into_iter()
    .find(|k| kind_name(*k) == s)
}

impl KeyRing {
    /// Parses `value` as a secret of `kind` and adds it under `name`.
    pub fn insert(
        &mut self,
        name: &str,
        kind: SecretKind,
        value: &str,
    ) -> Result<(), KeyParseError> {
        let err = |reason: String| KeyParseError {
            name: name.to_owned(),
            kind: kind_name(kind),
            reason,
        };
        let material = match kind {
            SecretKind::RsaPrivateKey => {
                let key = RsaPrivateKey::from_pkcs8_pem(value)
                    .or_else(|_| RsaPrivateKey::from_pkcs1_pem(value))
                    .ok()
                    .or_else(|| {
                        let der = bare_base64(value)?;
                        RsaPrivateKey::from_pkcs8_der(&der)
                            .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
                            .ok()
                    })
                    .ok_or_else(|| {
                        err("expected a PKCS#8 or PKCS#1 private key, PEM or bare base64".into())
                    })?;
                KeyMaterial::RsaPrivate(Box::new(SigningKey::<Sha256>::new(key)))
            }
            SecretKind::RsaPublicKey => {
                let key = RsaPublicKey::from_public_key_pem(value)
                    .or_else(|_| RsaPublicKey::from_pkcs1_pem(value))
                    .ok()
                    .or_else(|| {
                        let der = bare_base64(value)?;
                        RsaPublicKey::from_public_key_der(&der)
                            .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
                            .ok()
                    })
                    .ok_or_else(|| {
                        err("expected an SPKI or PKCS#1 public key, PEM or bare base64".into())
                    })?;
                KeyMaterial::RsaPublic(Box::new(VerifyingKey::<Sha256>::new(key)))
            }
            SecretKind::Aes256Key => {
                let bytes = if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    hex::decode(value).map_err(|e| err(e.to_string()))?
                } else {
                    value.as_bytes().to_vec()
                };
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| err("expected 32 characters or 64 hex digits".to_owned()))?;
                KeyMaterial::Aes256(Zeroizing::new(key))
            }
            SecretKind::HmacKey => {
                if value.is_empty() {
                    return Err(err("must not be empty".to_owned()));
                }
                KeyMaterial::Hmac(Zeroizing::new(value.as_bytes().to_vec()))
            }
            SecretKind::X509Certificates => {
                KeyMaterial::Certificates(parse_certificates(value).map_err(err)?)
            }
        };
        self.keys.insert(name.to_owned(), material);
        Ok(())
    }

    /// Whether the ring holds a secret named `name`.
    pub fn holds(&self, name: &str) -> bool {
        self.keys.contains_key(name)
    }

    fn get(&self, name: &str) -> Result<&KeyMaterial, keys::Error> {
        self.keys
            .get(name)
            .ok_or_else(|| keys::Error::UnknownKey(name.to_owned()))
    }

    pub fn sign(
        &self,
        name: &str,
        algorithm: SignatureAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, keys::Error> {
        match (algorithm, self.get(name)?) {
            (SignatureAlgorithm::RsaSha256, KeyMaterial::RsaPrivate(k)) => {
                Ok(k.sign(message).to_vec())
            }
            (SignatureAlgorithm::HmacSha256, KeyMaterial::Hmac(k)) => Ok(hmac_sha256(k, message)),
            (SignatureAlgorithm::RsaSha256, _) => Err(keys::Error::WrongKind(format!(
                "`{name}` is not an rsa-private-key"
            ))),
            (SignatureAlgorithm::HmacSha256, _) => Err(keys::Error::WrongKind(format!(
                "`{name}` is not an hmac-key"
            ))),
        }
    }

    pub fn verify(
        &self,
        name: &str,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, keys::Error> {
        match (algorithm, self.get(name)?) {
            (SignatureAlgorithm::RsaSha256, KeyMaterial::RsaPublic(k)) => {
                let Ok(sig) = Signature::try_from(signature) else {
                    return Ok(false);
                };
                Ok(k.verify(message, &sig).is_ok())
            }
            (SignatureAlgorithm::HmacSha256, KeyMaterial::Hmac(k)) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(k)
                    .map_err(|e| keys::Error::InvalidInput(e.to_string()))?;
                mac.update(message);
                Ok(mac.verify_slice(signature).is_ok())
            }
            (SignatureAlgorithm::RsaSha256, _) => Err(keys::Error::WrongKind(format!(
                "`{name}` is not an rsa-public-key"
            ))),
            (SignatureAlgorithm::HmacSha256, _) => Err(keys::Error::WrongKind(format!(
                "`{name}` is not an hmac-key"
            ))),
        }
    }

    fn certificate_bundle(&self, name: &str) -> Result<&[X509], keys::Error> {
        match self.get(name)? {
            KeyMaterial::Certificates(certs) => Ok(certs),
            _ => Err(keys::Error::WrongKind(format!(
                "`{name}` is not an x509-certificates key"
            ))),
        }
    }

    /// The certificates of the named `x509-certificates` key, in the configured order.
    pub fn certificates(&self, name: &str) -> Result<Vec<Certificate>, keys::Error> {
        Ok(self
            .certificate_bundle(name)?
            .iter()
            .map(|c| c.info.clone())
            .collect())
    }

    /// Verifies with the key of the certificate whose serial is `serial` (any case).
    pub fn verify_certificate(
        &self,
        name: &str,
        serial: &str,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, keys::Error> {
        let certs = self.certificate_bundle(name)?;
        let SignatureAlgorithm::RsaSha256 = algorithm else {
            return Err(keys::Error::WrongKind(format!(
                "`{name}` holds certificates: only rsa-sha256 applies"
            )));
        };
        let Some(cert) = certs
            .iter()
            .find(|c| c.info.serial.eq_ignore_ascii_case(serial))
        else {
            let known: Vec<&str> = certs.iter().map(|c| c.info.serial.as_str()).collect();
            return Err(keys::Error::UnknownKey(format!(
                "no certificate with serial {serial} in `{name}` (configured: {})",
                known.join(", ")
            )));
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if !valid_at(&cert.info, now) {
            return Err(keys::Error::InvalidInput(format!(
                "certificate {} in `{name}` is not valid now: valid from {} to {} (Unix seconds)",
                cert.info.serial, cert.info.not_before, cert.info.not_after
            )));
        }
        let Some(key) = &cert.key else {
            return Err(keys::Error::WrongKind(format!(
                "certificate {} in `{name}` does not hold an RSA key",
                cert.info.serial
            )));
        };
        let Ok(sig) = Signature::try_from(signature) else {
            return Ok(false);
        };
        Ok(key.verify(message, &sig).is_ok())
    }

    pub fn decrypt(
        &self,
        name: &str,
        cipher: Cipher,
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, keys::Error> {
        let Cipher::Aes256Gcm = cipher;
        let KeyMaterial::Aes256(key) = self.get(name)? else {
            return Err(keys::Error::WrongKind(format!(
                "`{name}` is not an aes256-key"
            )));
        };
        if nonce.len() != 12 {
            return Err(keys::Error::InvalidInput(format!(
                "AES-256-GCM takes a 12-byte nonce, got {}",
                nonce.len()
            )));
        }
        let aes = Aes256Gcm::new_from_slice(key.as_slice())
            .map_err(|e| keys::Error::InvalidInput(e.to_string()))?;
        aes.decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| keys::Error::DecryptFailed)
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        let mut r = KeyRing::default();
        r.insert("hmac", SecretKind::HmacKey, "secret")
            .expect("hmac key");
        r.insert(
            "aes",
            SecretKind::Aes256Key,
            "0123456789abcdef0123456789abcdef",
        )
        .expect("aes key");
        r
    }

    const BUNDLE: &str = include_str!("testdata/bundle.pem");
    const CERT_A_KEY: &str = include_str!("testdata/cert_a_key.pem");
    const SERIAL_A: &str = "3E1D3A5F0C7B2A6E9D8C1F4B5A6E7D8C9B0A1F2E";
    const SERIAL_B: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E9";

    #[test]
    fn a_certificate_bundle_lists_serials_issuers_and_validity() {
        let mut r = KeyRing::default();
        r.insert("certs", SecretKind::X509Certificates, BUNDLE)
            .expect("two certificates");
        let certs = r.certificates("certs").expect("listed");
        let serials: Vec<&str> = certs.iter().map(|c| c.serial.as_str()).collect();
        assert_eq!(serials, [SERIAL_A, SERIAL_B]);
        assert_eq!(certs[0].issuer, "CN=Tenpay.com Root CA,O=Tenpay.com,C=CN");
        assert!(certs[0].not_before < certs[0].not_after);
        assert_eq!(certs[0].signature_algorithm, "1.2.840.113549.1.1.11");
        assert!(certs[0].rsa_key);
    }

    #[test]
    fn a_certificate_verifies_with_its_own_key_named_by_serial_in_any_case() {
        let mut r = KeyRing::default();
        r.insert("certs", SecretKind::X509Certificates, BUNDLE)
            .expect("certificates");
        r.insert("a", SecretKind::RsaPrivateKey, CERT_A_KEY)
            .expect("private key");
        let sig = r
            .sign(
                "a",
                SignatureAlgorithm::RsaSha256,
                b"1700000000\nnonce\nbody\n",
            )
            .expect("sign");
        let verify = |serial: &str, message: &[u8]| {
            r.verify_certificate(
                "certs",
                serial,
                SignatureAlgorithm::RsaSha256,
                message,
                &sig,
            )
        };
        assert_eq!(verify(SERIAL_A, b"1700000000\nnonce\nbody\n"), Ok(true));
        assert_eq!(
            verify(&SERIAL_A.to_lowercase(), b"1700000000\nnonce\nbody\n"),
            Ok(true)
        );
        assert_eq!(verify(SERIAL_A, b"tampered"), Ok(false));
        // The other certificate's key did not sign it.
        assert_eq!(verify(SERIAL_B, b"1700000000\nnonce\nbody\n"), Ok(false));
        match verify("0123ABCD", b"x") {
            Err(keys::Error::UnknownKey(m)) => {
                assert!(
                    m.contains("0123ABCD") && m.contains(SERIAL_A) && m.contains(SERIAL_B),
                    "{m}"
                )
            }
            other => panic!("an unknown serial is refused naming it: {other:?}"),
        }
    }

    #[test]
    fn a_certificate_verifies_only_within_its_validity_window() {
        let cert = Certificate {
            serial: "01".into(),
            issuer: "CN=x".into(),
            not_before: 1_000,
            not_after: 2_000,
            signature_algorithm: "1.2.840.113549.1.1.11".into(),
            rsa_key: true,
        };
        assert!(!valid_at(&cert, 999));
        assert!(valid_at(&cert, 1_000) && valid_at(&cert, 2_000));
        assert!(!valid_at(&cert, 2_001), "expired");
    }

    #[test]
    fn certificates_are_checked_when_stored_and_used_only_as_certificates() {
        let mut r = KeyRing::default();
        assert!(r
            .insert("c", SecretKind::X509Certificates, CERT_A_KEY)
            .is_err());
        assert!(r
            .insert("c", SecretKind::X509Certificates, "not a certificate")
            .is_err());
        for empty in [
            "",
            "  \n",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                r.insert("c", SecretKind::X509Certificates, empty).is_err(),
                "{empty:?}"
            );
        }
        r.insert("c", SecretKind::X509Certificates, BUNDLE)
            .expect("certificates");
        assert!(matches!(
            r.verify("c", SignatureAlgorithm::RsaSha256, b"x", b"y"),
            Err(keys::Error::WrongKind(_))
        ));
        assert!(matches!(
            ring().certificates("hmac"),
            Err(keys::Error::WrongKind(_))
        ));
    }

    /// Found by the fuzz target `provider_secrets`: x509-cert's `load_pem_chain` never
    /// returned on a truncated certificate (`MIIn`), holding the thread of the request that
    /// stored the secret. The parse runs on a thread of its own here, so the old code fails
    /// the test instead of hanging it.
    #[test]
    fn a_truncated_certificate_is_refused_at_once_not_parsed_for_ever() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = KeyRing::default();
            let truncated = "-----BEGIN CERTIFICATE-----\nMIIn\n-----END CERTIFICATE-----\n";
            let results = [
                r.insert("c", SecretKind::X509Certificates, truncated)
                    .is_err(),
                r.insert(
                    "c",
                    SecretKind::X509Certificates,
                    &format!("{BUNDLE}{truncated}"),
                )
                .is_err(),
                r.insert(
                    "c",
                    SecretKind::X509Certificates,
                    &format!("{BUNDLE}junk\n"),
                )
                .is_err(),
                r.insert(
                    "c",
                    SecretKind::X509Certificates,
                    &format!("\r\n{BUNDLE}\n\n"),
                )
                .is_ok(),
            ];
            let _ = done.send(results);
        });
        let results = finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the parse returns");
        assert_eq!(results, [true; 4]);
    }

    #[test]
    fn rsa_keys_are_taken_as_bare_base64_as_alipays_key_tool_writes_them() {
        let body =
            |pem: &str| -> String { pem.lines().filter(|l| !l.starts_with("-----")).collect() };
        let mut r = KeyRing::default();
        r.insert("priv", SecretKind::RsaPrivateKey, &body(CERT_A_KEY))
            .expect("a bare base64 PKCS#8 private key");
        let sig = r
            .sign("priv", SignatureAlgorithm::RsaSha256, b"app_id=2021")
            .expect("sign");
        r.insert("certs", SecretKind::X509Certificates, BUNDLE)
            .expect("certificates");
        assert_eq!(
            r.verify_certificate(
                "certs",
                SERIAL_A,
                SignatureAlgorithm::RsaSha256,
                b"app_id=2021",
                &sig
            ),
            Ok(true)
        );
        let refused = r
            .insert("priv", SecretKind::RsaPrivateKey, "not base64 at all!")
            .expect_err("refused");
        assert!(refused.to_string().contains("bare base64"), "{refused}");
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_test_case_2() {
        let mut r = KeyRing::default();
        r.insert("k", SecretKind::HmacKey, "Jefe").expect("key");
        let sig = r
            .sign(
                "k",
                SignatureAlgorithm::HmacSha256,
                b"what do ya want for nothing?",
            )
            .expect("sign");
        assert_eq!(
            hex::encode(&sig),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            r.verify(
                "k",
                SignatureAlgorithm::HmacSha256,
                b"what do ya want for nothing?",
                &sig
            ),
            Ok(true)
        );
        assert_eq!(
            r.verify("k", SignatureAlgorithm::HmacSha256, b"tampered", &sig),
            Ok(false)
        );
    }

    #[test]
    fn rsa_sha256_signature_verifies_with_the_public_key_only() {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).expect("generate");
        let public = private.to_public_key();
        let mut r = KeyRing::default();
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("pem");
        r.insert("priv", SecretKind::RsaPrivateKey, &pem)
            .expect("private key");
        r.insert(
            "pub",
            SecretKind::RsaPublicKey,
            &public.to_public_key_pem(LineEnding::LF).expect("pem"),
        )
        .expect("public key");
        let sig = r
            .sign("priv", SignatureAlgorithm::RsaSha256, b"GET\n/v3/x\n")
            .expect("sign");
        assert_eq!(
            r.verify("pub", SignatureAlgorithm::RsaSha256, b"GET\n/v3/x\n", &sig),
            Ok(true)
        );
        assert_eq!(
            r.verify("pub", SignatureAlgorithm::RsaSha256, b"GET\n/v3/y\n", &sig),
            Ok(false)
        );
        assert_eq!(
            r.verify("pub", SignatureAlgorithm::RsaSha256, b"x", b"short"),
            Ok(false)
        );
        assert!(matches!(
            r.sign("pub", SignatureAlgorithm::RsaSha256, b"x"),
            Err(keys::Error::WrongKind(_))
        ));
    }

    #[test]
    fn aes256_gcm_decrypts_and_refuses_tampering() {
        let r = ring();
        let aes = Aes256Gcm::new_from_slice(b"0123456789abcdef0123456789abcdef").expect("key");
        let nonce = b"abcdefghijkl";
        let ct = aes
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: b"{\"paid\":true}",
                    aad: b"transaction",
                },
            )
            .expect("encrypt");
        assert_eq!(
            r.decrypt("aes", Cipher::Aes256Gcm, nonce, b"transaction", &ct),
            Ok(b"{\"paid\":true}".to_vec())
        );
        assert_eq!(
            r.decrypt("aes", Cipher::Aes256Gcm, nonce, b"other", &ct),
            Err(keys::Error::DecryptFailed)
        );
        assert!(matches!(
            r.decrypt("aes", Cipher::Aes256Gcm, b"short", b"", &ct),
            Err(keys::Error::InvalidInput(_))
        ));
    }

    #[test]
    fn unknown_and_wrong_kind_keys_are_errors() {
        let r = ring();
        assert_eq!(
            r.sign("nope", SignatureAlgorithm::HmacSha256, b"x"),
            Err(keys::Error::UnknownKey("nope".into()))
        );
        assert!(matches!(
            r.sign("aes", SignatureAlgorithm::HmacSha256, b"x"),
            Err(keys::Error::WrongKind(_))
        ));
        assert!(matches!(
            r.decrypt("hmac", Cipher::Aes256Gcm, &[0; 12], b"", b""),
            Err(keys::Error::WrongKind(_))
        ));
    }

    #[test]
    fn malformed_secrets_are_refused_when_stored() {
        let mut r = KeyRing::default();
        assert!(r.insert("a", SecretKind::Aes256Key, "too short").is_err());
        assert!(r
            .insert("p", SecretKind::RsaPrivateKey, "-----BEGIN NOTHING-----")
            .is_err());
        assert!(r.insert("h", SecretKind::HmacKey, "").is_err());
        assert!(
            r.insert("a", SecretKind::Aes256Key, &"ab".repeat(32))
                .is_ok(),
            "64 hex digits"
        );
    }

    #[test]
    fn debug_shows_names_not_key_bytes() {
        let shown = format!("{:?}", ring());
        assert!(
            shown.contains("hmac") && !shown.contains("secret") && !shown.contains("0123456789")
        );
    }
}
