//! Refunds: a merchant's (partial refunds up to what was paid, idempotent by key) and
//! paygate's own for late and double payments. Each is driven to a final state through
//! the adapter; an unreachable provider is asked again from the delay queue (providers
//! treat a repeated refund number as the same refund).

use sha2::{Digest, Sha256};

use crate::runtime::contract::{self, ProviderError, RefundState};
use crate::store::refunds::{self, NewRefund, RefundRecord};
use crate::store::{now_ms, payments};

use super::deadlines::queue_error;
use super::{Gateway, ServiceError};

/// What a merchant asks for.
pub struct RefundAsk<'a> {
    pub amount: i64,
    pub reason: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
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
        if ask.amount <= 0 {
            return Err(ServiceError::invalid(
                "invalid_amount",
                "a refund's amount must be above 0 minor units",
            ));
        }
        if ask.reason.is_some_and(|r| r.chars().count() > 80) {
            return Err(ServiceError::invalid(
                "invalid_reason",
                "reason must be at most 80 characters",
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
                || existing.amount != ask.amount
                || existing.reason.as_deref() != ask.reason
            {
                return Err(ServiceError::invalid(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another refund",
                ));
            }
            return Ok(existing);
        }
        let new = NewRefund {
            refund_no: &refund_no,
            payment_no,
            merchant_id,
            amount: Some(ask.amount),
            reason: ask.reason,
            kind: "merchant",
        };
        let created = match refunds::create(&self.db, &new).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(match payment.state.as_str() {
                    "paid" | "refunded" => ServiceError::invalid(
                        "refund_exceeds_paid",
                        format!(
                            "{} minor units were paid and {} are already refunded",
                            payment.paid_amount.unwrap_or(0),
                            payment.refunded_amount
                        ),
                    ),
                    _ => ServiceError::conflict(
                        "payment_not_paid",
                        "only a paid payment can be refunded",
                    ),
                })
            }
            // The same key raced another request: answer that request's refund.
            Err(e) if e.is_unique_violation() => {
                return refunds::get(&self.db, &refund_no)
                    .await?
                    .ok_or(ServiceError::NotFound("refund"));
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(payment_no, refund_no = %created.refund_no, amount = created.amount, "refund recorded");
        self.drive_refund(&created, 0).await
    }

    /// Refunds everything not yet refunded of a payment whose money paygate must not keep
    /// (`late_payment`, `double_payment`); flags it for an operator if that fails.
    pub async fn refund_unwanted(&self, payment_no: &str, kind: &str) -> Result<(), ServiceError> {
        let Some(payment) = payments::get_any(&self.db, payment_no).await? else {
            return Ok(());
        };
        let refund_no = uuid::Uuid::now_v7().simple().to_string();
        let new = NewRefund {
            refund_no: &refund_no,
            payment_no,
            merchant_id: &payment.merchant_id,
            amount: None,
            reason: Some(if kind == "late_payment" {
                "paid after the payment was closed"
            } else {
                "order already paid"
            }),
            kind,
        };
        match refunds::create(&self.db, &new).await? {
            Some(refund) => {
                tracing::warn!(payment_no, refund_no = %refund.refund_no, kind, amount = refund.amount, "refunding money paygate must not keep");
                self.drive_refund(&refund, 0).await?;
            }
            None => tracing::info!(payment_no, kind, "nothing left to refund"),
        }
        Ok(())
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
        let request = contract::RefundRequest {
            payment_no: refund.payment_no.clone(),
            refund_no: refund.refund_no.clone(),
            amount: contract::Money {
                minor: refund.amount as u64,
                currency: refund.currency.clone(),
            },
            total: contract::Money {
                minor: payment.paid_amount.unwrap_or(payment.amount) as u64,
                currency: payment.currency.clone(),
            },
            reason: refund.reason.clone(),
            notify_url: self.notify_url(&payment.provider, &refund.merchant_id),
        };
        // Asked before: the refund may be processing at the provider. Ask about it rather
        // than submitting it again; submit only when the provider cannot be asked (a 1.0.0
        // adapter) or does not know it (the first submission never arrived).
        let queried = if step > 0 {
            let answer = self
                .runtime
                .query_refund(
                    &payment.provider,
                    ctx.grants.clone(),
                    &ctx.config,
                    &refund.payment_no,
                    &refund.refund_no,
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
                self.runtime
                    .refund(&payment.provider, ctx.grants, &ctx.config, &request)
                    .await
            }
        };
        match answer {
            Ok(Ok(status)) => match status.state {
                RefundState::Succeeded => {
                    self.refund_succeeded(refund, status.provider_refund_id.as_deref())
                        .await?
                }
                RefundState::Failed => {
                    self.refund_failed(refund, "the provider reports the refund failed")
                        .await?
                }
                RefundState::Processing => self.retry_refund(refund, step).await?,
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
                tracing::warn!(refund_no = %refund.refund_no, error = ?e, "refund query refused; asking again later");
                self.retry_refund(refund, step).await?;
            }
            Ok(Err(e)) => self.refund_failed(refund, &format!("{e:?}")).await?,
        }
        refunds::get(&self.db, &refund.refund_no)
            .await?
            .ok_or(ServiceError::NotFound("refund"))
    }

    /// Applies a provider's report about a refund (its notification): a pending refund of
    /// this merchant's payment that the provider says succeeded or failed is finished now,
    /// instead of at the next ask. Anything else changes nothing.
    pub async fn apply_refund_status(
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
        if refund.state != "pending" {
            return Ok(());
        }
        match status.state {
            RefundState::Succeeded => {
                self.refund_succeeded(&refund, status.provider_refund_id.as_deref())
                    .await
            }
            RefundState::Failed => {
                self.refund_failed(&refund, "the provider reports the refund failed")
                    .await
            }
            RefundState::Processing => Ok(()),
        }
    }

    async fn refund_succeeded(
        &self,
        refund: &RefundRecord,
        provider_refund_id: Option<&str>,
    ) -> Result<(), ServiceError> {
        let events =
            refunds::finish(&self.db, &refund.refund_no, true, provider_refund_id, None).await?;
        tracing::info!(refund_no = %refund.refund_no, "refund succeeded");
        self.dispatch(&events).await;
        Ok(())
    }

    async fn refund_failed(&self, refund: &RefundRecord, why: &str) -> Result<(), ServiceError> {
        refunds::finish(&self.db, &refund.refund_no, false, None, Some(why)).await?;
        tracing::error!(refund_no = %refund.refund_no, payment_no = %refund.payment_no, why, "refund failed");
        if refund.kind != "merchant" {
            // Money paygate must not keep and could not give back: an operator acts.
            payments::flag(&self.db, &refund.payment_no, "refund_failed").await?;
        }
        Ok(())
    }

    async fn retry_refund(&self, refund: &RefundRecord, step: usize) -> Result<(), ServiceError> {
        self.timers
            .schedule_refund(&refund.merchant_id, &refund.refund_no, now_ms(), step)
            .await
            .map_err(queue_error)
    }
}
