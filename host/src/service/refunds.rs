//! Refunds: a merchant's (partial refunds up to what was paid, idempotent by key) and
//! paygate's own for late and double payments. Each is driven to a final state through
//! the adapter; an unreachable provider is asked again from the delay queue (providers
//! treat a repeated refund number as the same refund).

use crate::domain::retry_failed;
use sha2::{Digest, Sha256};

use crate::domain::refund::{
    after_refund_succeeded, partial_refund, tells_partial_refund, PartialRefund, RefundEffect,
};
use crate::domain::{
    Money, MoneyError, OrderState, PaymentFlag, PaymentState, RefundEvent, RefundKind, RefundState,
    Transition,
};
use crate::runtime::contract::{self, ProviderError, RefundState as ProviderRefundState};
use crate::store::orders::OrderRecord;
use crate::store::payments::{self, PaymentRecord};
use crate::store::refunds::{self, Finish, RefundRecord};
use crate::store::Applied;

use super::calls::About;
use super::trade::describe;
use super::{ErrorCode, Gateway, ServiceError};

/// The longest reason a merchant may give (WeChat Pay's limit, 80 characters).
pub const MAX_REASON_CHARS: usize = 80;

/// What a merchant asks for.
pub struct RefundAsk<'a> {
    pub amount: i64,
    pub reason: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// The refusal of a refund larger than what is left of the payment.
fn exceeds_paid(payment: &PaymentRecord) -> ServiceError {
    ServiceError::invalid(
        ErrorCode::RefundExceedsPaid,
        format!(
            "{} minor units were paid and {} are already refunded",
            payment.paid_amount.map_or(0, |m| m.minor()),
            payment.refunded_minor
        ),
    )
}

impl Gateway {
    /// A merchant's refund of (part of) a paid payment.
    pub async fn refund_payment(
        &self,
        merchant_id: &str,
        payment_no: &str,
        ask: RefundAsk<'_>,
    ) -> Result<RefundRecord, ServiceError> {
        let payment = self.payment_record(merchant_id, payment_no).await?;
        let amount = match Money::new(ask.amount, payment.amount.currency()) {
            Ok(m) => m,
            Err(MoneyError::TooLarge) => return Err(exceeds_paid(&payment)),
            Err(_) => {
                return Err(ServiceError::invalid(
                    ErrorCode::InvalidAmount,
                    "a refund's amount must be above 0 minor units",
                ))
            }
        };
        if ask
            .reason
            .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
        {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidReason,
                format!("reason must be at most {MAX_REASON_CHARS} characters"),
            ));
        }
        // With a key, the refund number comes from it: a retry finds the same refund.
        let refund_no = match ask.idempotency_key {
            Some(key) => hex::encode(Sha256::digest(format!("{merchant_id}\n{key}").as_bytes()))
                [..32]
                .to_owned(),
            None => uuid::Uuid::now_v7().simple().to_string(),
        };
        if let Some(existing) = refunds::get(&self.db, &refund_no).await? {
            if existing.payment_no != payment_no
                || existing.amount != amount
                || existing.reason.as_deref() != ask.reason
            {
                return Err(ServiceError::invalid(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used for another refund",
                ));
            }
            return Ok(existing);
        }
        let refund = self.new_refund(
            &payment,
            refund_no,
            amount,
            ask.reason.map(str::to_owned),
            RefundKind::Merchant,
        );
        match refunds::create(&self.db, &refund, PaymentState::REFUNDABLE).await {
            Ok(Applied::Done(())) => {}
            Ok(Applied::LostRace) => {
                return Err(if payment.state.collected() {
                    exceeds_paid(&payment)
                } else {
                    ServiceError::conflict(
                        ErrorCode::PaymentNotPaid,
                        "only a paid payment can be refunded",
                    )
                })
            }
            // The same key raced another request: answer that request's refund.
            Err(e) if e.is_unique_violation() => {
                return refunds::get(&self.db, &refund.refund_no)
                    .await?
                    .ok_or(ServiceError::NotFound("refund"));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(payment_no, refund_no = %refund.refund_no, amount = %refund.amount, "refund recorded");
        self.drive_refund(&refund, 0).await
    }

    fn new_refund(
        &self,
        payment: &PaymentRecord,
        refund_no: String,
        amount: Money,
        reason: Option<String>,
        kind: RefundKind,
    ) -> RefundRecord {
        let now = self.now_ms();
        RefundRecord {
            refund_no,
            payment_no: payment.payment_no.clone(),
            merchant_id: payment.merchant_id.clone(),
            amount,
            reason,
            kind,
            state: RefundState::Pending,
            provider_refund_id: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Refunds everything not yet refunded of a payment whose money paygate must not keep;
    /// the caller flags it for an operator if that fails.
    pub(super) async fn refund_unwanted(
        &self,
        payment_no: &str,
        kind: RefundKind,
    ) -> Result<(), ServiceError> {
        // A merchant's refund taken meanwhile changes what is left: compute it again.
        for _ in 0..4 {
            let Some(payment) = payments::get_any(&self.db, payment_no).await? else {
                return Ok(());
            };
            let paid = payment.paid_amount.unwrap_or(payment.amount);
            let Ok(left) = Money::new(paid.minor() - payment.refunded_minor, paid.currency())
            else {
                tracing::info!(payment_no, %kind, "nothing left to refund");
                return Ok(());
            };
            let refund = self.new_refund(
                &payment,
                uuid::Uuid::now_v7().simple().to_string(),
                left,
                kind.reason().map(str::to_owned),
                kind,
            );
            if let Applied::Done(()) =
                refunds::create(&self.db, &refund, PaymentState::REFUNDABLE).await?
            {
                tracing::warn!(payment_no, refund_no = %refund.refund_no, %kind, amount = %refund.amount, "refunding money paygate must not keep");
                self.drive_refund(&refund, 0).await?;
                return Ok(());
            }
        }
        Err(ServiceError::internal(
            "refunding money paygate must not keep",
            anyhow::anyhow!("what is left to refund of {payment_no} kept changing"),
        ))
    }

    /// Asks the provider to carry out a pending refund and records its answer; `step` is
    /// how many times it was asked before (the next ask waits longer).
    pub async fn drive_refund(
        &self,
        refund: &RefundRecord,
        step: usize,
    ) -> Result<RefundRecord, ServiceError> {
        let payment = payments::get_any(&self.db, &refund.payment_no)
            .await?
            .ok_or(ServiceError::NotFound("payment"))?;
        let ctx = self
            .call_context(&refund.merchant_id, &payment.provider)
            .await?;
        let paid = payment.paid_amount.unwrap_or(payment.amount);
        let request = contract::RefundRequest {
            payment_no: refund.payment_no.clone(),
            refund_no: refund.refund_no.clone(),
            amount: contract::Money {
                minor: refund.amount.minor().unsigned_abs(),
                currency: refund.amount.currency().code().to_owned(),
            },
            total: contract::Money {
                minor: paid.minor().unsigned_abs(),
                currency: paid.currency().code().to_owned(),
            },
            reason: refund.reason.clone(),
            notify_url: self.notify_url(&payment.provider, &refund.merchant_id),
        };
        let about = || About {
            merchant_id: &refund.merchant_id,
            provider: &payment.provider,
            payment_no: &refund.payment_no,
            refund_no: Some(&refund.refund_no),
        };
        // Asked before: the refund may be processing at the provider. Ask about it rather
        // than submitting it again; submit only when the provider cannot be asked (a 1.0.0
        // adapter) or does not know it (the first submission never arrived).
        let queried = if step > 0 {
            let answer = self
                .recorded(
                    about(),
                    "query-refund",
                    self.runtime.query_refund(
                        &payment.provider,
                        ctx.grants.clone(),
                        &ctx.config,
                        &refund.payment_no,
                        &refund.refund_no,
                    ),
                )
                .await;
            match answer {
                Ok(Err(ProviderError::Unsupported(_) | ProviderError::NotFound)) => None,
                other => Some(other),
            }
        } else {
            None
        };
        let from_query = queried.is_some();
        let answer = match queried {
            Some(answer) => answer,
            None => {
                self.recorded(
                    about(),
                    "refund",
                    self.runtime.refund(
                        &payment.provider,
                        ctx.grants.clone(),
                        &ctx.config,
                        &request,
                    ),
                )
                .await
            }
        };
        match answer {
            Ok(Ok(status)) => match status.state {
                ProviderRefundState::Succeeded => {
                    self.finish_refund(
                        refund,
                        RefundEvent::Succeed,
                        status.provider_refund_id.as_deref(),
                        None,
                    )
                    .await?
                }
                ProviderRefundState::Failed => {
                    self.finish_refund(
                        refund,
                        RefundEvent::Fail,
                        None,
                        Some("the provider reports the refund failed"),
                    )
                    .await?
                }
                ProviderRefundState::Processing => self.retry_refund(refund, step).await?,
            },
            Ok(Err(ProviderError::Unreachable(m))) => {
                tracing::warn!(refund_no = %refund.refund_no, error = %m, "refund outcome unknown; asking again later");
                self.retry_refund(refund, step).await?;
            }
            Err(e) => {
                tracing::warn!(refund_no = %refund.refund_no, error = %e, "refund call failed; asking again later");
                self.retry_refund(refund, step).await?;
            }
            // A refused *query* says nothing of the refund itself (a key rotated, a
            // signature problem): it may have succeeded. Only the refund's own answer may
            // fail it; until then it is asked about again.
            Ok(Err(e)) if from_query => {
                tracing::warn!(refund_no = %refund.refund_no, error = %describe(&e), "refund query refused; asking again later");
                self.retry_refund(refund, step).await?;
            }
            Ok(Err(e)) => {
                self.finish_refund(refund, RefundEvent::Fail, None, Some(&describe(&e)))
                    .await?
            }
        }
        refunds::get(&self.db, &refund.refund_no)
            .await?
            .ok_or(ServiceError::NotFound("refund"))
    }

    /// An operator retries a failed refund (`domain::retry_failed`): back to pending, its
    /// amount reserved again, then submitted to the provider under its own refund number
    /// at once (the answer is what that first ask met; a processing one goes on on the
    /// queue). Errors: no such refund (404); not failed (409 `refund_not_failed`); what is
    /// left to refund of its payment no longer covers it, because another refund took it
    /// meanwhile (422 `refund_exceeds_paid`).
    pub async fn retry_failed_refund(
        &self,
        refund_no: &str,
        by: &str,
    ) -> Result<RefundRecord, ServiceError> {
        let refund = refunds::get(&self.db, refund_no)
            .await?
            .ok_or(ServiceError::NotFound("refund"))?;
        let change = retry_failed(refund.state)
            .map_err(|e| ServiceError::conflict(ErrorCode::RefundNotFailed, e.to_string()))?;
        let applied = refunds::retry(
            &self.db,
            &refund,
            change,
            PaymentState::REFUNDABLE,
            self.now_ms(),
        )
        .await?;
        if let Applied::LostRace = applied {
            let now = refunds::get(&self.db, refund_no)
                .await?
                .ok_or(ServiceError::NotFound("refund"))?;
            if let Err(e) = retry_failed(now.state) {
                return Err(ServiceError::conflict(
                    ErrorCode::RefundNotFailed,
                    e.to_string(),
                ));
            }
            let payment = payments::get_any(&self.db, &refund.payment_no)
                .await?
                .ok_or(ServiceError::NotFound("payment"))?;
            return Err(exceeds_paid(&payment));
        }
        tracing::warn!(refund_no, payment_no = %refund.payment_no, by, "failed refund retried by an operator");
        let pending = RefundRecord {
            state: change.to(),
            last_error: None,
            ..refund
        };
        self.drive_refund(&pending, 0).await
    }

    /// A pending refund to ask about again (a queue task), or `None` when it finished.
    pub async fn pending_refund(
        &self,
        refund_no: &str,
    ) -> Result<Option<RefundRecord>, ServiceError> {
        Ok(refunds::get(&self.db, refund_no)
            .await?
            .filter(|r| r.state == RefundState::Pending))
    }

    /// Applies a provider's report about a refund (its notification): a pending refund of
    /// this merchant's payment that the provider says succeeded or failed is finished now,
    /// instead of at the next ask. Anything else changes nothing.
    pub(super) async fn apply_refund_status(
        &self,
        merchant_id: &str,
        status: &contract::RefundStatus,
    ) -> Result<(), ServiceError> {
        let Some(refund) = refunds::get(&self.db, &status.refund_no).await? else {
            tracing::warn!(refund_no = %status.refund_no, "report about an unknown refund");
            return Ok(());
        };
        if refund.merchant_id != merchant_id || refund.payment_no != status.payment_no {
            tracing::error!(refund_no = %status.refund_no, "report about a refund of another merchant or payment; ignored");
            return Ok(());
        }
        match status.state {
            ProviderRefundState::Succeeded => {
                self.finish_refund(
                    &refund,
                    RefundEvent::Succeed,
                    status.provider_refund_id.as_deref(),
                    None,
                )
                .await
            }
            ProviderRefundState::Failed => {
                self.finish_refund(
                    &refund,
                    RefundEvent::Fail,
                    None,
                    Some("the provider reports the refund failed"),
                )
                .await
            }
            ProviderRefundState::Processing => Ok(()),
        }
    }

    /// Applies the provider's final answer through the refund state machine and, for a
    /// success, what the domain says follows (payment and orders refunded in full).
    async fn finish_refund(
        &self,
        refund: &RefundRecord,
        event: RefundEvent,
        provider_refund_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), ServiceError> {
        for _ in 0..8 {
            let Some(current) = refunds::get(&self.db, &refund.refund_no).await? else {
                return Ok(());
            };
            let change = match current.state.apply(event) {
                Ok(Transition::To(change)) => change,
                // Already finished (a notification and a query both told us).
                Ok(Transition::Unchanged) | Err(_) => return Ok(()),
            };
            let (effect, orders, partial) = match event {
                RefundEvent::Fail => (
                    RefundEffect {
                        payment: None,
                        orders: None,
                    },
                    Vec::new(),
                    None,
                ),
                RefundEvent::Succeed => {
                    let (effect, orders) = self.refund_effect(&current).await?;
                    match self.partial_refund_told(&current, &effect).await? {
                        Some((partial, told)) => (effect, told, Some(partial)),
                        None => (effect, orders, None),
                    }
                }
            };
            let finish = Finish {
                change: Some(change),
                provider_refund_id,
                error,
                effect,
                orders,
                partial,
            };
            match refunds::finish(&self.db, &current, &finish, self.now_ms()).await? {
                Applied::Done(events) => {
                    self.dispatch(&events).await;
                    if change.to() == RefundState::Succeeded {
                        tracing::info!(refund_no = %refund.refund_no, "refund succeeded");
                        if finish.effect.payment.is_none() {
                            self.refunded_in_full_after(&current).await?;
                        }
                    } else {
                        tracing::error!(refund_no = %refund.refund_no, payment_no = %refund.payment_no, why = error.unwrap_or_default(), "refund failed");
                        if refund.kind != RefundKind::Merchant {
                            // Money paygate must not keep and could not give back: an operator acts.
                            self.flag_once(&refund.payment_no, PaymentFlag::RefundFailed)
                                .await?;
                        }
                    }
                    return Ok(());
                }
                Applied::LostRace => continue,
            }
        }
        Err(ServiceError::internal(
            "finishing a refund",
            anyhow::anyhow!("refund {} kept changing", refund.refund_no),
        ))
    }

    /// Two refunds that succeed at once each see the other pending, and neither refunds the
    /// payment in full: after a success, the rule is asked again on what is committed now,
    /// so the later of the two always sees both. A conditional change, harmless twice.
    async fn refunded_in_full_after(&self, refund: &RefundRecord) -> Result<(), ServiceError> {
        let (effect, orders) = self.refund_effect(refund).await?;
        if effect.payment.is_none() {
            return Ok(());
        }
        let finish = Finish {
            change: None,
            provider_refund_id: None,
            error: None,
            effect,
            orders,
            partial: None,
        };
        if let Applied::Done(events) =
            refunds::finish(&self.db, refund, &finish, self.now_ms()).await?
        {
            tracing::info!(payment_no = %refund.payment_no, "payment refunded in full");
            self.dispatch(&events).await;
        }
        Ok(())
    }

    /// What the success of `refund` does to its payment and orders, by the domain's rule,
    /// with the orders that rule's order change applies to.
    async fn refund_effect(
        &self,
        refund: &RefundRecord,
    ) -> Result<(RefundEffect, Vec<crate::store::orders::OrderRecord>), ServiceError> {
        let payment = payments::get_any(&self.db, &refund.payment_no)
            .await?
            .ok_or(ServiceError::NotFound("payment"))?;
        let others_pending = refunds::others_in_state(
            &self.db,
            &refund.payment_no,
            &refund.refund_no,
            RefundState::Pending,
        )
        .await?;
        let effect = after_refund_succeeded(
            refund.kind,
            payment.state,
            payment.paid_amount.map_or(0, |m| m.minor()),
            payment.refunded_minor,
            others_pending,
        )
        .map_err(|e| ServiceError::internal("the refund rule", e))?;
        let orders = match effect.orders {
            Some(change) => {
                refunds::orders_paid_by(&self.db, &refund.payment_no, change.from()).await?
            }
            None => Vec::new(),
        };
        Ok((effect, orders))
    }

    /// Whether the success of `refund` tells the merchant of a partial refund (the domain's
    /// rule), with the amounts as they are with it, and the orders to tell: those the
    /// payment paid that are still paid.
    async fn partial_refund_told(
        &self,
        refund: &RefundRecord,
        effect: &RefundEffect,
    ) -> Result<Option<(PartialRefund, Vec<OrderRecord>)>, ServiceError> {
        if !tells_partial_refund(refund.kind, effect) {
            return Ok(None);
        }
        let payment = payments::get_any(&self.db, &refund.payment_no)
            .await?
            .ok_or(ServiceError::NotFound("payment"))?;
        let succeeded_before: i64 = refunds::of_payment(&self.db, &refund.payment_no)
            .await?
            .iter()
            .filter(|r| r.refund_no != refund.refund_no && r.state == RefundState::Succeeded)
            .map(|r| r.amount.minor())
            .sum();
        let Some(partial) = partial_refund(
            refund.kind,
            effect,
            refund.amount.minor(),
            payment.paid_amount.map_or(0, |m| m.minor()),
            succeeded_before,
            payment.refunded_minor,
        ) else {
            return Ok(None);
        };
        let orders =
            refunds::orders_paid_by(&self.db, &refund.payment_no, OrderState::Paid).await?;
        Ok(Some((partial, orders)))
    }

    async fn retry_refund(&self, refund: &RefundRecord, step: usize) -> Result<(), ServiceError> {
        self.timers
            .schedule_refund(&refund.merchant_id, &refund.refund_no, self.now_ms(), step)
            .await
            .map_err(|e| ServiceError::internal("scheduling a refund ask", e))
    }
}
