//! WeChat Pay's trade and refund state machines, as the simulator keeps them: what a pay
//! request does to an existing `out_trade_no`, when a trade closes by itself, what the payer,
//! close and refund may do. Pure (time is an argument), and unit-tested.

use serde::Serialize;
use serde_json::{json, Value};

use super::actions::{self, Action, ActionKind};
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

    /// As WeChat writes it in answers and bills: `NATIVE`, `JSAPI`, `MWEB`.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeType::Native => "NATIVE",
            TradeType::Jsapi => "JSAPI",
            TradeType::Mweb => "MWEB",
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
///
/// Source: pay.weixin.qq.com/doc/v3/partner/4013080623 (the refund development guide:
/// SUCCESS; CLOSED, a final failure after more than 7 days in PROCESSING; PROCESSING;
/// ABNORMAL, the user's card cancelled or frozen, not final).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefundStatus {
    Processing,
    Success,
    Closed,
    Abnormal,
}

impl RefundStatus {
    /// The event type of the notification of a refund that reached this status.
    pub fn event_type(self) -> &'static str {
        match self {
            RefundStatus::Processing | RefundStatus::Success => "REFUND.SUCCESS",
            RefundStatus::Closed => "REFUND.CLOSED",
            RefundStatus::Abnormal => "REFUND.ABNORMAL",
        }
    }
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
    /// An h5 order's `scene_info.payer_client_ip`.
    pub payer_client_ip: Option<String>,
    /// The latest of `actions`, under its own name.
    pub code_url: Option<String>,
    pub prepay_id: Option<String>,
    pub h5_url: Option<String>,
    /// Every code_url / prepay_id / h5_url handed out, oldest first (listed by the trade
    /// view with whether each has expired).
    #[serde(skip)]
    pub actions: Vec<Action>,
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
    /// `PROCESSING` until `settles_at_ms`, then `outcome`.
    pub status: RefundStatus,
    #[serde(skip)]
    pub settles_at_ms: i64,
    /// What it becomes at `settles_at_ms` (the `refund_outcome` knob when it was made).
    #[serde(skip)]
    pub outcome: RefundStatus,
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
    /// Same parameters, trade still open: a fresh code_url / prepay_id / h5_url.
    FreshAction,
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
    ///
    /// Same parameters while open: allowed, and answered with a fresh action. Source:
    /// pay.weixin.qq.com/docs/merchant/products/mini-program-payment/apilist.html
    /// (「若未超过支付结束时间，则可使用原参数重新请求下单接口，以获取当前订单最新的prepay_id」) and a
    /// community report of 2024-12-25 (the prepay_id returned is new).
    ///
    /// Other parameters: `400 INVALID_REQUEST "201 商户订单号重复"`, the v3 answer (v2's
    /// OUT_TRADE_NO_USED is not). Source: developers.weixin.qq.com/community question
    /// oCJUsw-_pfo-SxNzHPcADq2aR0tQ (the v3 body), pay/doc/0006cab2060708a2924fc41365b400 (v2:
    /// a new openid or IP alone triggers it), yansongda/pay#705 (another trade type), and
    /// pay.weixin.qq.com/doc/v3/merchant/4012556398 (INVALID_REQUEST is a 400).
    pub fn repeat(&self, params: &Value) -> Repeat {
        match self.trade_state {
            TradeState::Success | TradeState::Refund => {
                Repeat::Refused(Refusal::new(400, "ORDERPAID", "该订单已支付"))
            }
            TradeState::Closed | TradeState::Revoked => {
                Repeat::Refused(Refusal::new(400, "ORDER_CLOSED", "该订单已关闭"))
            }
            _ if &self.params != params => {
                Repeat::Refused(Refusal::new(400, "INVALID_REQUEST", "201 商户订单号重复"))
            }
            _ => Repeat::FreshAction,
        }
    }

    /// Hands out a fresh code_url / prepay_id / h5_url at `now_ms` (bound to the order's
    /// openid or payer IP), remembers it, and returns the pay call's answer.
    pub fn hand_out_action(&mut self, now_ms: i64, lifetime_scale: f64) -> Value {
        let kind = ActionKind::of(self.trade_type);
        let value = loop {
            // Random values practically never repeat; a trade never hands out one twice.
            let value = kind.fresh_value();
            if self.actions.iter().all(|a| a.value != value) {
                break value;
            }
        };
        let slot = match kind {
            ActionKind::CodeUrl => &mut self.code_url,
            ActionKind::PrepayId => &mut self.prepay_id,
            ActionKind::H5Url => &mut self.h5_url,
        };
        *slot = Some(value.clone());
        self.actions.push(Action {
            kind,
            value: value.clone(),
            expires_at_ms: actions::expires_at_ms(kind, now_ms, lifetime_scale),
            openid: (kind == ActionKind::PrepayId)
                .then(|| self.openid.clone())
                .flatten(),
            client_ip: (kind == ActionKind::H5Url)
                .then(|| self.payer_client_ip.clone())
                .flatten(),
        });
        json!({ kind.as_str(): value })
    }

    /// Whether the payer (`openid`, from `client_ip`) may pay through `action` at `now_ms`.
    pub fn check_action(
        &self,
        action: &str,
        openid: Option<&str>,
        client_ip: Option<&str>,
        now_ms: i64,
    ) -> Result<(), String> {
        actions::find(&self.actions, action)?.check(openid, client_ip, now_ms)
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

    /// A refund of `amount` ended `CLOSED`: the money was never returned, so it can be
    /// refunded again, and a trade left with no refund is `SUCCESS` again (an inference:
    /// WeChat's documentation does not say what trade_state a closed refund leaves).
    pub fn refund_closed(&mut self, amount: u64) {
        self.refunded = self.refunded.saturating_sub(amount);
        if self.refunded == 0 && self.trade_state == TradeState::Refund {
            self.trade_state = TradeState::Success;
        }
    }
}

impl Refund {
    /// Settles a processing refund whose time has come (to its outcome); true if it changed
    /// now.
    pub fn settle(&mut self, now_ms: i64) -> bool {
        if self.status == RefundStatus::Processing && now_ms >= self.settles_at_ms {
            self.status = self.outcome;
            if self.outcome == RefundStatus::Success {
                self.success_time = Some(protocol::beijing_time(now_ms.div_euclid(1000)));
            }
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests;
