//! The harness on the bundled mock adapter, as an integrator would test their own: scripted
//! sandbox answers, the request's signature checked with the key the test holds, and
//! notifications signed well and badly.

use hmac::{Hmac, Mac};
use paygate_adapter_test::contract::{
    NotificationEvent, PayAction, ProviderError, SecretKind, TradeState,
};
use paygate_adapter_test::{Harness, HttpMethod};
use sha2::Sha256;

const SANDBOX: &str = "https://sandbox.example/sandbox";
const KEY: &str = "sandbox-test-key";

fn hmac_hex(message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn mock() -> Harness {
    let mut mock = Harness::load(paygate::adapters::MOCK)
        .await
        .expect("the mock adapter loads");
    mock.setting("sandbox_url", SANDBOX)
        .setting("account_id", "sbx_test");
    mock.secret("api_key", SecretKind::HmacKey, KEY)
        .expect("an HMAC key");
    mock
}

#[tokio::test]
async fn a_pay_sends_one_signed_request_and_answers_the_checkout_url() {
    let mut mock = mock().await;
    mock.answer(
        HttpMethod::Post,
        &format!("{SANDBOX}/api/trades"),
        200,
        r#"{"payment_no": "P1", "trade_id": "T1", "state": "open", "pay_url": "https://sandbox.example/sandbox/checkout/P1"}"#,
    );
    let answer = mock
        .pay(&Harness::pay_request("P1", 1234, "CNY", "web"))
        .await
        .expect("the call runs")
        .expect("the sandbox accepted");
    assert_eq!(
        answer.action,
        PayAction::Redirect("https://sandbox.example/sandbox/checkout/P1".into())
    );
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    let header = |name: &str| {
        sent[0]
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let body = String::from_utf8(sent[0].body.clone()).expect("JSON text");
    let expected = hmac_hex(&format!(
        "POST\n/sandbox/api/trades\n{}\n{}\n{body}",
        header("x-sandbox-timestamp"),
        header("x-sandbox-nonce")
    ));
    assert_eq!(
        header("x-sandbox-signature"),
        expected,
        "signed with the held key"
    );
    let sent: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(sent["amount"], 1234);
    assert!(mock.unused_answers().is_empty());
}

#[tokio::test]
async fn a_query_reports_what_the_sandbox_answered() {
    let mut mock = mock().await;
    mock.answer(
        HttpMethod::Get,
        &format!("{SANDBOX}/api/trades/P2"),
        200,
        r#"{"payment_no": "P2", "trade_id": "T2", "state": "paid", "amount": 500, "currency": "CNY", "paid_amount": 500, "paid_at": 1700000000, "refunded_amount": 0}"#,
    );
    let status = mock
        .query("P2")
        .await
        .expect("the call runs")
        .expect("an answer");
    assert_eq!(status.state, TradeState::Paid);
    assert_eq!(status.paid_amount.map(|m| m.minor), Some(500));
}

#[tokio::test]
async fn a_request_the_test_did_not_script_is_unreachable() {
    let mock = mock().await;
    let answer = mock.query("P3").await.expect("the call runs");
    assert!(
        matches!(answer, Err(ProviderError::Unreachable(_))),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_notification_is_accepted_only_with_the_accounts_signature() {
    let mock = mock().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string();
    let body = r#"{"event": "trade.paid", "payment_no": "P4", "trade_id": "T4", "state": "paid", "amount": 700, "currency": "CNY", "paid_amount": 700, "paid_at": 1700000000}"#;
    let signature = hmac_hex(&format!("{now}\nnonce123456789012\n{body}"));
    let headers = |signature: &str| {
        vec![
            ("x-sandbox-account", "sbx_test".to_owned()),
            ("x-sandbox-timestamp", now.clone()),
            ("x-sandbox-nonce", "nonce123456789012".to_owned()),
            ("x-sandbox-signature", signature.to_owned()),
        ]
    };
    let good = headers(&signature);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let notification = mock
        .parse_notification(&good, body.as_bytes())
        .await
        .expect("the call runs")
        .expect("a verified notification");
    assert!(
        matches!(&notification.event, NotificationEvent::Payment(s) if s.state == TradeState::Paid),
        "{:?}",
        notification.event
    );

    let forged = headers(&"0".repeat(64));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refusal = mock
        .parse_notification(&forged, body.as_bytes())
        .await
        .expect("the call runs")
        .expect_err("a forged signature is refused");
    assert!(
        matches!(refusal.error, ProviderError::BadSignature(_)),
        "{:?}",
        refusal.error
    );
}
