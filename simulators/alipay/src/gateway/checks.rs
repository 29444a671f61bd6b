//! What the gateway checks before any method runs: the app, the common parameters, the
//! certificate SNs (certificate mode) and the request's signature.
//!
//! The codes are Alipay's 公共错误码 (opendocs.alipay.com/common/02km9f, as copied into the
//! SDKs' error maps: 40001 `Missing Required Arguments` isv.missing-method / -signature /
//! -signature-type / -app-id / -timestamp / -version; 40002 `Invalid Arguments`
//! isv.invalid-method / -format / -signature-type / -signature / -app-id / -timestamp /
//! -charset). A refusal of an unknown app is not signed (a probe with `app_id=test`
//! answered `{"alipay_trade_query_response":{"code":"40002",…,"sub_code":
//! "isv.invalid-app-id",…}}` without `sign`); other refusals are (the `isv.invalid-signature`
//! answer quoted in alipay/alipay-sdk-nodejs-all `src/alipay.ts` carries one).

use std::collections::BTreeMap;

use super::{Call, Method, Refused, Sim};
use crate::protocol;
use crate::trades::Refusal;

fn missing(sub_code: &str, sub_msg: &str) -> Refusal {
    Refusal {
        code: "40001",
        msg: "Missing Required Arguments",
        sub_code: sub_code.to_owned(),
        sub_msg: sub_msg.to_owned(),
    }
}

fn invalid(sub_code: &str, sub_msg: impl Into<String>) -> Refusal {
    Refusal {
        code: "40002",
        msg: "Invalid Arguments",
        sub_code: sub_code.to_owned(),
        sub_msg: sub_msg.into(),
    }
}

/// Checks a request as Alipay's gateway does, in this order: app, method, common
/// parameters, certificate SNs, signature.
pub(super) fn check(
    sim: &Sim,
    params: BTreeMap<String, String>,
    method: Option<Method>,
) -> Result<Call, Refused> {
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let unsigned = |refusal| Refused {
        refusal,
        signed: false,
    };
    let signed = |refusal| Refused {
        refusal,
        signed: true,
    };
    match get("app_id") {
        None => return Err(unsigned(missing("isv.missing-app-id", "缺少AppID参数"))),
        Some(id) if id != sim.config.app_id => {
            return Err(unsigned(invalid("isv.invalid-app-id", "无效的AppID参数")))
        }
        Some(_) => {}
    }
    let name = get("method")
        .ok_or_else(|| signed(missing("isv.missing-method", "缺少方法名参数")))?
        .to_owned();
    let method = method.ok_or_else(|| signed(invalid("isv.invalid-method", "不存在的方法名")))?;
    common(&get).map_err(signed)?;
    if let Some(sns) = &sim.sns {
        certificates(&get, sns).map_err(signed)?;
    }
    let sign =
        get("sign").ok_or_else(|| signed(missing("isv.missing-signature", "缺少签名参数")))?;
    let content = protocol::request_sign_content(&params);
    if !protocol::verify(&sim.app, &content, sign) {
        sim.state().stats.signature_failures += 1;
        return Err(signed(invalid_signature(&content)));
    }
    Ok(Call {
        params,
        method,
        name,
    })
}

/// `isv.invalid-signature`, with the content the gateway verified, `&` written `&amp;` as
/// Alipay's answer writes it (alipay/alipay-sdk-nodejs-all `src/alipay.ts`: 「验签出错，建议
/// 检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：app_id=…&amp;charset=…」).
pub(super) fn invalid_signature(content: &str) -> Refusal {
    invalid(
        "isv.invalid-signature",
        format!(
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}",
            content.replace('&', "&amp;")
        ),
    )
}

/// `format`, `charset`, `sign_type`, `timestamp`, `version`.
fn common<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<(), Refusal> {
    if get("format").is_some_and(|f| !f.eq_ignore_ascii_case("json")) {
        return Err(invalid("isv.invalid-format", "无效的数据格式"));
    }
    // Alipay also takes GBK; the simulator reads UTF-8 only, and says so.
    if get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return Err(invalid(
            "isv.invalid-charset",
            "字符集错误 (the simulator reads utf-8 only)",
        ));
    }
    match get("sign_type") {
        None => return Err(missing("isv.missing-signature-type", "缺少签名类型参数")),
        Some("RSA2") => {}
        Some(other) => {
            return Err(invalid(
                "isv.invalid-signature-type",
                format!("无效的签名类型: {other} (RSA2 only)"),
            ))
        }
    }
    match get("timestamp") {
        None => return Err(missing("isv.missing-timestamp", "缺少时间戳参数")),
        // Source: the 公共请求参数 table (「发送请求的时间，格式"yyyy-MM-dd HH:mm:ss"」).
        Some(t) if protocol::parse_beijing_time(t).is_none() => {
            return Err(invalid("isv.invalid-timestamp", "非法的时间戳参数"))
        }
        Some(_) => {}
    }
    if get("version").is_none() {
        return Err(missing("isv.missing-version", "缺少版本参数"));
    }
    Ok(())
}

/// The certificate mode's `app_cert_sn` and `alipay_root_cert_sn`.
///
/// Sources: a captured refusal `{"code":"40002","msg":"Invalid Arguments","subCode":
/// "isv.missing-app-cert-sn","subMsg":"缺少应用公钥证书序列号"}` (quoted in several public Java
/// projects); alipay/alipay-sdk-nodejs-all#56 (a wrong app_cert_sn: 40002
/// `isv.app-cert-not-exist` 「应用公钥证书不存在」); yansongda/pay#491 (a wrong root SN:
/// `invalid-alipay-root-cert-sn` 「无效支付宝根证书序列号」); the missing root SN code
/// `isv.missing-alipay-root-cert-sn` of the 证书 error list (common/02kdnf).
fn certificates<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    sns: &crate::Sns,
) -> Result<(), Refusal> {
    match get("app_cert_sn") {
        None => return Err(invalid("isv.missing-app-cert-sn", "缺少应用公钥证书序列号")),
        Some(sn) if sn != sns.app => {
            return Err(invalid("isv.app-cert-not-exist", "应用公钥证书不存在"))
        }
        Some(_) => {}
    }
    match get("alipay_root_cert_sn") {
        None => Err(invalid(
            "isv.missing-alipay-root-cert-sn",
            "缺少支付宝根证书序列号",
        )),
        Some(sn) if sn != sns.root => Err(invalid(
            "isv.invalid-alipay-root-cert-sn",
            "无效支付宝根证书序列号",
        )),
        Some(_) => Ok(()),
    }
}
