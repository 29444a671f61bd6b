//! What a pay call hands out for the payer to act on (a native `code_url`, a jsapi
//! `prepay_id`, an h5 `h5_url`): how long each lives, what each is bound to, and why paying
//! through one is refused. Pure (time is an argument), and unit-tested.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::protocol;
use super::trades::TradeType;

/// The kind of a pay call's answer, named as the answer's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CodeUrl,
    PrepayId,
    H5Url,
}

impl ActionKind {
    /// What the pay endpoint of `trade_type` answers.
    pub fn of(trade_type: TradeType) -> ActionKind {
        match trade_type {
            TradeType::Native => ActionKind::CodeUrl,
            TradeType::Jsapi => ActionKind::PrepayId,
            TradeType::Mweb => ActionKind::H5Url,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::CodeUrl => "code_url",
            ActionKind::PrepayId => "prepay_id",
            ActionKind::H5Url => "h5_url",
        }
    }

    /// How long it can be used, whatever the trade's `time_expire`.
    ///
    /// Sources: pay.weixin.qq.com/docs/merchant/products/h5-payment/development.html
    /// (「h5_url有效期为5分钟」); the Native 调起支付 page, wiki apiv3 chapter7_3_10
    /// (「code_url有效期为2小时」; staff: time_expire does not change it); the v2 统一下单 page
    /// and community support (「prepay_id有效期为2小时」).
    pub fn lifetime(self) -> Duration {
        match self {
            ActionKind::CodeUrl | ActionKind::PrepayId => Duration::from_secs(2 * 3600),
            ActionKind::H5Url => Duration::from_secs(5 * 60),
        }
    }

    /// A new value of this kind, in WeChat's shapes.
    pub fn fresh_value(self) -> String {
        let prepay_id = || {
            format!(
                "wx{}{}",
                protocol::random_digits(14),
                protocol::random_alnum(18).to_lowercase()
            )
        };
        match self {
            ActionKind::CodeUrl => {
                format!("weixin://wxpay/bizpayurl?pr={}", protocol::random_alnum(7))
            }
            ActionKind::PrepayId => prepay_id(),
            ActionKind::H5Url => format!(
                "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={}&package={}",
                prepay_id(),
                protocol::random_digits(10)
            ),
        }
    }
}

/// When something handed out at `issued_at_ms` stops working, its lifetime divided by
/// `scale` (`SimConfig::action_lifetime_scale`).
pub fn expires_at_ms(kind: ActionKind, issued_at_ms: i64, scale: f64) -> i64 {
    let ms = kind.lifetime().as_secs_f64() * 1000.0 / scale.max(f64::MIN_POSITIVE);
    // `as` saturates: an absurdly small scale means "never" rather than an overflow.
    issued_at_ms.saturating_add(ms as i64)
}

/// One code_url / prepay_id / h5_url handed out, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    pub value: String,
    pub expires_at_ms: i64,
    /// A prepay_id's: the `payer.openid` it was created for.
    pub openid: Option<String>,
    /// An h5_url's: the order's `scene_info.payer_client_ip`.
    pub client_ip: Option<String>,
}

impl Action {
    pub fn expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// As the trade view lists it.
    pub fn view(&self, now_ms: i64) -> Value {
        json!({"kind": self.kind, "value": self.value, "expires_at_ms": self.expires_at_ms,
               "expired": self.expired(now_ms)})
    }

    /// Whether a payer (`openid`, from `client_ip`; absent: the one the order named) may
    /// pay through it at `now_ms`; the refusal's words otherwise.
    pub fn check(
        &self,
        openid: Option<&str>,
        client_ip: Option<&str>,
        now_ms: i64,
    ) -> Result<(), String> {
        if self.expired(now_ms) {
            let minutes = self.kind.lifetime().as_secs() / 60;
            // Source: the old H5 FAQ, wiki/doc/api/H5.php?chapter=15_4 (error 268498468
            // 「支付请求已失效，请重新发起支付」 for an h5_url older than 5 minutes).
            let words = if self.kind == ActionKind::H5Url {
                "支付请求已失效，请重新发起支付 (268498468): "
            } else {
                ""
            };
            return Err(format!(
                "{words}the {} expired at {} ms (it lives {minutes} minutes): pay again with the \
                 order's parameters for a fresh one",
                self.kind.as_str(),
                self.expires_at_ms
            ));
        }
        // Source: developers.weixin.qq.com/community/pay/doc/0008ca8aeb8268b23688c22585bc00
        // (staff: 「统一下单的 openid 和调起支付的 openid 不一致」 is refused with
        // 「下单账号与支付账号不一致，请核实后再支付」).
        if let (Some(bound), Some(payer)) = (&self.openid, openid) {
            if bound != payer {
                return Err(format!(
                    "下单账号与支付账号不一致，请核实后再支付: the prepay_id was created for \
                     openid {bound}, not {payer}"
                ));
            }
        }
        // Source: the old H5 FAQ, wiki/doc/api/H5.php?chapter=15_4, copied at
        // cnblogs.com/dragondean/p/10220804 (error 268498465 when the payer's IP differs
        // from the order's 终端IP).
        if let (Some(bound), Some(ip)) = (&self.client_ip, client_ip) {
            if bound != ip {
                return Err(format!(
                    "网络环境未能通过安全验证，请稍后再试 (268498465): the h5_url was ordered \
                     for payer_client_ip {bound}, the payer is at {ip}"
                ));
            }
        }
        Ok(())
    }
}

/// The action of `actions` whose value is `value`, or the refusal of an unknown one.
pub fn find<'a>(actions: &'a [Action], value: &str) -> Result<&'a Action, String> {
    actions
        .iter()
        .find(|a| a.value == value)
        .ok_or_else(|| format!("`{value}` was not handed out for this trade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind) -> Action {
        Action {
            kind,
            value: kind.fresh_value(),
            expires_at_ms: expires_at_ms(kind, 1_000, 1.0),
            openid: (kind == ActionKind::PrepayId).then(|| "oA".to_owned()),
            client_ip: (kind == ActionKind::H5Url).then(|| "203.0.113.7".to_owned()),
        }
    }

    #[test]
    fn code_urls_and_prepay_ids_live_two_hours_and_h5_urls_five_minutes() {
        assert_eq!(expires_at_ms(ActionKind::CodeUrl, 1_000, 1.0), 7_201_000);
        assert_eq!(expires_at_ms(ActionKind::PrepayId, 1_000, 1.0), 7_201_000);
        assert_eq!(expires_at_ms(ActionKind::H5Url, 1_000, 1.0), 301_000);
    }

    #[test]
    fn lifetimes_are_divided_by_the_action_lifetime_scale() {
        assert_eq!(expires_at_ms(ActionKind::H5Url, 1_000, 1000.0), 1_300);
        assert_eq!(expires_at_ms(ActionKind::CodeUrl, 0, 7200.0), 1_000);
        assert_eq!(expires_at_ms(ActionKind::CodeUrl, 0, 0.0), i64::MAX);
    }

    #[test]
    fn an_action_works_until_its_expiry_instant() {
        let a = action(ActionKind::CodeUrl);
        assert!(a.check(None, None, 7_200_999).is_ok());
        let why = a.check(None, None, 7_201_000).expect_err("expired");
        assert!(why.contains("expired"), "{why}");
        let h5 = action(ActionKind::H5Url);
        let why = h5.check(None, None, 301_000).expect_err("expired");
        assert!(
            why.contains("268498468") && why.contains("expired"),
            "{why}"
        );
    }

    #[test]
    fn a_prepay_id_is_paid_only_by_the_openid_it_was_created_for() {
        let a = action(ActionKind::PrepayId);
        assert!(a.check(Some("oA"), None, 2_000).is_ok());
        assert!(a.check(None, None, 2_000).is_ok(), "the order's own payer");
        let why = a.check(Some("oB"), None, 2_000).expect_err("another user");
        assert!(why.starts_with("下单账号与支付账号不一致"), "{why}");
    }

    #[test]
    fn an_h5_url_is_paid_only_from_the_payer_client_ip_of_its_order() {
        let a = action(ActionKind::H5Url);
        assert!(a.check(None, Some("203.0.113.7"), 2_000).is_ok());
        assert!(
            a.check(None, None, 2_000).is_ok(),
            "the order's own network"
        );
        let why = a
            .check(None, Some("198.51.100.1"), 2_000)
            .expect_err("another network");
        assert!(
            why.starts_with("网络环境未能通过安全验证") && why.contains("268498465"),
            "{why}"
        );
        assert!(
            a.check(Some("oZ"), None, 2_000).is_ok(),
            "an h5_url is not bound to an openid"
        );
    }

    #[test]
    fn fresh_values_have_wechats_shapes_and_differ() {
        let code_url = ActionKind::CodeUrl.fresh_value();
        assert!(
            code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
            "{code_url}"
        );
        assert_ne!(code_url, ActionKind::CodeUrl.fresh_value());
        let prepay_id = ActionKind::PrepayId.fresh_value();
        assert!(
            prepay_id.starts_with("wx") && prepay_id.len() == 34,
            "{prepay_id}"
        );
        assert!(ActionKind::H5Url
            .fresh_value()
            .starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx"));
    }

    #[test]
    fn only_actions_handed_out_are_found_and_the_view_says_whether_expired() {
        let a = action(ActionKind::CodeUrl);
        let list = vec![a.clone()];
        assert_eq!(find(&list, &a.value), Ok(&a));
        assert!(find(&list, "weixin://wxpay/bizpayurl?pr=nothing")
            .expect_err("unknown")
            .contains("not handed out"));
        assert_eq!(
            a.view(7_201_000),
            json!({"kind": "code_url", "value": a.value, "expires_at_ms": 7_201_000, "expired": true})
        );
        assert_eq!(a.view(0)["expired"], false);
    }
}
