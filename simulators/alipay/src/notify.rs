//! Notifications from the simulated Alipay: the `trade_status_sync` form of a trade's state,
//! signed with Alipay's key over every field but `sign` and `sign_type`, POSTed to the
//! trade's `notify_url` and retried on Alipay's schedule until the receiver answers exactly
//! `success`; and the faults a test can ask for. The ticker that closes and finishes trades
//! by themselves lives here too, as what it does is notify.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::money;
use super::protocol;
use super::trades::{Delivery, Refund, Trade};
use super::{now, now_ms, Sim, SimConfig};

/// What is wrong with a notification on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    #[default]
    None,
    /// Signed with a key that is not Alipay's.
    BadSignature,
    /// Correctly signed, but for another app (`app_id`, `auth_app_id`).
    WrongAppId,
    /// Correctly signed, reporting 0.01 more than the trade's amount (Alipay itself
    /// reporting another amount).
    WrongAmount,
    /// Correctly signed, then `total_amount` changed in transit.
    TamperedBody,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::BadSignature => "bad_signature",
            Fault::WrongAppId => "wrong_app_id",
            Fault::WrongAmount => "wrong_amount",
            Fault::TamperedBody => "tampered_body",
        }
    }
}

/// The app id a `wrong_app_id` notification names.
pub const FOREIGN_APP_ID: &str = "2021000000009999";

/// The unsigned fields of a `trade_status_sync` notification of `trade` as it is, after
/// `refund` if a refund caused it.
///
/// Source: opendocs.alipay.com/open/270/105902 (异步通知参数: notify_time, notify_type,
/// notify_id, app_id, charset, version, sign_type, sign, trade_no, out_trade_no, out_biz_no,
/// buyer_id, buyer_logon_id, seller_id, trade_status, total_amount, receipt_amount,
/// invoice_amount, buyer_pay_amount, point_amount, refund_fee, subject, gmt_create,
/// gmt_payment, gmt_refund, gmt_close, fund_bill_list (JSON text, `fundChannel`), ...), and
/// the captured notification quoted at blog.csdn.net/weixin_33731135/article/details/115546323
/// (`fund_bill_list=[{"amount":"0.01","fundChannel":"PCREDIT"}]`, `auth_app_id`).
pub fn fields(
    config: &SimConfig,
    trade: &Trade,
    refund: Option<&Refund>,
    notify_id: &str,
    now: i64,
) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        f.insert(k.to_owned(), v.to_owned());
    };
    put("notify_time", &protocol::beijing_time(now));
    put("notify_type", "trade_status_sync");
    put("notify_id", notify_id);
    put("app_id", &config.app_id);
    put("auth_app_id", &config.app_id);
    put("charset", "utf-8");
    put("version", "1.0");
    put("sign_type", "RSA2");
    put("seller_id", &config.seller_id);
    put("out_trade_no", &trade.out_trade_no);
    put("trade_status", trade.trade_status.as_str());
    put("total_amount", &trade.total_amount);
    put("subject", &trade.subject);
    let optional = [
        ("trade_no", &trade.trade_no),
        ("buyer_id", &trade.buyer_user_id),
        ("buyer_logon_id", &trade.buyer_logon_id),
        ("gmt_create", &trade.gmt_create),
        ("gmt_payment", &trade.gmt_payment),
        ("gmt_close", &trade.gmt_close),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, v);
        }
    }
    if trade.gmt_payment.is_some() {
        for k in ["receipt_amount", "invoice_amount", "buyer_pay_amount"] {
            put(k, &trade.total_amount);
        }
        put("point_amount", "0.00");
        put("fund_bill_list", &fund_bill_list(&trade.total_amount));
    }
    if trade.refunded_fen > 0 {
        put("refund_fee", &money::yuan(trade.refunded_fen));
    }
    if let Some(r) = refund {
        put("gmt_refund", &r.gmt_refund);
        put("out_biz_no", &r.out_request_no);
    }
    f
}

/// `fund_bill_list` as a notification carries it: JSON text, camel-case `fundChannel`.
fn fund_bill_list(amount: &str) -> String {
    serde_json::json!([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]).to_string()
}

/// The form body of a notification with `fields`, signed by `alipay` (or `wrong`) as
/// `fault` asks.
pub fn signed_form(
    fields: &BTreeMap<String, String>,
    fault: Fault,
    alipay: &rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>,
    wrong: &rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>,
) -> String {
    let mut f = fields.clone();
    let more = |text: &str| money::yuan(money::parse_yuan(text).unwrap_or(0) + 1);
    match fault {
        Fault::WrongAppId => {
            f.insert("app_id".into(), FOREIGN_APP_ID.into());
            f.insert("auth_app_id".into(), FOREIGN_APP_ID.into());
        }
        Fault::WrongAmount => {
            let wrong_amount = more(f.get("total_amount").map_or("0", String::as_str));
            for k in [
                "total_amount",
                "receipt_amount",
                "invoice_amount",
                "buyer_pay_amount",
            ] {
                if let Some(v) = f.get_mut(k) {
                    v.clone_from(&wrong_amount);
                }
            }
            if f.contains_key("fund_bill_list") {
                f.insert("fund_bill_list".into(), fund_bill_list(&wrong_amount));
            }
        }
        _ => {}
    }
    let key = if fault == Fault::BadSignature {
        wrong
    } else {
        alipay
    };
    let sign = protocol::sign(key, &protocol::notification_sign_content(&f));
    f.insert("sign".into(), sign);
    if fault == Fault::TamperedBody {
        let tampered = more(f.get("total_amount").map_or("0", String::as_str));
        f.insert("total_amount".into(), tampered);
    }
    protocol::form_encode(f.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// One notification: the same `notify_id` and fields on every retry.
pub struct Note {
    pub out_trade_no: String,
    pub url: String,
    pub trade_status: String,
    pub fields: BTreeMap<String, String>,
}

impl Note {
    /// The notification of `trade` as it is now (after `refund`); `None` without a
    /// `notify_url` (Alipay then has nowhere to send it).
    pub fn of(config: &SimConfig, trade: &Trade, refund: Option<&Refund>) -> Option<Note> {
        let url = trade.notify_url.clone()?;
        let notify_id = uuid::Uuid::new_v4().simple().to_string();
        Some(Note {
            out_trade_no: trade.out_trade_no.clone(),
            url,
            trade_status: trade.trade_status.as_str().to_owned(),
            fields: fields(config, trade, refund, &notify_id, now()),
        })
    }
}

/// Sends `note` once, with `fault`, records the attempt on the trade, and returns the reply's
/// status (`None`: no answer) and body.
pub async fn deliver(sim: &Sim, note: &Note, fault: Fault) -> (Option<u16>, String) {
    let body = signed_form(&note.fields, fault, &sim.alipay, &sim.wrong);
    let reply = sim
        .http
        .post(&note.url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)
        .send()
        .await;
    let (status, body) = match reply {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), r.text().await.unwrap_or_default())
        }
        Err(e) => (None, e.to_string()),
    };
    tracing::info!(
        "alipay simulator: {} of {} ({}) to {} -> {status:?} {body:?}",
        note.trade_status,
        note.out_trade_no,
        fault.as_str(),
        note.url
    );
    record(sim, note, fault, (status, &body), false);
    (status, body)
}

/// Whether a reply acknowledges a notification: status 200 and exactly `success` (Alipay:
/// 「如果商户反馈给支付宝的字符不是 success 这7个字符，支付宝服务器会不断重发通知」).
pub fn acknowledged(status: Option<u16>, body: &str) -> bool {
    status == Some(200) && body == "success"
}

fn record(
    sim: &Sim,
    note: &Note,
    fault: Fault,
    (status, body): (Option<u16>, &str),
    dropped: bool,
) {
    let acknowledged = acknowledged(status, body);
    let mut state = sim.state();
    if dropped {
        state.stats.notifications_dropped += 1;
    } else {
        state.stats.notifications_sent += 1;
        if acknowledged {
            state.stats.notifications_acknowledged += 1;
        }
    }
    if let Some(trade) = state.trades.get_mut(&note.out_trade_no) {
        trade.notifications.push(Delivery {
            at_ms: now_ms(),
            notify_id: note.fields.get("notify_id").cloned().unwrap_or_default(),
            trade_status: note.trade_status.clone(),
            fault: fault.as_str().to_owned(),
            status,
            body: body.to_owned(),
            acknowledged,
            dropped,
        });
    }
}

/// Sends the notification of `trade` (after `refund`) until acknowledged, on Alipay's retry
/// schedule; or records it dropped if the knob says so.
pub fn send(sim: &Arc<Sim>, trade: &Trade, refund: Option<&Refund>) {
    let Some(note) = Note::of(&sim.config, trade, refund) else {
        return;
    };
    if sim.state().knobs.drop_notifications {
        record(sim, &note, Fault::None, (None, ""), true);
        return;
    }
    let task_sim = sim.clone();
    sim.spawn(async move {
        let scale = task_sim.config.time_scale;
        for attempt in 0.. {
            let (status, body) = deliver(&task_sim, &note, Fault::None).await;
            if acknowledged(status, &body) {
                return;
            }
            match protocol::retry_delay(attempt, scale) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return,
            }
        }
    });
}

/// Closes expired trades (notifying those that existed) and finishes paid trades whose
/// refund period is over (notifying `TRADE_FINISHED`).
pub fn tick(sim: &Arc<Sim>) {
    let now = now();
    let period = i64::try_from(sim.config.refund_period.as_secs()).unwrap_or(i64::MAX);
    let changed: Vec<Trade> = {
        let mut state = sim.state();
        state
            .trades
            .values_mut()
            .filter_map(|t| {
                t.expire(now);
                let closed = std::mem::take(&mut t.close_note_due);
                let finished = t.refund_period_over(now, period) && t.finish().is_ok();
                (closed || finished).then(|| t.clone())
            })
            .collect()
    };
    for trade in &changed {
        tracing::info!(
            "alipay simulator: {} is now {}",
            trade.out_trade_no,
            trade.trade_status.as_str()
        );
        send(sim, trade, None);
    }
}

#[cfg(test)]
mod tests;
