//! WeChat Pay's trade and refund state machines, as the simulator keeps them: what a pay
//! request does to an existing `out_trade_no`, when a trade closes by itself, what the payer,
//! close and refund may do. Pure (time is an argument), and unit-tested.

use serde::Serialize;
use serde_json::Value;

use super::protocol;

/// `trade_state`, spelled as WeChat spells it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeState {
    NotPay,
    UserPaying,
    Success,
    Refund,
    Closed,
    Revoked,
    PayError,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::NotPay => "NOTPAY",
            TradeState::UserPaying => "USERPAYING",
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::Closed => "CLOSED",
            TradeState::Revoked => "REVOKED",
            TradeState::PayError => "PAYERROR",
        }
    }

    /// `trade_state_desc`, as WeChat words it.
    pub fn desc(self) -> &'static str {
        match self {
            TradeState::NotPay => "未支付",
            TradeState::UserPaying => "用户支付中",
            TradeState::Success => "支付成功",
            TradeState::Refund => "转入退款",
            TradeState::Closed => "已关闭",
            TradeState::Revoked => "已撤销",
            TradeState::PayError => "支付失败",
        }
    }

    /// Whether the payer has not finished (nor given up) yet.
    pub fn is_open(self) -> bool {
        matches!(self, TradeState::NotPay | TradeState::UserPaying)
    }

    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

/// `trade_type`: which pay endpoint created the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeType {
    Native,
    Jsapi,
    /// WeChat's name for h5.
    Mweb,
}

impl TradeType {
    /// The trade type of `POST /v3/pay/transactions/{kind}`.
    pub fn from_endpoint(kind: &str) -> Option<TradeType> {
        match kind {
            "native" => Some(TradeType::Native),
            "jsapi" => Some(TradeType::Jsapi),
            "h5" => Some(TradeType::Mweb),
            _ => None,
        }
    }
}

/// Why a trade is `CLOSED` (shown in the trade view, and in why it cannot be paid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The close endpoint.
    Merchant,
    /// `time_expire` passed unpaid.
    TimeExpire,
}

/// A refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundStatus {
    Processing,
    Success,
}

/// A trade as WeChat holds it. Owned by the simulator's state; the views and notifications
/// are built from clones.
#[derive(Debug, Clone, Serialize)]
pub struct Trade {
    pub out_trade_no: String,
    pub trade_type: TradeType,
    /// The pay request's parameters that must match on a repeated request.
    #[serde(skip)]
    pub params: Value,
    pub appid: String,
    pub description: String,
    pub total: u64,
    pub currency: String,
    /// As the merchant sent it.
    pub time_expire: String,
    /// `time_expire` in seconds since the epoch.
    #[serde(skip)]
    pub expires_at: i64,
    pub notify_url: String,
    pub attach: Option<String>,
    /// The payer: given by a jsapi request, or chosen when the trade is paid.
    pub openid: Option<String>,
    pub trade_state: TradeState,
    pub closed_by: Option<ClosedBy>,
    pub code_url: Option<String>,
    pub prepay_id: Option<String>,
    pub h5_url: Option<String>,
    /// WeChat's number for the payment, once paid.
    pub transaction_id: Option<String>,
    pub success_time: Option<String>,
    /// The sum of its refunds, in fen.
    pub refunded: u64,
    pub counters: Counters,
    /// Every notification attempt about this trade (payment and refunds), in order.
    pub notifications: Vec<Delivery>,
}

/// How often each endpoint was asked about this trade.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub pay_requests: u64,
    pub queries: u64,
    pub closes: u64,
    pub refunds: u64,
}

/// One notification attempt and the receiver's reply.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub at_ms: i64,
    pub event_type: String,
    /// The reply's status; `None` if nothing answered (or the attempt was dropped).
    pub status: Option<u16>,
    /// The reply's body, or why nothing answered.
    pub body: String,
    /// Not sent at all (the `drop_notifications` knob).
    pub dropped: bool,
}

/// A refund as WeChat holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub refund: u64,
    pub total: u64,
    pub currency: String,
    /// `PROCESSING` until `settles_at_ms`, then `SUCCESS`.
    pub status: RefundStatus,
    #[serde(skip)]
    pub settles_at_ms: i64,
    pub create_time: String,
    pub success_time: Option<String>,
}

/// A WeChat error: HTTP status, `code`, `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

/// What a pay request does to the trade already under its `out_trade_no`.
#[derive(Debug, PartialEq, Eq)]
pub enum Repeat {
    /// Same parameters: WeChat answers what it answered the first time.
    SameAnswer,
    Refused(Refusal),
}

impl Trade {
    /// Closes an unpaid trade whose `time_expire` has passed (WeChat does it by itself).
    pub fn expire(&mut self, now: i64) {
        if self.trade_state.is_open() && now >= self.expires_at {
            self.trade_state = TradeState::Closed;
            self.closed_by = Some(ClosedBy::TimeExpire);
        }
    }

    /// A pay request again under this trade's number, with `params`.
    pub fn repeat(&self, params: &Value) -> Repeat {
        match self.trade_state {
            TradeState::Success | TradeState::Refund => {
                Repeat::Refused(Refusal::new(400, "ORDERPAID", "该订单已支付"))
            }
            TradeState::Closed | TradeState::Revoked => {
                Repeat::Refused(Refusal::new(400, "ORDER_CLOSED", "该订单已关闭"))
            }
            _ if &self.params != params => Repeat::Refused(Refusal::new(
                400,
                "OUT_TRADE_NO_USED",
                "商户订单号重复: the same out_trade_no with other parameters",
            )),
            _ => Repeat::SameAnswer,
        }
    }

    /// WeChat's close: an unpaid trade closes, a closed one stays closed, a paid one cannot.
    pub fn close(&mut self) -> Result<(), Refusal> {
        match self.trade_state {
            TradeState::NotPay | TradeState::UserPaying | TradeState::PayError => {
                self.trade_state = TradeState::Closed;
                self.closed_by = Some(ClosedBy::Merchant);
                Ok(())
            }
            TradeState::Closed | TradeState::Revoked => Ok(()),
            TradeState::Success | TradeState::Refund => {
                Err(Refusal::new(400, "ORDERPAID", "订单已支付，不能关闭"))
            }
        }
    }

    /// The payer pays at `now`: the trade becomes `SUCCESS` with `transaction_id`, or the
    /// reason it cannot be paid. `openid` is the payer's unless the trade already names one.
    pub fn pay(&mut self, now: i64, transaction_id: String, openid: String) -> Result<(), String> {
        self.expire(now);
        match (self.trade_state, self.closed_by) {
            (TradeState::NotPay | TradeState::UserPaying, _) => {}
            (TradeState::Closed, Some(ClosedBy::TimeExpire)) => {
                return Err(format!(
                    "the trade expired: time_expire {} has passed",
                    self.time_expire
                ))
            }
            (TradeState::Closed, _) => return Err("the trade was closed by the merchant".into()),
            (TradeState::Success | TradeState::Refund, _) => {
                return Err("the trade is already paid".into())
            }
            (state, _) => return Err(format!("the trade is {}", state.as_str())),
        }
        self.trade_state = TradeState::Success;
        self.transaction_id = Some(transaction_id);
        self.success_time = Some(protocol::beijing_time(now));
        self.openid.get_or_insert(openid);
        Ok(())
    }

    /// The test-only transitions (`/sim/trades/{no}/userpaying|payerror|revoke`): to `to`
    /// from the states where WeChat could get there.
    pub fn mark(&mut self, to: TradeState, now: i64) -> Result<(), String> {
        self.expire(now);
        let allowed: &[TradeState] = match to {
            TradeState::UserPaying => &[TradeState::NotPay],
            TradeState::PayError | TradeState::Revoked => {
                &[TradeState::NotPay, TradeState::UserPaying]
            }
            _ => &[],
        };
        if !allowed.contains(&self.trade_state) {
            return Err(format!(
                "the trade is {}: it cannot become {}",
                self.trade_state.as_str(),
                to.as_str()
            ));
        }
        self.trade_state = to;
        Ok(())
    }

    /// Takes `amount` of a refund: the trade must be paid, `total` must be its total, and
    /// the refunds must not exceed it.
    pub fn take_refund(&mut self, amount: u64, total: u64) -> Result<(), Refusal> {
        if !self.trade_state.is_paid() {
            return Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                "订单未支付: the trade is not paid",
            ));
        }
        if total != self.total {
            return Err(Refusal::new(
                400,
                "PARAM_ERROR",
                format!(
                    "amount.total {total} is not the trade's total {}",
                    self.total
                ),
            ));
        }
        if amount == 0 {
            return Err(Refusal::new(
                400,
                "PARAM_ERROR",
                "amount.refund must be above 0",
            ));
        }
        let left = self.total - self.refunded;
        if amount > left {
            return Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                format!("申请退款金额超过订单可退金额: refund {amount} exceeds the {left} left to refund"),
            ));
        }
        self.refunded += amount;
        self.trade_state = TradeState::Refund;
        Ok(())
    }
}

impl Refund {
    /// Settles a processing refund whose time has come; true if it changed now.
    pub fn settle(&mut self, now_ms: i64) -> bool {
        if self.status == RefundStatus::Processing && now_ms >= self.settles_at_ms {
            self.status = RefundStatus::Success;
            self.success_time = Some(protocol::beijing_time(now_ms.div_euclid(1000)));
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trade(state: TradeState) -> Trade {
        Trade {
            out_trade_no: "P1234567".into(),
            trade_type: TradeType::Native,
            params: json!({"amount": 100}),
            appid: "wx".into(),
            description: "tea".into(),
            total: 100,
            currency: "CNY".into(),
            time_expire: "1970-01-01T08:16:40+08:00".into(),
            expires_at: 1000,
            notify_url: "http://127.0.0.1/n".into(),
            attach: None,
            openid: None,
            trade_state: state,
            closed_by: None,
            code_url: Some("weixin://wxpay/bizpayurl?pr=abc".into()),
            prepay_id: None,
            h5_url: None,
            transaction_id: None,
            success_time: None,
            refunded: 0,
            counters: Counters::default(),
            notifications: Vec::new(),
        }
    }

    use TradeState::{Closed, NotPay, PayError, Revoked, Success, UserPaying};

    #[test]
    fn trade_states_are_spelled_as_wechat_spells_them() {
        let all = [
            NotPay,
            UserPaying,
            Success,
            TradeState::Refund,
            Closed,
            Revoked,
            PayError,
        ];
        for state in all {
            assert_eq!(json!(state), json!(state.as_str()));
        }
        assert_eq!(json!(TradeType::Mweb), json!("MWEB"));
        assert_eq!(json!(RefundStatus::Processing), json!("PROCESSING"));
    }

    #[test]
    fn a_repeated_order_with_the_same_parameters_gets_the_same_answer() {
        for state in [NotPay, UserPaying] {
            assert_eq!(
                trade(state).repeat(&json!({"amount": 100})),
                Repeat::SameAnswer
            );
        }
    }

    #[test]
    fn a_repeated_order_with_other_parameters_is_out_trade_no_used() {
        assert!(matches!(
            trade(NotPay).repeat(&json!({"amount": 200})),
            Repeat::Refused(r) if r.code == "OUT_TRADE_NO_USED"
        ));
    }

    #[test]
    fn pay_of_a_paid_trade_answers_orderpaid_and_of_a_closed_one_order_closed() {
        for state in [Success, TradeState::Refund] {
            assert!(
                matches!(trade(state).repeat(&json!({})), Repeat::Refused(r) if r.code == "ORDERPAID")
            );
        }
        for state in [Closed, Revoked] {
            assert!(
                matches!(trade(state).repeat(&json!({})), Repeat::Refused(r) if r.code == "ORDER_CLOSED")
            );
        }
    }

    #[test]
    fn close_of_a_paid_trade_answers_orderpaid() {
        for state in [Success, TradeState::Refund] {
            let mut t = trade(state);
            assert_eq!(t.close().map_err(|r| r.code), Err("ORDERPAID"));
            assert_eq!(t.trade_state, state);
        }
    }

    #[test]
    fn close_of_an_unpaid_or_closed_trade_succeeds() {
        for state in [NotPay, UserPaying, PayError] {
            let mut t = trade(state);
            assert!(t.close().is_ok(), "{state:?}");
            assert_eq!(
                (t.trade_state, t.closed_by),
                (Closed, Some(ClosedBy::Merchant))
            );
        }
        for state in [Closed, Revoked] {
            let mut t = trade(state);
            assert!(t.close().is_ok(), "{state:?}");
            assert_eq!(t.trade_state, state);
        }
    }

    #[test]
    fn an_unpaid_trade_closes_by_itself_at_time_expire() {
        let mut t = trade(NotPay);
        t.expire(999);
        assert_eq!(t.trade_state, NotPay);
        t.expire(1000);
        assert_eq!(
            (t.trade_state, t.closed_by),
            (Closed, Some(ClosedBy::TimeExpire))
        );
        let mut paid = trade(Success);
        paid.expire(5000);
        assert_eq!(paid.trade_state, Success);
    }

    #[test]
    fn paying_makes_an_open_trade_success_with_its_transaction() {
        let mut t = trade(UserPaying);
        t.pay(999, "4200".into(), "o1".into()).expect("payable");
        assert_eq!(t.trade_state, Success);
        assert_eq!(t.transaction_id.as_deref(), Some("4200"));
        assert_eq!(t.openid.as_deref(), Some("o1"));
        assert_eq!(t.success_time.as_deref(), Some("1970-01-01T08:16:39+08:00"));
        let mut jsapi = trade(NotPay);
        jsapi.openid = Some("given".into());
        jsapi.pay(0, "4200".into(), "o1".into()).expect("payable");
        assert_eq!(
            jsapi.openid.as_deref(),
            Some("given"),
            "the payer named by the order pays"
        );
    }

    #[test]
    fn paying_says_why_a_trade_cannot_be_paid() {
        let why = |mut t: Trade, now| t.pay(now, "4200".into(), "o".into()).expect_err("refused");
        assert!(why(trade(NotPay), 1000).contains("expired"));
        let mut closed = trade(NotPay);
        closed.close().expect("closes");
        assert!(why(closed, 0).contains("closed by the merchant"));
        assert!(why(trade(Success), 0).contains("already paid"));
        assert!(why(trade(TradeState::Refund), 0).contains("already paid"));
        assert!(why(trade(Revoked), 0).contains("REVOKED"));
        assert!(why(trade(PayError), 0).contains("PAYERROR"));
    }

    #[test]
    fn userpaying_payerror_and_revoked_are_reached_from_open_trades_only() {
        let mut t = trade(NotPay);
        t.mark(UserPaying, 0).expect("NOTPAY -> USERPAYING");
        t.mark(PayError, 0).expect("USERPAYING -> PAYERROR");
        assert!(t.mark(Revoked, 0).is_err());
        assert!(trade(Success).mark(Revoked, 0).is_err());
        assert!(trade(UserPaying).mark(UserPaying, 0).is_err());
        assert!(trade(NotPay).mark(Success, 0).is_err(), "paying is pay()");
        assert!(
            trade(NotPay).mark(UserPaying, 1000).is_err(),
            "an expired trade is closed"
        );
    }

    #[test]
    fn refunds_need_a_paid_trade_its_total_and_money_left() {
        assert_eq!(
            trade(NotPay).take_refund(10, 100).map_err(|r| r.code),
            Err("INVALID_REQUEST")
        );
        let mut t = trade(Success);
        assert_eq!(
            t.take_refund(10, 99).map_err(|r| r.code),
            Err("PARAM_ERROR")
        );
        assert_eq!(
            t.take_refund(0, 100).map_err(|r| r.code),
            Err("PARAM_ERROR")
        );
        assert!(t.take_refund(60, 100).is_ok());
        assert_eq!(t.trade_state, TradeState::Refund);
        assert_eq!(
            t.take_refund(41, 100).map_err(|r| r.code),
            Err("INVALID_REQUEST")
        );
        assert!(t.take_refund(40, 100).is_ok());
        assert_eq!(t.refunded, 100);
    }

    #[test]
    fn a_processing_refund_succeeds_once_its_time_has_come() {
        let mut r = Refund {
            refund_id: "5030".into(),
            out_refund_no: "R1".into(),
            out_trade_no: "P1234567".into(),
            transaction_id: "4200".into(),
            reason: None,
            notify_url: None,
            refund: 10,
            total: 100,
            currency: "CNY".into(),
            status: RefundStatus::Processing,
            settles_at_ms: 5_000,
            create_time: String::new(),
            success_time: None,
        };
        assert!(!r.settle(4_999));
        assert!(r.settle(5_000));
        assert_eq!(r.status, RefundStatus::Success);
        assert_eq!(r.success_time.as_deref(), Some("1970-01-01T08:00:05+08:00"));
        assert!(!r.settle(6_000), "settles once");
    }
}
