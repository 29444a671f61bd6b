//! `alipay.trade.precreate`, `alipay.trade.query`, `alipay.trade.close`, and the order rules
//! page.pay and wap.pay share with precreate.

use serde_json::{json, Value};

use super::{existing, optional, required, success, Call, Shared};
use crate::money;
use crate::protocol;
use crate::trades::{Product, Refusal, Trade, TradeStatus};
use crate::{notify, now, now_ms};

/// Creates the trade (pre-order) an order describes, or checks a repeated order against the
/// one under its `out_trade_no`; the trade's number.
///
/// Sources: the request tables of precreate / page.pay / wap.pay (out_trade_no 「64个字符以
/// 内」, total_amount 「单位为元，精确到小数点后两位，取值范围[0.01,100000000]」, subject
/// 「订单标题」 String(256), time_expire 「订单绝对超时时间。格式为yyyy-MM-dd HH:mm:ss」,
/// product_code FAST_INSTANT_TRADE_PAY / QUICK_WAP_WAY) and their error tables
/// (「ACQ.TOTAL_FEE_EXCEED 订单总金额超过限额」).
pub(super) fn order(
    sim: &Shared,
    call: &Call,
    biz: &Value,
    product: Product,
) -> Result<String, Refusal> {
    let out_trade_no = required(biz, "out_trade_no")?;
    if out_trade_no.chars().count() > 64 {
        return Err(Refusal::invalid(
            "out_trade_no is longer than 64 characters",
        ));
    }
    let total_fen = biz
        .get("total_amount")
        .and_then(money::amount_of)
        .filter(|fen| *fen >= money::MIN_TOTAL_FEN)
        .ok_or_else(|| {
            Refusal::invalid("total_amount must be yuan with at most two decimals, at least 0.01")
        })?;
    if total_fen > money::MAX_TOTAL_FEN {
        return Err(Refusal::business(
            "ACQ.TOTAL_FEE_EXCEED",
            "订单总金额超过限额",
        ));
    }
    let subject = required(biz, "subject")?;
    if subject.chars().count() > 256 {
        return Err(Refusal::invalid("subject is longer than 256 characters"));
    }
    let expires_at = match optional(biz, "time_expire") {
        None => None,
        Some(text) => Some(protocol::parse_beijing_time(text).ok_or_else(|| {
            Refusal::invalid(format!("time_expire `{text}` is not yyyy-MM-dd HH:mm:ss"))
        })?),
    };
    let code = optional(biz, "product_code");
    let code_ok = match product {
        Product::Precreate => true,
        Product::PagePay => code == Some(product.product_code()),
        Product::WapPay => code.is_none_or(|c| c == product.product_code()),
    };
    if !code_ok {
        return Err(Refusal::invalid(format!(
            "product_code must be {}",
            product.product_code()
        )));
    }
    let mut state = sim.state();
    if let Some(trade) = state.trades.get_mut(out_trade_no) {
        trade.count_call(&call.name);
        trade.expire(now());
        trade.repeat(total_fen, subject)?;
        return Ok(out_trade_no.to_owned());
    }
    let mut trade = Trade::new(out_trade_no, product, subject, total_fen);
    trade.time_expire = optional(biz, "time_expire").map(str::to_owned);
    trade.expires_at = expires_at;
    let param = |name: &str| call.params.get(name).filter(|v| !v.is_empty()).cloned();
    trade.notify_url = param("notify_url");
    trade.return_url = param("return_url");
    trade.count_call(&call.name);
    state.trades.insert(out_trade_no.to_owned(), trade);
    Ok(out_trade_no.to_owned())
}

/// `alipay.trade.precreate`: a fresh `qr_code` each call (recorded with its lifetime).
///
/// Source: the precreate answer (out_trade_no, qr_code), opendocs.alipay.com/open/05osv9.
pub(super) fn precreate(sim: &Shared, call: &Call, biz: &Value) -> Result<Value, Refusal> {
    let no = order(sim, call, biz, Product::Precreate)?;
    let mut state = sim.state();
    let trade = state
        .trades
        .get_mut(&no)
        .ok_or_else(crate::trades::not_exist)?;
    let qr_code = trade.hand_out_qr(now_ms(), sim.config.action_lifetime_scale);
    let mut answer = success();
    answer["out_trade_no"] = json!(no);
    answer["qr_code"] = json!(qr_code);
    Ok(answer)
}

/// `alipay.trade.query`.
///
/// Source: the query answer table (trade_no, out_trade_no, buyer_logon_id, trade_status,
/// total_amount, buyer_pay_amount, point_amount, invoice_amount, send_pay_date,
/// receipt_amount, buyer_user_id, fund_bill_list with `fund_channel`), and PROVIDERS.md (a
/// precreate trade nobody scanned: `ACQ.TRADE_NOT_EXIST`).
pub(super) fn query(sim: &Shared, call: &Call, biz: &Value) -> Result<Value, Refusal> {
    let mut state = sim.state();
    let trade = existing(&mut state.trades, biz, &call.name)?;
    Ok(trade_json(trade))
}

/// The query answer of `trade`.
pub(super) fn trade_json(trade: &Trade) -> Value {
    let paid = trade.gmt_payment.is_some();
    let paid_amount = if paid {
        trade.total_amount.clone()
    } else {
        "0.00".to_owned()
    };
    let mut answer = success();
    let fields = json!({
        "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
        "buyer_logon_id": trade.buyer_logon_id, "buyer_user_id": trade.buyer_user_id,
        "trade_status": trade.trade_status, "total_amount": trade.total_amount,
        "buyer_pay_amount": paid_amount, "receipt_amount": paid_amount,
        "invoice_amount": paid_amount, "point_amount": "0.00", "subject": trade.subject,
    });
    if let (Value::Object(a), Value::Object(f)) = (&mut answer, fields) {
        a.extend(f);
    }
    if paid {
        answer["send_pay_date"] = json!(trade.gmt_payment);
        answer["fund_bill_list"] =
            json!([{"fund_channel": "ALIPAYACCOUNT", "amount": trade.total_amount}]);
    }
    answer
}

/// `alipay.trade.close`: a waiting trade closes (and is notified `TRADE_CLOSED`).
pub(super) fn close(sim: &Shared, call: &Call, biz: &Value) -> Result<Value, Refusal> {
    let closed = {
        let mut state = sim.state();
        let trade = existing(&mut state.trades, biz, &call.name)?;
        trade.close(now())?;
        debug_assert_eq!(trade.trade_status, TradeStatus::TradeClosed);
        trade.clone()
    };
    notify::send(sim, &closed, None);
    let mut answer = success();
    answer["trade_no"] = json!(closed.trade_no);
    answer["out_trade_no"] = json!(closed.out_trade_no);
    Ok(answer)
}
