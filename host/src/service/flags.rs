//! What waits for an operator, and the operator acting on it: flagged payments, webhooks
//! whose schedule ran out, failed refunds, and resolving a flag with a note (who, when, why), decided by
//! `domain::resolve_flag` and applied by `store::flags` only if the payment still carries
//! the flag the operator read. Free functions over the database, so that the CLI works on
//! a data directory as the admin API does through a running paygate.

use crate::domain::{self, DeliveryState, PaymentFlag, RefundState, ResolveError};
use crate::store::events::{self, OrderEvent};
use crate::store::flags::{self, FlagResolution};
use crate::store::payments::{self, PaymentRecord};
use crate::store::refunds::{self, RefundRecord};
use crate::store::Db;

use super::{ErrorCode, Gateway, ServiceError};

/// How many of the latest resolutions an overview carries.
pub const RECENT_RESOLUTIONS: i64 = 50;

/// What waits for an operator, newest first, and what operators resolved lately.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Flagged payments (at most 500).
    pub payments: Vec<PaymentRecord>,
    /// Webhooks whose retry schedule ran out.
    pub webhooks: Vec<OrderEvent>,
    /// Refunds that failed (at most 500).
    pub refunds: Vec<RefundRecord>,
    /// The latest [`RECENT_RESOLUTIONS`] flags resolved.
    pub resolved: Vec<FlagResolution>,
    /// Differences with the providers' bills no operator has resolved (at most 500).
    pub bill_differences: Vec<crate::store::bills::DifferenceRecord>,
}

/// What waits for an operator.
pub async fn overview(db: &Db) -> Result<Overview, ServiceError> {
    Ok(Overview {
        payments: payments::flagged(db).await?,
        webhooks: events::in_state(db, DeliveryState::Failed).await?,
        refunds: refunds::in_state(db, RefundState::Failed).await?,
        resolved: flags::recent(db, RECENT_RESOLUTIONS).await?,
        bill_differences: crate::store::bills::open_differences(db, 500).await?,
    })
}

/// Resolves `flag` on `payment_no` (any merchant's: operators see them all), with `note`
/// saying why, by the operator `by`, at `now_ms`. Errors: the payment unknown (404); no
/// flag (409 `flag_not_set`); another flag than `flag` (409 `flag_changed`, naming it); a
/// blank or over-long note (422 `invalid_note`).
pub async fn resolve(
    db: &Db,
    payment_no: &str,
    flag: PaymentFlag,
    note: &str,
    by: &str,
    now_ms: i64,
) -> Result<FlagResolution, ServiceError> {
    let payment = payments::get_any(db, payment_no)
        .await?
        .ok_or(ServiceError::NotFound("payment"))?;
    domain::resolve_flag(payment.flag, flag, note).map_err(refusal)?;
    let resolution = FlagResolution {
        id: format!("fr_{}", uuid::Uuid::now_v7().simple()),
        payment_no: payment.payment_no,
        merchant_id: payment.merchant_id,
        flag,
        note: note.trim().to_owned(),
        resolved_by: by.to_owned(),
        resolved_at: now_ms,
    };
    if flags::resolve(db, &resolution).await? {
        tracing::info!(payment_no, flag = %flag, by, "flag resolved");
        return Ok(resolution);
    }
    // A new event about the payment's money came between the read and the write: say what
    // it carries now.
    let now = payments::get_any(db, payment_no)
        .await?
        .ok_or(ServiceError::NotFound("payment"))?;
    Err(refusal(
        domain::resolve_flag(now.flag, flag, note)
            .err()
            .unwrap_or(ResolveError::NotFlagged),
    ))
}

impl Gateway {
    /// See [`overview`].
    pub async fn flags(&self) -> Result<Overview, ServiceError> {
        overview(&self.db).await
    }

    /// See [`resolve`]; now is paygate's clock.
    pub async fn resolve_flag(
        &self,
        payment_no: &str,
        flag: PaymentFlag,
        note: &str,
        by: &str,
    ) -> Result<FlagResolution, ServiceError> {
        resolve(&self.db, payment_no, flag, note, by, self.clock.now_ms()).await
    }
}

/// A flag's name as an operator types it: 422 `invalid_flag`, listing the names, otherwise.
pub fn parse_flag(name: &str) -> Result<PaymentFlag, ServiceError> {
    PaymentFlag::parse(name).ok_or_else(|| {
        let names: Vec<&str> = PaymentFlag::ALL.iter().map(|f| f.as_str()).collect();
        ServiceError::invalid(
            ErrorCode::InvalidFlag,
            format!("`{name}` is not a flag; paygate sets {}", names.join(", ")),
        )
    })
}

fn refusal(e: ResolveError) -> ServiceError {
    let code = match e {
        ResolveError::NotFlagged => ErrorCode::FlagNotSet,
        ResolveError::Changed { .. } => ErrorCode::FlagChanged,
        ResolveError::Note => return ServiceError::invalid(ErrorCode::InvalidNote, e.to_string()),
    };
    ServiceError::conflict(code, e.to_string())
}
