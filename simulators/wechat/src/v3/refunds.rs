//! Refunds: `POST /v3/refund/domestic/refunds`, the query by `out_refund_no`, and settling
//! processing refunds to the outcome the `refund_outcome` knob chose.

use serde_json::{json, Value};

use super::{param, text, Answer, Shared};
use crate::notify;
use crate::protocol;
use crate::trades::{Refund, RefundStatus, Refusal};
use crate::{now_ms, RefundOutcome, State};

/// Where an original-channel refund of a balance payment goes.
pub(crate) const USER_RECEIVED_ACCOUNT: &str = "支付用户零钱";

/// `POST /v3/refund/domestic/refunds`.
pub(super) fn refund(sim: &Shared, body: &Value) -> Result<Answer, Refusal> {
    let out_trade_no = body.get("out_trade_no").and_then(Value::as_str);
    let transaction_id = body.get("transaction_id").and_then(Value::as_str);
    if out_trade_no.is_none() && transaction_id.is_none() {
        return Err(param("one of out_trade_no and transaction_id is required"));
    }
    let out_refund_no = text(body, "/out_refund_no", "out_refund_no")?;
    if out_refund_no.len() > 64 {
        return Err(param("out_refund_no is longer than 64 characters"));
    }
    let amount = body
        .pointer("/amount/refund")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.refund must be an integer number of fen"))?;
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .ok_or_else(|| param("amount.total must be an integer number of fen"))?;
    let optional = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut state = sim.state();
    let processing_ms = state.knobs.refund_processing_ms;
    let outcome = match state.knobs.refund_outcome {
        RefundOutcome::Success => RefundStatus::Success,
        RefundOutcome::Closed => RefundStatus::Closed,
        RefundOutcome::Abnormal => RefundStatus::Abnormal,
    };
    // Source: field reports on developers.weixin.qq.com/community (a refund of an unknown
    // or unpaid out_trade_no: RESOURCE_NOT_EXISTS 「订单不存在」; the status, likely 404).
    let trade = state
        .trades
        .values_mut()
        .find(|t| {
            out_trade_no.is_none_or(|no| t.out_trade_no == no)
                && transaction_id.is_none_or(|id| t.transaction_id.as_deref() == Some(id))
        })
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    trade.counters.refunds += 1;
    let trade_no = trade.out_trade_no.clone();
    if let Some(existing) = state.refunds.get(out_refund_no) {
        // The same refund number is the same refund: never refunded twice.
        return if existing.refund == amount && existing.out_trade_no == trade_no {
            Ok(Answer::ok(refund_json(existing)))
        } else {
            Err(Refusal::new(
                400,
                "INVALID_REQUEST",
                format!(
                    "out_refund_no {out_refund_no} was used for another refund ({} of trade {})",
                    existing.refund, existing.out_trade_no
                ),
            ))
        };
    }
    let Some(trade) = state.trades.get_mut(&trade_no) else {
        return Err(Refusal::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"));
    };
    trade.take_refund(amount, total)?;
    let now_ms = now_ms();
    let refund = Refund {
        refund_id: format!("5030{}", protocol::random_digits(25)),
        out_refund_no: out_refund_no.to_owned(),
        out_trade_no: trade_no,
        transaction_id: trade.transaction_id.clone().unwrap_or_default(),
        reason: optional("reason"),
        notify_url: optional("notify_url"),
        refund: amount,
        total,
        currency: trade.currency.clone(),
        status: RefundStatus::Processing,
        settles_at_ms: now_ms.saturating_add(i64::try_from(processing_ms).unwrap_or(i64::MAX)),
        outcome,
        create_time: protocol::beijing_time(now_ms.div_euclid(1000)),
        success_time: None,
    };
    state.refunds.insert(out_refund_no.to_owned(), refund);
    // With no processing time, the answer already carries the outcome.
    let settled = settle_due(&mut state, now_ms);
    let answer = state.refunds.get(out_refund_no).map(refund_json);
    drop(state);
    for refund in &settled {
        notify::refund_settled(sim, refund);
    }
    answer
        .map(Answer::ok)
        .ok_or_else(|| Refusal::new(500, "SYSTEM_ERROR", "the refund vanished"))
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}`: settles due refunds first (the ticker
/// may not have run yet).
///
/// Source: developers.weixin.qq.com/community/pay/doc/0002c252e18508fd4a71a4c666bc00 and
/// develop/doc/000ec03d36c458d7bba2245a66bc00 (an unknown out_refund_no: 404
/// RESOURCE_NOT_EXISTS 「退款单不存在」).
pub(super) fn query(sim: &Shared, no: &str) -> Result<Answer, Refusal> {
    let mut state = sim.state();
    let settled = settle_due(&mut state, now_ms());
    let refund = state.refunds.get(no).map(refund_json);
    drop(state);
    for refund in &settled {
        notify::refund_settled(sim, refund);
    }
    refund
        .map(Answer::ok)
        .ok_or_else(|| Refusal::new(404, "RESOURCE_NOT_EXISTS", "退款单不存在"))
}

/// Settles every processing refund whose time has come; a `CLOSED` one gives its amount
/// back to its trade. The refunds settled now (to be notified).
pub(crate) fn settle_due(state: &mut State, now_ms: i64) -> Vec<Refund> {
    let settled: Vec<Refund> = state
        .refunds
        .values_mut()
        .filter_map(|r| r.settle(now_ms).then(|| r.clone()))
        .collect();
    for refund in settled.iter().filter(|r| r.status == RefundStatus::Closed) {
        if let Some(trade) = state.trades.get_mut(&refund.out_trade_no) {
            trade.refund_closed(refund.refund);
        }
    }
    settled
}

/// A refund as WeChat's refund endpoints answer it.
///
/// Source: TheNorthMemory/wechatpay-openapi `docs/v3` refund query schema (required:
/// refund_id, out_refund_no, transaction_id, out_trade_no, channel, user_received_account,
/// create_time, status, amount; success_time only when SUCCESS).
pub(crate) fn refund_json(r: &Refund) -> Value {
    let mut refund = json!({
        "refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no, "channel": "ORIGINAL", "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": r.create_time, "status": r.status, "funds_account": "AVAILABLE",
        "amount": {"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund,
                   "settlement_total": r.total, "settlement_refund": r.refund, "discount_refund": 0,
                   "currency": r.currency},
    });
    if let Some(at) = &r.success_time {
        refund["success_time"] = json!(at);
    }
    refund
}
