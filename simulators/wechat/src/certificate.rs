//! Just enough X.509 to serve a platform certificate: its serial number as WeChat writes
//! it, its validity and its public key, read from the PEM with a minimal DER walker (the
//! crate needs no X.509 library for three fields). Pure, and unit-tested.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// What the simulator needs of its platform certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Upper-case hex without leading zeros, as WeChat's SDKs write it.
    /// Source: wechatpay-go (`fmt.Sprintf("%X", SerialNumber.Bytes())`) and wechatpay-php
    /// (`strtoupper(serialNumberHex)`); every official example serial is 40 such digits.
    pub serial: String,
    /// `notBefore`, seconds since the epoch.
    pub not_before: i64,
    /// `notAfter`, seconds since the epoch.
    pub not_after: i64,
    /// The DER `SubjectPublicKeyInfo`.
    pub public_key_der: Vec<u8>,
}

/// Reads the first `CERTIFICATE` of a PEM text.
pub fn read_certificate(pem: &str) -> Result<CertificateInfo, String> {
    let der = pem_body(pem, "CERTIFICATE")?;
    let (certificate, _) = element(&der)?;
    let (tbs, _) = element(expect(certificate, SEQUENCE, "Certificate")?.content)?;
    let mut rest = expect(tbs, SEQUENCE, "tbsCertificate")?.content;
    // version [0] EXPLICIT is optional (absent means v1).
    let (first, after) = element(rest)?;
    if first.tag == VERSION {
        rest = after;
    }
    let serial = serial_hex(take(&mut rest, "serialNumber", INTEGER)?.content);
    take(&mut rest, "signature", SEQUENCE)?;
    take(&mut rest, "issuer", SEQUENCE)?;
    let validity = take(&mut rest, "validity", SEQUENCE)?;
    take(&mut rest, "subject", SEQUENCE)?;
    let public_key = take(&mut rest, "subjectPublicKeyInfo", SEQUENCE)?;
    let (not_before, after) = element(validity.content)?;
    let (not_after, _) = element(after)?;
    Ok(CertificateInfo {
        serial,
        not_before: x509_time(not_before)?,
        not_after: x509_time(not_after)?,
        public_key_der: public_key.whole.to_vec(),
    })
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xA0;

/// One DER element: its tag, its content, and the whole encoding (header included).
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// The element at the start of `input`, and what follows it.
fn element(input: &[u8]) -> Result<(Element<'_>, &[u8]), String> {
    let truncated = || "the certificate's DER is truncated".to_owned();
    let (&tag, after_tag) = input.split_first().ok_or_else(truncated)?;
    let (&first, after_first) = after_tag.split_first().ok_or_else(truncated)?;
    let (length, body) = if first < 0x80 {
        (usize::from(first), after_first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(format!("unsupported DER length form {first:#04x}"));
        }
        let bytes = after_first.get(..n).ok_or_else(truncated)?;
        let length = bytes.iter().fold(0usize, |l, b| (l << 8) | usize::from(*b));
        (length, &after_first[n..])
    };
    let content = body.get(..length).ok_or_else(truncated)?;
    let header = input.len() - body.len();
    Ok((
        Element {
            tag,
            content,
            whole: &input[..header + length],
        },
        &body[length..],
    ))
}

/// The element at the start of `rest`, which must be a `tag`; `rest` moves past it.
fn take<'a>(rest: &mut &'a [u8], what: &str, tag: u8) -> Result<Element<'a>, String> {
    let (e, after) = element(rest)?;
    *rest = after;
    expect(e, tag, what)
}

fn expect<'a>(e: Element<'a>, tag: u8, what: &str) -> Result<Element<'a>, String> {
    if e.tag == tag {
        Ok(e)
    } else {
        Err(format!(
            "{what}: expected DER tag {tag:#04x}, found {:#04x}",
            e.tag
        ))
    }
}

/// A DER INTEGER's content as upper-case hex, without the sign byte or leading zeros.
fn serial_hex(content: &[u8]) -> String {
    let hex: String = content.iter().map(|b| format!("{b:02X}")).collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `UTCTime` (`YYMMDDHHMMSSZ`, years 1950-2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`).
fn x509_time(e: Element<'_>) -> Result<i64, String> {
    let text = std::str::from_utf8(e.content).map_err(|_| "a time is not ASCII".to_owned())?;
    let digits = text
        .strip_suffix('Z')
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("time `{text}` is not digits and Z"))?;
    let (year, rest) = match (e.tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy: i32 = digits[..2].parse().map_err(|_| "bad year")?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (digits[..4].parse().map_err(|_| "bad year")?, &digits[4..]),
        _ => return Err(format!("unsupported certificate time `{text}`")),
    };
    let field = |i: usize| rest[i..i + 2].parse::<u8>().unwrap_or(u8::MAX);
    let month = time::Month::try_from(field(0)).map_err(|e| e.to_string())?;
    let date = time::Date::from_calendar_date(year, month, field(2)).map_err(|e| e.to_string())?;
    let at = date
        .with_hms(field(4), field(6), field(8))
        .map_err(|e| e.to_string())?;
    Ok(at.assume_utc().unix_timestamp())
}

/// The DER between `-----BEGIN {label}-----` and `-----END {label}-----`.
fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| format!("no `{begin}` in the PEM"))?
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| format!("no `{end}` in the PEM"))?;
    let base64: String = pem[start..start + stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    BASE64
        .decode(base64)
        .map_err(|e| format!("the PEM is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    use rsa::{RsaPrivateKey, RsaPublicKey};

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("fixture")
    }

    #[test]
    fn the_fixture_certificate_reads_as_openssl_shows_it() {
        let info = read_certificate(&fixture("platform_certificate.pem")).expect("reads");
        assert_eq!(info.serial, "2B865B0AF185684117492CC0BD6A954A13FB4A54");
        assert_eq!(info.serial.len(), 40);
        // notBefore=Jan 1 00:00:00 2025 GMT, notAfter=Dec 31 23:59:59 2035 GMT.
        assert_eq!(info.not_before, 1_735_689_600);
        assert_eq!(info.not_after, 2_082_758_399);
        let public = RsaPublicKey::from_public_key_der(&info.public_key_der).expect("RSA key");
        let private =
            RsaPrivateKey::from_pkcs8_pem(&fixture("platform_certificate_private_key.pem"))
                .expect("private key");
        assert_eq!(public, RsaPublicKey::from(&private), "the key pair matches");
    }

    #[test]
    fn serials_are_upper_case_hex_without_the_sign_byte_or_leading_zeros() {
        assert_eq!(serial_hex(&[0x00, 0x9A, 0x0b]), "9A0B");
        assert_eq!(serial_hex(&[0x0F, 0xFF]), "FFF");
        assert_eq!(serial_hex(&[0x00]), "0");
    }

    #[test]
    fn times_of_both_kinds_are_read_and_other_forms_refused() {
        let time = |tag, text: &str| {
            x509_time(Element {
                tag,
                content: text.as_bytes(),
                whole: &[],
            })
        };
        assert_eq!(time(UTC_TIME, "250101000000Z"), Ok(1_735_689_600));
        assert_eq!(time(UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(time(GENERALIZED_TIME, "20250101000000Z"), Ok(1_735_689_600));
        assert!(time(UTC_TIME, "250101000000+0800").is_err());
        assert!(time(UTC_TIME, "251301000000Z").is_err());
        assert!(time(GENERALIZED_TIME, "250101000000Z").is_err());
    }

    #[test]
    fn what_is_not_a_certificate_is_refused() {
        assert!(read_certificate("").is_err());
        assert!(read_certificate(&fixture("platform_public_key.pem")).is_err());
        let truncated =
            "-----BEGIN CERTIFICATE-----\nMIIDTjCCAjagAwIBAgIU\n-----END CERTIFICATE-----";
        assert!(read_certificate(truncated)
            .expect_err("truncated")
            .contains("truncated"));
    }
}
