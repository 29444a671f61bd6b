//! Alipay's trade state machine as the simulator keeps it: when a trade exists (a precreate
//! trade only once the buyer scans), what a repeated order, the buyer, close and refund may
//! do, when a trade closes or finishes by itself. Pure (time is an argument), and
//! unit-tested.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::money;
use super::protocol;

/// `trade_status`, spelled as Alipay spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeClosed,
    TradeSuccess,
    TradeFinished,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
        }
    }
}

/// Which method created the trade, and its `product_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    /// `alipay.trade.precreate` (当面付, scanned QR code).
    Precreate,
    /// `alipay.trade.page.pay` (电脑网站支付).
    PagePay,
    /// `alipay.trade.wap.pay` (手机网站支付).
    WapPay,
}

impl Product {
    /// The `product_code` of the method. Sources: the page.pay and wap.pay request tables
    /// (「销售产品码 … 电脑网站支付：FAST_INSTANT_TRADE_PAY」, 「手机网站支付：QUICK_WAP_WAY」); precreate:
    /// 「当面付快捷版 FACE_TO_FACE_PAYMENT」.
    pub fn product_code(self) -> &'static str {
        match self {
            Product::Precreate => "FACE_TO_FACE_PAYMENT",
            Product::PagePay => "FAST_INSTANT_TRADE_PAY",
            Product::WapPay => "QUICK_WAP_WAY",
        }
    }
}

/// Why a trade is `TRADE_CLOSED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// `alipay.trade.close`.
    Merchant,
    /// `time_expire` passed unpaid.
    TimeExpire,
    /// Refunded in full: a paid trade, not "closed unpaid".
    FullRefund,
}

/// An Alipay refusal: `code`, `msg`, `sub_code`, `sub_msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
}

impl Refusal {
    /// `40004 Business Failed`.
    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Refusal {
        Refusal {
            code: "40004",
            msg: "Business Failed",
            sub_code: sub_code.to_owned(),
            sub_msg: sub_msg.into(),
        }
    }

    /// `40004 ACQ.INVALID_PARAMETER 参数无效` with the reason.
    pub fn invalid(why: impl std::fmt::Display) -> Refusal {
        Refusal::business("ACQ.INVALID_PARAMETER", format!("参数无效: {why}"))
    }

    /// The `*_response` object of the refusal.
    pub fn json(&self) -> Value {
        json!({"code": self.code, "msg": self.msg, "sub_code": self.sub_code, "sub_msg": self.sub_msg})
    }
}

/// `ACQ.TRADE_NOT_EXIST 交易不存在`.
pub fn not_exist() -> Refusal {
    Refusal::business("ACQ.TRADE_NOT_EXIST", "交易不存在")
}

/// A precreate `qr_code` handed out, and until when it can be scanned and paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrCode {
    pub qr_code: String,
    pub expires_at_ms: i64,
}

/// How long a precreate `qr_code` works, whatever `time_expire` says: two hours.
///
/// Source: the `alipay.trade.precreate` answer table, opendocs.alipay.com/open/05osv9
/// (「qr_code: 当前预下单请求生成的二维码码串，有效时间2小时，可以用二维码生成工具根据该码串值生成
/// 对应的二维码」, example `https://qr.alipay.com/bavh4wjlxf12tper3a`).
pub const QR_CODE_LIFETIME_SECS: u64 = 2 * 3600;

/// When a `qr_code` handed out at `issued_at_ms` stops working, its lifetime divided by
/// `scale` (`SimConfig::action_lifetime_scale`).
pub fn qr_expires_at_ms(issued_at_ms: i64, scale: f64) -> i64 {
    let ms = QR_CODE_LIFETIME_SECS as f64 * 1000.0 / scale.max(f64::MIN_POSITIVE);
    // `as` saturates: an absurdly small scale means "never" rather than an overflow.
    issued_at_ms.saturating_add(ms as i64)
}

/// One refund of the trade (`out_request_no` tells refunds apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub out_request_no: String,
    pub refund_fen: u64,
    pub refund_amount: String,
    pub refund_reason: Option<String>,
    pub gmt_refund: String,
    /// The trade's refunded total after it.
    pub refund_fee: String,
}

/// What a refund request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundDone {
    /// A new refund (the trade's notification follows).
    New(Refund),
    /// The same `out_request_no` and amount again: the same refund, no money moves
    /// (`fund_change` `N`).
    Repeat(Refund),
}

/// One notification attempt and the receiver's reply.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub at_ms: i64,
    pub notify_id: String,
    pub trade_status: String,
    /// The fault asked for (`none` for the regular ones).
    pub fault: String,
    /// The reply's status; `None` if nothing answered (or the attempt was dropped).
    pub status: Option<u16>,
    /// The reply's body, or why nothing answered.
    pub body: String,
    /// The reply was exactly `success`.
    pub acknowledged: bool,
    /// Not sent at all (the `drop_notifications` knob).
    pub dropped: bool,
}

/// A trade as Alipay holds it (and, before the buyer scans, the pre-order of a precreate).
#[derive(Debug, Clone, Serialize)]
pub struct Trade {
    pub out_trade_no: String,
    pub product: Product,
    pub subject: String,
    pub total_fen: u64,
    /// `total_amount` as Alipay writes it back (two decimals).
    pub total_amount: String,
    /// As the merchant sent it.
    pub time_expire: Option<String>,
    #[serde(skip)]
    pub expires_at: Option<i64>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// Whether the trade exists at Alipay (query and close see it): from the scan of a
    /// precreate QR code, or from the cashier page of page.pay / wap.pay.
    pub exists: bool,
    pub trade_status: TradeStatus,
    pub closed_by: Option<ClosedBy>,
    pub trade_no: Option<String>,
    pub buyer_user_id: Option<String>,
    pub buyer_logon_id: Option<String>,
    pub gmt_create: Option<String>,
    pub gmt_payment: Option<String>,
    pub gmt_close: Option<String>,
    #[serde(skip)]
    pub paid_at: Option<i64>,
    /// Closed by `time_expire` after it existed, not yet notified (the ticker sends it,
    /// whoever noticed the expiry).
    #[serde(skip)]
    pub close_note_due: bool,
    pub refunded_fen: u64,
    pub refunds: Vec<Refund>,
    /// Every `qr_code` handed out, oldest first.
    pub qr_codes: Vec<QrCode>,
    /// Gateway calls about this trade, by method.
    pub calls: BTreeMap<String, u64>,
    /// Every notification attempt about this trade, in order.
    pub notifications: Vec<Delivery>,
}

impl Trade {
    /// A trade (or pre-order) as its creating request describes it.
    pub fn new(out_trade_no: &str, product: Product, subject: &str, total_fen: u64) -> Trade {
        Trade {
            out_trade_no: out_trade_no.to_owned(),
            product,
            subject: subject.to_owned(),
            total_fen,
            total_amount: money::yuan(total_fen),
            time_expire: None,
            expires_at: None,
            notify_url: None,
            return_url: None,
            exists: false,
            trade_status: TradeStatus::WaitBuyerPay,
            closed_by: None,
            trade_no: None,
            buyer_user_id: None,
            buyer_logon_id: None,
            gmt_create: None,
            gmt_payment: None,
            gmt_close: None,
            paid_at: None,
            close_note_due: false,
            refunded_fen: 0,
            refunds: Vec::new(),
            qr_codes: Vec::new(),
            calls: BTreeMap::new(),
            notifications: Vec::new(),
        }
    }

    pub fn count_call(&mut self, method: &str) {
        *self.calls.entry(method.to_owned()).or_default() += 1;
    }

    /// Closes an unpaid trade whose `time_expire` has passed (Alipay does it by itself).
    /// True if it closed now and existed: a `TRADE_CLOSED` notification is due
    /// (`close_note_due`; the close doc's 关联异步通知 lists `TRADE_CLOSED`, on by default,
    /// zhifubao.apifox.cn/api-126371943). A pre-order nobody scanned never existed.
    pub fn expire(&mut self, now: i64) -> bool {
        let due = self.expires_at.is_some_and(|at| now >= at);
        if self.trade_status == TradeStatus::WaitBuyerPay && due {
            self.close_as(ClosedBy::TimeExpire, now);
            self.close_note_due = self.exists;
            return self.exists;
        }
        false
    }

    fn close_as(&mut self, by: ClosedBy, now: i64) {
        self.trade_status = TradeStatus::TradeClosed;
        self.closed_by = Some(by);
        self.gmt_close = Some(protocol::beijing_time(now));
    }

    /// An order again under this `out_trade_no` (precreate, or the browser back at the
    /// gateway): allowed while unpaid with the same amount and subject.
    ///
    /// Sources: the precreate / page.pay error tables as copied in the SDKs' error maps
    /// (「ACQ.TRADE_HAS_SUCCESS 交易已被支付」, 「ACQ.TRADE_HAS_CLOSE 交易已经关闭」,
    /// 「ACQ.CONTEXT_INCONSISTENT 交易信息被篡改」 / 「订单信息不一致: 商户订单号已经创建交易成功，且本次
    /// 请求的交易关键信息（如订单金额、订单标题等）与已存交易的信息不一致」).
    pub fn repeat(&self, total_fen: u64, subject: &str) -> Result<(), Refusal> {
        match self.trade_status {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                Err(Refusal::business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"))
            }
            TradeStatus::TradeClosed => {
                Err(Refusal::business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"))
            }
            TradeStatus::WaitBuyerPay if total_fen != self.total_fen || subject != self.subject => {
                Err(Refusal::business(
                    "ACQ.CONTEXT_INCONSISTENT",
                    "交易信息被篡改",
                ))
            }
            TradeStatus::WaitBuyerPay => Ok(()),
        }
    }

    /// Hands out a fresh `qr_code` at `now_ms`, remembers it, and returns it.
    pub fn hand_out_qr(&mut self, now_ms: i64, lifetime_scale: f64) -> String {
        let value = loop {
            let value = format!(
                "https://qr.alipay.com/bax{}",
                protocol::random_alnum(21).to_lowercase()
            );
            if self.qr_codes.iter().all(|q| q.qr_code != value) {
                break value;
            }
        };
        self.qr_codes.push(QrCode {
            qr_code: value.clone(),
            expires_at_ms: qr_expires_at_ms(now_ms, lifetime_scale),
        });
        value
    }

    /// Whether the buyer may scan or pay through `qr_code` at `now_ms`.
    pub fn check_qr(&self, qr_code: &str, now_ms: i64) -> Result<(), String> {
        let qr = self
            .qr_codes
            .iter()
            .find(|q| q.qr_code == qr_code)
            .ok_or_else(|| format!("`{qr_code}` was not handed out for this trade"))?;
        if now_ms >= qr.expires_at_ms {
            return Err(format!(
                "the qr_code expired at {} ms (it lives {} minutes): precreate again for a fresh one",
                qr.expires_at_ms,
                QR_CODE_LIFETIME_SECS / 60
            ));
        }
        Ok(())
    }

    /// The trade comes to exist at Alipay (the buyer scanned, or the cashier page opened):
    /// it gets its `trade_no`, `gmt_create` and buyer. Nothing changes if it already exists.
    pub fn come_to_exist(&mut self, now: i64) -> Result<(), String> {
        self.expire(now);
        if self.exists {
            return Ok(());
        }
        if self.trade_status != TradeStatus::WaitBuyerPay {
            return Err(self.why_not_payable());
        }
        self.exists = true;
        self.trade_no = Some(protocol::trade_no(now));
        self.gmt_create = Some(protocol::beijing_time(now));
        self.buyer_user_id = Some(format!("2088{}", protocol::random_digits(12)));
        self.buyer_logon_id = Some(format!("159******{}", protocol::random_digits(2)));
        Ok(())
    }

    fn why_not_payable(&self) -> String {
        match (self.trade_status, self.closed_by) {
            (TradeStatus::TradeClosed, Some(ClosedBy::TimeExpire)) => format!(
                "the trade expired: time_expire {} has passed",
                self.time_expire.as_deref().unwrap_or_default()
            ),
            (TradeStatus::TradeClosed, Some(ClosedBy::Merchant)) => {
                "the trade was closed by the merchant".into()
            }
            (TradeStatus::TradeClosed, _) => "the trade is closed".into(),
            _ => "the trade is already paid".into(),
        }
    }

    /// The buyer pays an existing trade at `now`: `TRADE_SUCCESS`, or why not.
    pub fn pay(&mut self, now: i64) -> Result<(), String> {
        self.expire(now);
        if !self.exists {
            return Err("the trade does not exist yet: the buyer has not scanned it".into());
        }
        if self.trade_status != TradeStatus::WaitBuyerPay {
            return Err(self.why_not_payable());
        }
        self.trade_status = TradeStatus::TradeSuccess;
        self.gmt_payment = Some(protocol::beijing_time(now));
        self.paid_at = Some(now);
        Ok(())
    }

    /// `alipay.trade.close`: only a waiting trade closes.
    ///
    /// Source: the alipay.trade.close error table (「ACQ.TRADE_NOT_EXIST 交易不存在」,
    /// 「ACQ.TRADE_STATUS_ERROR 交易状态不合法: 检查当前交易的状态是不是等待买家付款，只有等待买家
    /// 付款状态下才能发起交易关闭」), mirrored at zhifubao.apifox.cn/api-126371943.
    pub fn close(&mut self, now: i64) -> Result<(), Refusal> {
        self.expire(now);
        if !self.exists {
            return Err(not_exist());
        }
        if self.trade_status != TradeStatus::WaitBuyerPay {
            return Err(Refusal::business(
                "ACQ.TRADE_STATUS_ERROR",
                "交易状态不合法",
            ));
        }
        self.close_as(ClosedBy::Merchant, now);
        Ok(())
    }

    /// `alipay.trade.refund` of `refund_fen` under `out_request_no` at `now`.
    ///
    /// Sources: the alipay.trade.refund error table as the SDKs copy it (「ACQ.TRADE_NOT_EXIST
    /// 交易不存在」, 「ACQ.TRADE_STATUS_ERROR 交易状态非法」, 「ACQ.TRADE_HAS_FINISHED 交易已完结」,
    /// 「ACQ.REFUND_AMT_NOT_EQUAL_TOTAL 退款金额超限」, 「ACQ.DISCORDANT_REPEAT_REQUEST 不一致的请求:
    /// 检查该退款号是否已退过款或更换退款号重新发起请求」); yq.aliyun.com/articles/707486 (the same
    /// `out_request_no` again is no error and no second refund: `fund_change` `N`). A full
    /// refund closes the trade (PROVIDERS.md; the refund notification is `TRADE_CLOSED`).
    pub fn refund(
        &mut self,
        out_request_no: &str,
        refund_fen: u64,
        reason: Option<String>,
        now: i64,
    ) -> Result<RefundDone, Refusal> {
        self.expire(now);
        if !self.exists {
            return Err(not_exist());
        }
        if let Some(done) = self
            .refunds
            .iter()
            .find(|r| r.out_request_no == out_request_no)
        {
            return if done.refund_fen == refund_fen {
                Ok(RefundDone::Repeat(done.clone()))
            } else {
                Err(Refusal::business(
                    "ACQ.DISCORDANT_REPEAT_REQUEST",
                    "不一致的请求",
                ))
            };
        }
        match self.trade_status {
            TradeStatus::TradeSuccess => {}
            TradeStatus::TradeFinished => {
                return Err(Refusal::business("ACQ.TRADE_HAS_FINISHED", "交易已完结"))
            }
            TradeStatus::WaitBuyerPay | TradeStatus::TradeClosed => {
                return Err(Refusal::business("ACQ.TRADE_STATUS_ERROR", "交易状态非法"))
            }
        }
        if refund_fen == 0 {
            return Err(Refusal::invalid("refund_amount must be at least 0.01"));
        }
        if refund_fen > self.total_fen - self.refunded_fen {
            return Err(Refusal::business(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "退款金额超限",
            ));
        }
        self.refunded_fen += refund_fen;
        let refund = Refund {
            out_request_no: out_request_no.to_owned(),
            refund_fen,
            refund_amount: money::yuan(refund_fen),
            refund_reason: reason,
            gmt_refund: protocol::beijing_time(now),
            refund_fee: money::yuan(self.refunded_fen),
        };
        self.refunds.push(refund.clone());
        if self.refunded_fen == self.total_fen {
            self.close_as(ClosedBy::FullRefund, now);
        }
        Ok(RefundDone::New(refund))
    }

    /// The refund period ended (or the `finish` control): `TRADE_SUCCESS` -> `TRADE_FINISHED`
    /// ("交易结束，不可退款").
    pub fn finish(&mut self) -> Result<(), String> {
        if self.trade_status != TradeStatus::TradeSuccess {
            return Err(format!(
                "the trade is {}: only TRADE_SUCCESS finishes",
                self.trade_status.as_str()
            ));
        }
        self.trade_status = TradeStatus::TradeFinished;
        Ok(())
    }

    /// Whether the refund period (`refund_period_secs` after payment) is over at `now`.
    pub fn refund_period_over(&self, now: i64, refund_period_secs: i64) -> bool {
        self.trade_status == TradeStatus::TradeSuccess
            && self
                .paid_at
                .is_some_and(|at| now >= at.saturating_add(refund_period_secs))
    }
}

#[cfg(test)]
mod tests;
