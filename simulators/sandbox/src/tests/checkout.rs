//! The browser checkout page and its Pay button.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

use super::{harness, harness_with_grace, now_secs, trade_body, Harness};
use crate::checkout::{escape_html, format_utc, shown_deadline_ms};
use crate::money::format_amount;

async fn page(h: &Harness, payment_no: &str) -> (StatusCode, String) {
    let request = Request::get(format!("/sandbox/checkout/{payment_no}"))
        .body(Body::empty())
        .expect("request");
    let (status, headers, body) = h.call_raw(request).await;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    (status, body)
}

#[test]
fn amounts_show_the_currency_decimals() {
    assert_eq!(format_amount(1234, "CNY"), "CNY 12.34");
    assert_eq!(format_amount(5, "USD"), "USD 0.05");
    assert_eq!(format_amount(1200, "JPY"), "JPY 1200");
    assert_eq!(format_amount(1200, "KRW"), "KRW 1200");
    assert_eq!(format_amount(1234, "KWD"), "KWD 1.234");
    assert_eq!(format_utc(1_700_000_000_999), "2023-11-14 22:13:20 UTC");
    assert_eq!(
        escape_html(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}

#[tokio::test]
async fn checkout_page_escapes_the_subject() {
    let h = harness().await;
    let mut body = trade_body("P1", 1234);
    body["subject"] = json!(r#"<script>alert("pwned")</script> Tea & 'Cake'"#);
    h.create_trade(&body).await;
    let (status, html) = page(&h, "P1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains(
            "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; Tea &amp; &#39;Cake&#39;"
        ),
        "{html}"
    );
}

#[tokio::test]
async fn checkout_page_of_an_open_trade_shows_amount_deadline_and_a_pay_form() {
    let h = harness().await;
    h.open_trade("P1", 1234).await;
    let (status, html) = page(&h, "P1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("A cup of tea"));
    assert!(html.contains("CNY 12.34"));
    assert!(html.contains(" UTC"));
    assert!(html.contains("Awaiting payment"));
    assert!(
        html.contains(r#"<form method="post" action="/sandbox/checkout/P1/pay">"#),
        "{html}"
    );
}

#[tokio::test]
async fn pay_button_pays_notifies_and_redirects_with_303_to_a_page_showing_paid() {
    let h = harness().await;
    h.open_trade("P1", 1234).await;
    let request = Request::post("/sandbox/checkout/P1/pay")
        .body(Body::empty())
        .expect("request");
    let (status, headers, _) = h.call_raw(request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get(header::LOCATION).and_then(|v| v.to_str().ok()),
        Some("/sandbox/checkout/P1")
    );
    let (_, html) = page(&h, "P1").await;
    assert!(html.contains("Paid"));
    assert!(!html.contains("<form"));
    // The notification went out (to a port nobody listens on, so it is retried).
    let tasks = h.sandbox.notification_tasks();
    tasks.close();
    tokio::time::timeout(std::time::Duration::from_secs(10), tasks.wait())
        .await
        .expect("deliveries finished");
    assert_eq!(h.detail("P1").await["notifications"]["sent"], 4);

    // Pressing Pay again (a second tab) lands on the same page.
    let request = Request::post("/sandbox/checkout/P1/pay")
        .body(Body::empty())
        .expect("request");
    assert_eq!(h.call_raw(request).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn closed_trade_page_shows_closed_without_a_pay_form() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    h.let_expire("P1").await;
    let (_, html) = page(&h, "P1").await;
    assert!(html.contains("Closed"));
    assert!(!html.contains("<form"));
}

#[tokio::test]
async fn unknown_trade_checkout_is_a_404_html_page() {
    let h = harness().await;
    let (status, html) = page(&h, "NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Trade not found"));
    let request = Request::post("/sandbox/checkout/NOPE/pay")
        .body(Body::empty())
        .expect("request");
    assert_eq!(h.call_raw(request).await.0, StatusCode::NOT_FOUND);
}

#[test]
fn the_payer_is_shown_the_merchant_s_deadline_the_grace_before_the_hard_close() {
    let grace = std::time::Duration::from_secs(60);
    assert_eq!(
        shown_deadline_ms(1_700_000_060_000, grace),
        1_700_000_000_000
    );
    assert_eq!(
        shown_deadline_ms(1_700_000_060_000, std::time::Duration::ZERO),
        1_700_000_060_000,
        "a provider on its own shows its own deadline"
    );
}

#[tokio::test]
async fn checkout_page_shows_the_deadline_less_the_merchant_s_grace() {
    let h = harness_with_grace(std::time::Duration::from_secs(60)).await;
    let hard_close = now_secs() + 600;
    let mut body = trade_body("P1", 100);
    body["expires_at"] = json!(hard_close);
    h.create_trade(&body).await;
    let (_, html) = page(&h, "P1").await;
    let merchant_s = format_utc((hard_close - 60) * 1000);
    assert!(
        html.contains(&format!("<th>Pay before</th><td>{merchant_s}</td>")),
        "{merchant_s}: {html}"
    );
    assert!(!html.contains(&format_utc(hard_close * 1000)), "{html}");
    assert_eq!(
        h.detail("P1").await["expires_at"],
        hard_close,
        "the trade still closes at its own deadline"
    );
}

async fn pay_on_the_page(h: &Harness, payment_no: &str) {
    let request = Request::post(format!("/sandbox/checkout/{payment_no}/pay"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(h.call_raw(request).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn after_paying_the_page_sends_the_payer_back_to_the_return_url() {
    let h = harness().await;
    let mut body = trade_body("P1", 100);
    body["return_url"] = json!("https://shop.example.com/paid?order=A-1&x=\"y\"");
    let (status, created) = h.create_trade(&body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (_, open) = page(&h, "P1").await;
    assert!(
        !open.contains("shop.example.com"),
        "not before paying: {open}"
    );
    pay_on_the_page(&h, "P1").await;
    let (_, paid) = page(&h, "P1").await;
    let escaped = "https://shop.example.com/paid?order=A-1&amp;x=&quot;y&quot;";
    assert!(
        paid.contains(&format!(
            r#"<meta http-equiv="refresh" content="3;url={escaped}">"#
        )),
        "{paid}"
    );
    assert!(
        paid.contains(&format!(
            r#"<a class="back" href="{escaped}">Back to the merchant</a>"#
        )),
        "{paid}"
    );
}

#[tokio::test]
async fn without_a_return_url_the_paid_page_stays() {
    let h = harness().await;
    h.open_trade("P1", 100).await;
    pay_on_the_page(&h, "P1").await;
    let (_, paid) = page(&h, "P1").await;
    assert!(!paid.contains("http-equiv=\"refresh\""), "{paid}");
    assert!(paid.contains("You can close this page"), "{paid}");
}

#[tokio::test]
async fn a_return_url_that_is_not_an_absolute_http_url_is_refused() {
    let h = harness().await;
    for (i, bad) in [
        "javascript:alert(1)",
        "/relative",
        "ftp://x.example/",
        "https://",
    ]
    .iter()
    .enumerate()
    {
        let mut body = trade_body(&format!("P{i}"), 100);
        body["return_url"] = json!(bad);
        let (status, refused) = h.create_trade(&body).await;
        assert_eq!(
            (status, refused["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("INVALID_REQUEST")),
            "{bad}: {refused}"
        );
    }
    let mut body = trade_body("P9", 100);
    body["return_url"] = json!("http://127.0.0.1:3000/done");
    assert_eq!(h.create_trade(&body).await.0, StatusCode::OK);
    assert_eq!(
        h.detail("P9").await["return_url"],
        "http://127.0.0.1:3000/done"
    );
}
