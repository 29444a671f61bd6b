//! `alipay.trade.refund` and `alipay.trade.fastpay.refund.query`.

use serde_json::{json, Value};

use super::{existing, optional, required, success, Call, Shared};
use crate::money;
use crate::trades::{RefundDone, Refusal};
use crate::{notify, now};

/// `alipay.trade.refund`: refunds at once (Alipay's refunds of a balance payment are
/// synchronous), notifies the trade's new state, and answers the refunded total.
///
/// `out_request_no` absent is the trade's `out_trade_no` (the refund query table:
/// 「请求退款接口时，传入的退款请求号，如果在退款请求时未传入，则该值为创建交易时的外部交易号」),
/// so that only a full refund can do without one (yq.aliyun.com/articles/707486: without it a
/// partial refund is 「ACQ.REFUND_AMT_NOT_EQUAL_TOTAL 撤销或退款金额与订单金额不一致」). The
/// answer: the refund answer table (trade_no, out_trade_no, buyer_logon_id, fund_change
/// 「本次退款是否发生了资金变化」, refund_fee 「退款总金额」, gmt_refund_pay, buyer_user_id).
pub(super) fn refund(sim: &Shared, call: &Call, biz: &Value) -> Result<Value, Refusal> {
    let refund_fen = biz
        .get("refund_amount")
        .and_then(money::amount_of)
        .ok_or_else(|| Refusal::invalid("refund_amount must be yuan with at most two decimals"))?;
    let reason = optional(biz, "refund_reason").map(str::to_owned);
    let (trade, done) = {
        let mut state = sim.state();
        let trade = existing(&mut state.trades, biz, &call.name)?;
        let given = optional(biz, "out_request_no");
        if given.is_none() && refund_fen != trade.total_fen {
            return Err(Refusal::business(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "撤销或退款金额与订单金额不一致",
            ));
        }
        let out_request_no = given.unwrap_or(&trade.out_trade_no).to_owned();
        let done = trade.refund(&out_request_no, refund_fen, reason, now())?;
        (trade.clone(), done)
    };
    let (refund, fund_change) = match &done {
        RefundDone::New(r) => (r, "Y"),
        RefundDone::Repeat(r) => (r, "N"),
    };
    if let RefundDone::New(r) = &done {
        notify::send(sim, &trade, Some(r));
    }
    let mut answer = success();
    let fields = json!({
        "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": trade.buyer_logon_id, "buyer_user_id": trade.buyer_user_id,
        "fund_change": fund_change, "refund_fee": money::yuan(trade.refunded_fen),
        "gmt_refund_pay": refund.gmt_refund,
    });
    if let (Value::Object(a), Value::Object(f)) = (&mut answer, fields) {
        a.extend(f);
    }
    Ok(answer)
}

/// `alipay.trade.fastpay.refund.query`: the refund under `out_request_no`, or a bare success.
///
/// Source: the refund query doc (「该接口的返回码10000，仅代表本次查询操作成功，不代表退款成功。
/// 如果该接口返回了查询数据，则代表退款成功，如果没有查询到则代表未退款成功」; refund_status
/// REFUND_SUCCESS, 「未返回该字段表示退款请求未收到或者退款失败」) and its error table (an unknown
/// trade: `TRADE_NOT_EXIST` 「查询退款的交易不存在」, without the ACQ prefix).
pub(super) fn query(sim: &Shared, call: &Call, biz: &Value) -> Result<Value, Refusal> {
    let out_request_no = required(biz, "out_request_no")?;
    let mut state = sim.state();
    let trade = existing(&mut state.trades, biz, &call.name).map_err(|r| {
        if r.sub_code == "ACQ.TRADE_NOT_EXIST" {
            Refusal::business("TRADE_NOT_EXIST", "查询退款的交易不存在")
        } else {
            r
        }
    })?;
    let mut answer = success();
    if let Some(r) = trade
        .refunds
        .iter()
        .find(|r| r.out_request_no == out_request_no)
    {
        let fields = json!({
            "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "out_request_no": r.out_request_no, "total_amount": trade.total_amount,
            "refund_amount": r.refund_amount, "refund_status": "REFUND_SUCCESS",
            "gmt_refund_pay": r.gmt_refund,
        });
        if let (Value::Object(a), Value::Object(f)) = (&mut answer, fields) {
            a.extend(f);
        }
        if let Some(reason) = &r.refund_reason {
            answer["refund_reason"] = json!(reason);
        }
    }
    Ok(answer)
}
