//! The console's pages, each read through the use cases the admin API uses and shown with
//! the admin API's own views, so that a page and `GET /admin/...` never disagree. The
//! actions a page offers are `/admin` requests its buttons make (htmx, with the session's
//! CSRF token); a button shows only when the operator's role allows its action.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Value;
use serde::{Deserialize, Serialize};

use super::assets::render;
use super::chart::{bars, Chart};
use super::session::Operator;
use crate::api::adapters::AdapterVersionView;
use crate::api::error::ApiError;
use crate::api::merchants::{MerchantListView, MerchantView};
use crate::api::operators::AuditPageView;
use crate::api::views::{
    rfc3339, EventDetailView, FlagResolutionView, FlagsView, OrderView, PaymentView,
    ProviderConfigView, RefundView,
};
use crate::api::AppState;
use crate::domain::merchant::PageRequest;
use crate::domain::operator::Action;
use crate::domain::DeliveryState;
use crate::service::activity::Activity;
use crate::service::story::{Found, Story};
use crate::service::ErrorCode;

/// The chart size, in SVG units: one 5-unit bar per minute of the hour.
const CHART_WIDTH: u32 = 300;
const CHART_HEIGHT: u32 = 48;

/// What every page's frame needs: who is signed in, what they may do, the CSRF token.
#[derive(Serialize)]
struct Frame<'a> {
    operator: &'a str,
    role: String,
    csrf: &'a str,
    /// The page's name, for the menu.
    page: &'static str,
    may_operate: bool,
    may_change_adapters: bool,
}

fn frame<'a>(op: &'a Operator, page: &'static str) -> Frame<'a> {
    Frame {
        operator: &op.caller.name,
        role: op.caller.role.to_string(),
        csrf: &op.csrf,
        page,
        may_operate: op.caller.may(Action::ActOnWebhook) && op.caller.may(Action::ActOnFlag),
        may_change_adapters: op.caller.may(Action::ChangeAdapter),
    }
}

fn page(name: &str, frame: Frame<'_>, body: impl Serialize) -> Response {
    render(
        name,
        minijinja::context! { frame => Value::from_serialize(&frame), data => Value::from_serialize(&body) },
    )
}

/// An error while a page was read: shown as a page (the status, the code and the message
/// the API would answer), not as the API's JSON.
pub struct PageError(ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0)
    }
}

/// `e` as a console page.
pub fn error_page(e: &ApiError) -> Response {
    let mut page = render(
        "error.html",
        minijinja::context! { status => e.status.as_u16(), code => e.code.as_str(), message => &e.message },
    );
    *page.status_mut() = e.status;
    page
}

/// A query string that does not parse (a repeated or malformed parameter): 400.
fn bad_query(e: &QueryRejection) -> PageError {
    PageError(ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidQuery,
        format!("the query string is refused: {}", e.body_text()),
    ))
}

/// Text from a query string, as it may be shown back: without control characters.
fn shown(text: &str) -> String {
    text.trim().chars().filter(|c| !c.is_control()).collect()
}

/// What waits for an operator, counted for the overview.
#[derive(Serialize)]
struct WaitingView {
    flagged_payments: i64,
    failed_refunds: i64,
    failed_webhooks: i64,
    bill_differences: i64,
}

/// The overview's numbers and charts.
#[derive(Serialize)]
struct OverviewView {
    since: String,
    orders_by_state: Vec<(String, i64)>,
    payments_by_state: Vec<(String, i64)>,
    failed_calls: Vec<(String, i64)>,
    orders_chart: Chart,
    paid_chart: Chart,
    failed_chart: Chart,
    queues: Vec<QueueView>,
    waiting: WaitingView,
}

#[derive(Serialize)]
struct QueueView {
    name: &'static str,
    ready: Option<u64>,
    scheduled: Option<u64>,
    in_flight: Option<u64>,
    /// Seconds, with one decimal.
    lag_seconds: Option<f64>,
    error: Option<String>,
}

impl From<&Activity> for OverviewView {
    fn from(a: &Activity) -> Self {
        let tallies = |t: &[crate::store::activity::Tally]| {
            t.iter().map(|t| (t.key.clone(), t.n)).collect::<Vec<_>>()
        };
        OverviewView {
            since: rfc3339(a.since_ms),
            orders_by_state: tallies(&a.orders_by_state),
            payments_by_state: tallies(&a.payments_by_state),
            failed_calls: tallies(&a.failed_calls),
            orders_chart: bars(&a.orders_per_minute, CHART_WIDTH, CHART_HEIGHT),
            paid_chart: bars(&a.paid_per_minute, CHART_WIDTH, CHART_HEIGHT),
            failed_chart: bars(&a.failed_calls_per_minute, CHART_WIDTH, CHART_HEIGHT),
            queues: a
                .queues
                .iter()
                .map(|q| {
                    let stats = q.stats.as_ref().ok();
                    QueueView {
                        name: q.name,
                        ready: stats.map(|s| s.ready),
                        scheduled: stats.map(|s| s.scheduled),
                        in_flight: stats.map(|s| s.in_flight),
                        lag_seconds: q.lag_ms.map(|ms| (ms as f64 / 100.0).round() / 10.0),
                        error: q.stats.as_ref().err().cloned(),
                    }
                })
                .collect(),
            waiting: WaitingView {
                flagged_payments: a.waiting.flagged_payments,
                failed_refunds: a.waiting.failed_refunds,
                failed_webhooks: a.waiting.failed_webhooks,
                bill_differences: a.waiting.bill_differences,
            },
        }
    }
}

/// `GET /console`: the last hour, and what waits for an operator.
pub async fn overview(State(state): State<AppState>, op: Operator) -> Result<Response, PageError> {
    let activity = state.gateway.activity().await?;
    Ok(page(
        "overview.html",
        frame(&op, "overview"),
        OverviewView::from(&activity),
    ))
}

#[derive(Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    q: String,
}

/// A story as the find page shows it.
#[derive(Serialize)]
struct StoryView {
    merchant_name: Option<String>,
    orders: Vec<OrderView>,
    payments: Vec<PaymentStoryView>,
    events: Vec<EventDetailView>,
}

#[derive(Serialize)]
struct PaymentStoryView {
    payment: PaymentView,
    calls: Vec<CallView>,
    notifications: Vec<NotificationView>,
    refunds: Vec<RefundView>,
    resolutions: Vec<FlagResolutionView>,
}

#[derive(Serialize)]
struct CallView {
    at: i64,
    op: String,
    refund_no: Option<String>,
    outcome: String,
    message: Option<String>,
    elapsed_ms: i64,
}

#[derive(Serialize)]
struct NotificationView {
    received_at: i64,
    verified: bool,
    outcome: String,
}

impl From<&Story> for StoryView {
    fn from(s: &Story) -> Self {
        let expires_at = s.orders.iter().map(|o| o.expires_at).min();
        StoryView {
            merchant_name: s.merchant.as_ref().map(|m| m.name.clone()),
            orders: s.orders.iter().map(OrderView::from).collect(),
            payments: s
                .payments
                .iter()
                .map(|p| PaymentStoryView {
                    payment: PaymentView::new(&p.payment, expires_at, false),
                    calls: p
                        .calls
                        .iter()
                        .map(|c| CallView {
                            at: c.at,
                            op: c.op.clone(),
                            refund_no: c.refund_no.clone(),
                            outcome: c.outcome.clone(),
                            message: c.message.clone(),
                            elapsed_ms: c.elapsed_ms,
                        })
                        .collect(),
                    notifications: p
                        .notifications
                        .iter()
                        .map(|n| NotificationView {
                            received_at: n.received_at,
                            verified: n.verified,
                            outcome: n.outcome.clone(),
                        })
                        .collect(),
                    refunds: p.refunds.iter().map(RefundView::from).collect(),
                    resolutions: p.resolutions.iter().map(FlagResolutionView::from).collect(),
                })
                .collect(),
            events: s
                .events
                .iter()
                .map(|e| EventDetailView::of(&e.event, &e.deliveries))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct FindView {
    q: String,
    /// `story`, `choices`, `nothing`, or `ask` (no query yet).
    found: &'static str,
    story: Option<StoryView>,
    choices: Vec<OrderView>,
}

/// `GET /console/find?q=`: a payment or order by `payment_no`, refund number, order id,
/// event id or `out_trade_no`, with its whole story; a merchant id leads to its page.
pub async fn find(
    State(state): State<AppState>,
    op: Operator,
    query: Result<Query<FindQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let q = shown(&query.q);
    let mut view = FindView {
        q: q.clone(),
        found: "ask",
        story: None,
        choices: Vec::new(),
    };
    if !q.is_empty() {
        match state.gateway.find_story(&q).await? {
            Found::Story(story) => {
                view.found = "story";
                view.story = Some(StoryView::from(story.as_ref()));
            }
            Found::Orders(orders) => {
                view.found = "choices";
                view.choices = orders.iter().map(OrderView::from).collect();
            }
            Found::Merchant(id) => {
                let to = format!(
                    "/console/merchants/{}",
                    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
                );
                return Ok(Redirect::to(&to).into_response());
            }
            Found::Nothing => view.found = "nothing",
        }
    }
    Ok(page("find.html", frame(&op, "find"), view))
}

/// `GET /console/flags`: flagged payments, failed refunds, failed webhooks, and the latest
/// resolutions.
pub async fn flags(State(state): State<AppState>, op: Operator) -> Result<Response, PageError> {
    let flags = FlagsView::from(&state.gateway.flags().await?);
    Ok(page("flags.html", frame(&op, "flags"), flags))
}

#[derive(Serialize)]
struct DeliveriesView {
    /// Each with its order and merchant (the history is on the order's story).
    failed: Vec<EventDetailView>,
    pending: Vec<EventDetailView>,
    /// The merchants with failed deliveries, for "re-deliver all of a merchant's".
    merchants: Vec<(String, usize)>,
}

/// `GET /console/deliveries`: webhooks that failed (re-deliver one, or all of a merchant's)
/// and those still being attempted.
pub async fn deliveries(
    State(state): State<AppState>,
    op: Operator,
) -> Result<Response, PageError> {
    let failed = state
        .gateway
        .events_in_delivery(DeliveryState::Failed)
        .await?;
    let pending = state
        .gateway
        .events_in_delivery(DeliveryState::Pending)
        .await?;
    let mut merchants: Vec<(String, usize)> = Vec::new();
    for e in &failed {
        match merchants.iter_mut().find(|(m, _)| *m == e.merchant_id) {
            Some((_, n)) => *n += 1,
            None => merchants.push((e.merchant_id.clone(), 1)),
        }
    }
    let view = DeliveriesView {
        failed: failed.iter().map(|e| EventDetailView::of(e, &[])).collect(),
        pending: pending
            .iter()
            .map(|e| EventDetailView::of(e, &[]))
            .collect(),
        merchants,
    };
    Ok(page("deliveries.html", frame(&op, "deliveries"), view))
}

#[derive(Deserialize)]
pub struct MerchantsQuery {
    after: Option<String>,
    name: Option<String>,
}

/// `GET /console/merchants`: newest first, 50 a page, by name if asked.
pub async fn merchants(
    State(state): State<AppState>,
    op: Operator,
    query: Result<Query<MerchantsQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let request = PageRequest::new(Some(50), query.after.as_deref().filter(|a| !a.is_empty()))
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                e.to_string(),
            )
        })?;
    let name = query.name.as_deref().map(shown).filter(|n| !n.is_empty());
    let found = state
        .gateway
        .list_merchants(&request, name.as_deref())
        .await?;
    let view = MerchantListView::from(&found);
    Ok(page(
        "merchants.html",
        frame(&op, "merchants"),
        minijinja::context! { list => Value::from_serialize(&view), name => name },
    ))
}

#[derive(Serialize)]
struct MerchantPageView {
    merchant: MerchantView,
    /// Each configured provider's settings and secret names (never a secret).
    providers: Vec<ProviderConfigView>,
}

/// `GET /console/merchants/{id}`: a merchant and its provider configurations.
pub async fn merchant(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let detail = state.gateway.merchant(&id).await?;
    let mut providers = Vec::with_capacity(detail.providers.len());
    for provider in &detail.providers {
        let config = state.gateway.provider_config(&id, provider).await?;
        providers.push(ProviderConfigView::from(&config));
    }
    let view = MerchantPageView {
        merchant: MerchantView::from(&detail),
        providers,
    };
    Ok(page("merchant.html", frame(&op, "merchants"), view))
}

#[derive(Serialize)]
struct ProviderVersionsView {
    provider: String,
    /// Whether the active version exports `paygate:bills` (paygate reconciles the provider).
    reconciles: bool,
    versions: Vec<AdapterVersionView>,
}

/// `GET /console/adapters`: every provider's stored versions, the active one marked, with
/// activate and roll back.
pub async fn adapters(State(state): State<AppState>, op: Operator) -> Result<Response, PageError> {
    let mut providers: Vec<ProviderVersionsView> = Vec::new();
    for version in state.adapters.list().await? {
        let view = AdapterVersionView::from(&version);
        match providers.iter_mut().find(|p| p.provider == view.provider) {
            Some(p) => p.versions.push(view),
            None => providers.push(ProviderVersionsView {
                provider: view.provider.clone(),
                reconciles: state.gateway.reconciles(&view.provider),
                versions: vec![view],
            }),
        }
    }
    Ok(page("adapters.html", frame(&op, "adapters"), providers))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

/// `GET /console/audit`: every admin action, newest first, 100 a page.
pub async fn audit(
    State(state): State<AppState>,
    op: Operator,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(query) = query.map_err(|e| bad_query(&e))?;
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    let found = state
        .gateway
        .audit_page(Some(100), before)
        .await
        .map_err(crate::api::operators::page_request_error)?;
    Ok(page(
        "audit.html",
        frame(&op, "audit"),
        AuditPageView::from(&found),
    ))
}
