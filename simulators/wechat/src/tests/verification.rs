//! Who signs, over real HTTP: refusals of the request itself unsigned, everything else
//! signed; the public key, the platform certificate and the migration between them; the
//! certificate list.

use serde_json::json;

use super::super::verification::Signer;
use super::super::{
    Fault, Knobs, NotificationSigner, PayOptions, SimConfig, Verification, WechatSimulator,
    PLATFORM_CERTIFICATE_SERIAL,
};
use super::support::{fixture, key, receiver, wait_for, Merchant};

const NOWHERE: &str = "http://127.0.0.1:1/notify";

#[tokio::test]
async fn an_unverified_request_is_refused_unsigned() {
    let m = Merchant::start().await;
    let body = m.order("V100001", 100, 600, NOWHERE).to_string();
    let path = "/v3/pay/transactions/native";
    let good = m.authorization(&m.key, "POST", path, &body);
    let own = (
        m.config.mchid.as_str(),
        m.config.merchant_serial_no.as_str(),
    );
    let cases = [
        (
            "another key",
            Some(m.authorization(&key("other_private_key.pem"), "POST", path, &body)),
            body.clone(),
        ),
        ("no Authorization", None, body.clone()),
        (
            "a tampered body",
            Some(good.clone()),
            body.replace("100", "1"),
        ),
        (
            "another scheme",
            Some(good.replace("WECHATPAY2", "WECHATPAY3")),
            body.clone(),
        ),
        (
            "another mchid",
            Some(m.authorization_as(("1230000109", own.1), &m.key, ("POST", path, &body))),
            body.clone(),
        ),
        (
            "an unknown serial_no",
            Some(m.authorization_as(
                (own.0, "0000000000000000000000000000000000000001"),
                &m.key,
                ("POST", path, &body),
            )),
            body.clone(),
        ),
    ];
    let n = cases.len();
    for (case, authorization, sent) in cases {
        let a = m.send("POST", path, &sent, authorization).await;
        assert_eq!(a.code(), (401, "SIGN_ERROR"), "{case}: {}", a.body);
        assert_eq!(a.signer, None, "{case}: no Wechatpay-* header");
        assert!(a.message().starts_with("签名错误"), "{case}: {}", a.body);
        if case == "an unknown serial_no" {
            assert!(a.message().contains("商户证书序列号有误"), "{}", a.body);
        }
    }
    let stats = m.sim.stats().await;
    assert_eq!(stats.signature_failures, n as u64);
    assert_eq!(
        stats.requests.get("POST /v3/pay/transactions/native"),
        Some(&(n as u64)),
        "refused requests are counted too"
    );
    assert!(m.sim.trade("V100001").await.is_none(), "nothing was done");
}

#[tokio::test]
async fn answers_to_verified_requests_are_signed_business_errors_included() {
    let m = Merchant::start().await;
    let order = m.order("V200001", 100, 600, NOWHERE);
    let created = m.create("native", order.clone()).await;
    let mut bad = order.clone();
    bad["out_trade_no"] = json!("V2");
    let param_error = m.create("native", bad).await;
    let mut other = order.clone();
    other["amount"]["total"] = json!(200);
    let repeated = m.create("native", other).await;
    let not_found = m.query("V999999").await;
    let closed = m.close("V200001").await;
    let answers = [
        (created.status, "", created.signer),
        (param_error.status, "PARAM_ERROR", param_error.signer),
        (repeated.status, "INVALID_REQUEST", repeated.signer),
        (not_found.status, "ORDER_NOT_EXIST", not_found.signer),
        (closed.status, "", closed.signer),
    ];
    for (status, code, signer) in answers {
        assert_eq!(signer, Some(Signer::PublicKey), "{status} {code}");
    }
    assert_eq!(
        (
            param_error.status,
            repeated.status,
            not_found.status,
            closed.status
        ),
        (400, 400, 404, 204)
    );
    m.create("native", m.order("V200002", 100, 600, NOWHERE))
        .await;
    m.sim
        .pay("V200002", PayOptions::default())
        .await
        .expect("paid");
    let paid = m.close("V200002").await;
    assert_eq!(
        (paid.code(), paid.signer),
        ((400, "ORDERPAID"), Some(Signer::PublicKey))
    );
}

#[tokio::test]
async fn the_fail_next_knob_fails_verified_requests_only_and_signs_the_500() {
    let m = Merchant::start().await;
    m.knobs(json!({"fail_next": 1})).await;
    let unsigned = m
        .send(
            "GET",
            "/v3/pay/transactions/out-trade-no/V1?mchid=1",
            "",
            None,
        )
        .await;
    assert_eq!(unsigned.code(), (401, "SIGN_ERROR"), "not consumed by it");
    let failed = m.query("V999999").await;
    assert_eq!(
        (failed.code(), failed.signer),
        ((500, "SYSTEM_ERROR"), Some(Signer::PublicKey))
    );
    assert_eq!(m.query("V999999").await.code(), (404, "ORDER_NOT_EXIST"));
}

#[tokio::test]
async fn the_wrong_signature_knob_signs_under_the_platform_serial_with_another_key() {
    let m = Merchant::start().await;
    m.sim
        .set_knobs(Knobs {
            wrong_response_signature: true,
            ..Knobs::default()
        })
        .await;
    let path = format!(
        "/v3/pay/transactions/out-trade-no/V300001?mchid={}",
        m.config.mchid
    );
    let authorization = m.authorization(&m.key, "GET", &path, "");
    let raw = m.send_raw("GET", &path, "", Some(authorization)).await;
    let header = |n: &str| {
        raw.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("wechatpay-serial"), m.config.platform_public_key_id);
    let message = super::super::protocol::response_message(
        &header("wechatpay-timestamp"),
        &header("wechatpay-nonce"),
        &raw.body,
    );
    let signature = header("wechatpay-signature");
    assert!(!super::super::protocol::verify(
        &m.platform,
        &message,
        &signature
    ));
}

#[tokio::test]
async fn in_certificate_mode_answers_and_notifications_are_signed_by_the_certificate() {
    let mut m = Merchant::start_with(|c| c.verification = Verification::Certificate).await;
    let (url, seen) = receiver(vec![]).await;
    let a = m.create("native", m.order("V400001", 100, 600, &url)).await;
    assert_eq!((a.status, a.signer), (200, Some(Signer::Certificate)));
    assert_eq!(a.header("wechatpay-serial"), PLATFORM_CERTIFICATE_SERIAL);
    // Source: developers.weixin.qq.com/community/develop/doc/0004e8c40b09182972936db6d69400
    // (until the switch has started, naming the public key changes nothing).
    m.wechatpay_serial = Some(m.config.platform_public_key_id.clone());
    let a = m.query("V400001").await;
    assert_eq!(a.signer, Some(Signer::Certificate));
    m.sim
        .pay("V400001", PayOptions::default())
        .await
        .expect("paid");
    m.sim
        .set_knobs(Knobs {
            notification_signer: NotificationSigner::PublicKey,
            ..Knobs::default()
        })
        .await;
    m.sim
        .notify_now("V400001", Fault::None)
        .await
        .expect("answered");
    m.sim
        .notify_now("V400001", Fault::WrongSerial)
        .await
        .expect("answered");
    let seen = wait_for(&seen, 3).await;
    assert_eq!(seen.len(), 3);
    for note in &seen[..2] {
        assert_eq!(
            note.signed_by(&m),
            Some(Signer::Certificate),
            "one key, whatever the knob"
        );
    }
    let foreign = seen[2].header("wechatpay-serial");
    assert!(
        foreign.len() == 40 && foreign != PLATFORM_CERTIFICATE_SERIAL,
        "another certificate's serial: {foreign}"
    );
    assert!(seen[2].verifies(&m.certificate));
}

#[tokio::test]
async fn during_migration_an_answer_is_signed_with_the_public_key_only_if_the_request_names_it() {
    let mut m = Merchant::start_with(|c| c.verification = Verification::Migration).await;
    let a = m
        .create("native", m.order("V500001", 100, 600, NOWHERE))
        .await;
    assert_eq!((a.status, a.signer), (200, Some(Signer::Certificate)));
    m.wechatpay_serial = Some(m.config.platform_public_key_id.clone());
    let a = m.query("V500001").await;
    assert_eq!(a.signer, Some(Signer::PublicKey));
    assert_eq!(
        a.header("wechatpay-serial"),
        m.config.platform_public_key_id
    );
    let a = m.query("V999999").await;
    assert_eq!(
        (a.code(), a.signer),
        ((404, "ORDER_NOT_EXIST"), Some(Signer::PublicKey))
    );
    m.wechatpay_serial = Some("PUB_KEY_ID_0000000000000000000000000000".into());
    assert_eq!(m.query("V500001").await.signer, Some(Signer::Certificate));
    m.wechatpay_serial = Some(PLATFORM_CERTIFICATE_SERIAL.into());
    assert_eq!(m.query("V500001").await.signer, Some(Signer::Certificate));
}

#[tokio::test]
async fn during_migration_notifications_alternate_between_the_keys_unless_the_knob_forces_one() {
    let m = Merchant::start_with(|c| c.verification = Verification::Migration).await;
    let (url, seen) = receiver(vec![500, 500]).await;
    m.create("native", m.order("V600001", 100, 600, &url)).await;
    m.sim
        .pay("V600001", PayOptions::default())
        .await
        .expect("paid");
    let retried = wait_for(&seen, 3).await;
    let signers: Vec<_> = retried.iter().map(|n| n.signed_by(&m)).collect();
    assert_eq!(
        signers,
        [
            Some(Signer::Certificate),
            Some(Signer::PublicKey),
            Some(Signer::Certificate)
        ],
        "each attempt, retries included, by the other key"
    );
    let knobs = m.knobs(json!({"notification_signer": "public_key"})).await;
    assert_eq!(knobs["notification_signer"], "public_key");
    for _ in 0..2 {
        m.sim
            .notify_now("V600001", Fault::None)
            .await
            .expect("answered");
    }
    m.knobs(json!({"notification_signer": "certificate"})).await;
    for _ in 0..2 {
        m.sim
            .notify_now("V600001", Fault::None)
            .await
            .expect("answered");
    }
    let seen = wait_for(&seen, 7).await;
    let forced: Vec<_> = seen[3..].iter().map(|n| n.signed_by(&m)).collect();
    assert_eq!(
        forced,
        [
            Some(Signer::PublicKey),
            Some(Signer::PublicKey),
            Some(Signer::Certificate),
            Some(Signer::Certificate)
        ]
    );
    let r = m
        .http
        .put(format!("{}/sim/knobs", m.sim.base_url()))
        .json(&json!({"notification_signer": "both"}))
        .send()
        .await
        .expect("knobs");
    assert_eq!(r.status(), 422, "an unknown signer is refused");
}

#[tokio::test]
async fn the_certificate_list_holds_the_certificate_encrypted_with_the_apiv3_key() {
    for mode in [Verification::Certificate, Verification::Migration] {
        let m = Merchant::start_with(|c| c.verification = mode).await;
        let a = m.call("GET", "/v3/certificates", None).await;
        assert_eq!(a.status, 200, "{mode}: {}", a.body);
        assert_eq!(a.signer, Some(Signer::Certificate), "{mode}");
        let data = a.body["data"].as_array().expect("data");
        assert_eq!(data.len(), 1);
        let entry = &data[0];
        assert_eq!(entry["serial_no"], PLATFORM_CERTIFICATE_SERIAL);
        assert_eq!(entry["effective_time"], "2025-01-01T08:00:00+08:00");
        assert_eq!(entry["expire_time"], "2036-01-01T07:59:59+08:00");
        let sealed = &entry["encrypt_certificate"];
        assert_eq!(
            (&sealed["algorithm"], &sealed["associated_data"]),
            (&json!("AEAD_AES_256_GCM"), &json!("certificate"))
        );
        let nonce = sealed["nonce"].as_str().expect("nonce");
        assert_eq!(nonce.len(), 12);
        let pem = super::super::protocol::decrypt_resource(
            &m.apiv3_key(),
            nonce,
            "certificate",
            sealed["ciphertext"].as_str().expect("ciphertext"),
        )
        .expect("decrypts with the APIv3 key");
        assert_eq!(
            String::from_utf8(pem).expect("PEM"),
            m.config.platform_certificate_pem
        );
        assert_eq!(
            m.sim.stats().await.requests.get("GET /v3/certificates"),
            Some(&1)
        );
    }
}

#[tokio::test]
async fn without_a_certificate_the_certificate_list_is_a_404_pointing_to_the_public_key() {
    let m = Merchant::start().await;
    let a = m.call("GET", "/v3/certificates", None).await;
    assert_eq!(
        (a.code(), a.signer),
        ((404, "RESOURCE_NOT_EXISTS"), Some(Signer::PublicKey))
    );
    assert_eq!(
        a.message(),
        "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。可查看指引\
         https://pay.weixin.qq.com/docs/merchant/products/platform-certificate/wxp-pub-key-guide.html"
    );
}

#[tokio::test]
async fn the_fixture_certificate_configures_a_merchant() {
    let config = SimConfig::with_fixture_keys();
    assert_eq!(
        config.platform_certificate_serial,
        PLATFORM_CERTIFICATE_SERIAL
    );
    assert_eq!(
        std::fs::read_to_string(SimConfig::platform_certificate_path()).expect("PEM"),
        config.platform_certificate_pem
    );
    assert_eq!(
        fixture("platform_certificate.pem"),
        config.platform_certificate_pem
    );
    let sim = WechatSimulator::spawn(
        SimConfig {
            verification: Verification::Certificate,
            ..config.clone()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("starts");
    assert_eq!(
        sim.config().platform_certificate_serial,
        PLATFORM_CERTIFICATE_SERIAL
    );
    let mismatched = SimConfig {
        verification: Verification::Migration,
        platform_certificate_serial: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        ..config.clone()
    };
    assert!(WechatSimulator::spawn(mismatched, "127.0.0.1:0")
        .await
        .is_err());
    let no_lifetime = SimConfig {
        action_lifetime_scale: 0.0,
        ..config
    };
    assert!(WechatSimulator::spawn(no_lifetime, "127.0.0.1:0")
        .await
        .is_err());
}
