//! Notification fields, signatures and faults, without HTTP.

use super::*;
use crate::trades::{Product, RefundDone};
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;

const NOW: i64 = 1_795_401_296;

fn key(name: &str) -> SigningKey<Sha256> {
    SigningKey::from_pkcs8_pem(&std::fs::read_to_string(SimConfig::fixture(name)).expect("fixture"))
        .expect("key")
}

fn public(name: &str) -> VerifyingKey<Sha256> {
    VerifyingKey::from_public_key_pem(
        &std::fs::read_to_string(SimConfig::fixture(name)).expect("fixture"),
    )
    .expect("key")
}

fn paid() -> Trade {
    let mut t = Trade::new("N1", Product::Precreate, "Green tea", 1234);
    t.come_to_exist(NOW).expect("scanned");
    t.pay(NOW + 1).expect("paid");
    t
}

/// The form decoded, and whether its signature verifies with `key` (as a receiver checks).
fn received(form: &str, key: &VerifyingKey<Sha256>) -> (BTreeMap<String, String>, bool) {
    let fields = protocol::read_params("", form.as_bytes());
    let sign = fields.get("sign").cloned().unwrap_or_default();
    let ok = protocol::verify(key, &protocol::notification_sign_content(&fields), &sign);
    (fields, ok)
}

#[test]
fn a_paid_trade_is_notified_with_its_payment_and_fund_bill_list_as_json_text() {
    let config = SimConfig::with_fixture_keys();
    let t = paid();
    let f = fields(&config, &t, None, "n1", NOW + 2);
    assert_eq!(f["trade_status"], "TRADE_SUCCESS");
    assert_eq!(f["notify_type"], "trade_status_sync");
    assert_eq!(f["notify_time"], protocol::beijing_time(NOW + 2));
    assert_eq!(
        (f["app_id"].as_str(), f["seller_id"].as_str()),
        (crate::APP_ID, crate::SELLER_ID)
    );
    for k in [
        "total_amount",
        "receipt_amount",
        "buyer_pay_amount",
        "invoice_amount",
    ] {
        assert_eq!(f[k], "12.34", "{k}");
    }
    assert_eq!(
        f["fund_bill_list"],
        r#"[{"amount":"12.34","fundChannel":"ALIPAYACCOUNT"}]"#
    );
    assert_eq!(f.get("trade_no"), t.trade_no.as_ref());
    assert!(f.contains_key("gmt_payment") && f.contains_key("gmt_create"));
    assert!(!f.contains_key("refund_fee") && !f.contains_key("gmt_close"));
}

#[test]
fn a_trade_closed_unpaid_is_notified_without_payment_fields() {
    let config = SimConfig::with_fixture_keys();
    let mut t = Trade::new("N2", Product::PagePay, "tea", 100);
    t.come_to_exist(NOW).expect("cashier shown");
    t.close(NOW + 5).expect("closed");
    let f = fields(&config, &t, None, "n2", NOW + 5);
    assert_eq!(f["trade_status"], "TRADE_CLOSED");
    assert!(f.contains_key("gmt_close"));
    for k in [
        "gmt_payment",
        "receipt_amount",
        "buyer_pay_amount",
        "fund_bill_list",
        "refund_fee",
    ] {
        assert!(!f.contains_key(k), "{k}");
    }
}

#[test]
fn refunds_are_notified_with_the_refunded_total_and_their_request_number() {
    let config = SimConfig::with_fixture_keys();
    let mut t = paid();
    let RefundDone::New(first) = t.refund("R1", 234, None, NOW + 3).expect("ok") else {
        panic!("new")
    };
    let f = fields(&config, &t, Some(&first), "n3", NOW + 3);
    assert_eq!(
        (
            f["trade_status"].as_str(),
            f["refund_fee"].as_str(),
            f["out_biz_no"].as_str()
        ),
        ("TRADE_SUCCESS", "2.34", "R1")
    );
    assert_eq!(f["gmt_refund"], first.gmt_refund);
    let RefundDone::New(rest) = t.refund("R2", 1000, None, NOW + 4).expect("ok") else {
        panic!("new")
    };
    let f = fields(&config, &t, Some(&rest), "n4", NOW + 4);
    assert_eq!(
        (
            f["trade_status"].as_str(),
            f["refund_fee"].as_str(),
            f["out_biz_no"].as_str()
        ),
        ("TRADE_CLOSED", "12.34", "R2")
    );
    assert!(f.contains_key("gmt_close") && f.contains_key("gmt_payment"));
}

#[test]
fn notifications_sign_every_field_but_sign_and_sign_type_with_alipays_key() {
    let config = SimConfig::with_fixture_keys();
    let f = fields(&config, &paid(), None, "n5", NOW);
    let (alipay, other) = (key("alipay_private_key.pem"), key("other_private_key.pem"));
    let form = signed_form(&f, Fault::None, &alipay, &other);
    assert!(form.contains("sign_type=RSA2"));
    assert!(form.contains("subject=Green+tea"), "space as +: {form}");
    let (got, ok) = received(&form, &public("alipay_public_key.pem"));
    assert!(ok, "verifies with Alipay's public key");
    assert_eq!(
        got["fund_bill_list"], f["fund_bill_list"],
        "JSON text survives the form"
    );
    let sign = &got["sign"];
    assert!(
        !protocol::verify(
            &public("alipay_public_key.pem"),
            &protocol::request_sign_content(&got),
            sign
        ),
        "sign_type is not covered"
    );
}

#[test]
fn faults_are_exactly_what_they_say() {
    let config = SimConfig::with_fixture_keys();
    let f = fields(&config, &paid(), None, "n6", NOW);
    let (alipay, other) = (key("alipay_private_key.pem"), key("other_private_key.pem"));
    let alipay_public = public("alipay_public_key.pem");
    let form = |fault| signed_form(&f, fault, &alipay, &other);

    let (_, ok) = received(&form(Fault::BadSignature), &alipay_public);
    assert!(!ok);
    assert!(received(&form(Fault::BadSignature), &public("other_public_key.pem")).1);

    let (got, ok) = received(&form(Fault::WrongAppId), &alipay_public);
    assert!(ok, "correctly signed");
    assert_eq!(
        (got["app_id"].as_str(), got["auth_app_id"].as_str()),
        (FOREIGN_APP_ID, FOREIGN_APP_ID)
    );

    let (got, ok) = received(&form(Fault::WrongAmount), &alipay_public);
    assert!(ok, "correctly signed");
    assert_eq!(
        (
            got["total_amount"].as_str(),
            got["buyer_pay_amount"].as_str()
        ),
        ("12.35", "12.35")
    );
    assert_eq!(
        got["fund_bill_list"],
        r#"[{"amount":"12.35","fundChannel":"ALIPAYACCOUNT"}]"#
    );

    let (got, ok) = received(&form(Fault::TamperedBody), &alipay_public);
    assert!(!ok, "changed after signing");
    assert_eq!(got["total_amount"], "12.35");
}

#[test]
fn only_exactly_success_acknowledges() {
    assert!(acknowledged(Some(200), "success"));
    for body in ["SUCCESS", "success\n", " success", "ok", ""] {
        assert!(!acknowledged(Some(200), body), "{body:?}");
    }
    assert!(!acknowledged(Some(500), "success"));
    assert!(!acknowledged(None, "success"));
}

#[test]
fn faults_are_named_as_the_control_endpoint_spells_them() {
    for fault in [
        Fault::None,
        Fault::BadSignature,
        Fault::WrongAppId,
        Fault::WrongAmount,
        Fault::TamperedBody,
    ] {
        let parsed: Fault =
            serde_json::from_value(serde_json::json!(fault.as_str())).expect("name");
        assert_eq!(parsed, fault);
    }
    assert!(serde_json::from_value::<Fault>(serde_json::json!("bad-signature")).is_err());
}
