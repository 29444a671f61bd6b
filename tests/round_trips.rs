//! Database round trips per use case, counted: every statement paygate sends to
//! PostgreSQL is logged by sqlx at TRACE under `sqlx::query`, inside the `http` span of
//! the request that sent it; a subscriber counts them per request path. A change that adds
//! a round trip to creating and paying an order, or to a notification before its reply,
//! fails here.
//!
//! Counted: every statement, except a transaction's BEGIN and COMMIT. Measured with warm
//! caches (the merchant's API key and provider configuration are read once per 2 s), as
//! under load.

use std::sync::{Arc, Mutex};

use paygate_e2e::{Setting, TestApp};
use reqwest::StatusCode;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The statements seen: (request path, statement summary).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

struct Counter(Seen);

/// The request path an `http` span was opened with.
struct RequestPath(String);

#[derive(Default)]
struct Fields {
    path: Option<String>,
    summary: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "path" => self.path = Some(format!("{value:?}")),
            "summary" => self.summary = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "path" => self.path = Some(value.to_owned()),
            "summary" => self.summary = Some(value.to_owned()),
            _ => {}
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Counter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "http" {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(path), Some(span)) = (f.path, ctx.span(id)) {
            span.extensions_mut().insert(RequestPath(path));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let path = scope
            .from_root()
            .find_map(|s| s.extensions().get::<RequestPath>().map(|p| p.0.clone()));
        let mut f = Fields::default();
        event.record(&mut f);
        if let (Some(path), Some(summary)) = (path, f.summary) {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((path, summary));
        }
    }
}

/// Statements sent for requests whose path starts with `prefix`, transaction control left
/// out.
fn counted(seen: &Seen, prefix: &str) -> Vec<String> {
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(path, _)| path.starts_with(prefix))
        .map(|(_, s)| s.clone())
        .filter(|s| {
            let s = s.trim_start().to_ascii_uppercase();
            !(s.starts_with("BEGIN") || s.starts_with("COMMIT") || s.starts_with("ROLLBACK"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_pay_take_four_round_trips_and_a_notification_three() {
    let seen: Seen = Arc::default();
    let subscriber = tracing_subscriber::registry()
        .with(Counter(seen.clone()))
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE)
                .with_default(tracing::Level::INFO),
        );
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let app = TestApp::spawn_in(Setting::Production, &[]).await;
    // Warm the caches (API key, provider configuration) with a first flow.
    let first = app.create_order(100, 600).await;
    let first_id = first["id"].as_str().expect("id");
    let (status, _) = app.pay(&app.merchant.api_key, &[first_id], "qr").await;
    assert_eq!(status, StatusCode::CREATED);

    seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let order = app.create_order(100, 600).await;
    let id = order["id"].as_str().expect("id");
    let (status, payment) = app.pay(&app.merchant.api_key, &[id], "qr").await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let create = counted(&seen, "/v1/orders");
    let pay = counted(&seen, "/v1/payments");
    assert!(
        create.len() + pay.len() <= 4,
        "create: {create:?}\npay: {pay:?}"
    );

    let payment_no = payment["payment_no"].as_str().expect("payment_no");
    seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
    assert_eq!(
        app.sandbox_pay(payment_no, "").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.wait_for_order_state(id, "paid").await["state"], "paid");
    let notify = counted(&seen, "/v1/notify/");
    assert!(!notify.is_empty(), "the notification was not counted");
    assert!(notify.len() <= 3, "notification: {notify:?}");
}
