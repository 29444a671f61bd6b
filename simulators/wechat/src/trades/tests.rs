//! The trade and refund rules, without HTTP.

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
        payer_client_ip: None,
        code_url: Some("weixin://wxpay/bizpayurl?pr=abc".into()),
        prepay_id: None,
        h5_url: None,
        actions: Vec::new(),
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
fn a_repeated_order_with_the_same_parameters_gets_a_fresh_action() {
    for state in [NotPay, UserPaying] {
        assert_eq!(
            trade(state).repeat(&json!({"amount": 100})),
            Repeat::FreshAction
        );
    }
}

#[test]
fn a_repeated_order_with_other_parameters_is_201_out_trade_no_repeated() {
    assert_eq!(
        trade(NotPay).repeat(&json!({"amount": 200})),
        Repeat::Refused(Refusal::new(400, "INVALID_REQUEST", "201 商户订单号重复"))
    );
}

#[test]
fn each_action_handed_out_is_fresh_remembered_and_bound_to_the_order() {
    let mut t = trade(NotPay);
    let first = t.hand_out_action(0, 1.0);
    let second = t.hand_out_action(1_000, 1.0);
    assert_ne!(first, second);
    assert_eq!(second["code_url"], json!(t.code_url), "the latest, by name");
    assert_eq!(
        t.actions
            .iter()
            .map(|a| a.expires_at_ms)
            .collect::<Vec<_>>(),
        [7_200_000, 7_201_000]
    );
    let mut jsapi = trade(NotPay);
    jsapi.trade_type = TradeType::Jsapi;
    jsapi.openid = Some("oA".into());
    let answer = jsapi.hand_out_action(0, 1.0);
    let prepay_id = answer["prepay_id"].as_str().expect("prepay_id");
    assert_eq!(jsapi.actions[0].openid.as_deref(), Some("oA"));
    assert!(jsapi.check_action(prepay_id, Some("oA"), None, 0).is_ok());
    assert!(jsapi.check_action(prepay_id, Some("oB"), None, 0).is_err());
    let mut h5 = trade(NotPay);
    h5.trade_type = TradeType::Mweb;
    h5.payer_client_ip = Some("203.0.113.7".into());
    let h5_url = h5.hand_out_action(0, 1.0)["h5_url"].clone();
    assert_eq!(h5.actions[0].client_ip.as_deref(), Some("203.0.113.7"));
    let h5_url = h5_url.as_str().expect("h5_url");
    assert!(h5.check_action(h5_url, None, Some("10.0.0.1"), 0).is_err());
    assert!(
        h5.check_action(h5_url, None, None, 300_000).is_err(),
        "5 minutes"
    );
    assert!(
        t.check_action(h5_url, None, None, 0).is_err(),
        "another trade's"
    );
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
        outcome: RefundStatus::Success,
        create_time: String::new(),
        success_time: None,
    };
    assert!(!r.settle(4_999));
    assert!(r.settle(5_000));
    assert_eq!(r.status, RefundStatus::Success);
    assert_eq!(r.success_time.as_deref(), Some("1970-01-01T08:00:05+08:00"));
    assert!(!r.settle(6_000), "settles once");
    for outcome in [RefundStatus::Closed, RefundStatus::Abnormal] {
        let mut other = Refund {
            status: RefundStatus::Processing,
            outcome,
            success_time: None,
            ..r.clone()
        };
        assert!(other.settle(5_000));
        assert_eq!((other.status, other.success_time), (outcome, None));
    }
    assert_eq!(RefundStatus::Closed.event_type(), "REFUND.CLOSED");
    assert_eq!(json!(RefundStatus::Abnormal), json!("ABNORMAL"));
}

#[test]
fn a_closed_refund_gives_its_amount_back_to_the_trade() {
    let mut t = trade(Success);
    t.take_refund(60, 100).expect("refunds");
    t.take_refund(40, 100).expect("refunds");
    t.refund_closed(40);
    assert_eq!((t.refunded, t.trade_state), (60, TradeState::Refund));
    t.refund_closed(60);
    assert_eq!((t.refunded, t.trade_state), (0, Success));
    assert!(t.take_refund(100, 100).is_ok(), "refundable again");
}
