//! Alipay's public-key-certificate mode: the certificate serial numbers ("SN") that requests
//! (`app_cert_sn`, `alipay_root_cert_sn`) and answers (`alipay_cert_sn`) carry. Pure, and
//! unit-tested against values computed independently with openssl and md5sum.
//!
//! The rule, as Alipay's Java SDK computes it (`AntCertificationUtil.getCertSN` /
//! `getRootCertSN`, alipay/alipay-sdk-java-all `src/main/java/com/alipay/api/internal/util/
//! AntCertificationUtil.java`):
//!
//! ```text
//! md5_hex_lower( cert.getIssuerX500Principal().getName() + cert.getSerialNumber() )
//! ```
//!
//! - the issuer name is Java's `X500Principal.getName()`, i.e. RFC 2253: the RDNs in reverse
//!   order of the DER sequence (most specific first), `type=value` joined by `,` without
//!   spaces, e.g. `CN=Ant Financial Certification Authority Class 2 R1,OU=Certification
//!   Authority,O=Ant Financial,C=CN`; the keywords CN, C, L, ST, O, OU, STREET, DC and UID
//!   only, any other attribute as `dotted.oid=#hex-of-its-DER`;
//! - the serial number in decimal (`BigInteger.toString()`);
//! - MD5, hex, lower case, left-padded with zeros to 32 digits (`fillMD5`);
//! - the root SN: the same for every certificate of the root file whose signature algorithm
//!   OID starts with `1.2.840.113549.1.1` (the RSA family: sha1WithRSA, sha256WithRSA...),
//!   joined with `_`, in file order; EC (and SM2) roots are skipped. The Node SDK does the
//!   same (alipay/alipay-sdk-nodejs-all `src/antcertutil.ts`, whose test vectors this module
//!   reproduces: see the tests).

use md5::{Digest, Md5};
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::der::{Encode, Tag, Tagged};
use x509_cert::name::Name;
use x509_cert::Certificate;

/// The signature algorithm OIDs counted in the root SN: PKCS #1 (RSA) ones.
const RSA_SIGNATURE_FAMILY: &str = "1.2.840.113549.1.1";

/// Every certificate of a PEM text, in order.
pub fn read_chain(pem: &str) -> Result<Vec<Certificate>, String> {
    // x509-cert 0.2's `load_pem_chain` underflows on an empty input: check first.
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("no certificate in the PEM text".into());
    }
    let chain = Certificate::load_pem_chain(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM text".into());
    }
    Ok(chain)
}

/// The SN of the first certificate of `pem` (an app or Alipay public-key certificate).
pub fn cert_sn(pem: &str) -> Result<String, String> {
    read_chain(pem).map(|chain| sn_of(&chain[0]))
}

/// The root SN of a root certificate file: the SNs of its RSA-signed certificates, `_`-joined.
pub fn root_cert_sn(pem: &str) -> Result<String, String> {
    let chain = read_chain(pem)?;
    Ok(chain
        .iter()
        .filter(|c| {
            c.signature_algorithm
                .oid
                .to_string()
                .starts_with(RSA_SIGNATURE_FAMILY)
        })
        .map(sn_of)
        .collect::<Vec<_>>()
        .join("_"))
}

/// One certificate's SN.
pub fn sn_of(cert: &Certificate) -> String {
    let tbs = &cert.tbs_certificate;
    let text = format!(
        "{}{}",
        rfc2253(&tbs.issuer),
        decimal(tbs.serial_number.as_bytes())
    );
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A name as Java's `X500Principal.getName()` (RFC 2253) writes it.
pub fn rfc2253(name: &Name) -> String {
    name.0
        .iter()
        .rev()
        .map(|rdn| {
            rdn.0
                .iter()
                .map(|atv| {
                    let keyword = keyword(&atv.oid.to_string());
                    match (keyword, text_value(&atv.value)) {
                        (Some(k), Some(v)) => format!("{k}={}", escape(&v)),
                        _ => {
                            let der = atv.value.to_der().unwrap_or_default();
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{}=#{hex}", atv.oid)
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The RFC 2253 keywords Java writes by name.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn text_value(value: &x509_cert::der::Any) -> Option<String> {
    let text = match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()?
            .as_str()
            .to_owned(),
        Tag::Utf8String => Utf8StringRef::try_from(value).ok()?.as_str().to_owned(),
        Tag::Ia5String => Ia5StringRef::try_from(value).ok()?.as_str().to_owned(),
        Tag::TeletexString => TeletexStringRef::try_from(value).ok()?.as_str().to_owned(),
        _ => return None,
    };
    Some(text)
}

/// RFC 2253 section 2.4: `,+"\<>;` escaped, and a leading `#` or space, and a trailing space.
fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A DER INTEGER's content (big-endian two's complement) in decimal, as Java's
/// `BigInteger.toString()` writes it (a negative serial, which RFC 5280 forbids but
/// parsers accept, keeps its sign).
pub fn decimal(content: &[u8]) -> String {
    let negative = content.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = if negative {
        // Two's complement: invert and add one.
        let mut m: Vec<u8> = content.iter().map(|b| !b).collect();
        for byte in m.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
        m
    } else {
        content.to_vec()
    };
    let mut digits = Vec::new();
    while magnitude.iter().any(|b| *b != 0) {
        // Divide the big-endian number by 10, keeping the remainder.
        let mut remainder = 0u32;
        for byte in magnitude.iter_mut() {
            let current = (remainder << 8) | u32::from(*byte);
            *byte = (current / 10) as u8;
            remainder = current % 10;
        }
        digits.push(char::from(b'0' + remainder as u8));
    }
    if digits.is_empty() {
        digits.push('0');
    }
    if negative {
        digits.push('-');
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("fixture")
    }

    /// The expected values were computed without this code:
    ///
    /// ```sh
    /// sn() { iss=$(openssl x509 -in "$1" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
    ///        ser=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
    ///        printf '%s%s' "$iss" "$(echo "ibase=16; $ser" | BC_LINE_LENGTH=0 bc)" | md5sum; }
    /// sn app_cert.pem      # 8dc70bc9c50ee1b19aeba9ad53020ebd
    /// sn alipay_cert.pem   # f7f38ad12ebb915afec3af1db6d85082
    /// csplit -s -z -f root- alipay_root_cert.pem '/-----BEGIN CERTIFICATE-----/' '{*}'
    /// sn root-00           # 4fbebb4afa7d1fd5b328e2b75447be01  (sha1WithRSAEncryption)
    /// sn root-01           # 2e705da5b7ab97e5b20e8ccd1aa53b43  (sha256WithRSAEncryption)
    /// # root-02 is ecdsa-with-SHA256: not counted
    /// ```
    #[test]
    fn the_fixture_sns_match_openssl_and_md5sum() {
        assert_eq!(
            cert_sn(&fixture("app_cert.pem")).as_deref(),
            Ok(crate::APP_CERT_SN)
        );
        assert_eq!(
            cert_sn(&fixture("alipay_cert.pem")).as_deref(),
            Ok(crate::ALIPAY_CERT_SN)
        );
        assert_eq!(
            root_cert_sn(&fixture("alipay_root_cert.pem")).as_deref(),
            Ok(crate::ALIPAY_ROOT_CERT_SN)
        );
        assert_eq!(crate::APP_CERT_SN, "8dc70bc9c50ee1b19aeba9ad53020ebd");
        assert_eq!(crate::ALIPAY_CERT_SN, "f7f38ad12ebb915afec3af1db6d85082");
        assert_eq!(
            crate::ALIPAY_ROOT_CERT_SN,
            "4fbebb4afa7d1fd5b328e2b75447be01_2e705da5b7ab97e5b20e8ccd1aa53b43"
        );
    }

    #[test]
    fn the_issuer_is_written_most_specific_first_without_spaces() {
        let chain = read_chain(&fixture("app_cert.pem")).expect("certificate");
        assert_eq!(
            rfc2253(&chain[0].tbs_certificate.issuer),
            "CN=Paygate Test Alipay Root CA R1,OU=Certification Authority,O=Paygate Test,C=CN"
        );
        assert_eq!(
            decimal(chain[0].tbs_certificate.serial_number.as_bytes()),
            "42732951749656694145891396382862872577"
        );
    }

    #[test]
    fn the_fixture_issuers_read_the_same_as_x509_certs_rfc_4514_display() {
        // paygate's host hands adapters `issuer.to_string()` (RFC 4514); for Alipay-style
        // ASCII names it is the same text as Java's RFC 2253 form.
        for name in ["app_cert.pem", "alipay_cert.pem", "alipay_root_cert.pem"] {
            for cert in read_chain(&fixture(name)).expect("chain") {
                let issuer = &cert.tbs_certificate.issuer;
                assert_eq!(rfc2253(issuer), issuer.to_string(), "{name}");
            }
        }
    }

    #[test]
    fn the_root_file_mixes_rsa_and_ec_roots_and_only_rsa_ones_count() {
        let chain = read_chain(&fixture("alipay_root_cert.pem")).expect("chain");
        let algorithms: Vec<String> = chain
            .iter()
            .map(|c| c.signature_algorithm.oid.to_string())
            .collect();
        assert_eq!(
            algorithms,
            [
                "1.2.840.113549.1.1.5",  // sha1WithRSAEncryption
                "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
                "1.2.840.10045.4.3.2",   // ecdsa-with-SHA256
            ]
        );
        assert_eq!(
            root_cert_sn(&fixture("alipay_root_cert.pem")).map(|s| s.matches('_').count()),
            Ok(1)
        );
    }

    #[test]
    fn serials_are_written_in_decimal_as_java_biginteger_does() {
        assert_eq!(decimal(&[0x00]), "0");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(decimal(&[0x00, 0xff]), "255");
        assert_eq!(
            decimal(&[0x1A, 0x2B, 0x3C, 0x4D, 0x5E, 0x6F, 0x70, 0x81]),
            "1885667171979194497"
        );
        assert_eq!(decimal(&[0xff]), "-1");
        assert_eq!(decimal(&[0x80]), "-128");
        // Alipay's public certificate of alipay-sdk-nodejs-all's tests, serial
        // 20200514E63C2FE04D538716FE21358B.
        let serial = [
            0x20, 0x20, 0x05, 0x14, 0xE6, 0x3C, 0x2F, 0xE0, 0x4D, 0x53, 0x87, 0x16, 0xFE, 0x21,
            0x35, 0x8B,
        ];
        assert_eq!(decimal(&serial), "42701552432456004857627230056898180491");
    }

    #[test]
    fn a_real_alipay_issuer_and_serial_give_the_sn_alipays_node_sdk_expects() {
        // alipay/alipay-sdk-nodejs-all test/antcertutil.test.ts: the SN of its fixture
        // alipayCertPublicKey_RSA2.crt is 7513daaaa48aa3ba2e4018d84402479c; that certificate's
        // issuer (openssl -nameopt RFC2253) and serial in decimal are these.
        let text = "CN=Ant Financial Certification Authority Class 2 R1,OU=Certification \
                    Authority,O=Ant Financial,C=CN42701552432456004857627230056898180491";
        let sn: String = Md5::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sn, "7513daaaa48aa3ba2e4018d84402479c");
    }

    #[test]
    fn special_characters_are_escaped_as_rfc_2253_says() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape(" x"), "\\ x");
        assert_eq!(escape("支付宝(中国)"), "支付宝(中国)");
    }

    #[test]
    fn what_is_not_a_certificate_is_refused() {
        assert!(cert_sn("").is_err());
        assert!(cert_sn("\n\n").is_err());
        assert!(cert_sn(&fixture("app_public_key.pem")).is_err());
    }
}
