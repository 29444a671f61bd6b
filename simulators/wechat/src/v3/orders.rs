//! Orders: `POST /v3/pay/transactions/{native,jsapi,h5}` (a new trade, or a fresh action
//! for a repeated one), the query by `out_trade_no`, and close.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{param, text, Answer, Shared};
use crate::protocol;
use crate::trades::{Counters, Refusal, Repeat, Trade, TradeState, TradeType};
use crate::{now, now_ms, Sim};

/// `POST /v3/pay/transactions/{native,jsapi,h5}`.
pub(super) fn create(sim: &Shared, trade_type: TradeType, body: &Value) -> Result<Answer, Refusal> {
    let appid = text(body, "/appid", "appid")?;
    if appid != sim.config.appid {
        return Err(param(format!(
            "appid {appid} is not bound to merchant {} (appid和mch_id不匹配)",
            sim.config.mchid
        )));
    }
    let mchid = text(body, "/mchid", "mchid")?;
    if mchid != sim.config.mchid {
        return Err(param(format!(
            "mchid {mchid} is not the merchant that signed the request"
        )));
    }
    let description = text(body, "/description", "description")?;
    if description.chars().count() > 127 {
        return Err(param("description is longer than 127 characters"));
    }
    let out_trade_no = text(body, "/out_trade_no", "out_trade_no")?;
    let well_formed = (6..=32).contains(&out_trade_no.len())
        && out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
    if !well_formed {
        return Err(param(format!(
            "out_trade_no `{out_trade_no}` is not 6-32 of [A-Za-z0-9_-|*]"
        )));
    }
    let time_expire = text(body, "/time_expire", "time_expire")?;
    let expires_at = protocol::parse_time(time_expire).ok_or_else(|| {
        param(format!(
            "time_expire `{time_expire}` is not RFC 3339 with an offset"
        ))
    })?;
    let notify_url = text(body, "/notify_url", "notify_url")?;
    let url = reqwest::Url::parse(notify_url)
        .map_err(|_| param(format!("notify_url `{notify_url}` is not an absolute URL")))?;
    // WeChat wants https; http is allowed because the tests run on loopback.
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(param(format!(
            "notify_url `{notify_url}` must be an http(s) URL without a query string"
        )));
    }
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .ok_or_else(|| param("amount.total must be an integer number of fen above 0"))?;
    let currency = match body.pointer("/amount/currency") {
        None | Some(Value::Null) => "CNY",
        Some(v) => v
            .as_str()
            .ok_or_else(|| param("amount.currency is not a string"))?,
    };
    if currency != "CNY" {
        return Err(param(format!("amount.currency {currency}: CNY only")));
    }
    let attach = match body.get("attach") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| param("attach is not a string"))?
                .to_owned(),
        ),
    };
    let openid = match trade_type {
        TradeType::Jsapi => Some(text(body, "/payer/openid", "payer.openid")?.to_owned()),
        _ => None,
    };
    let payer_client_ip = match trade_type {
        TradeType::Mweb => {
            let ip = text(
                body,
                "/scene_info/payer_client_ip",
                "scene_info.payer_client_ip",
            )?;
            text(body, "/scene_info/h5_info/type", "scene_info.h5_info.type")?;
            Some(ip.to_owned())
        }
        _ => None,
    };
    // What must be the same for a repeated request to be the same order: the trade type
    // (the endpoint), amount, description, attach, time_expire (as an instant, since SDKs
    // write one instant in several forms), the jsapi payer's openid, the h5 payer's IP.
    // Sources: developers.weixin.qq.com/community pay/doc/0006cab2060708a2924fc41365b400 (v2:
    // another openid or IP alone gives 「201 商户订单号重复」), a 2024 community report (another
    // attach), yansongda/pay#705 and staff (another trade type: 「一个订单号在两个不同支付场景
    // 下单了，这是不被系统允许的」), and the order pages (time_expire cannot be changed later).
    // notify_url is compared too, as before (unconfirmed either way).
    let params = json!({"trade_type": trade_type, "appid": appid, "mchid": mchid,
        "description": description, "time_expire": expires_at, "notify_url": notify_url,
        "amount": total, "currency": currency, "attach": attach,
        "openid": openid, "payer_client_ip": payer_client_ip});
    let now = now();
    let scale = sim.config.action_lifetime_scale;
    let mut state = sim.state();
    if let Some(existing) = state.trades.get_mut(out_trade_no) {
        existing.expire(now);
        existing.counters.pay_requests += 1;
        return match existing.repeat(&params) {
            Repeat::FreshAction => Ok(Answer::ok(existing.hand_out_action(now_ms(), scale))),
            Repeat::Refused(r) => Err(r),
        };
    }
    let mut trade = Trade {
        out_trade_no: out_trade_no.to_owned(),
        trade_type,
        params,
        appid: appid.to_owned(),
        description: description.to_owned(),
        total,
        currency: currency.to_owned(),
        time_expire: time_expire.to_owned(),
        expires_at,
        notify_url: notify_url.to_owned(),
        attach,
        openid,
        trade_state: TradeState::NotPay,
        closed_by: None,
        payer_client_ip,
        code_url: None,
        prepay_id: None,
        h5_url: None,
        actions: Vec::new(),
        transaction_id: None,
        success_time: None,
        refunded: 0,
        counters: Counters {
            pay_requests: 1,
            ..Counters::default()
        },
        notifications: Vec::new(),
    };
    let answer = trade.hand_out_action(now_ms(), scale);
    state.trades.insert(out_trade_no.to_owned(), trade);
    Ok(Answer::ok(answer))
}

/// The transaction as WeChat's query answers it (and its notification carries it).
pub(crate) fn transaction_json(sim: &Sim, trade: &Trade) -> Value {
    let paid = trade.transaction_id.is_some();
    let mut tx = json!({
        "appid": trade.appid, "mchid": sim.config.mchid, "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type, "trade_state": trade.trade_state,
        "trade_state_desc": trade.trade_state.desc(),
        "attach": trade.attach.clone().unwrap_or_default(),
        "payer": {"openid": trade.openid.clone().unwrap_or_default()},
        "amount": {"total": trade.total, "currency": trade.currency,
                   "payer_total": if paid { trade.total } else { 0 }, "payer_currency": trade.currency},
    });
    if paid {
        tx["transaction_id"] = json!(trade.transaction_id);
        tx["bank_type"] = json!("OTHERS");
        tx["success_time"] = json!(trade.success_time);
    }
    tx
}

/// The trade under `no`, closed first if its `time_expire` has passed, or WeChat's 404.
///
/// Source: a WeChat cloud SDK log quoted on developers.weixin.qq.com/community (「响应码:404,
/// 错误码:ORDER_NOT_EXIST, 错误信息: 订单不存在」) and staff (「查单接口报错404是订单不存在」).
fn known_trade<'a>(
    trades: &'a mut BTreeMap<String, Trade>,
    no: &str,
) -> Result<&'a mut Trade, Refusal> {
    let trade = trades
        .get_mut(no)
        .ok_or_else(|| Refusal::new(404, "ORDER_NOT_EXIST", "订单不存在"))?;
    trade.expire(now());
    Ok(trade)
}

/// `GET /v3/pay/transactions/out-trade-no/{no}?mchid=`.
pub(super) fn query(sim: &Shared, no: &str, query: &str) -> Result<Answer, Refusal> {
    let mchid = protocol::query_param(query, "mchid")
        .ok_or_else(|| param("the mchid query parameter is missing"))?;
    if mchid != sim.config.mchid {
        return Err(param(format!(
            "mchid {mchid} is not the merchant that signed the request"
        )));
    }
    let mut state = sim.state();
    let trade = known_trade(&mut state.trades, no)?;
    trade.counters.queries += 1;
    let trade = trade.clone();
    drop(state);
    Ok(Answer::ok(transaction_json(sim, &trade)))
}

/// `POST /v3/pay/transactions/out-trade-no/{no}/close`.
pub(super) fn close(sim: &Shared, no: &str, body: &Value) -> Result<Answer, Refusal> {
    if text(body, "/mchid", "mchid")? != sim.config.mchid {
        return Err(param("mchid is not the merchant that signed the request"));
    }
    let mut state = sim.state();
    let trade = known_trade(&mut state.trades, no)?;
    trade.counters.closes += 1;
    trade.close().map(|()| Answer::no_content())
}
