//! Reconciliation against Alipay's trade bill, end to end: paygate asks the real `alipay`
//! component for a day's bill; it calls `alipay.data.dataservice.bill.downloadurl.query`
//! (RSA2-signed, the answer verified), downloads the zip from the short-lived URL, reads the
//! GBK detail CSV between its `#` comment lines, and paygate matches the rows.

use paygate_e2e::Setting;
use reqwest::StatusCode;
use serde_json::json;

use super::{Alipay, KeyMode};
use crate::wechat::bills::{kinds, reconcile, today};

/// A day with a lost notification the status sync also missed, a partial refund, another
/// system's trade and an amount difference, reconciled twice: the first run settles the
/// hidden payment and records three differences, the second changes nothing.
async fn a_day_of_alipay_bills_is_reconciled_once_however_often_it_runs(setting: Setting) {
    let a = Alipay::start(
        setting,
        &[("PAYGATE_STATUS_SYNC_SCHEDULE", "60s")],
        KeyMode::Certificate,
    )
    .await;
    let day = today();
    let quiet = json!({"drop_notifications": true, "bills_ready_at_once": true});
    let heard = json!({"drop_notifications": false});

    // A: paid at Alipay; its notification is lost.
    a.knobs(quiet.clone()).await;
    let (lost_order, lost, qr) = a.open_precreate(1000, 600).await;
    a.buyer_pays(&lost, &qr).await;
    // B: paid and notified, then refunded in part. C: paid and notified at 3000 fen.
    a.knobs(heard.clone()).await;
    let (b_order, refunded, qr) = a.open_precreate(2000, 600).await;
    a.buyer_pays(&refunded, &qr).await;
    assert_eq!(
        a.app.wait_for_order_state(&b_order, "paid").await["state"],
        "paid"
    );
    let r = a
        .app
        .post(
            &format!("/v1/payments/{refunded}/refunds"),
            &a.app.merchant.api_key,
            &json!({"amount": 500}),
        )
        .await;
    let status = r.status();
    let refund: serde_json::Value = r.json().await.expect("refund");
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert_eq!(refund["state"], "succeeded", "{refund}");
    let refund_no = refund["refund_no"].as_str().expect("refund_no").to_owned();
    let (c_order, differs, qr) = a.open_precreate(3000, 600).await;
    a.buyer_pays(&differs, &qr).await;
    assert_eq!(
        a.app.wait_for_order_state(&c_order, "paid").await["state"],
        "paid"
    );
    assert_eq!(a.app.order(&lost_order).await["state"], "pending");

    a.knobs(json!({
        "bill_amounts": {differs.clone(): 2999},
        "bill_extra": [{"out_trade_no": "OTHERSYSTEM0002", "total": 888}],
    }))
    .await;
    let first = reconcile(&a.app, &day, "alipay").await;
    assert_eq!(first["state"], "reconciled", "{first}");
    assert_eq!(
        (&first["payment_rows"], &first["refund_rows"]),
        (&json!(4), &json!(1)),
        "{first}"
    );
    assert_eq!(
        first["matched"], 2,
        "B's payment and its refund {refund_no}: {first}"
    );
    assert_eq!(
        kinds(&first),
        vec![
            ("amount_differs".to_owned(), differs.clone()),
            ("paid_only_at_provider".to_owned(), lost.clone()),
            ("unknown_trade".to_owned(), "OTHERSYSTEM0002".to_owned()),
        ]
    );
    assert_eq!(a.app.order(&lost_order).await["state"], "paid");
    let totals = &first["totals"][0];
    assert_eq!(totals["collected"], 1000 + 2000 + 2999 + 888, "{totals}");
    assert_eq!(totals["refunded"], 500, "{totals}");

    let second = reconcile(&a.app, &day, "alipay").await;
    assert_eq!(second["matched"], 3, "{second}");
    assert_eq!(second["differences"], first["differences"]);
    assert_eq!(second["totals"], first["totals"]);
    assert_eq!(a.payment(&lost).await["state"], "paid");
    let (status, _) = a
        .app
        .admin_get(&format!("/admin/reconciliations/{day}"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

in_both_settings!(a_day_of_alipay_bills_is_reconciled_once_however_often_it_runs);
