//! The API's request and response bodies (JSON), described for the OpenAPI document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::PayAction;
use crate::service::pay::PayOutcome;
use crate::store::orders::OrderRecord;
use crate::store::payments::PaymentRecord;
use crate::store::refunds::RefundRecord;

/// RFC 3339 (UTC) of milliseconds since the epoch.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An ISO 4217 code paygate knows, as the document's `enum`.
fn currency_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(crate::domain::Currency::codes()))
        .build()
}

/// `POST /v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderBody {
    /// The merchant's own order number, unique per merchant: 1-64 characters of
    /// letters, digits and `_-|*.`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_|*.-]+$")]
    pub out_trade_no: String,
    /// Integer minor units (fen, cents), from 1 to 10,000,000,000.
    #[serde(deserialize_with = "super::json::minor_units")]
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub amount: i64,
    /// ISO 4217 code, upper case.
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    /// What is bought, shown to the payer: 1-256 characters, not only blanks, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub subject: String,
    /// Seconds until the payment deadline, at most 604800 (7 days); default 1800. It must
    /// outlast the pay cut-off (`PAYGATE_REPAY_CUTOFF`, 60 s by default, so at least 61),
    /// else no payment could start: 422 `ttl_below_cutoff`. The document served by a
    /// running paygate gives its own cut-off's minimum.
    #[schema(minimum = 1, maximum = 604_800)]
    pub ttl_seconds: Option<i64>,
    /// Where paygate will post this order's state changes (http or https).
    #[schema(
        max_length = 1024,
        pattern = "^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
    )]
    pub notify_url: Option<String>,
}

/// An order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub merchant_id: String,
    pub out_trade_no: String,
    /// `pending`, `paid`, `closed` (deadline passed unpaid), `cancelled`, `refunded`.
    pub state: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub notify_url: Option<String>,
    /// The payment deadline (RFC 3339).
    pub expires_at: String,
    pub created_at: String,
    pub paid_at: Option<String>,
    /// The payment that paid the order.
    pub paid_by: Option<String>,
    /// The payment currently open for the order, if any.
    pub open_payment_no: Option<String>,
}

impl From<&OrderRecord> for OrderView {
    fn from(o: &OrderRecord) -> Self {
        OrderView {
            id: o.id.clone(),
            merchant_id: o.merchant_id.clone(),
            out_trade_no: o.out_trade_no.clone(),
            state: o.state.as_str().to_owned(),
            amount: o.amount.minor(),
            currency: o.amount.currency().code().to_owned(),
            subject: o.subject.clone(),
            notify_url: o.notify_url.clone(),
            expires_at: rfc3339(o.expires_at),
            created_at: rfc3339(o.created_at),
            paid_at: o.paid_at.map(rfc3339),
            paid_by: o.paid_by.clone(),
            open_payment_no: o.open_payment_no.clone(),
        }
    }
}

/// Payer details some channels need.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerBody {
    pub open_id: Option<String>,
    pub client_ip: Option<String>,
    pub return_url: Option<String>,
}

/// `POST /v1/payments`. Carries no amount: paygate sums the orders' amounts itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// One order, or several of the same merchant and currency (combined payment), each
    /// named once (`uniqueItems`, which the derive cannot say, is set in `doc.rs`).
    #[schema(min_items = 1, max_items = 50)]
    pub order_ids: Vec<String>,
    /// `mock`, `wechat`, `alipay`...
    pub provider: String,
    /// One of the provider's channels (`web`, `qr` for `mock`).
    pub channel: String,
    #[serde(default)]
    pub payer: Option<PayerBody>,
}

/// A payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    /// paygate's payment number, the trade number the provider sees (≤ 32 of [0-9A-Za-z]).
    pub payment_no: String,
    /// `open`, `paid`, `closed`, `failed`.
    pub state: String,
    pub provider: String,
    pub channel: String,
    /// The sum of the orders' amounts, from paygate's database.
    pub amount: i64,
    pub currency: String,
    pub order_ids: Vec<String>,
    /// The orders' payment deadline (RFC 3339).
    pub expires_at: Option<String>,
    /// The deadline sent to the provider: `expires_at` plus the provider grace.
    pub provider_deadline: String,
    /// What the payer's device must do.
    pub action: Option<PayAction>,
    /// Until when the provider honours `action` (RFC 3339), by its own rules for the
    /// channel (WeChat Pay: `h5_url` 5 minutes, `code_url` and `prepay_id` 2 hours). `null`:
    /// until `provider_deadline`. A repay after it asks the provider for a fresh action.
    pub action_expires_at: Option<String>,
    /// True when the stored action was returned without calling the provider again.
    pub reused: bool,
    /// Why an operator must look at this payment (`amount_mismatch`, `late_payment`, ...).
    pub flag: Option<String>,
    pub provider_trade_id: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
    /// What the provider collected, once paid.
    pub paid_amount: Option<i64>,
    /// The sum of the refunds asked for (pending or succeeded).
    pub refunded_amount: i64,
    /// The payment's refunds, oldest first.
    pub refunds: Vec<RefundView>,
}

/// A refund.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub refund_no: String,
    pub payment_no: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    /// `merchant`, or paygate's own: `late_payment`, `double_payment`.
    pub kind: String,
    /// `pending`, `succeeded`, `failed`.
    pub state: String,
    pub provider_refund_id: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

impl From<&RefundRecord> for RefundView {
    fn from(r: &RefundRecord) -> Self {
        RefundView {
            refund_no: r.refund_no.clone(),
            payment_no: r.payment_no.clone(),
            amount: r.amount.minor(),
            currency: r.amount.currency().code().to_owned(),
            reason: r.reason.clone(),
            kind: r.kind.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            provider_refund_id: r.provider_refund_id.clone(),
            error: r.last_error.clone(),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// `POST /v1/payments/{payment_no}/refunds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units, above 0, at most what was paid minus what is already refunded.
    #[serde(deserialize_with = "super::json::minor_units")]
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub amount: i64,
    /// Shown to the payer where the provider supports it; at most 80 characters.
    #[schema(max_length = 80)]
    pub reason: Option<String>,
}

/// A payment an operator must look at.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    pub payment_no: String,
    pub merchant_id: String,
    /// `amount_mismatch`, `late_payment`, `double_payment`, `unexpected_refund`, `refund_failed`.
    pub flag: String,
    pub state: String,
    pub amount: i64,
    pub paid_amount: Option<i64>,
    pub refunded_amount: i64,
    pub currency: String,
    pub updated_at: String,
}

impl From<&PaymentRecord> for FlagView {
    fn from(p: &PaymentRecord) -> Self {
        FlagView {
            payment_no: p.payment_no.clone(),
            merchant_id: p.merchant_id.clone(),
            flag: p.flag.map(|f| f.as_str().to_owned()).unwrap_or_default(),
            state: p.state.as_str().to_owned(),
            amount: p.amount.minor(),
            paid_amount: p.paid_amount.map(|m| m.minor()),
            refunded_amount: p.refunded_minor,
            currency: p.amount.currency().code().to_owned(),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

impl PaymentView {
    pub fn new(p: &PaymentRecord, expires_at: Option<i64>, reused: bool) -> PaymentView {
        PaymentView {
            payment_no: p.payment_no.clone(),
            state: p.state.as_str().to_owned(),
            provider: p.provider.clone(),
            channel: p.channel.clone(),
            amount: p.amount.minor(),
            currency: p.amount.currency().code().to_owned(),
            order_ids: p.order_ids.clone(),
            expires_at: expires_at.map(rfc3339),
            provider_deadline: rfc3339(p.provider_deadline),
            action: p.action.clone(),
            action_expires_at: p.action.as_ref().and(p.action_expires_at).map(rfc3339),
            reused,
            flag: p.flag.map(|f| f.as_str().to_owned()),
            provider_trade_id: p.provider_trade_id.clone(),
            created_at: rfc3339(p.created_at),
            paid_at: p.paid_at.map(rfc3339),
            paid_amount: p.paid_amount.map(|m| m.minor()),
            refunded_amount: p.refunded_minor,
            refunds: Vec::new(),
        }
    }

    pub fn from_outcome(o: &PayOutcome) -> PaymentView {
        PaymentView::new(&o.payment, Some(o.expires_at), o.reused)
    }
}

/// `POST /admin/merchants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantBody {
    /// 1 to 128 printable characters (surrounding spaces are dropped).
    #[schema(
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\u0000-\\u001F\\u007F-\\u009F\\s][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// The merchant-wide webhook endpoint (see `PUT /admin/merchants/{id}/webhook`): an
    /// absolute http(s) URL of at most 1024 characters.
    #[serde(default)]
    #[schema(
        max_length = 1024,
        pattern = "^https?://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*)*$"
    )]
    pub notify_url: Option<String>,
}

/// A new merchant. `api_key` and `webhook_secret` are shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedMerchantView {
    pub id: String,
    pub name: String,
    pub api_key: String,
    /// Signs the merchant's webhooks (`Paygate-Signature`).
    pub webhook_secret: String,
    /// The merchant-wide webhook endpoint, if one was given.
    pub notify_url: Option<String>,
}

/// An order state change, as paygate records and delivers it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: String,
    /// Its place among its order's events: 1 for the first, then 2, 3, ... (also the body's
    /// `sequence` and the header `Paygate-Event-Sequence`).
    pub sequence: i64,
    /// `order.paid`, `order.closed`, `order.cancelled`, `order.refunded`,
    /// `order.partially_refunded` (a refund that left something to refund; no state change).
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    /// `pending`, `delivered`, `failed`, `none` (no notify_url).
    pub delivery: String,
    /// Attempts of the current round (an operator's re-delivery starts a new one; the
    /// admin API's `GET /admin/events/{event_id}` has every attempt).
    pub attempts: i64,
    pub last_status: Option<i32>,
    /// The body POSTed to the notify_url.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<&crate::store::events::OrderEvent> for EventView {
    fn from(e: &crate::store::events::OrderEvent) -> Self {
        EventView {
            id: e.id.clone(),
            sequence: e.seq,
            kind: e.kind.clone(),
            created_at: rfc3339(e.created_at),
            delivery: e.delivery.as_str().to_owned(),
            attempts: e.attempts,
            last_status: e.last_status,
            payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// An event as an operator sees it: the event, whose order and merchant it is, and its
/// delivery history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDetailView {
    pub event: EventView,
    pub order_id: String,
    pub merchant_id: String,
    /// Every attempt and re-delivery, oldest first (empty for events delivered before
    /// paygate kept the history).
    pub history: Vec<DeliveryAttemptView>,
}

/// One entry of an event's delivery history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttemptView {
    /// 1, 2, 3, ... in the order they happened.
    pub n: i64,
    /// RFC 3339.
    pub at: String,
    /// `attempt` (paygate POSTed the event) or `redelivery` (an operator sent it again).
    pub kind: String,
    /// An attempt's HTTP status; 0 when the endpoint did not answer; null when the order had
    /// no endpoint, and for a re-delivery.
    pub status: Option<i32>,
    /// Who asked for a re-delivery.
    pub operator: Option<String>,
}

impl EventDetailView {
    pub fn of(
        event: &crate::store::events::OrderEvent,
        history: &[crate::store::events::DeliveryRecord],
    ) -> EventDetailView {
        EventDetailView {
            event: EventView::from(event),
            order_id: event.order_id.clone(),
            merchant_id: event.merchant_id.clone(),
            history: history
                .iter()
                .map(|h| DeliveryAttemptView {
                    n: h.n,
                    at: rfc3339(h.at),
                    kind: h.kind.clone(),
                    status: h.status,
                    operator: h.operator.clone(),
                })
                .collect(),
        }
    }
}

/// `POST /admin/merchants/{id}/events/redeliver`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedeliveredView {
    /// How many failed deliveries went back to pending, each with its first new attempt now.
    pub redelivered: usize,
}

/// What an operator must look at.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagsView {
    /// Flagged payments.
    pub payments: Vec<FlagView>,
    /// Webhooks whose retry schedule ran out.
    pub webhooks: Vec<EventView>,
    /// Refunds that failed, newest first (`POST /admin/refunds/{refund_no}/retry`).
    pub refunds: Vec<RefundView>,
    /// The latest flags operators resolved (at most 50), newest first.
    pub resolved: Vec<FlagResolutionView>,
    /// Differences with the providers' bills no operator has resolved, oldest first
    /// (`POST /admin/bill-differences/{id}/resolve`).
    #[serde(default)]
    pub bill_differences: Vec<BillDifferenceView>,
}

impl From<&crate::service::flags::Overview> for FlagsView {
    fn from(o: &crate::service::flags::Overview) -> Self {
        FlagsView {
            payments: o.payments.iter().map(FlagView::from).collect(),
            webhooks: o.webhooks.iter().map(EventView::from).collect(),
            refunds: o.refunds.iter().map(RefundView::from).collect(),
            resolved: o.resolved.iter().map(FlagResolutionView::from).collect(),
            bill_differences: o
                .bill_differences
                .iter()
                .map(BillDifferenceView::from)
                .collect(),
        }
    }
}

/// `POST /admin/payments/{payment_no}/flag/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveFlagBody {
    /// The flag being resolved, as read from `GET /admin/flags`: if the payment carries
    /// another by now, nothing changes (409 `flag_changed`).
    #[schema(
        example = "late_payment",
        pattern = "^(amount_mismatch|unexpected_refund|late_payment|double_payment|refund_failed|provider_refuses_queries)$"
    )]
    pub flag: String,
    /// Why: what the operator checked or did (1 to 1,000 characters).
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = "\\S",
        example = "refund 50000000012 seen in the WeChat Pay merchant platform"
    )]
    pub note: String,
}

/// A payment's flag an operator resolved: who, when, why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagResolutionView {
    /// `fr_...`.
    pub id: String,
    pub payment_no: String,
    pub merchant_id: String,
    /// The flag the payment carried.
    pub flag: String,
    pub note: String,
    /// The operator's name.
    pub resolved_by: String,
    /// RFC 3339.
    pub resolved_at: String,
}

impl From<&crate::store::flags::FlagResolution> for FlagResolutionView {
    fn from(r: &crate::store::flags::FlagResolution) -> Self {
        FlagResolutionView {
            id: r.id.clone(),
            payment_no: r.payment_no.clone(),
            merchant_id: r.merchant_id.clone(),
            flag: r.flag.as_str().to_owned(),
            note: r.note.clone(),
            resolved_by: r.resolved_by.clone(),
            resolved_at: rfc3339(r.resolved_at),
        }
    }
}

/// `PUT /admin/merchants/{id}/providers/{provider}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfigBody {
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Settings the adapter declares with a default and that are left out get it.
    /// Secret values (PEM keys, API keys); sealed at rest, never returned. A secret left
    /// out keeps its stored value (so settings can change without resending secrets); a
    /// secret given as `null` is removed (to switch key modes).
    #[serde(default)]
    pub secrets: BTreeMap<String, Option<String>>,
}

/// A merchant's configuration for a provider: settings, and only the names of its secrets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderConfigView {
    pub merchant_id: String,
    pub provider: String,
    pub settings: BTreeMap<String, String>,
    pub secret_names: Vec<String>,
    pub updated_at: String,
}

impl From<&crate::store::provider_configs::ProviderConfig> for ProviderConfigView {
    fn from(cfg: &crate::store::provider_configs::ProviderConfig) -> Self {
        ProviderConfigView {
            merchant_id: cfg.merchant_id.clone(),
            provider: cfg.provider.clone(),
            settings: cfg.settings.clone(),
            secret_names: cfg.secrets.keys().cloned().collect(),
            updated_at: rfc3339(cfg.updated_at),
        }
    }
}

/// A channel an adapter offers, and the payer details its action is bound to (`open_id`,
/// `client_ip`): a repay with other values of them gets a new payment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    pub name: String,
    pub binds: Vec<String>,
}

/// A setting an adapter declares.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SettingSpecView {
    pub name: String,
    pub required: bool,
    pub description: String,
    /// A base URL the adapter calls (its origin is the adapter's outbound allowlist).
    pub base_url: bool,
    /// What a configuration that leaves the setting out gets.
    pub default: Option<String>,
}

/// A secret an adapter declares (its value is write-only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretSpecView {
    pub name: String,
    /// `rsa-private-key`, `rsa-public-key`, `aes256-key` or `hmac-key`.
    pub kind: String,
    pub required: bool,
    pub description: String,
}

/// What a reconciled bill says in one currency, in minor units.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BillTotalsView {
    /// ISO 4217 code.
    pub currency: String,
    /// Collected by succeeded payment rows.
    pub collected: i64,
    /// Returned by succeeded refund rows.
    pub refunded: i64,
    /// The provider's fees (negative where a refund returned part of a fee).
    pub fees: i64,
    /// `collected - refunded - fees`: what the provider settles to the merchant.
    pub net: i64,
    /// Succeeded rows counted.
    pub rows: u32,
}

impl BillTotalsView {
    fn of(currency: &str, t: &crate::domain::reconcile::Totals) -> Self {
        BillTotalsView {
            currency: currency.to_owned(),
            collected: t.collected,
            refunded: t.refunded,
            fees: t.fees,
            net: t.collected - t.refunded - t.fees,
            rows: t.rows,
        }
    }
}

/// One difference between a provider's bill and paygate's record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BillDifferenceView {
    /// `bd_...`.
    pub id: String,
    pub merchant_id: String,
    pub provider: String,
    /// The bill day, `YYYY-MM-DD` (Beijing time).
    pub date: String,
    /// `paid_only_at_provider` (the late-payment rules settled or refunded it: see
    /// `action`), `unknown_trade` (a payment number paygate never issued),
    /// `missing_from_bill`, `amount_differs`, `refund_state_differs`,
    /// `refund_amount_differs`.
    pub kind: String,
    pub payment_no: String,
    pub refund_no: Option<String>,
    pub currency: Option<String>,
    /// What the bill says, in minor units (absent when the bill lacks the row).
    pub billed_amount: Option<i64>,
    /// What paygate holds, in minor units (absent when paygate lacks it).
    pub recorded_amount: Option<i64>,
    /// A refund's state on the bill (`succeeded`, `processing`, `failed`).
    pub billed_state: Option<String>,
    /// A refund's state at paygate (`pending`, `succeeded`, `failed`).
    pub recorded_state: Option<String>,
    /// What paygate did about it (`paid`, `late payment, refunded`...).
    pub action: Option<String>,
    pub found_at: String,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

impl From<&crate::store::bills::DifferenceRecord> for BillDifferenceView {
    fn from(d: &crate::store::bills::DifferenceRecord) -> Self {
        BillDifferenceView {
            id: d.id.clone(),
            merchant_id: d.merchant_id.clone(),
            provider: d.provider.clone(),
            date: d.day.clone(),
            kind: d.kind.clone(),
            payment_no: d.payment_no.clone(),
            refund_no: d.refund_no.clone(),
            currency: d.currency.clone(),
            billed_amount: d.billed_minor,
            recorded_amount: d.recorded_minor,
            billed_state: d.billed_state.clone(),
            recorded_state: d.recorded_state.clone(),
            action: d.action.clone(),
            found_at: rfc3339(d.found_at),
            resolved_at: d.resolved_at.map(rfc3339),
            resolved_by: d.resolved_by.clone(),
            note: d.note.clone(),
        }
    }
}

/// One merchant's reconciliation of one day at one provider.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationView {
    pub merchant_id: String,
    pub provider: String,
    /// `YYYY-MM-DD` (Beijing time).
    pub date: String,
    /// `reconciled`; `not_ready` (the provider has not produced the bill yet: asked again
    /// every 30 minutes for a day); `failed` (see `error`).
    pub state: String,
    /// Runs so far.
    pub attempts: u32,
    /// The bill's payment and refund rows.
    pub payment_rows: u32,
    pub refund_rows: u32,
    /// Rows that agree with paygate's record, at the latest run.
    pub matched: u32,
    pub error: Option<String>,
    pub last_run_at: String,
    pub reconciled_at: Option<String>,
    pub totals: Vec<BillTotalsView>,
    /// Every difference recorded for the day (resolved ones too), in the order found.
    pub differences: Vec<BillDifferenceView>,
}

impl From<&crate::service::bills::DayReport> for ReconciliationView {
    fn from(r: &crate::service::bills::DayReport) -> Self {
        let run = &r.run;
        ReconciliationView {
            merchant_id: run.merchant_id.clone(),
            provider: run.provider.clone(),
            date: run.day.clone(),
            state: run.state.as_str().to_owned(),
            attempts: run.attempts,
            payment_rows: run.payment_rows,
            refund_rows: run.refund_rows,
            matched: run.matched,
            error: run.error.clone(),
            last_run_at: rfc3339(run.last_run_at),
            reconciled_at: run.reconciled_at.map(rfc3339),
            totals: run
                .totals
                .iter()
                .map(|(c, t)| BillTotalsView::of(c, t))
                .collect(),
            differences: r.differences.iter().map(BillDifferenceView::from).collect(),
        }
    }
}

/// What one provider's bill says was collected, refunded and charged in fees on a day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettlementProviderView {
    pub provider: String,
    /// `reconciled`; `pending` (not reconciled yet: bills are read the next morning,
    /// Beijing time); `not_ready`; `failed`.
    pub state: String,
    pub reconciled_at: Option<String>,
    /// The bill's payment and refund rows.
    pub payments: u32,
    pub refunds: u32,
    /// By currency; empty until reconciled, and for a day without trades.
    pub totals: Vec<BillTotalsView>,
    /// Differences recorded with paygate's record for the day (an operator resolves them).
    pub differences: u32,
}

/// A merchant's settlement of a day: per provider, what its bill says.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettlementView {
    /// `YYYY-MM-DD` (Beijing time, the providers' bill day).
    pub date: String,
    /// Every provider the merchant has configured whose adapter reconciles, by name.
    pub providers: Vec<SettlementProviderView>,
}
