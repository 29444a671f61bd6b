//! The trade bill over real HTTP: where a day's bill is (a signed answer), the file itself
//! (fetched with a signed request, served unsigned, its SHA1 the announced hash, gzipped when
//! asked), the days that have none, and the knobs that make a bill differ from the trades.

use std::io::Read;

use serde_json::json;
use sha1::{Digest, Sha1};

use super::super::PayOptions;
use super::support::Merchant;

const NOWHERE: &str = "http://127.0.0.1:1/notify";

/// Today in Beijing time, as a bill date.
fn today() -> String {
    let beijing = time::UtcOffset::from_hms(8, 0, 0).expect("offset");
    let t = time::OffsetDateTime::now_utc().to_offset(beijing);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Fetches the bill at `download_url` with a signed GET: the raw status and bytes, and
/// whether the answer carried a signature.
async fn download(m: &Merchant, download_url: &str) -> (u16, Vec<u8>, bool) {
    let path = download_url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .expect("a path");
    let authorization = m.authorization(&m.key, "GET", &path, "");
    let raw = m.send_raw("GET", &path, "", Some(authorization)).await;
    let signed = raw
        .headers
        .keys()
        .any(|k| k.as_str().starts_with("wechatpay-"));
    (raw.status, raw.body, signed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A paid trade of 10.00 yuan, refunded 3.00.
async fn paid_and_refunded(m: &Merchant, no: &str) {
    m.create("native", m.order(no, 1000, 600, NOWHERE)).await;
    m.sim.pay(no, PayOptions::default()).await.expect("paid");
    assert_eq!(
        m.refund(no, &format!("{no}RF"), (300, 1000), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_day_s_bill_lists_its_trades_and_refunds_with_the_hash_it_announced() {
    let m = Merchant::start().await;
    paid_and_refunded(&m, "B100001").await;
    let path = format!("/v3/bill/tradebill?bill_date={}&bill_type=ALL", today());
    assert_eq!(
        m.call("GET", &path, None).await.code(),
        (400, "PARAM_ERROR"),
        "today has not ended"
    );
    m.knobs(json!({"bills_ready_at_once": true})).await;
    let answer = m.call("GET", &path, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.signer.is_some(), "the answer is signed");
    assert_eq!(answer.body["hash_type"], "SHA1");
    let url = answer.body["download_url"].as_str().expect("download_url");
    let (status, bytes, signed) = download(&m, url).await;
    assert_eq!(status, 200);
    assert!(
        !signed,
        "the file is served unsigned: its hash is checked instead"
    );
    assert_eq!(
        hex(&Sha1::digest(&bytes)),
        answer.body["hash_value"].as_str().expect("hash")
    );
    let bill = String::from_utf8(bytes).expect("UTF-8");
    let lines: Vec<&str> = bill.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "header, payment, refund, summary header, summary: {bill}"
    );
    assert!(lines[0].starts_with("交易时间,公众账号ID,商户号"));
    assert!(lines[1..3]
        .iter()
        .all(|l| l.split(',').all(|f| f.starts_with('`'))));
    let payment = lines
        .iter()
        .find(|l| l.contains("`SUCCESS,`OTHERS"))
        .expect("the payment row");
    assert!(
        payment.contains("`B100001,") && payment.contains("`10.00,") && payment.contains("`0.06,"),
        "{payment}"
    );
    let refund = lines
        .iter()
        .find(|l| l.contains("`REFUND,"))
        .expect("the refund row");
    assert!(
        refund.contains("`B100001RF,") && refund.contains("`3.00,") && refund.contains("`-0.02,"),
        "{refund}"
    );
    assert_eq!(lines[4], "`2,`10.00,`3.00,`0.00,`0.04,`10.00,`3.00");

    // Only refunds, and gzipped: the hash is of the bill before gzip.
    let answer = m
        .call(
            "GET",
            &format!(
                "/v3/bill/tradebill?bill_date={}&bill_type=REFUND&tar_type=GZIP",
                today()
            ),
            None,
        )
        .await;
    let (_, gz, _) = download(&m, answer.body["download_url"].as_str().expect("url")).await;
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut plain)
        .expect("gzip");
    assert_eq!(
        hex(&Sha1::digest(plain.as_bytes())),
        answer.body["hash_value"].as_str().expect("hash")
    );
    assert_eq!(plain.lines().count(), 4, "{plain}");
}

#[tokio::test]
async fn days_without_a_bill_and_bad_requests_are_refused_in_signed_answers() {
    let m = Merchant::start().await;
    m.knobs(json!({"bills_ready_at_once": true})).await;
    for (query, code) in [
        ("bill_date=2020-01-01", "NO_STATEMENT_EXIST"),
        ("bill_date=2999-01-01", "PARAM_ERROR"),
        ("bill_date=20200101", "PARAM_ERROR"),
        ("bill_date=2020-01-01&bill_type=DAILY", "PARAM_ERROR"),
        ("bill_date=2020-01-01&tar_type=ZIP", "PARAM_ERROR"),
        ("bill_type=ALL", "PARAM_ERROR"),
    ] {
        let answer = m
            .call("GET", &format!("/v3/bill/tradebill?{query}"), None)
            .await;
        assert_eq!(answer.code(), (400, code), "{query}");
        assert!(answer.signer.is_some(), "{query}: signed");
    }
    let answer = m
        .call("GET", "/v3/billdownload/file?token=unknown", None)
        .await;
    assert_eq!(answer.code(), (400, "INVALID_REQUEST"));
    // The file is fetched with a signed request like any other.
    let raw = m
        .send_raw("GET", "/v3/billdownload/file?token=unknown", "", None)
        .await;
    assert_eq!(raw.status, 401);
}

#[tokio::test]
async fn the_bill_knobs_leave_out_a_trade_add_another_system_s_and_change_an_amount() {
    let m = Merchant::start().await;
    for no in ["K100001", "K100002"] {
        m.create("native", m.order(no, 500, 600, NOWHERE)).await;
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
            "GET",
            &format!("/v3/bill/tradebill?bill_date={}&bill_type=SUCCESS", today()),
            None,
        )
        .await;
    let (_, bytes, _) = download(&m, answer.body["download_url"].as_str().expect("url")).await;
    let bill = String::from_utf8(bytes).expect("UTF-8");
    assert!(!bill.contains("`K100001,"), "{bill}");
    assert!(
        bill.contains("`K100002,") && bill.contains("`4.99,"),
        "{bill}"
    );
    assert!(
        bill.contains("`NOT-OURS-1,") && bill.contains("`12.00,"),
        "{bill}"
    );
}
