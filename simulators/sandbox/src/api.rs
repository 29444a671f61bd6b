//! The provider API an adapter calls: sign-up (`POST /accounts`) and the signed trade calls
//! under `/api/` (create, query, close, refund), with their input validation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::SandboxError;
use crate::money::check_amount;
use crate::refunds::{self, NewRefund};
use crate::sign::{now_secs, Signed};
use crate::trades::{self, Counter, NewTrade, TradeState};
use crate::wire::{
    AccountCreated, CreateRefund, CreateTrade, RefundView, TradeClosed, TradeCreated, TradeView,
};
use crate::Sandbox;

const MAX_SUBJECT_CHARS: usize = 256;
const MAX_CHANNEL_CHARS: usize = 32;
const MAX_URL_LEN: usize = 2048;

/// `POST /accounts`: open an account (no body, no signature).
pub async fn create_account(
    State(sandbox): State<Sandbox>,
) -> Result<(StatusCode, Json<AccountCreated>), SandboxError> {
    let account = sandbox.create_account().await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountCreated {
            account_id: account.account_id,
            api_key: account.api_key,
        }),
    ))
}

/// `POST /api/trades`.
pub async fn create_trade(
    State(sandbox): State<Sandbox>,
    signed: Signed,
) -> Result<Json<TradeCreated>, SandboxError> {
    let req: CreateTrade = parse(&signed.body)?;
    let new = validate_trade(req, signed.account_id)?;
    let trade = trades::create(&sandbox.pool, &new).await?;
    Ok(Json(TradeCreated {
        pay_url: format!("{}/checkout/{}", sandbox.public_base, trade.payment_no),
        payment_no: trade.payment_no,
        trade_id: trade.trade_id,
        state: trade.state.as_str(),
    }))
}

/// `GET /api/trades/{payment_no}`.
pub async fn query_trade(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
    signed: Signed,
) -> Result<Json<TradeView>, SandboxError> {
    let trade = trades::count_call(
        &sandbox.pool,
        &payment_no,
        &signed.account_id,
        Counter::Queried,
    )
    .await?;
    Ok(Json(TradeView::from(&trade)))
}

/// `POST /api/trades/{payment_no}/close`.
pub async fn close_trade(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
    signed: Signed,
) -> Result<Json<TradeClosed>, SandboxError> {
    trades::count_call(
        &sandbox.pool,
        &payment_no,
        &signed.account_id,
        Counter::Closed,
    )
    .await?;
    let trade = trades::close(&sandbox.pool, &payment_no).await?;
    Ok(Json(TradeClosed {
        payment_no: trade.payment_no,
        state: TradeState::Closed.as_str(),
    }))
}

/// `POST /api/trades/{payment_no}/refunds`.
pub async fn create_refund(
    State(sandbox): State<Sandbox>,
    Path(payment_no): Path<String>,
    signed: Signed,
) -> Result<Json<RefundView>, SandboxError> {
    let req: CreateRefund = parse(&signed.body)?;
    check_number(&req.refund_no, "refund_no")?;
    check_amount(req.amount, &req.currency).map_err(SandboxError::InvalidRequest)?;

    let trade = trades::count_call(
        &sandbox.pool,
        &payment_no,
        &signed.account_id,
        Counter::Refunded,
    )
    .await?;
    if trade.currency != req.currency {
        return Err(SandboxError::InvalidRequest(format!(
            "the trade is in {}",
            trade.currency
        )));
    }
    let refund = refunds::refund(
        &sandbox.pool,
        &NewRefund {
            payment_no,
            refund_no: req.refund_no,
            amount: req.amount,
            currency: req.currency,
            reason: req.reason,
        },
    )
    .await?;
    Ok(Json(RefundView {
        payment_no: refund.payment_no,
        refund_no: refund.refund_no,
        refund_id: refund.refund_id,
        state: "succeeded",
        amount: refund.amount,
    }))
}

/// Parses a JSON body; malformed JSON or a missing field is `INVALID_REQUEST`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, SandboxError> {
    serde_json::from_slice(body)
        .map_err(|e| SandboxError::InvalidRequest(format!("invalid JSON body: {e}")))
}

/// Merchant numbers (payment_no, refund_no) become URL path segments: 1-64 characters of
/// `[0-9A-Za-z_-]`, which need no escaping anywhere.
pub fn check_number(value: &str, field: &str) -> Result<(), SandboxError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SandboxError::InvalidRequest(format!(
            "{field} must be 1-64 characters of [0-9A-Za-z_-]"
        )))
    }
}

fn validate_trade(req: CreateTrade, account_id: String) -> Result<NewTrade, SandboxError> {
    let invalid = |m: String| SandboxError::InvalidRequest(m);
    check_number(&req.payment_no, "payment_no")?;
    check_amount(req.amount, &req.currency).map_err(invalid)?;
    let subject_chars = req.subject.chars().count();
    if subject_chars == 0 || subject_chars > MAX_SUBJECT_CHARS {
        return Err(invalid(format!(
            "subject must be 1-{MAX_SUBJECT_CHARS} characters"
        )));
    }
    let channel_chars = req.channel.chars().count();
    if channel_chars == 0 || channel_chars > MAX_CHANNEL_CHARS {
        return Err(invalid(format!(
            "channel must be 1-{MAX_CHANNEL_CHARS} characters"
        )));
    }
    if req.expires_at <= now_secs() {
        return Err(invalid("expires_at is in the past".into()));
    }
    let expires_at_ms = req
        .expires_at
        .checked_mul(1000)
        .ok_or_else(|| invalid("expires_at is out of range".into()))?;
    let url_ok = req.notify_url.len() <= MAX_URL_LEN
        && url::Url::parse(&req.notify_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !url_ok {
        return Err(invalid("notify_url must be an http(s) URL".into()));
    }
    if let Some(url) = &req.return_url {
        // The payer's browser is sent there: an absolute http(s) URL with a host, never a
        // `javascript:` or relative one.
        let ok = url.len() <= MAX_URL_LEN
            && url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(invalid(format!(
                "return_url must be an absolute http(s) URL of at most {MAX_URL_LEN} characters"
            )));
        }
    }
    Ok(NewTrade {
        payment_no: req.payment_no,
        account_id,
        amount: req.amount,
        currency: req.currency,
        subject: req.subject,
        channel: req.channel,
        expires_at_ms,
        notify_url: req.notify_url,
        return_url: req.return_url,
    })
}
