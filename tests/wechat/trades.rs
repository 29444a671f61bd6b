//! WeChat Pay's trade and refund state machines, as the simulator keeps them: what a pay
//! request does to an existing `out_trade_no`, when a trade closes by itself, what close
//! and refund may do. Pure (time is an argument), and unit-tested.

use serde::Serialize;
use serde_json::Value;

/// A trade as WeChat holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Trade {
    pub out_trade_no: String,
    /// `NATIVE`, `JSAPI`, `MWEB` (h5).
    pub trade_type: String,
    /// The pay request's parameters that must match on a repeated request.
    #[serde(skip)]
    pub params: Value,
    pub appid: String,
    pub description: String,
    pub total: u64,
    pub currency: String,
    pub time_expire: String,
    #[serde(skip)]
    pub expires_at: i64,
    pub notify_url: String,
    pub attach: Option<String>,
    pub openid: Option<String>,
    /// `NOTPAY`, `USERPAYING`, `SUCCESS`, `REFUND`, `CLOSED`, `REVOKED`, `PAYERROR`.
    pub trade_state: String,
    pub code_url: Option<String>,
    pub prepay_id: Option<String>,
    pub h5_url: Option<String>,
    pub transaction_id: Option<String>,
    pub success_time: Option<String>,
    pub refunded: u64,
    pub counters: Counters,
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
    pub body: String,
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
    pub status: String,
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
        if matches!(self.trade_state.as_str(), "NOTPAY" | "USERPAYING") && now >= self.expires_at {
            self.trade_state = "CLOSED".into();
        }
    }

    /// A pay request again under this trade's number, with `params`.
    pub fn repeat(&self, params: &Value) -> Repeat {
        match self.trade_state.as_str() {
            "SUCCESS" | "REFUND" => Repeat::Refused(Refusal::new(400, "ORDERPAID", "该订单已支付")),
            "CLOSED" | "REVOKED" => {
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
        match self.trade_state.as_str() {
            "NOTPAY" | "USERPAYING" | "PAYERROR" => {
                self.trade_state = "CLOSED".into();
                Ok(())
            }
            "CLOSED" | "REVOKED" => Ok(()),
            _ => Err(Refusal::new(400, "ORDERPAID", "订单已支付，不能关闭")),
        }
    }

    /// Whether the payer can pay it now, or why not.
    pub fn payable(&self) -> Result<(), String> {
        match self.trade_state.as_str() {
            "NOTPAY" | "USERPAYING" => Ok(()),
            "CLOSED" => {
                Err("the trade is closed (closed by the merchant, or time_expire passed)".into())
            }
            other => Err(format!("the trade is {other}")),
        }
    }

    /// Takes `amount` of a refund: the trade must be paid and not over-refunded.
    pub fn take_refund(&mut self, amount: u64, total: u64) -> Result<(), Refusal> {
        if !matches!(self.trade_state.as_str(), "SUCCESS" | "REFUND") {
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
        if amount == 0 || self.refunded + amount > self.total {
            return Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                format!(
                    "refund {amount} exceeds what is left to refund ({})",
                    self.total - self.refunded
                ),
            ));
        }
        self.refunded += amount;
        self.trade_state = "REFUND".into();
        Ok(())
    }
}

impl Refund {
    /// Settles a processing refund whose time has come; true if it changed now.
    pub fn settle(&mut self, now_ms: i64, now_text: &str) -> bool {
        if self.status == "PROCESSING" && now_ms >= self.settles_at_ms {
            self.status = "SUCCESS".into();
            self.success_time = Some(now_text.to_owned());
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trade(state: &str) -> Trade {
        Trade {
            out_trade_no: "P1234567".into(),
            trade_type: "NATIVE".into(),
            params: json!({"amount": 100}),
            appid: "wx".into(),
            description: "tea".into(),
            total: 100,
            currency: "CNY".into(),
            time_expire: "2026-11-23T10:34:56+08:00".into(),
            expires_at: 1000,
            notify_url: "http://127.0.0.1/n".into(),
            attach: None,
            openid: None,
            trade_state: state.into(),
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

    #[test]
    fn a_repeated_order_with_the_same_parameters_gets_the_same_answer() {
        assert_eq!(
            trade("NOTPAY").repeat(&json!({"amount": 100})),
            Repeat::SameAnswer
        );
        assert_eq!(
            trade("USERPAYING").repeat(&json!({"amount": 100})),
            Repeat::SameAnswer
        );
    }

    #[test]
    fn a_repeated_order_with_other_parameters_is_out_trade_no_used() {
        assert!(matches!(
            trade("NOTPAY").repeat(&json!({"amount": 200})),
            Repeat::Refused(r) if r.code == "OUT_TRADE_NO_USED"
        ));
    }

    #[test]
    fn pay_of_a_paid_trade_answers_orderpaid_and_of_a_closed_one_order_closed() {
        for state in ["SUCCESS", "REFUND"] {
            assert!(
                matches!(trade(state).repeat(&json!({})), Repeat::Refused(r) if r.code == "ORDERPAID")
            );
        }
        for state in ["CLOSED", "REVOKED"] {
            assert!(
                matches!(trade(state).repeat(&json!({})), Repeat::Refused(r) if r.code == "ORDER_CLOSED")
            );
        }
    }

    #[test]
    fn close_of_a_paid_trade_answers_orderpaid() {
        for state in ["SUCCESS", "REFUND"] {
            let mut t = trade(state);
            assert_eq!(t.close().map_err(|r| r.code), Err("ORDERPAID"));
            assert_eq!(t.trade_state, state);
        }
        for state in ["NOTPAY", "USERPAYING", "CLOSED", "REVOKED"] {
            let mut t = trade(state);
            assert!(t.close().is_ok(), "{state}");
            assert!(matches!(t.trade_state.as_str(), "CLOSED" | "REVOKED"));
        }
    }

    #[test]
    fn an_unpaid_trade_closes_by_itself_at_time_expire() {
        let mut t = trade("NOTPAY");
        t.expire(999);
        assert_eq!(t.trade_state, "NOTPAY");
        t.expire(1000);
        assert_eq!(t.trade_state, "CLOSED");
        let mut paid = trade("SUCCESS");
        paid.expire(5000);
        assert_eq!(paid.trade_state, "SUCCESS");
        assert!(t.payable().is_err());
        assert!(trade("USERPAYING").payable().is_ok());
    }

    #[test]
    fn refunds_need_a_paid_trade_its_total_and_money_left() {
        assert_eq!(
            trade("NOTPAY").take_refund(10, 100).map_err(|r| r.code),
            Err("INVALID_REQUEST")
        );
        let mut t = trade("SUCCESS");
        assert_eq!(
            t.take_refund(10, 99).map_err(|r| r.code),
            Err("PARAM_ERROR")
        );
        assert!(t.take_refund(60, 100).is_ok());
        assert_eq!(t.trade_state, "REFUND");
        assert_eq!(
            t.take_refund(41, 100).map_err(|r| r.code),
            Err("INVALID_REQUEST")
        );
        assert!(t.take_refund(40, 100).is_ok());
        assert_eq!(t.refunded, 100);
    }
}
