//! Alipay's public-key-certificate mode (公钥证书模式): the certificate "SN"s requests carry
//! (`app_cert_sn`, `alipay_root_cert_sn`) and answers name (`alipay_cert_sn`), and which of
//! the merchant's keys verifies what Alipay sends. Pure, unit-tested against the values of
//! Alipay's own SDK tests.
//!
//! The SN rule, from Alipay's Java SDK `AntCertificationUtil.getCertSN` (alipay/
//! alipay-sdk-java-all, v2/src/main/java/com/alipay/api/internal/util/AntCertificationUtil.java):
//!
//! ```java
//! md.update((cf.getIssuerX500Principal().getName() + cf.getSerialNumber()).getBytes());
//! String certSN = new BigInteger(1, md.digest()).toString(16);  // then left-padded to 32
//! ```
//!
//! - the issuer is `X500Principal.getName()`, RFC 2253, used **as is**: the last RDN first,
//!   `CN=...,OU=...,O=...,C=CN`, no spaces. The PHP SDK gets the same text by reversing
//!   openssl's issuer array (`array2string(array_reverse($ssl['issuer']))`, AopCertClient.php)
//!   and the Node SDK by `reduceRight` over the issuer's attributes (src/antcertutil.ts). The
//!   host's `certificate.issuer` is RFC 4514, also last RDN first, with the same short names
//!   and escapes for the attributes Alipay's CAs use (CN, OU, O, C): it is used unchanged;
//! - the serial is `BigInteger.toString()`: decimal, `-` for a negative (non-conforming)
//!   serial;
//! - MD5 of the UTF-8 bytes, 32 lower-case hex digits.
//!
//! `alipay_root_cert_sn` is the SNs of the root chain's certificates signed with RSA, joined
//! with `_`. The PHP SDK keeps `sha1WithRSAEncryption` and `sha256WithRSAEncryption`
//! (`getRootCertSNFromContent`); the Java and Node SDKs keep OIDs starting `1.2.840.113549.1.1`
//! — the same two certificates of Alipay's chain, whose others are SM2 and ECDSA. Known
//! answer: `687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6` for Alipay's
//! production `alipayRootCert.crt` (alipay-sdk-nodejs-all test/antcertutil.test.ts).

use md5::{Digest, Md5};

use paygate_sdk::hex_encode;

/// `sha1WithRSAEncryption` and `sha256WithRSAEncryption`: the signature algorithms of the
/// root-chain certificates whose SNs make `alipay_root_cert_sn`.
pub const ROOT_SN_ALGORITHMS: [&str; 2] = ["1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11"];

/// The attribute names `X500Principal.getName()` (RFC 2253) writes as keywords. Another
/// attribute in an issuer is written there as `OID=#hex`, which the host's text does not
/// reproduce: an issuer with one cannot get Java's SN.
const RFC2253_KEYWORDS: [&str; 9] = ["CN", "C", "L", "ST", "O", "OU", "STREET", "DC", "UID"];

/// A certificate's SN as Alipay computes it, from the issuer (RFC 4514 / 2253 text, last RDN
/// first) and the serial (hex, as the host reads it). `None` if the serial is not hex or the
/// issuer has an attribute Java would write as an OID.
pub fn cert_sn(issuer: &str, serial_hex: &str) -> Option<String> {
    if !issuer_is_java_text(issuer) {
        return None;
    }
    let serial = serial_decimal(serial_hex)?;
    let digest = Md5::digest(format!("{issuer}{serial}").as_bytes());
    Some(hex_encode(&digest))
}

/// `alipay_root_cert_sn`: the SNs of the certificates (`(issuer, serial, signature
/// algorithm OID)`, in the configured order) signed with SHA1withRSA or SHA256withRSA,
/// joined with `_`. `None` if none qualifies or one of them has no SN.
pub fn root_cert_sn<'a>(
    certificates: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Option<String> {
    let sns = certificates
        .into_iter()
        .filter(|(_, _, algorithm)| ROOT_SN_ALGORITHMS.contains(algorithm))
        .map(|(issuer, serial, _)| cert_sn(issuer, serial))
        .collect::<Option<Vec<String>>>()?;
    (!sns.is_empty()).then(|| sns.join("_"))
}

/// Whether every attribute of `issuer` is one `X500Principal.getName()` writes by keyword.
fn issuer_is_java_text(issuer: &str) -> bool {
    // Split on unescaped `,` and `+`; a `\` escapes the next character (RFC 4514 §2.4).
    let mut names = Vec::new();
    let mut current = String::new();
    let mut in_value = false;
    let mut escaped = false;
    for c in issuer.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' if !in_value => in_value = true,
            ',' | '+' => {
                names.push(std::mem::take(&mut current));
                in_value = false;
            }
            _ if !in_value => current.push(c),
            _ => {}
        }
    }
    names.push(current);
    !issuer.is_empty() && names.iter().all(|n| RFC2253_KEYWORDS.contains(&n.as_str()))
}

/// A certificate serial given in hex (the DER integer's bytes, as the host reads them) in
/// decimal, as Java's `BigInteger.toString()` writes it: a leading byte of `80` or more is
/// a negative two's-complement number (a serial RFC 5280 forbids, but Java reads it so).
/// Leading zeros and case do not matter. `None` if `hex` is empty or not hex.
pub fn serial_decimal(hex: &str) -> Option<String> {
    let digits: Vec<u8> = hex
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if digits.is_empty() {
        return None;
    }
    // Two's complement applies to whole bytes: an even number of digits whose first is 8-f.
    let negative = digits.len().is_multiple_of(2) && digits[0] >= 8;
    let magnitude = if negative {
        // -(2^(4n) - x): invert every digit, then add one.
        let mut inverted: Vec<u8> = digits.iter().map(|d| 15 - d).collect();
        for d in inverted.iter_mut().rev() {
            if *d == 15 {
                *d = 0;
            } else {
                *d += 1;
                break;
            }
        }
        inverted
    } else {
        digits
    };
    let decimal = hex_digits_to_decimal(&magnitude);
    Some(if negative {
        format!("-{decimal}")
    } else {
        decimal
    })
}

/// Base-16 digits (most significant first) in base 10, by repeated division of the digit
/// string by ten: schoolbook long division, enough for serials of 20 bytes.
fn hex_digits_to_decimal(hex: &[u8]) -> String {
    let mut number: Vec<u8> = hex.iter().copied().skip_while(|d| *d == 0).collect();
    if number.is_empty() {
        return "0".into();
    }
    let mut decimal = Vec::new();
    while !number.is_empty() {
        let mut remainder: u32 = 0;
        let mut quotient = Vec::with_capacity(number.len());
        for d in &number {
            let current = remainder * 16 + u32::from(*d);
            let q = current / 10;
            remainder = current % 10;
            if !(quotient.is_empty() && q == 0) {
                // q < 16: current < 10 * 16.
                quotient.push(q as u8);
            }
        }
        decimal.push(char::from(b'0' + remainder as u8));
        number = quotient;
    }
    decimal.iter().rev().collect()
}

/// One certificate of the merchant's `alipay_cert` that can verify: its SN (the name an
/// answer's `alipay_cert_sn` gives it) and its serial (the name `keys.verify-certificate`
/// takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipayCert {
    pub sn: String,
    pub serial: String,
}

/// How the merchant lets the adapter check Alipay: Alipay's public key (公钥模式), or the
/// three certificates (公钥证书模式). Exactly one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMode {
    /// Secret `alipay_public_key` verifies everything Alipay signs.
    PublicKey,
    /// Requests carry both SNs; Alipay's certificate (named by `alipay_cert_sn` in an
    /// answer) verifies.
    Certificates {
        app_cert_sn: String,
        alipay_root_cert_sn: String,
        /// The certificates of `alipay_cert` with an RSA key (the file Alipay hands out holds
        /// its certificate and the issuing CA's; a rotation may add the next one).
        alipay_certs: Vec<AlipayCert>,
    },
}

/// One certificate as the host lists it, reduced to what the SN rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub serial: String,
    pub issuer: String,
    pub signature_algorithm: String,
    pub rsa_key: bool,
}

impl KeyMode {
    /// The mode the merchant configured: whether the secret `alipay_public_key` exists, and
    /// the certificates of `app_cert`, `alipay_cert` and `alipay_root_cert` (`None`: the
    /// secret does not exist). Anything but exactly one complete mode is refused, naming what
    /// is missing or too much.
    pub fn configured(
        has_public_key: bool,
        app_cert: Option<&[CertInfo]>,
        alipay_cert: Option<&[CertInfo]>,
        alipay_root_cert: Option<&[CertInfo]>,
    ) -> Result<KeyMode, String> {
        let certificates = [
            ("app_cert", app_cert),
            ("alipay_cert", alipay_cert),
            ("alipay_root_cert", alipay_root_cert),
        ];
        let present: Vec<&str> = certificates
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(n, _)| *n)
            .collect();
        let missing: Vec<&str> = certificates
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| *n)
            .collect();
        match (has_public_key, present.is_empty()) {
            (true, true) => return Ok(KeyMode::PublicKey),
            (true, false) => {
                return Err(format!(
                    "both modes are configured: secret `alipay_public_key` (public-key mode) \
                     and {} (certificate mode); keep one",
                    names(&present)
                ))
            }
            (false, true) => {
                return Err(
                    "no key to verify Alipay with: configure secret `alipay_public_key` \
                     (public-key mode), or secrets `app_cert`, `alipay_cert` and \
                     `alipay_root_cert` (certificate mode)"
                        .into(),
                )
            }
            (false, false) if !missing.is_empty() => {
                return Err(format!(
                    "certificate mode needs {} too (configured: {})",
                    names(&missing),
                    names(&present)
                ))
            }
            (false, false) => {}
        }
        let (Some(app), Some(alipay), Some(root)) = (app_cert, alipay_cert, alipay_root_cert)
        else {
            return Err("certificate mode is incomplete".into());
        };
        // The app certificate file holds one certificate; like the SDKs
        // (`CertificateFactory.generateCertificate`), the first is the app's.
        let app = app
            .first()
            .ok_or("secret `app_cert` holds no certificate")?;
        let app_cert_sn = cert_sn(&app.issuer, &app.serial).ok_or_else(|| {
            format!(
                "secret `app_cert`: no SN for issuer `{}` and serial {}",
                app.issuer, app.serial
            )
        })?;
        let alipay_root_cert_sn = root_cert_sn(root.iter().map(|c| {
            (
                c.issuer.as_str(),
                c.serial.as_str(),
                c.signature_algorithm.as_str(),
            )
        }))
        .ok_or(
            "secret `alipay_root_cert` has no certificate signed with SHA1withRSA or \
             SHA256withRSA (Alipay's alipayRootCert.crt has two)",
        )?;
        let alipay_certs: Vec<AlipayCert> = alipay
            .iter()
            .filter(|c| c.rsa_key)
            .filter_map(|c| {
                cert_sn(&c.issuer, &c.serial).map(|sn| AlipayCert {
                    sn,
                    serial: c.serial.clone(),
                })
            })
            .collect();
        if alipay_certs.is_empty() {
            return Err("secret `alipay_cert` holds no certificate with an RSA key".into());
        }
        Ok(KeyMode::Certificates {
            app_cert_sn,
            alipay_root_cert_sn,
            alipay_certs,
        })
    }
}

/// Which key must verify a message from Alipay before anything in it is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check<'k> {
    /// Secret `alipay_public_key`.
    PublicKey,
    /// The certificate of `alipay_cert` with this serial (the one the message names).
    Certificate(&'k str),
    /// Any certificate of `alipay_cert` (a message that names none).
    AnyCertificate,
    /// Nothing to verify: a refusal Alipay sent without a signature.
    Unsigned,
}

impl KeyMode {
    /// What verifies an answer with a `sign` or none, naming a certificate by its SN or
    /// none, and saying success or not.
    ///
    /// Java SDK `AbstractAlipayClient`: `checkResponseSign` verifies "成功结果" always and a
    /// failure only if it has a `sign`; `checkResponseCertSign` refuses a success without
    /// `alipay_cert_sn` (`CHECK_ALIPAY_CERT_SN_EMPTY_ERROR`) and verifies with the Alipay
    /// certificate whose SN it names; an SN not configured is refused here (the SDK would
    /// download the new certificate: the merchant must configure it).
    pub fn check(
        &self,
        signed: bool,
        alipay_cert_sn: Option<&str>,
        success: bool,
    ) -> Result<Check<'_>, String> {
        if !signed {
            return if success {
                Err("a success answer without `sign`".into())
            } else {
                Ok(Check::Unsigned)
            };
        }
        match self {
            KeyMode::PublicKey => Ok(Check::PublicKey),
            KeyMode::Certificates { alipay_certs, .. } => match alipay_cert_sn {
                Some(sn) => self.certificate(sn).map(Check::Certificate).ok_or_else(|| {
                    format!(
                        "signed with Alipay certificate {sn}, which is not configured \
                         (configured: {}); add Alipay's new certificate to secret `alipay_cert`",
                        alipay_certs
                            .iter()
                            .map(|c| c.sn.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
                None if success => Err("a success answer without `alipay_cert_sn`".into()),
                None => Ok(Check::AnyCertificate),
            },
        }
    }

    /// What verifies a notification: Alipay's public key, or in certificate mode the
    /// certificate its `alipay_cert_sn` names (refused if not configured), any configured
    /// one if it names none.
    pub fn check_notification(&self, alipay_cert_sn: Option<&str>) -> Result<Check<'_>, String> {
        match (self, alipay_cert_sn) {
            (KeyMode::PublicKey, _) => Ok(Check::PublicKey),
            (KeyMode::Certificates { .. }, None) => Ok(Check::AnyCertificate),
            (KeyMode::Certificates { .. }, Some(_)) => self.check(true, alipay_cert_sn, false),
        }
    }

    /// The serial of the configured Alipay certificate whose SN is `sn`.
    fn certificate(&self, sn: &str) -> Option<&str> {
        match self {
            KeyMode::PublicKey => None,
            KeyMode::Certificates { alipay_certs, .. } => alipay_certs
                .iter()
                .find(|c| c.sn.eq_ignore_ascii_case(sn.trim()))
                .map(|c| c.serial.as_str()),
        }
    }

    /// The serials of the configured Alipay certificates, for [`Check::AnyCertificate`].
    pub fn certificate_serials(&self) -> Vec<&str> {
        match self {
            KeyMode::PublicKey => Vec::new(),
            KeyMode::Certificates { alipay_certs, .. } => {
                alipay_certs.iter().map(|c| c.serial.as_str()).collect()
            }
        }
    }
}

fn names(secrets: &[&str]) -> String {
    secrets
        .iter()
        .map(|n| format!("secret `{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from Alipay's own SDK tests (alipay-sdk-nodejs-all,
    // test/antcertutil.test.ts) for its fixtures appCertPublicKey_2021001161683774.crt,
    // alipayCertPublicKey_RSA2.crt and the production alipayRootCert.crt. Issuer, serial and
    // MD5 recomputed on the command line with:
    //
    //   issuer=$(openssl x509 -in app.crt -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
    //   hex=$(openssl x509 -in app.crt -noout -serial | sed 's/serial=//')
    //   dec=$(echo "ibase=16; $hex" | BC_LINE_LENGTH=0 bc)
    //   printf '%s' "$issuer$dec" | md5sum
    //
    // (for the root chain, `csplit -z -f part root.crt '/-----BEGIN CERTIFICATE-----/' '{*}'`
    // first, then the same for each part; `openssl x509 -noout -text` shows each one's
    // signature algorithm).
    const CLASS1: &str =
        "CN=Ant Financial Certification Authority Class 1 R1,OU=Certification Authority,O=Ant Financial,C=CN";
    const CLASS2: &str =
        "CN=Ant Financial Certification Authority Class 2 R1,OU=Certification Authority,O=Ant Financial,C=CN";
    const APP_SERIAL: &str = "2020051862039D4090897BA4D51C2126";
    const ALIPAY_SERIAL: &str = "20200514E63C2FE04D538716FE21358B";

    /// Alipay's production root chain, as the host lists it: SM2 (NRCAC), RSA SHA-256 (Ant
    /// Financial R1), ECDSA SHA-384 (Ant Financial E1), RSA SHA-1 (iTrusChina G3).
    fn root_chain() -> Vec<CertInfo> {
        let cert = |issuer: &str, serial: &str, algorithm: &str, rsa_key| CertInfo {
            serial: serial.into(),
            issuer: issuer.into(),
            signature_algorithm: algorithm.into(),
            rsa_key,
        };
        vec![
            cert("CN=ROOTCA,O=NRCAC,C=CN", "69E2FEC0170AC67B", "1.2.156.10197.1.501", false),
            cert(
                "CN=Ant Financial Certification Authority R1,OU=Certification Authority,O=Ant Financial,C=CN",
                "1FCFA18D6A480D11",
                "1.2.840.113549.1.1.11",
                true,
            ),
            cert(
                "CN=Ant Financial Certification Authority E1,OU=Certification Authority,O=Ant Financial,C=CN",
                "417EFA52C07FDF4A",
                "1.2.840.10045.4.3.3",
                false,
            ),
            cert(
                "CN=iTrusChina Class 2 Root CA - G3,OU=China Trust Network,O=iTrusChina,C=CN",
                "10C764E9D560384212D9C08FD10E373FDD0FB396",
                "1.2.840.113549.1.1.5",
                true,
            ),
        ]
    }

    #[test]
    fn serials_are_written_in_decimal_as_java_does() {
        // `echo "ibase=16; <hex>" | bc`
        assert_eq!(
            serial_decimal(APP_SERIAL).as_deref(),
            Some("42701552708448241360226107228231049510")
        );
        assert_eq!(
            serial_decimal("10C764E9D560384212D9C08FD10E373FDD0FB396").as_deref(),
            Some("95790491425698859646659490580052089075020051350")
        );
        assert_eq!(
            serial_decimal("69E2FEC0170AC67B").as_deref(),
            Some("7629940819692799611")
        );
        // A positive serial with its high bit set carries a 00 sign byte in DER.
        assert_eq!(
            serial_decimal("00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF").as_deref(),
            Some("1461501637330902918203684832716283019655932542975")
        );
        assert_eq!(serial_decimal("0").as_deref(), Some("0"));
        assert_eq!(serial_decimal("00").as_deref(), Some("0"));
        assert_eq!(serial_decimal("0a").as_deref(), Some("10"));
        assert_eq!(
            serial_decimal("abc").as_deref(),
            Some("2748"),
            "odd digits: unsigned"
        );
    }

    #[test]
    fn a_serial_whose_first_byte_is_80_or_more_is_negative_as_java_reads_it() {
        assert_eq!(serial_decimal("FF").as_deref(), Some("-1"));
        assert_eq!(serial_decimal("80").as_deref(), Some("-128"));
        assert_eq!(serial_decimal("FF00").as_deref(), Some("-256"));
        assert_eq!(serial_decimal("8000").as_deref(), Some("-32768"));
    }

    #[test]
    fn a_serial_that_is_not_hex_has_no_decimal() {
        for bad in ["", "0x1F", "1G", "12 34", "-1"] {
            assert_eq!(serial_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_app_and_alipay_certificate_sns_match_alipays_sdk() {
        assert_eq!(
            cert_sn(CLASS1, APP_SERIAL).as_deref(),
            Some("866efef280dec9137a87d047ac446315")
        );
        assert_eq!(
            cert_sn(CLASS2, ALIPAY_SERIAL).as_deref(),
            Some("7513daaaa48aa3ba2e4018d84402479c")
        );
        // The serial is a number: case and a sign byte do not change the SN.
        assert_eq!(
            cert_sn(CLASS1, &format!("00{}", APP_SERIAL.to_lowercase())),
            cert_sn(CLASS1, APP_SERIAL)
        );
    }

    #[test]
    fn the_root_sn_joins_the_rsa_signed_certificates_of_the_chain() {
        let chain = root_chain();
        assert_eq!(
            root_cert_sn(chain.iter().map(|c| (
                c.issuer.as_str(),
                c.serial.as_str(),
                c.signature_algorithm.as_str()
            )))
            .as_deref(),
            Some("687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6")
        );
        // A chain with only SM2 and ECDSA certificates has no root SN.
        assert_eq!(
            root_cert_sn(chain.iter().filter(|c| !c.rsa_key).map(|c| (
                c.issuer.as_str(),
                c.serial.as_str(),
                c.signature_algorithm.as_str()
            ))),
            None
        );
    }

    #[test]
    fn an_issuer_java_writes_with_oids_has_no_sn() {
        assert_eq!(
            cert_sn("EMAILADDRESS=ca@example.com,CN=CA,C=CN", "01"),
            None
        );
        assert_eq!(cert_sn("SERIALNUMBER=1,CN=CA", "01"), None);
        assert_eq!(cert_sn("", "01"), None);
        // Escaped separators are part of the value.
        assert!(cert_sn("CN=Ant\\, Financial+OU=A,O=B\\=C,C=CN", "01").is_some());
    }

    fn app() -> Vec<CertInfo> {
        vec![CertInfo {
            serial: APP_SERIAL.into(),
            issuer: CLASS1.into(),
            signature_algorithm: "1.2.840.113549.1.1.11".into(),
            rsa_key: true,
        }]
    }

    /// The alipayCertPublicKey_RSA2.crt file: Alipay's certificate, then its issuing CA's.
    fn alipay() -> Vec<CertInfo> {
        vec![
            CertInfo {
                serial: ALIPAY_SERIAL.into(),
                issuer: CLASS2.into(),
                signature_algorithm: "1.2.840.113549.1.1.11".into(),
                rsa_key: true,
            },
            CertInfo {
                serial: "62C4ABE5B280325F".into(),
                issuer: "CN=Ant Financial Certification Authority R1,OU=Certification Authority,O=Ant Financial,C=CN".into(),
                signature_algorithm: "1.2.840.113549.1.1.11".into(),
                rsa_key: true,
            },
        ]
    }

    #[test]
    fn the_public_key_alone_is_public_key_mode() {
        assert_eq!(
            KeyMode::configured(true, None, None, None),
            Ok(KeyMode::PublicKey)
        );
    }

    #[test]
    fn the_three_certificates_are_certificate_mode_with_their_sns() {
        let mode = KeyMode::configured(false, Some(&app()), Some(&alipay()), Some(&root_chain()))
            .expect("certificate mode");
        let KeyMode::Certificates {
            app_cert_sn,
            alipay_root_cert_sn,
            alipay_certs,
        } = mode
        else {
            panic!("expected certificate mode");
        };
        assert_eq!(app_cert_sn, "866efef280dec9137a87d047ac446315");
        assert_eq!(
            alipay_root_cert_sn,
            "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
        );
        assert_eq!(alipay_certs.len(), 2);
        assert_eq!(
            alipay_certs[0],
            AlipayCert {
                sn: "7513daaaa48aa3ba2e4018d84402479c".into(),
                serial: ALIPAY_SERIAL.into()
            }
        );
    }

    #[test]
    fn anything_but_exactly_one_complete_mode_is_refused_naming_what_is_missing() {
        let e = KeyMode::configured(false, None, None, None).expect_err("nothing");
        for name in [
            "alipay_public_key",
            "app_cert",
            "alipay_cert",
            "alipay_root_cert",
        ] {
            assert!(e.contains(&format!("`{name}`")), "{e}");
        }
        let e = KeyMode::configured(false, Some(&app()), None, Some(&root_chain()))
            .expect_err("no alipay_cert");
        assert!(e.contains("needs secret `alipay_cert`"), "{e}");
        let e = KeyMode::configured(false, Some(&app()), None, None).expect_err("one of three");
        assert!(
            e.contains("`alipay_cert`") && e.contains("`alipay_root_cert`"),
            "{e}"
        );
        let e = KeyMode::configured(true, Some(&app()), Some(&alipay()), Some(&root_chain()))
            .expect_err("both modes");
        assert!(e.contains("both modes"), "{e}");
        let e = KeyMode::configured(true, None, Some(&alipay()), None).expect_err("both, partly");
        assert!(
            e.contains("both modes") && e.contains("`alipay_cert`"),
            "{e}"
        );
    }

    fn certificate_mode() -> KeyMode {
        KeyMode::configured(false, Some(&app()), Some(&alipay()), Some(&root_chain()))
            .expect("certificate mode")
    }

    #[test]
    fn a_signed_answer_is_verified_with_the_key_it_names() {
        assert_eq!(
            KeyMode::PublicKey.check(true, None, true),
            Ok(Check::PublicKey)
        );
        // Public-key mode has no certificates: an SN in the answer changes nothing.
        assert_eq!(
            KeyMode::PublicKey.check(true, Some("7513daaaa48aa3ba2e4018d84402479c"), true),
            Ok(Check::PublicKey)
        );
        let mode = certificate_mode();
        assert_eq!(
            mode.check(true, Some("7513daaaa48aa3ba2e4018d84402479c"), true),
            Ok(Check::Certificate(ALIPAY_SERIAL))
        );
        assert_eq!(
            mode.check(true, Some("7513DAAAA48AA3BA2E4018D84402479C"), false),
            Ok(Check::Certificate(ALIPAY_SERIAL))
        );
    }

    #[test]
    fn an_answer_naming_an_alipay_certificate_nobody_configured_is_not_trusted() {
        let e = certificate_mode()
            .check(true, Some("0123456789abcdef0123456789abcdef"), true)
            .expect_err("an unknown certificate");
        assert!(
            e.contains("0123456789abcdef0123456789abcdef")
                && e.contains("7513daaaa48aa3ba2e4018d84402479c")
                && e.contains("alipay_cert"),
            "{e}"
        );
    }

    #[test]
    fn in_certificate_mode_a_success_must_name_its_certificate() {
        assert!(certificate_mode().check(true, None, true).is_err());
        assert_eq!(
            certificate_mode().check(true, None, false),
            Ok(Check::AnyCertificate)
        );
    }

    #[test]
    fn an_unsigned_success_is_never_trusted_and_an_unsigned_refusal_is_read() {
        for mode in [KeyMode::PublicKey, certificate_mode()] {
            assert!(mode.check(false, None, true).is_err());
            assert_eq!(mode.check(false, None, false), Ok(Check::Unsigned));
        }
    }

    #[test]
    fn notifications_are_verified_with_the_key_of_the_configured_mode() {
        assert_eq!(
            KeyMode::PublicKey.check_notification(None),
            Ok(Check::PublicKey)
        );
        let mode = certificate_mode();
        assert_eq!(mode.check_notification(None), Ok(Check::AnyCertificate));
        assert_eq!(
            mode.check_notification(Some("7513daaaa48aa3ba2e4018d84402479c")),
            Ok(Check::Certificate(ALIPAY_SERIAL))
        );
        assert!(mode.check_notification(Some("ffff")).is_err());
        assert_eq!(
            mode.certificate_serials(),
            [ALIPAY_SERIAL, "62C4ABE5B280325F"]
        );
    }

    #[test]
    fn certificates_that_cannot_serve_are_refused() {
        let sm2_only: Vec<CertInfo> = root_chain().into_iter().filter(|c| !c.rsa_key).collect();
        let e = KeyMode::configured(false, Some(&app()), Some(&alipay()), Some(&sm2_only))
            .expect_err("no RSA-signed root");
        assert!(e.contains("alipay_root_cert"), "{e}");
        let e = KeyMode::configured(false, Some(&app()), Some(&sm2_only), Some(&root_chain()))
            .expect_err("no RSA key to verify with");
        assert!(e.contains("alipay_cert"), "{e}");
        let e = KeyMode::configured(false, Some(&[]), Some(&alipay()), Some(&root_chain()))
            .expect_err("an empty app certificate");
        assert!(e.contains("app_cert"), "{e}");
    }
}
