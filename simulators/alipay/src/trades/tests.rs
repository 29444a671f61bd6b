//! The trade rules, without HTTP.

use super::*;

const NOW: i64 = 1_795_401_296;

fn precreated() -> Trade {
    let mut t = Trade::new("P1", Product::Precreate, "Green tea", 1234);
    t.expires_at = Some(NOW + 600);
    t.time_expire = Some(protocol::beijing_time(NOW + 600));
    t
}

fn paid() -> Trade {
    let mut t = precreated();
    t.come_to_exist(NOW).expect("scanned");
    t.pay(NOW + 1).expect("paid");
    t
}

fn sub_code<T: std::fmt::Debug>(r: Result<T, Refusal>) -> String {
    r.expect_err("refused").sub_code
}

#[test]
fn trade_statuses_are_spelled_as_alipay_spells_them() {
    for s in [
        TradeStatus::WaitBuyerPay,
        TradeStatus::TradeClosed,
        TradeStatus::TradeSuccess,
        TradeStatus::TradeFinished,
    ] {
        assert_eq!(json!(s), json!(s.as_str()));
    }
    assert_eq!(Product::PagePay.product_code(), "FAST_INSTANT_TRADE_PAY");
    assert_eq!(Product::WapPay.product_code(), "QUICK_WAP_WAY");
}

#[test]
fn a_precreate_trade_does_not_exist_until_the_buyer_scans() {
    let mut t = precreated();
    assert!(!t.exists);
    assert_eq!(sub_code(t.close(NOW)), "ACQ.TRADE_NOT_EXIST");
    assert_eq!(
        sub_code(t.refund("R1", 1, None, NOW)),
        "ACQ.TRADE_NOT_EXIST"
    );
    assert!(t.pay(NOW).expect_err("not scanned").contains("not scanned"));
    t.come_to_exist(NOW).expect("scanned");
    assert!(t.exists);
    let trade_no = t.trade_no.clone().expect("trade_no");
    assert_eq!(trade_no.len(), 28);
    assert!(t
        .buyer_user_id
        .as_deref()
        .is_some_and(|id| id.starts_with("2088") && id.len() == 16));
    t.come_to_exist(NOW + 5).expect("scanning again");
    assert_eq!(t.trade_no, Some(trade_no), "a second scan changes nothing");
}

#[test]
fn an_unpaid_trade_closes_at_time_expire_and_only_an_existing_one_is_notified() {
    let mut unscanned = precreated();
    assert!(!unscanned.expire(NOW + 599));
    assert!(
        !unscanned.expire(NOW + 600),
        "a pre-order nobody scanned is not notified"
    );
    assert_eq!(unscanned.trade_status, TradeStatus::TradeClosed);
    let mut scanned = precreated();
    scanned.come_to_exist(NOW).expect("scanned");
    assert!(scanned.expire(NOW + 600));
    assert_eq!(scanned.closed_by, Some(ClosedBy::TimeExpire));
    assert!(!scanned.expire(NOW + 700), "closed once");
    assert!(scanned
        .pay(NOW + 700)
        .expect_err("too late")
        .contains("expired"));
    let mut no_deadline = Trade::new("P2", Product::PagePay, "t", 1);
    assert!(!no_deadline.expire(i64::MAX));
}

#[test]
fn a_repeated_order_is_allowed_only_unpaid_with_the_same_amount_and_subject() {
    let t = precreated();
    assert_eq!(t.repeat(1234, "Green tea"), Ok(()));
    assert_eq!(
        sub_code(t.repeat(1235, "Green tea")),
        "ACQ.CONTEXT_INCONSISTENT"
    );
    assert_eq!(
        sub_code(t.repeat(1234, "Black tea")),
        "ACQ.CONTEXT_INCONSISTENT"
    );
    assert_eq!(
        sub_code(paid().repeat(1234, "Green tea")),
        "ACQ.TRADE_HAS_SUCCESS"
    );
    let mut closed = paid();
    closed.refund("R1", 1234, None, NOW + 2).expect("refunded");
    assert_eq!(
        sub_code(closed.repeat(1234, "Green tea")),
        "ACQ.TRADE_HAS_CLOSE"
    );
}

#[test]
fn every_qr_code_is_fresh_lives_two_hours_and_is_known_only_to_its_trade() {
    let mut t = precreated();
    let first = t.hand_out_qr(1_000, 1.0);
    let second = t.hand_out_qr(2_000, 1.0);
    assert_ne!(first, second);
    assert!(first.starts_with("https://qr.alipay.com/bax"), "{first}");
    assert_eq!(t.qr_codes[0].expires_at_ms, 7_201_000);
    assert!(t.check_qr(&first, 7_200_999).is_ok());
    assert!(t
        .check_qr(&first, 7_201_000)
        .expect_err("expired")
        .contains("expired"));
    assert!(t
        .check_qr("https://qr.alipay.com/baxnothing", 0)
        .expect_err("unknown")
        .contains("not handed out"));
    assert_eq!(qr_expires_at_ms(0, 7200.0), 1_000, "time-scalable");
    assert_eq!(qr_expires_at_ms(0, 0.0), i64::MAX);
}

#[test]
fn close_closes_a_waiting_trade_and_refuses_any_other() {
    let mut t = precreated();
    t.come_to_exist(NOW).expect("scanned");
    t.close(NOW).expect("closed");
    assert_eq!(
        (t.trade_status, t.closed_by),
        (TradeStatus::TradeClosed, Some(ClosedBy::Merchant))
    );
    assert_eq!(
        sub_code(t.close(NOW)),
        "ACQ.TRADE_STATUS_ERROR",
        "closing twice"
    );
    assert_eq!(sub_code(paid().close(NOW)), "ACQ.TRADE_STATUS_ERROR");
    assert!(t
        .pay(NOW)
        .expect_err("closed")
        .contains("closed by the merchant"));
}

#[test]
fn partial_refunds_add_up_and_a_full_refund_closes_the_trade() {
    let mut t = paid();
    let RefundDone::New(first) = t
        .refund("R1", 234, Some("damaged".into()), NOW + 2)
        .expect("ok")
    else {
        panic!("a new refund")
    };
    assert_eq!(
        (first.refund_amount.as_str(), first.refund_fee.as_str()),
        ("2.34", "2.34")
    );
    assert_eq!(
        t.trade_status,
        TradeStatus::TradeSuccess,
        "partly refunded, still a success"
    );
    let RefundDone::New(second) = t.refund("R2", 1000, None, NOW + 3).expect("ok") else {
        panic!("a new refund")
    };
    assert_eq!(second.refund_fee, "12.34");
    assert_eq!(
        (t.trade_status, t.closed_by),
        (TradeStatus::TradeClosed, Some(ClosedBy::FullRefund))
    );
    assert!(t.gmt_close.is_some());
}

#[test]
fn the_same_out_request_no_is_the_same_refund_never_a_second_one() {
    let mut t = paid();
    t.refund("R1", 100, None, NOW + 2).expect("refunded");
    assert!(
        matches!(t.refund("R1", 100, None, NOW + 3), Ok(RefundDone::Repeat(r)) if r.refund_fen == 100)
    );
    assert_eq!(t.refunded_fen, 100);
    assert_eq!(
        sub_code(t.refund("R1", 200, None, NOW + 3)),
        "ACQ.DISCORDANT_REPEAT_REQUEST"
    );
}

#[test]
fn refunds_beyond_what_is_left_or_of_unpaid_or_finished_trades_are_refused() {
    let mut t = paid();
    assert_eq!(
        sub_code(t.refund("R1", 1235, None, NOW)),
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    );
    t.refund("R2", 1000, None, NOW).expect("refunded");
    assert_eq!(
        sub_code(t.refund("R3", 235, None, NOW)),
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    );
    assert_eq!(
        sub_code(t.refund("R4", 0, None, NOW)),
        "ACQ.INVALID_PARAMETER"
    );
    let mut waiting = precreated();
    waiting.come_to_exist(NOW).expect("scanned");
    assert_eq!(
        sub_code(waiting.refund("R1", 1, None, NOW)),
        "ACQ.TRADE_STATUS_ERROR"
    );
    let mut finished = paid();
    finished.finish().expect("finished");
    assert_eq!(
        sub_code(finished.refund("R1", 1, None, NOW)),
        "ACQ.TRADE_HAS_FINISHED"
    );
}

#[test]
fn a_paid_trade_finishes_when_its_refund_period_is_over() {
    let mut t = paid();
    assert!(!t.refund_period_over(NOW + 100, 100));
    assert!(t.refund_period_over(NOW + 101, 100));
    t.finish().expect("finished");
    assert_eq!(t.trade_status, TradeStatus::TradeFinished);
    assert!(!t.refund_period_over(NOW + 1000, 100), "finished once");
    assert!(t.finish().is_err());
    assert!(precreated()
        .finish()
        .expect_err("unpaid")
        .contains("WAIT_BUYER_PAY"));
}
