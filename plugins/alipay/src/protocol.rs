//! The Alipay OpenAPI gateway's request protocol (RSA2): the common parameters, what a
//! request signature covers, how a request travels (query string and form body, or an
//! auto-submitting HTML form), what a notification's signature covers, and the times Alipay
//! writes. Pure, and unit-tested natively.
//!
//! Sources, each cited where its rule is applied: Alipay's Java SDK (alipay/
//! alipay-sdk-java-all: `AbstractAlipayClient`, `AlipaySignature`, `WebUtils`, `StringUtils`),
//! the PHP SDK (alipay/alipay-sdk-php-all `AopCertClient.php`), the Node SDK (alipay/
//! alipay-sdk-nodejs-all `src/util.ts`), and Alipay's own pages: 自行实现签名 (signing a
//! request, https://opendocs.alipay.com/common/057k53), 自行实现验签 (verifying answers and
//! notifications, https://opendocs.alipay.com/common/02mse7), the asynchronous notification
//! of a payment (https://opendocs.alipay.com/open/270/105902), and the API pages, whose
//! common parameters are the same on each (alipay.trade.precreate:
//! https://opendocs.alipay.com/open/02ekfg).

use paygate_sdk::datetime::{local_time, parse_local_time, BEIJING};
use paygate_sdk::encoding::{query_string, with_query};
use paygate_sdk::UnixSeconds;

/// The common parameters' fixed values (公共请求参数 of every API page, e.g.
/// https://opendocs.alipay.com/open/02ekfg: format "仅支持JSON", version "固定为：1.0";
/// Java SDK `AlipayConstants`).
pub const FORMAT: &str = "JSON";
pub const CHARSET: &str = "utf-8";
pub const SIGN_TYPE: &str = "RSA2";
pub const VERSION: &str = "1.0";

/// The form body's content type, charset included, as the SDKs send it (Java
/// `WebUtils.doPost`: `"application/x-www-form-urlencoded;charset=" + charset`; PHP `curl`:
/// the same header).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

/// The one parameter sent in the form body of an API call; all the others travel in the
/// query string (see [`api_request`]).
pub const BIZ_CONTENT: &str = "biz_content";

/// The parameters of a request, by name; their order does not matter (they are sorted for
/// signing).
pub type Params = Vec<(String, String)>;

/// The common parameters of every request: `app_id`, `method`, `format=JSON`,
/// `charset=utf-8`, `sign_type=RSA2`, `timestamp` (Beijing time), `version=1.0`.
pub fn common_params(app_id: &str, method: &str, timestamp: &str) -> Params {
    [
        ("app_id", app_id),
        ("method", method),
        ("format", FORMAT),
        ("charset", CHARSET),
        ("sign_type", SIGN_TYPE),
        ("timestamp", timestamp),
        ("version", VERSION),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// What a request signature covers: every parameter but `sign` — `sign_type` included —
/// whose value is not empty or blank, sorted by name, written `name=value` with the raw
/// (not URL-encoded) values and joined with `&`.
///
/// Java SDK: `AlipaySignature.getSignatureContent` puts the application, "protocol must"
/// (`sign_type` among them) and "protocol optional" parameters in one `TreeMap`, and
/// `getSignContent` keeps the pairs `StringUtils.areNotEmpty(key, value)` (blank counts as
/// empty: `StringUtils.isEmpty("   ") == true`); `sign` is added after. PHP `getSignContent`
/// (`ksort`, skips `checkEmpty`, i.e. `trim($v) === ""`); Node `sign()` signs `sign_type` too.
pub fn sign_content(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && !is_blank(k) && !is_blank(v))
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    join_pairs(kept.into_iter())
}

/// What a notification's signature covers: every parameter but `sign` and `sign_type`,
/// values as decoded from the form (once), sorted by name, `name=value` joined with `&`.
/// Empty values stay (`k=`), as the SDKs' checks keep them.
///
/// Alipay's notification docs (异步通知验签): "第一步：在通知返回参数列表中，除去sign、sign_type
/// 两个参数外，凡是通知返回回来的参数皆是待验签的参数。第二步：将剩下参数进行url_decode，然后进行字典
/// 排序，组成字符串，得到待签名字符串" (as quoted at blog.csdn.net/qq_39505065/article/details/
/// 84429592). Java SDK `AlipaySignature.getSignCheckContentV1` (what `rsaCheckV1` verifies):
/// removes `sign` and `sign_type`, sorts, joins every pair, empty ones included.
pub fn notification_sign_content(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    join_pairs(kept.into_iter())
}

/// The texts a notification's signature is checked over, in order: the SDKs' content
/// ([`notification_sign_content`], empty values kept), then, if some value is empty, the
/// same without them (the rule for requests: [`sign_content`] drops empty values). The
/// Node SDK likewise tries two contents before refusing (`checkNotifySign`: with and without
/// `sign_type`). Either way the signature is Alipay's over every parameter that says
/// anything; an empty value carries nothing this adapter reads.
pub fn notification_signed_texts(params: &[(String, String)]) -> Vec<String> {
    let mut texts = vec![notification_sign_content(params)];
    let has_empty = params
        .iter()
        .any(|(k, v)| k != "sign" && k != "sign_type" && v.is_empty());
    if has_empty {
        let kept: Params = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        texts.push(notification_sign_content(&kept));
    }
    texts
}

fn join_pairs<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    pairs
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// `name=value&...` form-encoded as Java's `URLEncoder` does it (the SDK's
/// [`query_string`]), with empty or blank values left out (Java `WebUtils.buildQuery`:
/// "忽略参数名或参数值为空的参数"), in the order given.
fn filled_query<'a>(params: impl IntoIterator<Item = &'a (String, String)>) -> String {
    query_string(
        params
            .into_iter()
            .filter(|(k, v)| !is_blank(k) && !is_blank(v)),
    )
}

/// How a signed API call travels: every parameter but `biz_content` in the gateway URL's
/// query string, `biz_content` as the `application/x-www-form-urlencoded` body. This is what
/// all of Alipay's SDKs send: Java `AbstractAlipayClient.doPost` (URL from
/// `getRequestUrl`: the "protocol" parameters; body: `getApplicationParams`, i.e.
/// `biz_content`), PHP `AopCertClient::execute` ("系统参数放入GET请求串", `$apiParams` in the
/// POST body), Node `#formatUrl` (`app_id`, `method`, `sign`... in the URL). The gateway
/// reads the charset from the query string before it decodes the body (its refusal says
/// "请确认charset参数放在了URL查询字符串中").
pub fn api_request(gateway: &str, params: &[(String, String)]) -> (String, Vec<u8>) {
    let query = params.iter().filter(|(k, _)| k != BIZ_CONTENT);
    let body = params.iter().filter(|(k, _)| k == BIZ_CONTENT);
    let url = with_query(gateway, &filled_query(query));
    (url, filled_query(body).into_bytes())
}

/// The auto-submitting form a payer's browser posts to the gateway for
/// `alipay.trade.page.pay` / `alipay.trade.wap.pay`, as the PHP SDK's `pageExecute` builds it
/// (`buildRequestForm`): `action` is the gateway with `?charset=utf-8` (the gateway reads the
/// charset from the URL), every signed parameter is a hidden input, then a hidden submit
/// button and a script that submits the form. Attribute values are HTML-escaped, so the
/// browser posts exactly the signed values.
pub fn html_form(gateway: &str, params: &[(String, String)]) -> String {
    let action = with_query(gateway, &format!("charset={CHARSET}"));
    let mut html = format!(
        "<form id=\"alipaysubmit\" name=\"alipaysubmit\" action=\"{}\" method=\"POST\">\n",
        html_escape(&action)
    );
    for (name, value) in params.iter().filter(|(k, v)| !is_blank(k) && !is_blank(v)) {
        html.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>\n",
            html_escape(name),
            html_escape(value)
        ));
    }
    html.push_str("<input type=\"submit\" value=\"ok\" style=\"display:none;\"/>\n</form>\n");
    html.push_str("<script>document.forms['alipaysubmit'].submit();</script>");
    html
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The value of parameter `name`, if present and not blank.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !is_blank(v))
}

/// The member of an answer that holds a method's result: `alipay.trade.query` ->
/// `alipay_trade_query_response` (Java SDK `JsonConverter.getSignSourceData`: the method name
/// with `.` replaced by `_`, plus `AlipayConstants.RESPONSE_SUFFIX`).
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Where the gateway's older failures put their result instead of the method's member
/// (Java SDK `AlipayConstants.ERROR_RESPONSE`, looked for when the method's is absent).
pub const ERROR_RESPONSE: &str = "error_response";

/// An answer of the gateway, cut up: the exact text of its result (what `sign` covers),
/// and the signature and certificate SN beside it.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The raw text of the `<method>_response` (or `error_response`) object, byte for byte.
    pub content: &'a str,
    /// `sign`, decoded from its JSON string; `None` if absent or empty.
    pub sign: Option<String>,
    /// `alipay_cert_sn` (certificate mode), decoded; `None` if absent or empty.
    pub alipay_cert_sn: Option<String>,
}

/// Cuts `body`, the gateway's answer to `method`, into its result's raw text, `sign` and
/// `alipay_cert_sn` (`{"alipay_trade_precreate_response": {...}, "sign": "..."}`, the response
/// example of every API page, e.g. https://opendocs.alipay.com/open/02ekfg). Refused: a body
/// that is not one JSON object, a result member that is not an object or appears twice, a
/// `sign` that is not a string.
pub fn answer<'a>(method: &str, body: &'a str) -> Result<Answer<'a>, String> {
    let members = crate::json::members(body)?;
    let key = response_key(method);
    let content = match crate::json::only(&members, &key)? {
        Some(content) => content,
        None => crate::json::only(&members, ERROR_RESPONSE)?
            .ok_or_else(|| format!("the answer has no `{key}`"))?,
    };
    if !content.starts_with('{') {
        return Err(format!("`{key}` is not an object"));
    }
    let string = |name: &str| -> Result<Option<String>, String> {
        match crate::json::only(&members, name)? {
            None | Some("null") => Ok(None),
            Some(raw) => serde_json::from_str::<String>(raw)
                .map(|s| Some(s).filter(|s| !s.trim().is_empty()))
                .map_err(|_| format!("`{name}` is not a string")),
        }
    };
    Ok(Answer {
        content,
        sign: string("sign")?,
        alipay_cert_sn: string("alipay_cert_sn")?,
    })
}

/// The texts a response signature is checked over, in order: the result's raw text, then,
/// if it has `\/`, the same with `\/` as `/` — the Java SDK tries that second form when
/// the first fails ("针对JSON \\/问题，替换/后再尝试做一次验证", `AbstractAlipayClient
/// .checkResponseSign`).
pub fn signed_texts(content: &str) -> Vec<String> {
    let mut texts = vec![content.to_owned()];
    if content.contains("\\/") {
        texts.push(content.replace("\\/", "/"));
    }
    texts
}

/// `at` as Alipay writes times (`timestamp`, `time_expire`): `yyyy-MM-dd HH:mm:ss` in
/// Beijing time (the common parameter `timestamp`, "发送请求的时间，格式"yyyy-MM-dd HH:mm:ss"",
/// e.g. https://opendocs.alipay.com/open/02ekfg; Java SDK `AlipayConstants.DATE_TIME_FORMAT`
/// with `DATE_TIMEZONE` `GMT+8`). `None` for an instant no calendar holds.
pub fn beijing_time(at: UnixSeconds) -> Option<String> {
    local_time(at, BEIJING)
}

/// A time Alipay wrote (`send_pay_date`, `gmt_payment`): `yyyy-MM-dd HH:mm:ss`, Beijing
/// time, as seconds since the epoch.
pub fn parse_beijing_time(text: &str) -> Option<UnixSeconds> {
    parse_local_time(text, BEIJING)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_common_parameters_are_the_documented_ones() {
        assert_eq!(
            common_params(
                "2014072300007148",
                "alipay.trade.query",
                "2014-07-24 03:07:50"
            ),
            params(&[
                ("app_id", "2014072300007148"),
                ("method", "alipay.trade.query"),
                ("format", "JSON"),
                ("charset", "utf-8"),
                ("sign_type", "RSA2"),
                ("timestamp", "2014-07-24 03:07:50"),
                ("version", "1.0"),
            ])
        );
    }

    #[test]
    fn a_request_signature_covers_every_parameter_but_sign_sorted_with_raw_values() {
        let mut p = common_params(
            "2014072300007148",
            "alipay.trade.precreate",
            "2014-07-24 03:07:50",
        );
        p.push((
            "notify_url".into(),
            "https://pay.example/v1/notify/alipay/m1".into(),
        ));
        p.push((
            "biz_content".into(),
            r#"{"out_trade_no":"P1","subject":"茶 & cake=1"}"#.into(),
        ));
        p.push(("sign".into(), "must not be covered".into()));
        p.push(("return_url".into(), String::new()));
        p.push(("app_auth_token".into(), "   ".into()));
        assert_eq!(
            sign_content(&p),
            "app_id=2014072300007148&biz_content={\"out_trade_no\":\"P1\",\"subject\":\"茶 & cake=1\"}\
             &charset=utf-8&format=JSON&method=alipay.trade.precreate\
             &notify_url=https://pay.example/v1/notify/alipay/m1&sign_type=RSA2\
             &timestamp=2014-07-24 03:07:50&version=1.0"
        );
    }

    #[test]
    fn certificate_mode_sns_are_signed_like_any_parameter() {
        let mut p = common_params("1", "alipay.trade.close", "2024-01-01 00:00:00");
        p.push((
            "app_cert_sn".into(),
            "866efef280dec9137a87d047ac446315".into(),
        ));
        p.push(("alipay_root_cert_sn".into(), "687b_0294".into()));
        let content = sign_content(&p);
        assert!(
            content.starts_with("alipay_root_cert_sn=687b_0294&app_cert_sn=866efef2"),
            "{content}"
        );
    }

    #[test]
    fn an_api_call_puts_biz_content_in_the_body_and_the_rest_in_the_query() {
        let p = params(&[
            ("app_id", "2014072300007148"),
            ("biz_content", "{\"out_trade_no\":\"P 1\"}"),
            ("timestamp", "2014-07-24 03:07:50"),
            ("sign", "ab+/c=="),
            ("return_url", ""),
        ]);
        let (url, body) = api_request("https://openapi.alipay.com/gateway.do", &p);
        assert_eq!(
            url,
            "https://openapi.alipay.com/gateway.do?app_id=2014072300007148\
             &timestamp=2014-07-24+03%3A07%3A50&sign=ab%2B%2Fc%3D%3D"
        );
        assert_eq!(
            String::from_utf8(body).expect("ASCII"),
            "biz_content=%7B%22out_trade_no%22%3A%22P+1%22%7D"
        );
        let (url, _) = api_request("http://127.0.0.1:9/gateway.do?x=1", &p[..1]);
        assert_eq!(
            url,
            "http://127.0.0.1:9/gateway.do?x=1&app_id=2014072300007148"
        );
    }

    #[test]
    fn the_page_form_posts_every_signed_parameter_to_the_gateway() {
        let p = params(&[
            ("method", "alipay.trade.page.pay"),
            (
                "biz_content",
                "{\"subject\":\"Tom's <tea> & \\\"cake\\\"\"}",
            ),
            ("sign", "ab+/c=="),
            ("return_url", ""),
        ]);
        let html = html_form("https://openapi.alipay.com/gateway.do", &p);
        assert!(html.starts_with(
            "<form id=\"alipaysubmit\" name=\"alipaysubmit\" \
             action=\"https://openapi.alipay.com/gateway.do?charset=utf-8\" method=\"POST\">\n"
        ));
        assert!(html
            .contains("<input type=\"hidden\" name=\"method\" value=\"alipay.trade.page.pay\"/>"));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"biz_content\" \
             value=\"{&quot;subject&quot;:&quot;Tom&#39;s &lt;tea&gt; &amp; \\&quot;cake\\&quot;&quot;}\"/>"
        ));
        assert!(html.contains("<input type=\"hidden\" name=\"sign\" value=\"ab+/c==\"/>"));
        assert!(
            !html.contains("return_url"),
            "empty parameters are left out"
        );
        assert!(html.ends_with("<script>document.forms['alipaysubmit'].submit();</script>"));
        let html = html_form("http://127.0.0.1:9/gw?a=1&b=2", &[]);
        assert!(html.contains("action=\"http://127.0.0.1:9/gw?a=1&amp;b=2&amp;charset=utf-8\""));
    }

    #[test]
    fn a_sign_with_plus_and_slash_survives_one_decode() {
        let body = b"sign=kPbQIjX%2BxQc8F0%2FA6%2FAo%3D%3D&subject=%E5%A4%A7%E4%B9%90%E9%80%8F2.1\
                     &notify_time=2016-07-19+14%3A10%3A49&fund_bill_list=%5B%7B%22amount%22%3A%220.01%22%7D%5D\
                     &empty=";
        let p = paygate_sdk::encoding::decode_form(body).expect("a form");
        assert_eq!(param(&p, "sign"), Some("kPbQIjX+xQc8F0/A6/Ao=="));
        assert_eq!(param(&p, "subject"), Some("大乐透2.1"));
        assert_eq!(param(&p, "notify_time"), Some("2016-07-19 14:10:49"));
        assert_eq!(param(&p, "fund_bill_list"), Some("[{\"amount\":\"0.01\"}]"));
        assert_eq!(param(&p, "empty"), None);
        assert!(p.iter().any(|(k, v)| k == "empty" && v.is_empty()));
    }

    #[test]
    fn a_notification_signature_covers_all_but_sign_and_sign_type_sorted_empty_ones_too() {
        // The example of Alipay's notification docs (异步通知验签), decoded.
        let p = params(&[
            ("total_amount", "2.00"),
            ("buyer_id", "2088102116773037"),
            ("body", "大乐透2.1"),
            ("trade_no", "2016071921001003030200089909"),
            ("refund_fee", "0.00"),
            ("notify_time", "2016-07-19 14:10:49"),
            ("subject", "大乐透2.1"),
            ("sign_type", "RSA2"),
            ("charset", "utf-8"),
            ("notify_type", "trade_status_sync"),
            ("out_trade_no", "0719141034-6418"),
            ("gmt_close", "2016-07-19 14:10:46"),
            ("gmt_payment", "2016-07-19 14:10:47"),
            ("trade_status", "TRADE_SUCCESS"),
            ("version", "1.0"),
            ("sign", "kPbQIjX+xQc8F0/A6/AocELIjhhZnGbcBN6G4MM="),
            ("gmt_create", "2016-07-19 14:10:44"),
            ("app_id", "2015102700040153"),
            ("seller_id", "2088102119685838"),
            ("notify_id", "4a91b7a78a503640467525113fb7d8bg8e"),
        ]);
        assert_eq!(
            notification_sign_content(&p),
            "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8\
             &gmt_close=2016-07-19 14:10:46&gmt_create=2016-07-19 14:10:44\
             &gmt_payment=2016-07-19 14:10:47&notify_id=4a91b7a78a503640467525113fb7d8bg8e\
             &notify_time=2016-07-19 14:10:49&notify_type=trade_status_sync\
             &out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838\
             &subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909\
             &trade_status=TRADE_SUCCESS&version=1.0"
        );
        let with_empty = params(&[("b", ""), ("a", "1"), ("sign", "s")]);
        assert_eq!(notification_sign_content(&with_empty), "a=1&b=");
    }

    #[test]
    fn a_notification_with_an_empty_value_is_also_checked_without_it() {
        let with_empty = params(&[("b", ""), ("a", "1"), ("sign", "s"), ("sign_type", "")]);
        assert_eq!(notification_signed_texts(&with_empty), ["a=1&b=", "a=1"]);
        let without = params(&[("b", "2"), ("a", "1"), ("sign", "s"), ("sign_type", "RSA2")]);
        assert_eq!(notification_signed_texts(&without), ["a=1&b=2"]);
    }

    #[test]
    fn the_response_member_is_the_method_with_underscores() {
        assert_eq!(
            response_key("alipay.trade.precreate"),
            "alipay_trade_precreate_response"
        );
        assert_eq!(
            response_key("alipay.trade.fastpay.refund.query"),
            "alipay_trade_fastpay_refund_query_response"
        );
    }

    #[test]
    fn the_response_is_verified_over_its_raw_text() {
        let body = "{\"alipay_trade_precreate_response\":{\"code\":\"10000\",\"msg\":\"Success\",\
                    \"out_trade_no\":\"6141161365682511\",\"qr_code\":\"https:\\/\\/qr.alipay.com\\/bax03206ug0kulveltqc80a8\"},\
                    \"sign\":\"VrgnnGgRMNApB1QlNJimiOt5ocGn4a4pbXjdoqjHtnYMWPYGX9AS0ELt8YikVAl6LPfsD7hjSyGWGjwaAYJjzH1MH7B2/T3He0kLezuWHsikao2/oclakRSlgHnHGMRVpkIsMX1sGKYj5/PEEz3LQK+8k0IyJcbkz4uHgiUz1MQgaPRw8uu7ArPKcHKiD8kHMzvaRBEIvxRHNAvvQd4wETZH6XiXfNJHeSNEQtNNqwoq+MPGeuvw6yZZZBU/MJVhuedf78eKVu4A+vCvGTpuHoT0TK1Rnv/Vh5VIMV8J8qS1S/1SdGa4k+L4HGcVD0SO6d5ZSexuymz3d5QyfZmkGw==\",\"alipay_cert_sn\":\"7513daaaa48aa3ba2e4018d84402479c\"}";
        let answer = answer("alipay.trade.precreate", body).expect("an answer");
        assert_eq!(
            answer.content,
            "{\"code\":\"10000\",\"msg\":\"Success\",\"out_trade_no\":\"6141161365682511\",\
             \"qr_code\":\"https:\\/\\/qr.alipay.com\\/bax03206ug0kulveltqc80a8\"}"
        );
        assert!(answer
            .sign
            .as_deref()
            .is_some_and(|s| s.starts_with("VrgnnGgR") && s.contains('+') && s.contains('/')));
        assert_eq!(
            answer.alipay_cert_sn.as_deref(),
            Some("7513daaaa48aa3ba2e4018d84402479c")
        );
        // Re-serializing would have written `https://qr.alipay.com/...`: not what was signed.
        let reserialized = serde_json::to_string(
            &serde_json::from_str::<serde_json::Value>(answer.content).expect("JSON"),
        )
        .expect("JSON");
        assert_ne!(reserialized, answer.content);
    }

    #[test]
    fn an_escaped_slash_is_tried_unescaped_after_the_raw_text() {
        assert_eq!(signed_texts("{\"a\":\"b\"}"), ["{\"a\":\"b\"}"]);
        assert_eq!(
            signed_texts("{\"u\":\"https:\\/\\/qr\"}"),
            ["{\"u\":\"https:\\/\\/qr\"}", "{\"u\":\"https://qr\"}"]
        );
    }

    #[test]
    fn a_failure_without_sign_or_in_error_response_is_cut_out_too() {
        let body = r#"{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#;
        let answer = answer("alipay.trade.query", body).expect("an answer");
        assert!(answer.content.contains("isv.invalid-app-id"));
        assert_eq!((answer.sign, answer.alipay_cert_sn), (None, None));
        let old = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments"},"sign":""}"#;
        let answer = crate::protocol::answer("alipay.trade.query", old).expect("an answer");
        assert_eq!(
            answer.content,
            r#"{"code":"40002","msg":"Invalid Arguments"}"#
        );
        assert_eq!(answer.sign, None);
    }

    #[test]
    fn an_answer_for_another_method_or_with_two_results_is_refused() {
        let other = r#"{"alipay_trade_close_response":{"code":"10000"},"sign":"s"}"#;
        assert!(answer("alipay.trade.query", other).is_err());
        let twice = r#"{"alipay_trade_query_response":{"code":"40004"},"alipay_trade_query_response":{"code":"10000"},"sign":"s"}"#;
        assert!(answer("alipay.trade.query", twice).is_err());
        let not_object = r#"{"alipay_trade_query_response":"10000","sign":"s"}"#;
        assert!(answer("alipay.trade.query", not_object).is_err());
        let numeric_sign = r#"{"alipay_trade_query_response":{"code":"10000"},"sign":1}"#;
        assert!(answer("alipay.trade.query", numeric_sign).is_err());
        assert!(answer("alipay.trade.query", "<html>502 Bad Gateway</html>").is_err());
    }

    #[test]
    fn times_are_written_and_read_in_beijing_time() {
        // 2026-11-23T02:34:56Z
        assert_eq!(
            beijing_time(1_795_401_296).as_deref(),
            Some("2026-11-23 10:34:56")
        );
        assert_eq!(beijing_time(0).as_deref(), Some("1970-01-01 08:00:00"));
        assert_eq!(beijing_time(i64::MAX), None);
        assert_eq!(
            parse_beijing_time("2026-11-23 10:34:56"),
            Some(1_795_401_296)
        );
        for bad in [
            "2026-11-23T10:34:56",
            "2026-11-23 10:34",
            "2026-13-01 00:00:00",
            "2026-02-30 00:00:00",
            "26-11-23 10:34:56",
            "",
        ] {
            assert_eq!(parse_beijing_time(bad), None, "{bad:?}");
        }
    }
}
