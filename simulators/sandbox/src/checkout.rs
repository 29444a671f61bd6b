//! The browser checkout: `GET /checkout/{payment_no}` renders a self-contained HTML page
//! (inline CSS, no JavaScript) and its Pay button's form posts to `/checkout/{payment_no}/pay`.
//! Every string that came from a merchant is HTML-escaped.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::SandboxError;
use crate::money::format_amount;
use crate::trades::{self, Trade, TradeState};
use crate::Sandbox;

/// `GET /checkout/{payment_no}`.
pub async fn page(State(sandbox): State<Sandbox>, Path(payment_no): Path<String>) -> Response {
    match trades::load(&sandbox.pool, &payment_no).await {
        Ok(Some(trade)) => Html(render(
            &sandbox.base_path,
            &trade,
            shown_deadline_ms(trade.expires_at_ms, sandbox.deadline_grace),
        ))
        .into_response(),
        Ok(None) => not_found(&payment_no),
        Err(e) => failure(e),
    }
}

/// `POST /checkout/{payment_no}/pay`: pays and notifies, then 303 back to the page. A trade
/// that was paid or closed meanwhile also goes back to the page, which shows its state.
pub async fn pay(State(sandbox): State<Sandbox>, Path(payment_no): Path<String>) -> Response {
    match trades::pay(&sandbox.pool, &payment_no, false).await {
        Ok(trade) => sandbox.spawn_notification(trade.payment_no),
        Err(SandboxError::TradePaid | SandboxError::TradeClosed) => {}
        Err(SandboxError::TradeNotFound) => return not_found(&payment_no),
        Err(e) => return failure(e),
    }
    // The payment_no of an existing trade is [0-9A-Za-z_-]: safe in a Location as it is.
    Redirect::to(&format!("{}/checkout/{payment_no}", sandbox.base_path)).into_response()
}

/// The deadline the payer is shown: the trade's hard close less the grace the merchant's
/// gateway added to its own deadline, so the payer and the merchant see the same instant.
pub fn shown_deadline_ms(expires_at_ms: i64, grace: std::time::Duration) -> i64 {
    expires_at_ms.saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX))
}

/// `2025-01-02 03:04:05 UTC`.
pub fn format_utc(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms since the Unix epoch"))
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of `trade`, showing `pay_before_ms` as its deadline. A paid trade with a
/// `return_url` links back to it and sends the browser there after a few seconds (as
/// Alipay's return_url and WeChat's H5 redirect_url do); the URL was checked to be an
/// absolute http(s) URL when the trade was created.
fn render(base_path: &str, trade: &Trade, pay_before_ms: i64) -> String {
    let (label, class) = match trade.state {
        TradeState::Open => ("Awaiting payment", "open"),
        TradeState::Paid => ("Paid", "paid"),
        TradeState::Closed => ("Closed", "closed"),
        TradeState::Refunded => ("Paid, then refunded", "paid"),
    };
    let action = match trade.state {
        TradeState::Open => format!(
            r#"<form method="post" action="{}/checkout/{}/pay"><button type="submit">Pay {}</button></form>"#,
            escape_html(base_path),
            escape_html(&trade.payment_no),
            escape_html(&format_amount(trade.amount, &trade.currency)),
        ),
        TradeState::Paid | TradeState::Refunded => match &trade.return_url {
            Some(url) => format!(
                r#"<p class="note">Payment received.</p><p><a class="back" href="{}">Back to the merchant</a></p>"#,
                escape_html(url)
            ),
            None => r#"<p class="note">Payment received. You can close this page.</p>"#.to_owned(),
        },
        TradeState::Closed => {
            r#"<p class="note">This trade is closed and can no longer be paid.</p>"#.to_owned()
        }
    };
    let mut rows = vec![
        ("Amount", format_amount(trade.amount, &trade.currency)),
        ("Pay before", format_utc(pay_before_ms)),
        ("Payment no.", trade.payment_no.clone()),
        ("Trade id", trade.trade_id.clone()),
    ];
    if let Some(paid_at) = trade.paid_at_ms {
        rows.push(("Paid at", format_utc(paid_at)));
    }
    if trade.refunded_amount > 0 {
        rows.push((
            "Refunded",
            format_amount(trade.refunded_amount, &trade.currency),
        ));
    }
    let rows: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{}</td></tr>", escape_html(v)))
        .collect();
    let body = format!(
        r#"<p class="brand">paygate sandbox</p>
<h1>{subject}</h1>
<p class="state {class}">{label}</p>
<table>{rows}</table>
{action}
<p class="fine">A test provider: no real money moves.</p>"#,
        subject = escape_html(&trade.subject),
    );
    let head = match (&trade.return_url, trade.state) {
        (Some(url), TradeState::Paid | TradeState::Refunded) => format!(
            r#"<meta http-equiv="refresh" content="{RETURN_AFTER_SECONDS};url={}">"#,
            escape_html(url)
        ),
        _ => String::new(),
    };
    document(&format!("{label} - paygate sandbox"), &head, &body)
}

/// How long the success page shows before it sends the payer to the `return_url`.
const RETURN_AFTER_SECONDS: u32 = 3;

/// A whole page; `head` is extra markup for the `<head>` (already escaped).
fn document(title: &str, head: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>{head}
<style>
body{{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f3f4f6;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827}}
main{{background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.08);padding:32px;width:min(420px,90vw)}}
.brand{{margin:0 0 8px;font-size:13px;letter-spacing:.08em;text-transform:uppercase;color:#6b7280}}
h1{{margin:0 0 12px;font-size:22px;overflow-wrap:anywhere}}
.state{{display:inline-block;margin:0 0 20px;padding:4px 10px;border-radius:999px;font-size:14px;font-weight:600}}
.open{{background:#fef3c7;color:#92400e}}.paid{{background:#d1fae5;color:#065f46}}.closed{{background:#e5e7eb;color:#374151}}
table{{width:100%;border-collapse:collapse;margin-bottom:24px;font-size:15px}}
th{{text-align:left;font-weight:500;color:#6b7280;padding:6px 12px 6px 0;white-space:nowrap}}
td{{text-align:right;padding:6px 0;overflow-wrap:anywhere}}
button{{width:100%;padding:12px;border:0;border-radius:8px;background:#2563eb;color:#fff;font-size:16px;font-weight:600;cursor:pointer}}
button:hover{{background:#1d4ed8}}
.note{{margin:0;color:#374151}}.back{{display:block;margin-top:16px;color:#2563eb;font-weight:600}}.fine{{margin:24px 0 0;font-size:12px;color:#9ca3af}}
</style></head>
<body><main>
{body}
</main></body></html>
"#,
        title = escape_html(title),
    )
}

fn not_found(payment_no: &str) -> Response {
    let body = format!(
        r#"<p class="brand">paygate sandbox</p><h1>Trade not found</h1><p class="note">No trade with payment no. {}.</p>"#,
        escape_html(payment_no)
    );
    (
        StatusCode::NOT_FOUND,
        Html(document("Trade not found - paygate sandbox", "", &body)),
    )
        .into_response()
}

fn failure(error: SandboxError) -> Response {
    tracing::error!(error = %error, "sandbox checkout failed");
    let body = r#"<p class="brand">paygate sandbox</p><h1>Something went wrong</h1><p class="note">Please try again.</p>"#;
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(document("Error - paygate sandbox", "", body)),
    )
        .into_response()
}
