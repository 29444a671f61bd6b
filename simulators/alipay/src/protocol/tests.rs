//! The wire rules, without HTTP.

use super::*;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::json;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture")
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn parameters_are_decoded_exactly_once() {
    let p = read_params("sign=ab%2Bc%2F%3D&subject=Green+tea", b"note=%252B");
    assert_eq!(p["sign"], "ab+c/=");
    assert_eq!(p["subject"], "Green tea");
    assert_eq!(p["note"], "%2B", "decoded once, not twice");
}

#[test]
fn query_string_and_form_body_are_merged_and_the_first_value_wins() {
    let p = read_params(
        "app_id=1&method=alipay.trade.query",
        b"biz_content=%7B%7D&app_id=2",
    );
    assert_eq!(p["app_id"], "1");
    assert_eq!(p["method"], "alipay.trade.query");
    assert_eq!(p["biz_content"], "{}");
}

#[test]
fn the_sign_content_is_sorted_by_name_with_empty_values_dropped_and_raw_values() {
    let p = params(&[
        ("timestamp", "2026-11-30 10:00:00"),
        ("biz_content", r#"{"out_trade_no":"A&B=1"}"#),
        ("app_id", "2021000000000001"),
        ("notify_url", ""),
        ("sign", "x"),
    ]);
    assert_eq!(
        sign_content(&p, &["sign"]),
        r#"app_id=2021000000000001&biz_content={"out_trade_no":"A&B=1"}&timestamp=2026-11-30 10:00:00"#
    );
}

#[test]
fn a_request_signs_sign_type_but_a_notification_does_not() {
    let p = params(&[("a", "1"), ("sign", "s"), ("sign_type", "RSA2"), ("z", "2")]);
    assert_eq!(request_sign_content(&p), "a=1&sign_type=RSA2&z=2");
    assert_eq!(notification_sign_content(&p), "a=1&z=2");
}

#[test]
fn rsa2_signatures_verify_with_the_matching_public_key_only() {
    let app = SigningKey::<Sha256>::from_pkcs8_pem(&fixture("app_private_key.pem")).expect("key");
    let app_public =
        VerifyingKey::<Sha256>::from_public_key_pem(&fixture("app_public_key.pem")).expect("key");
    let other =
        VerifyingKey::<Sha256>::from_public_key_pem(&fixture("other_public_key.pem")).expect("key");
    let signature = sign(&app, "a=1&b=支付");
    assert!(verify(&app_public, "a=1&b=支付", &signature));
    assert!(!verify(&app_public, "a=1&b=支付 ", &signature));
    assert!(!verify(&other, "a=1&b=支付", &signature));
    assert!(!verify(&app_public, "a=1&b=支付", "not base64!"));
    assert!(!verify(&app_public, "a=1&b=支付", "AAAA"));
}

#[test]
fn answers_escape_slashes_as_alipay_does_and_stay_the_same_json() {
    let inner = json!({"code": "10000", "qr_code": "https://qr.alipay.com/bax01", "msg": "成功"});
    let text = alipay_json(&inner);
    assert!(
        text.contains(r#""https:\/\/qr.alipay.com\/bax01""#),
        "{text}"
    );
    assert!(text.contains("成功"), "non-ASCII as is: {text}");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("JSON"), inner);
}

#[test]
fn the_envelope_embeds_the_signed_text_as_is() {
    let inner = r#"{"code":"10000","msg":"Success"}"#;
    let body = envelope("alipay_trade_query_response", inner, None, Some("c2ln+/=="));
    assert_eq!(
        body,
        r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"sign":"c2ln+/=="}"#
    );
    let with_sn = envelope("k", inner, Some("0123abcd"), Some("s"));
    assert_eq!(
        with_sn,
        r#"{"k":{"code":"10000","msg":"Success"},"alipay_cert_sn":"0123abcd","sign":"s"}"#
    );
    assert_eq!(envelope("k", "{}", None, None), r#"{"k":{}}"#);
    assert_eq!(
        response_key("alipay.trade.fastpay.refund.query"),
        "alipay_trade_fastpay_refund_query_response"
    );
}

#[test]
fn forms_encode_space_plus_and_slash_so_that_they_decode_back() {
    let encoded = form_encode([
        ("sign", "a+b/c="),
        ("subject", "Green tea 绿茶"),
        ("f", "[{\"a\":1}]"),
    ]);
    assert!(
        encoded.starts_with("sign=a%2Bb%2Fc%3D&subject=Green+tea+%E7%BB%BF"),
        "{encoded}"
    );
    let decoded = read_params("", encoded.as_bytes());
    assert_eq!(decoded["sign"], "a+b/c=");
    assert_eq!(decoded["subject"], "Green tea 绿茶");
    assert_eq!(decoded["f"], "[{\"a\":1}]");
}

#[test]
fn times_are_written_and_read_in_beijing_time() {
    let at = 1_795_401_296; // 2026-11-23T02:34:56Z
    assert_eq!(beijing_time(at), "2026-11-23 10:34:56");
    assert_eq!(parse_beijing_time("2026-11-23 10:34:56"), Some(at));
    assert_eq!(parse_beijing_time("2026-11-23T10:34:56+08:00"), None);
    assert_eq!(parse_beijing_time("2026-11-23 10:34"), None);
}

#[test]
fn the_retry_schedule_is_alipays_compressed_by_the_time_scale() {
    let all: Vec<_> = (0..8).map(|i| retry_delay(i, 1.0)).collect();
    let minutes = |m: u64| Some(Duration::from_secs(m * 60));
    assert_eq!(
        all,
        [
            minutes(4),
            minutes(10),
            minutes(10),
            minutes(60),
            minutes(120),
            minutes(360),
            minutes(900),
            None
        ]
    );
    assert_eq!(retry_delay(0, 1000.0), Some(Duration::from_millis(240)));
}

#[test]
fn trade_numbers_have_alipays_shape() {
    let no = trade_no(1_795_401_296);
    assert_eq!(no.len(), 28, "{no}");
    assert!(no.starts_with("2026112322"), "{no}");
    assert!(no.bytes().all(|b| b.is_ascii_digit()));
    assert_ne!(no, trade_no(1_795_401_296));
}
