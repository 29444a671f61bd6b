//! The trade bill over real HTTP: `alipay.data.dataservice.bill.downloadurl.query` (a signed
//! answer), the zip its address serves (GBK CSV files), the days that have none, and the
//! knobs that make a bill differ from the trades.

use std::io::Read;

use serde_json::json;

use super::super::PayOptions;
use super::support::{Merchant, NOWHERE};

fn today() -> String {
    let beijing = time::UtcOffset::from_hms(8, 0, 0).expect("offset");
    let t = time::OffsetDateTime::now_utc().to_offset(beijing);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The detail CSV of the zip at `url`, decoded from GBK.
async fn detail(m: &Merchant, url: &str) -> String {
    let r = m.http.get(url).send().await.expect("download");
    assert_eq!(r.status(), 200);
    let zip = r.bytes().await.expect("bytes").to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let name = archive
        .file_names()
        .find(|n| n.ends_with("_业务明细.csv"))
        .expect("the detail file")
        .to_owned();
    let mut bytes = Vec::new();
    archive
        .by_name(&name)
        .expect("detail")
        .read_to_end(&mut bytes)
        .expect("read");
    let (text, _, errors) = encoding_rs::GBK.decode(&bytes);
    assert!(!errors, "GBK");
    text.into_owned()
}

#[tokio::test]
async fn a_day_s_bill_is_a_zip_of_gbk_csv_listing_its_trades_and_refunds() {
    let m = Merchant::start().await;
    m.precreate("A100001", "10.00", 600, NOWHERE).await;
    m.sim
        .pay("A100001", PayOptions::default())
        .await
        .expect("paid");
    assert_eq!(
        m.refund("A100001", "3.00", Some("RQ1")).await.code(),
        ("10000", "")
    );
    let biz = json!({"bill_type": "trade", "bill_date": today()});
    let before = m
        .call(
            "alipay.data.dataservice.bill.downloadurl.query",
            biz.clone(),
        )
        .await;
    assert_eq!(
        before.code(),
        ("40004", "isp.bill_not_exist"),
        "today has not ended"
    );
    let (status, _) = m.knobs(json!({"bills_ready_at_once": true})).await;
    assert_eq!(status, 200);
    let answer = m
        .call("alipay.data.dataservice.bill.downloadurl.query", biz)
        .await;
    assert_eq!(answer.code(), ("10000", ""), "{}", answer.raw);
    assert_eq!(answer.verified, Some(true), "signed");
    let url = answer.inner["bill_download_url"].as_str().expect("url");
    let text = detail(&m, url).await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with('#'), "{text}");
    let header = lines
        .iter()
        .position(|l| l.starts_with("支付宝交易号,商户订单号"))
        .expect("header");
    let rows: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .copied()
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].contains(",A100001,交易,")
            && rows[0].contains(",10.00,10.00,")
            && rows[0].contains(",-0.06,"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains(",A100001,退款,")
            && rows[1].contains(",-3.00,-3.00,")
            && rows[1].contains(",RQ1,0.02,"),
        "{}",
        rows[1]
    );
    assert!(text.contains("#交易合计：1笔，商家实收：10.00元"));
    assert!(text.contains("#退款合计：1笔，商家实收：-3.00元"));
}

#[tokio::test]
async fn a_day_without_trades_a_bad_request_and_an_unknown_address_are_refused() {
    let m = Merchant::start().await;
    m.knobs(json!({"bills_ready_at_once": true})).await;
    for (biz, sub_code) in [
        (
            json!({"bill_type": "trade", "bill_date": "2020-01-01"}),
            "isp.bill_not_exist",
        ),
        (
            json!({"bill_type": "trade", "bill_date": "2999-01-01"}),
            "isp.bill_not_exist",
        ),
        (
            json!({"bill_type": "trade", "bill_date": "20200101"}),
            "isv.invalid-parameter",
        ),
        (
            json!({"bill_type": "signcustomer", "bill_date": "2020-01-01"}),
            "isv.invalid-parameter",
        ),
    ] {
        let answer = m
            .call(
                "alipay.data.dataservice.bill.downloadurl.query",
                biz.clone(),
            )
            .await;
        assert_eq!(answer.code(), ("40004", sub_code), "{biz}");
        assert_eq!(answer.verified, Some(true), "{biz}: signed");
    }
    let r = m
        .http
        .get(format!(
            "{}/downloadBillFile.resource?token=unknown",
            m.sim.base_url()
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_bill_knobs_leave_out_a_trade_add_another_system_s_and_change_an_amount() {
    let m = Merchant::start().await;
    for no in ["K100001", "K100002"] {
        m.precreate(no, "5.00", 600, NOWHERE).await;
        m.sim.pay(no, PayOptions::default()).await.expect("paid");
    }
    m.knobs(json!({
        "bills_ready_at_once": true,
        "bill_omit": ["K100001"],
        "bill_extra": [{"out_trade_no": "NOT-OURS-1", "total": 1200}],
        "bill_amounts": {"K100002": 499}
    }))
    .await;
    let answer = m
        .call(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": today()}),
        )
        .await;
    let text = detail(&m, answer.inner["bill_download_url"].as_str().expect("url")).await;
    assert!(!text.contains(",K100001,"), "{text}");
    assert!(
        text.contains(",K100002,交易,") && text.contains(",4.99,4.99,"),
        "{text}"
    );
    assert!(
        text.contains(",NOT-OURS-1,交易,") && text.contains(",12.00,12.00,"),
        "{text}"
    );
}
