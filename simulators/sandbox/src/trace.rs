//! Log context for the sandbox: every request, and every notification it sends, runs in a
//! span naming what the sandbox itself knows of the trade: the merchant's number for it
//! (`payment_no`) and the account; a notification's span also names the sandbox's own
//! `trade_id`. paygate's order ids are not a provider's to know; they reach the log through
//! paygate's own span around the adapter call.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::sign::ACCOUNT_HEADER;
use crate::trades;
use crate::Sandbox;

/// Largest request body the sandbox reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

impl Sandbox {
    /// A span for work on trade `payment_no`: its trade id and account once the trade exists.
    pub(crate) async fn trade_span(&self, payment_no: &str) -> tracing::Span {
        match trades::identity(&self.pool, payment_no).await {
            Ok(Some((trade_id, account_id))) => {
                tracing::info_span!("sandbox", payment_no, %trade_id, %account_id)
            }
            _ => tracing::info_span!("sandbox", payment_no),
        }
    }
}
/// The trade a request is about: the path segment after `trades/` or `checkout/`, or the
/// `payment_no` of a trade-creation body.
fn payment_no_of(path: &str, body: &[u8]) -> Option<String> {
    let mut segments = path.split('/');
    while let Some(s) = segments.next() {
        if s == "trades" || s == "checkout" {
            if let Some(no) = segments.next().filter(|n| !n.is_empty()) {
                return Some(no.to_owned());
            }
        }
    }
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get("payment_no")?.as_str().map(str::to_owned)
}

/// Middleware: runs the request in its trade's span and logs the answer. The span is built
/// from the request alone (path, body, account header), without reading the database: a
/// lookup per request only for the log doubled the sandbox's database work per call.
pub(super) async fn trace_request(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let account_id = parts
        .headers
        .get(ACCOUNT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = match payment_no_of(parts.uri.path(), &bytes) {
        Some(payment_no) => tracing::info_span!("sandbox", payment_no, account_id),
        None => tracing::info_span!("sandbox", account_id),
    };
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let req = Request::from_parts(parts, Body::from(bytes));
    async move {
        let response = next.run(req).await;
        tracing::info!(%method, %path, status = response.status().as_u16(), "sandbox answered");
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::payment_no_of;

    #[test]
    fn the_trade_comes_from_the_path_or_the_creation_body() {
        assert_eq!(
            payment_no_of("/api/trades/P1/close", b""),
            Some("P1".into())
        );
        assert_eq!(payment_no_of("/checkout/P2/pay", b""), Some("P2".into()));
        assert_eq!(
            payment_no_of("/api/trades", br#"{"payment_no":"P3"}"#),
            Some("P3".into())
        );
        assert_eq!(payment_no_of("/accounts", b""), None);
    }
}
