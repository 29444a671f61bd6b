//! `GET /v3/certificates`: the platform certificate, encrypted with the APIv3 key like a
//! notification resource; or, for a merchant with a public key only, WeChat's 404.

use serde_json::{json, Value};

use super::{Answer, Shared};
use crate::protocol;
use crate::trades::Refusal;

/// What WeChat answers a merchant that has no platform certificate.
///
/// Source: github.com/wechatpay-apiv3/wechatpay-php README (merchants with a public key
/// only, accounts opened since about 2024-10, get this 404 from `GET /v3/certificates`).
pub(crate) const NO_CERTIFICATE: &str = "无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。\
可查看指引https://pay.weixin.qq.com/docs/merchant/products/platform-certificate/wxp-pub-key-guide.html";

/// The certificate list (the query's `algorithm_type` is not looked at: RSA only).
///
/// Source: TheNorthMemory/wechatpay-openapi `docs/v3/certificates.yaml` and the gitbook
/// (`{"data":[{"serial_no","effective_time","expire_time","encrypt_certificate":
/// {"algorithm":"AEAD_AES_256_GCM","nonce","associated_data":"certificate","ciphertext"}}]}`,
/// times in RFC 3339 +08:00, the PEM encrypted with the APIv3 key, 16-byte tag appended).
pub(super) fn list(sim: &Shared) -> Result<Answer, Refusal> {
    let certificate = sim
        .keys
        .certificate()
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", NO_CERTIFICATE))?;
    let nonce = protocol::random_alnum(12);
    let associated_data = "certificate";
    let ciphertext = protocol::encrypt_resource(
        &sim.apiv3_key,
        &nonce,
        associated_data,
        certificate.pem.as_bytes(),
    )
    .map_err(|e| Refusal::new(500, "SYSTEM_ERROR", e))?;
    let entry: Value = json!({
        "serial_no": certificate.serial,
        "effective_time": protocol::beijing_time(certificate.info.not_before),
        "expire_time": protocol::beijing_time(certificate.info.not_after),
        "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
                                "associated_data": associated_data, "ciphertext": ciphertext},
    });
    Ok(Answer::ok(json!({ "data": [entry] })))
}
