//! The browser checkout page and its Pay button.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

use super::{harness, trade_body, Harness};
use crate::checkout::{escape_html, format_utc};
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
