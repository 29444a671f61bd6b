//! The public-key-certificate mode over real HTTP: requests must name the app certificate
//! and the root certificates by SN; answers name Alipay's certificate.

use rsa::pkcs1v15::VerifyingKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::json;
use x509_cert::der::Encode;

use super::super::{certs, AlipaySimulator, KeyMode, SimConfig, ALIPAY_CERT_SN};
use super::support::{fixture, Merchant};

async fn certificate_mode() -> Merchant {
    Merchant::start_with(|c| c.key_mode = KeyMode::Certificate).await
}

#[tokio::test]
async fn answers_name_alipays_certificate_and_verify_with_its_key() {
    let mut m = certificate_mode().await;
    // The merchant verifies with the key inside Alipay's certificate.
    let chain = certs::read_chain(&fixture("alipay_cert.pem")).expect("certificate");
    let spki = chain[0]
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("DER");
    m.alipay = VerifyingKey::from_public_key_der(&spki).expect("RSA key");
    let a = m
        .precreate("C100001", "1.00", 600, "http://127.0.0.1:1/n")
        .await;
    assert_eq!(a.code(), ("10000", ""));
    assert_eq!(a.alipay_cert_sn.as_deref(), Some(ALIPAY_CERT_SN));
    assert!(
        a.raw.contains(&format!(
            r#"}},"alipay_cert_sn":"{ALIPAY_CERT_SN}","sign":""#
        )),
        "{}",
        a.raw
    );
}

#[tokio::test]
async fn a_missing_or_wrong_certificate_sn_is_refused_as_alipay_does() {
    let m = certificate_mode().await;
    let cases = [
        ("app_cert_sn", None, "isv.missing-app-cert-sn"),
        (
            "app_cert_sn",
            Some("0123456789abcdef0123456789abcdef"),
            "isv.app-cert-not-exist",
        ),
        (
            "alipay_root_cert_sn",
            None,
            "isv.missing-alipay-root-cert-sn",
        ),
        // The SNs of the root file's RSA roots: one of two is not the root SN.
        (
            "alipay_root_cert_sn",
            Some("4fbebb4afa7d1fd5b328e2b75447be01"),
            "isv.invalid-alipay-root-cert-sn",
        ),
    ];
    for (name, value, sub_code) in cases {
        let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "C200001"}));
        match value {
            Some(v) => params.insert(name.into(), v.into()),
            None => params.remove(name),
        };
        m.sign_with(&m.key, &mut params);
        let a = m.send(&params).await;
        assert_eq!(a.code(), ("40002", sub_code), "{name} = {value:?}");
        assert_eq!(a.verified, Some(true), "{name}: signed");
    }
    assert_eq!(
        m.query("C200001").await.code(),
        ("40004", "ACQ.TRADE_NOT_EXIST"),
        "the right SNs pass"
    );
}

#[tokio::test]
async fn the_public_key_mode_needs_no_sn_and_answers_none() {
    let m = Merchant::start().await;
    let mut params = m.params("alipay.trade.query", &json!({"out_trade_no": "C300001"}));
    assert!(!params.contains_key("app_cert_sn"));
    m.sign_with(&m.key, &mut params);
    let a = m.send(&params).await;
    assert_eq!(
        (a.code().1, a.alipay_cert_sn.as_deref()),
        ("ACQ.TRADE_NOT_EXIST", None)
    );
}

#[tokio::test]
async fn the_certificate_mode_refuses_to_start_with_a_certificate_of_another_key() {
    let mut config = SimConfig::with_fixture_keys();
    config.key_mode = KeyMode::Certificate;
    config.alipay_cert_pem = fixture("app_cert.pem");
    let refused = AlipaySimulator::spawn(config, "127.0.0.1:0").await;
    let why = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(why.contains("not of the Alipay private key"), "{why}");
    let mut config = SimConfig::with_fixture_keys();
    config.key_mode = KeyMode::Certificate;
    config.alipay_root_cert_pem = String::new();
    assert!(AlipaySimulator::spawn(config, "127.0.0.1:0").await.is_err());
}

#[test]
fn key_modes_are_named_as_the_binary_spells_them() {
    for mode in [KeyMode::PublicKey, KeyMode::Certificate] {
        assert_eq!(mode.to_string().parse::<KeyMode>(), Ok(mode));
        assert_eq!(json!(mode), json!(mode.to_string()));
    }
    assert!("cert".parse::<KeyMode>().is_err());
}
