//! The JSON bodies of PROTOCOL.md: what the sandbox reads and writes, field for field.
//! Amounts are minor units; every time on the wire is Unix seconds (the tables keep ms).

use serde::{Deserialize, Serialize};

use crate::trades::Trade;

/// `POST /api/trades`.
#[derive(Debug, Deserialize)]
pub struct CreateTrade {
    pub payment_no: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    pub expires_at: i64,
    pub notify_url: String,
    /// Where the checkout page sends the payer after paying; optional.
    #[serde(default)]
    pub return_url: Option<String>,
}

/// `POST /api/trades/{payment_no}/refunds`.
#[derive(Debug, Deserialize)]
pub struct CreateRefund {
    pub refund_no: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /accounts`.
#[derive(Debug, Serialize)]
pub struct AccountCreated {
    pub account_id: String,
    pub api_key: String,
}

/// The answer to `POST /api/trades`.
#[derive(Debug, Serialize)]
pub struct TradeCreated {
    pub payment_no: String,
    pub trade_id: String,
    pub state: &'static str,
    pub pay_url: String,
}

/// `GET /api/trades/{payment_no}`.
#[derive(Debug, Serialize)]
pub struct TradeView {
    pub payment_no: String,
    pub trade_id: String,
    pub state: &'static str,
    pub amount: i64,
    pub currency: String,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<i64>,
    pub refunded_amount: i64,
}

impl From<&Trade> for TradeView {
    fn from(t: &Trade) -> Self {
        TradeView {
            payment_no: t.payment_no.clone(),
            trade_id: t.trade_id.clone(),
            state: t.state.as_str(),
            amount: t.amount,
            currency: t.currency.clone(),
            paid_amount: t.paid_amount,
            paid_at: t.paid_at_ms.map(secs),
            refunded_amount: t.refunded_amount,
        }
    }
}

/// The answer to `POST /api/trades/{payment_no}/close`.
#[derive(Debug, Serialize)]
pub struct TradeClosed {
    pub payment_no: String,
    pub state: &'static str,
}

/// The answer to `POST /api/trades/{payment_no}/refunds`.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub payment_no: String,
    pub refund_no: String,
    pub refund_id: String,
    pub state: &'static str,
    pub amount: i64,
}

/// `GET /trades/{payment_no}` (unsigned, for people and tests): the trade with its counters.
#[derive(Debug, Serialize)]
pub struct TradeDetail {
    pub payment_no: String,
    pub account_id: String,
    pub trade_id: String,
    pub state: &'static str,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub paid_amount: Option<i64>,
    pub refunded_amount: i64,
    pub notify_url: String,
    pub return_url: Option<String>,
    pub counters: Counters,
    pub notifications: Notifications,
}

#[derive(Debug, Serialize)]
pub struct Counters {
    pub created: i64,
    pub queried: i64,
    pub closed: i64,
    pub refunded: i64,
}

#[derive(Debug, Serialize)]
pub struct Notifications {
    pub sent: i64,
    pub acknowledged: i64,
}

impl From<&Trade> for TradeDetail {
    fn from(t: &Trade) -> Self {
        TradeDetail {
            payment_no: t.payment_no.clone(),
            account_id: t.account_id.clone(),
            trade_id: t.trade_id.clone(),
            state: t.state.as_str(),
            amount: t.amount,
            currency: t.currency.clone(),
            subject: t.subject.clone(),
            channel: t.channel.clone(),
            expires_at: secs(t.expires_at_ms),
            paid_at: t.paid_at_ms.map(secs),
            paid_amount: t.paid_amount,
            refunded_amount: t.refunded_amount,
            notify_url: t.notify_url.clone(),
            return_url: t.return_url.clone(),
            counters: Counters {
                created: t.created_count,
                queried: t.queried_count,
                closed: t.closed_count,
                refunded: t.refunded_count,
            },
            notifications: Notifications {
                sent: t.notify_sent_count,
                acknowledged: t.notify_ack_count,
            },
        }
    }
}

/// The paid notification POSTed to the trade's `notify_url`.
#[derive(Debug, Serialize)]
pub struct PaidNotification<'a> {
    pub event: &'static str,
    pub payment_no: &'a str,
    pub trade_id: &'a str,
    pub state: &'static str,
    pub amount: i64,
    pub currency: &'a str,
    pub paid_amount: i64,
    pub paid_at: i64,
}

/// The answer to `POST /trades/{payment_no}/notify`: what the receiver said. `body` is the
/// receiver's JSON when it answered JSON, else its text.
#[derive(Debug, Serialize)]
pub struct NotifyAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Milliseconds (the tables' unit) to Unix seconds (the wire's unit).
pub fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}
