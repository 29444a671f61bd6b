//! Reconciliation over HTTP: operators run a day and read its runs and differences
//! (`/admin/reconciliations...`, `/admin/bill-differences/{id}/resolve`); merchants read
//! what the providers' bills say they collected, refunded and paid in fees on a day
//! (`GET /v1/settlements/{date}`, JSON or CSV).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Admin, AuthMerchant};
use super::error::{ApiError, ErrorBody};
use super::json;
use super::merchants::{invalid_query, Params};
use super::views::{
    rfc3339, BillDifferenceView, BillTotalsView, ReconciliationView, SettlementProviderView,
    SettlementView,
};
use super::AppState;
use crate::service::bills::{parse_day, DayReport};

/// `POST /admin/reconciliations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileBody {
    /// The bill day, `YYYY-MM-DD` (Beijing time), today or before (today's bill is not
    /// ready at the providers: the run ends `not_ready`).
    #[schema(example = "2026-11-30", format = Date)]
    pub date: String,
    /// Only this merchant (default: every merchant).
    #[schema(max_length = 64)]
    pub merchant_id: Option<String>,
    /// Only this provider (default: every provider whose adapter reconciles).
    #[schema(max_length = 32)]
    pub provider: Option<String>,
}

/// `POST /admin/bill-differences/{id}/resolve`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveDifferenceBody {
    /// What the operator checked or did (1 to 1,000 characters).
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub note: String,
}

/// Reconciles a day now: fetches each bill again (also one reconciled already), matches
/// it and records what differs. Running a day twice changes nothing the first run did not.
/// Needs `operate`.
#[utoipa::path(post, path = "/admin/reconciliations", tag = "admin",
    request_body = ReconcileBody,
    responses((status = 200, body = Vec<ReconciliationView>),
        (status = 400, body = ErrorBody, description = "malformed_json"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "merchant_not_found"),
        (status = 422, body = ErrorBody, description = "invalid_body, invalid_day (malformed, or in the future), unknown_provider, provider_cannot_reconcile")),
    security(("admin_token" = [])))]
pub async fn run(
    State(state): State<AppState>,
    _: Admin,
    body: Bytes,
) -> Result<Json<Vec<ReconciliationView>>, ApiError> {
    let req: ReconcileBody = json::parse(&body)?;
    let day = parse_day(&req.date)?;
    let reports = state
        .gateway
        .reconcile_day(
            day,
            req.merchant_id.as_deref(),
            req.provider.as_deref(),
            true,
        )
        .await?;
    Ok(Json(reports.iter().map(ReconciliationView::from).collect()))
}

/// A day's runs, every merchant and provider (or one merchant's, `?merchant_id=`), with
/// their totals and differences. Needs `read`.
#[utoipa::path(get, path = "/admin/reconciliations/{date}", tag = "admin",
    params(("date" = String, Path, format = Date, description = "The bill day, `YYYY-MM-DD` (Beijing time)"),
        ("merchant_id" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only this merchant")),
    responses((status = 200, body = Vec<ReconciliationView>),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_day")),
    security(("admin_token" = [])))]
pub async fn day(
    State(state): State<AppState>,
    _: Admin,
    Path(date): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<ReconciliationView>>, ApiError> {
    let params = Params::parse(query.as_deref(), &["merchant_id"])?;
    let merchant_id = params.get("merchant_id");
    if merchant_id.is_some_and(|m| m.is_empty() || m.chars().count() > 64) {
        return Err(invalid_query(
            "`merchant_id` is a merchant's id (1 to 64 characters)",
        ));
    }
    let day = parse_day(&date)?;
    let reports = state.gateway.bill_reports(day, merchant_id).await?;
    Ok(Json(reports.iter().map(ReconciliationView::from).collect()))
}

/// Resolves a difference with a note saying what was checked or done; the operator and
/// the time are kept with it. Needs `operate`.
#[utoipa::path(post, path = "/admin/bill-differences/{id}/resolve", tag = "admin",
    request_body = ResolveDifferenceBody,
    params(("id" = String, Path, description = "The difference's id (`bd_...`)")),
    responses((status = 200, body = BillDifferenceView),
        (status = 400, body = ErrorBody, description = "malformed_json"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "forbidden_role"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "difference_resolved"),
        (status = 422, body = ErrorBody, description = "invalid_body, invalid_note")),
    security(("admin_token" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<BillDifferenceView>, ApiError> {
    let req: ResolveDifferenceBody = json::parse(&body)?;
    let resolved = state
        .gateway
        .resolve_bill_difference(&id, &req.note, admin.name())
        .await?;
    Ok(Json(BillDifferenceView::from(&resolved)))
}

/// What the providers' bills say the merchant collected, refunded and paid in fees on a
/// day, per provider: the providers' books, read the next morning (Beijing time). With
/// `?format=csv`, the same as CSV (one line per provider and currency; amounts in minor
/// units).
#[utoipa::path(get, path = "/v1/settlements/{date}", tag = "settlements",
    params(("date" = String, Path, format = Date, description = "The bill day, `YYYY-MM-DD` (Beijing time)"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "`json` (default) or `csv`")),
    responses((status = 200, description = "JSON, or CSV with `format=csv`",
            content((SettlementView = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_day")),
    security(("api_key" = [])))]
pub async fn settlement(
    State(state): State<AppState>,
    AuthMerchant(merchant): AuthMerchant,
    Path(date): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref(), &["format"])?;
    let csv = match params.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(invalid_query(format!(
                "`format` is `json` or `csv`, not `{other}`"
            )))
        }
    };
    let day = parse_day(&date)?;
    let providers = state.gateway.settlement(&merchant.id, day).await?;
    let view = SettlementView {
        date: day.to_string(),
        providers: providers
            .iter()
            .map(|(p, r)| provider_view(p, r.as_ref()))
            .collect(),
    };
    if !csv {
        return Ok(Json(view).into_response());
    }
    let body = settlement_csv(&view);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"settlement-{}.csv\"", view.date),
            ),
        ],
        body,
    )
        .into_response())
}

fn provider_view(provider: &str, report: Option<&DayReport>) -> SettlementProviderView {
    let Some(r) = report else {
        return SettlementProviderView {
            provider: provider.to_owned(),
            state: "pending".into(),
            reconciled_at: None,
            payments: 0,
            refunds: 0,
            totals: Vec::new(),
            differences: 0,
        };
    };
    let full = ReconciliationView::from(r);
    SettlementProviderView {
        provider: provider.to_owned(),
        state: full.state,
        reconciled_at: r.run.reconciled_at.map(rfc3339),
        payments: r.run.payment_rows,
        refunds: r.run.refund_rows,
        totals: full.totals,
        differences: u32::try_from(r.differences.len()).unwrap_or(u32::MAX),
    }
}

/// The settlement as CSV (RFC 4180): a header, then a line per provider and currency (a
/// provider without totals gets one line with empty amounts). Provider names and states
/// are paygate's own words, never a comma or a quote.
fn settlement_csv(view: &SettlementView) -> String {
    let mut out = String::from(
        "date,provider,state,currency,payments,refunds,collected,refunded,fees,net,differences\r\n",
    );
    for p in &view.providers {
        let line = |t: Option<&BillTotalsView>| {
            let amount =
                |f: fn(&BillTotalsView) -> i64| t.map(|t| f(t).to_string()).unwrap_or_default();
            format!(
                "{},{},{},{},{},{},{},{},{},{},{}\r\n",
                view.date,
                p.provider,
                p.state,
                t.map(|t| t.currency.as_str()).unwrap_or_default(),
                p.payments,
                p.refunds,
                amount(|t| t.collected),
                amount(|t| t.refunded),
                amount(|t| t.fees),
                amount(|t| t.net),
                p.differences
            )
        };
        if p.totals.is_empty() {
            out.push_str(&line(None));
        }
        for t in &p.totals {
            out.push_str(&line(Some(t)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settlement_csv_has_a_line_per_provider_and_currency() {
        let view = SettlementView {
            date: "2026-11-30".into(),
            providers: vec![
                SettlementProviderView {
                    provider: "wechat".into(),
                    state: "reconciled".into(),
                    reconciled_at: None,
                    payments: 2,
                    refunds: 1,
                    totals: vec![BillTotalsView {
                        currency: "CNY".into(),
                        collected: 1500,
                        refunded: 300,
                        fees: 9,
                        net: 1191,
                        rows: 3,
                    }],
                    differences: 1,
                },
                SettlementProviderView {
                    provider: "alipay".into(),
                    state: "pending".into(),
                    reconciled_at: None,
                    payments: 0,
                    refunds: 0,
                    totals: Vec::new(),
                    differences: 0,
                },
            ],
        };
        assert_eq!(
            settlement_csv(&view),
            "date,provider,state,currency,payments,refunds,collected,refunded,fees,net,differences\r\n\
             2026-11-30,wechat,reconciled,CNY,2,1,1500,300,9,1191,1\r\n\
             2026-11-30,alipay,pending,,0,0,,,,,0\r\n"
        );
    }
}
