//! Applying a provider's report about a trade (a notification, a status query, the
//! deadline's query): the domain's settlement rule decides on the payment and its orders
//! as read, the store applies exactly that in one transaction, and this is the one place
//! that acts on what the settlement means (events, refunds of money paygate must not keep,
//! flags counted, logs).

use crate::domain::{settle, Currency, Money, PaymentOrder, ReportedPayment, Settlement};
use crate::runtime::contract::{TradeState, TradeStatus};
use crate::store::notifications::Received;
use crate::store::orders;
use crate::store::settlement::{self, ReportDetails};
use crate::store::Applied;

use super::{Gateway, ServiceError};

/// How many times a report is decided again after another request changed the payment.
const MAX_ROUNDS: usize = 8;

/// Where a report came from, when a notification brought it: it is recorded in the
/// transaction that applies it, and must be about a payment of this merchant at this
/// provider (a valid signature for one merchant's account proves nothing about another's).
#[derive(Debug, Clone, Copy)]
pub struct Notified<'a> {
    pub provider: &'a str,
    pub merchant_id: &'a str,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The rule decided this, and it is applied.
    Applied(Settlement),
    /// No such payment (for this merchant at this provider, when notified).
    UnknownPayment,
}

impl Settled {
    /// Whether the provider is told the report was taken.
    pub fn acknowledged(&self) -> bool {
        match self {
            Settled::Applied(s) => s.acknowledged(),
            Settled::UnknownPayment => true,
        }
    }

    /// Whether the payment was paid by this report.
    pub fn paid(&self) -> bool {
        matches!(
            self,
            Settled::Applied(Settlement::Paid { .. } | Settlement::PaidTwice { .. })
        )
    }

    /// Whether the report closed or paid the payment: nothing left to watch.
    pub fn settled(&self) -> bool {
        matches!(
            self,
            Settled::Applied(
                Settlement::Paid { .. }
                    | Settlement::PaidTwice { .. }
                    | Settlement::PaidLate { .. }
                    | Settlement::Closed { .. }
                    | Settlement::AmountMismatch { .. }
                    | Settlement::UnexpectedRefund
            )
        )
    }
}

/// For people reading the notification record (and a bill difference's action).
pub(super) fn outcome_text(s: &Settlement) -> String {
    match s {
        Settlement::Paid { .. } => "paid".into(),
        Settlement::PaidTwice { .. } => "paid, double payment flagged".into(),
        Settlement::Closed { .. } => "closed".into(),
        Settlement::NoChange => "unchanged".into(),
        Settlement::PaidLate { .. } => "late payment, refunded".into(),
        Settlement::AmountMismatch { .. } | Settlement::UnexpectedRefund => match s.flag() {
            Some(f) => format!("flagged {f}"),
            None => "flagged".into(),
        },
    }
}

impl Gateway {
    /// Applies a provider's report through the settlement rule, and acts on the result.
    pub(super) async fn apply_report(
        &self,
        status: &TradeStatus,
        notified: Option<Notified<'_>>,
    ) -> Result<Settled, ServiceError> {
        let no = status.payment_no.as_str();
        let reported = reported(status);
        // A status query's "still open" needs no fresh read: the rule changes nothing
        // whatever the payment became meanwhile. A notification is recorded, so it goes on.
        if notified.is_none() && reported.changes_nothing() {
            tracing::debug!(payment_no = no, "report changes nothing");
            return Ok(Settled::Applied(Settlement::NoChange));
        }
        let details = ReportDetails {
            provider_trade_id: status.provider_trade_id.as_deref(),
            paid_at_ms: status.paid_at.map(|s| s.saturating_mul(1000)),
        };
        for _ in 0..MAX_ROUNDS {
            let read = settlement::read(&self.db, no).await?;
            let owned = read.as_ref().is_some_and(|(p, _)| {
                notified.is_none_or(|n| p.merchant_id == n.merchant_id && p.provider == n.provider)
            });
            let Some((payment, mut held)) = read.filter(|_| owned) else {
                tracing::warn!(
                    payment_no = no,
                    "report for an unknown payment (or another merchant's, or another provider's)"
                );
                if let Some(n) = notified {
                    let received = Received {
                        provider: n.provider,
                        merchant_id: n.merchant_id,
                        payment_no: Some(no),
                        verified: true,
                        outcome: "unknown payment".into(),
                    };
                    crate::store::notifications::save(&self.db, &received, self.now_ms()).await?;
                }
                return Ok(Settled::UnknownPayment);
            };
            // An open payment holds every one of its orders; one that it does not hold
            // (a broken invariant, or a payment no longer open) is read as it is.
            let missing: Vec<String> = payment
                .order_ids
                .iter()
                .filter(|id| !held.iter().any(|o| &o.id == *id))
                .cloned()
                .collect();
            if payment.state.is_open() && !missing.is_empty() {
                held.extend(orders::get_many(&self.db, &payment.merchant_id, &missing).await?);
            }
            let orders: Vec<PaymentOrder> = held
                .iter()
                .map(|o| PaymentOrder {
                    id: o.id.clone(),
                    state: o.state,
                    held: o.open_payment_no.as_deref() == Some(no),
                })
                .collect();
            let decided = settle(payment.state, payment.amount, &orders, &reported);
            let received = notified.map(|n| Received {
                provider: n.provider,
                merchant_id: n.merchant_id,
                payment_no: Some(no),
                verified: true,
                outcome: outcome_text(&decided),
            });
            let now = self.now_ms();
            let applied =
                settlement::apply(&self.db, &payment, &held, &decided, &details, received, now)
                    .await?;
            let Applied::Done(events) = applied else {
                tracing::info!(
                    payment_no = no,
                    "the payment changed while its report was applied; deciding again"
                );
                continue;
            };
            self.settled(no, &decided, &events).await?;
            return Ok(Settled::Applied(decided));
        }
        Err(ServiceError::internal(
            "settling a report",
            anyhow::anyhow!("payment {no} kept changing under {MAX_ROUNDS} attempts"),
        ))
    }

    /// What follows an applied settlement: webhooks, refunds of money paygate must not
    /// keep, flags counted for operators.
    async fn settled(
        &self,
        payment_no: &str,
        s: &Settlement,
        events: &[String],
    ) -> Result<(), ServiceError> {
        match s {
            Settlement::Paid { order_ids, .. } => {
                tracing::info!(payment_no, ?order_ids, "payment settled: paid")
            }
            Settlement::PaidTwice { conflicting, .. } => {
                tracing::error!(
                    payment_no,
                    ?conflicting,
                    "paid for orders no longer payable: flagged double_payment"
                )
            }
            Settlement::PaidLate { .. } => {
                tracing::error!(
                    payment_no,
                    "paid after paygate closed it: flagged late_payment"
                )
            }
            Settlement::Closed { .. } => tracing::info!(payment_no, "payment settled: closed"),
            Settlement::AmountMismatch { expected, reported } => {
                let reported = reported.map_or("no readable amount".to_owned(), |m| m.to_string());
                tracing::error!(payment_no, %expected, %reported, "paid amount differs: flagged amount_mismatch")
            }
            Settlement::UnexpectedRefund => {
                tracing::error!(payment_no, "refund paygate did not ask for: flagged")
            }
            Settlement::NoChange => {
                tracing::info!(payment_no, "report changes nothing (already applied)")
            }
        }
        if let Some(flag) = s.flag() {
            metrics::counter!("paygate_payments_flagged_total", "flag" => flag.as_str())
                .increment(1);
        }
        self.dispatch(events).await;
        // Money paygate must not keep goes back; the report itself is recorded either way.
        if let Some(kind) = s.refund() {
            if let Err(e) = self.refund_unwanted(payment_no, kind).await {
                tracing::error!(payment_no, error = %e, "refund of unwanted money failed; flagged");
                self.flag_once(payment_no, crate::domain::PaymentFlag::RefundFailed)
                    .await?;
            }
        }
        Ok(())
    }

    /// Flags a payment for an operator (a flag about money replaces the one there), and
    /// counts it in `paygate_payments_flagged_total`.
    pub(super) async fn flag_once(
        &self,
        payment_no: &str,
        flag: crate::domain::PaymentFlag,
    ) -> Result<(), ServiceError> {
        if crate::store::payments::flag(&self.db, payment_no, flag, self.now_ms()).await? {
            metrics::counter!("paygate_payments_flagged_total", "flag" => flag.as_str())
                .increment(1);
            tracing::error!(payment_no, %flag, "payment flagged for an operator");
        }
        Ok(())
    }
}

/// The provider's report, reduced for the settlement rule. A paid amount that cannot be
/// read as money (missing, an unknown currency, out of range) is reported as none, which
/// matches no payment.
pub fn reported(status: &TradeStatus) -> ReportedPayment {
    match status.state {
        TradeState::Open => ReportedPayment::Open,
        TradeState::Paid => ReportedPayment::Paid {
            amount: status.paid_amount.as_ref().and_then(|m| {
                let minor = i64::try_from(m.minor).ok()?;
                Money::new(minor, Currency::parse(&m.currency).ok()?).ok()
            }),
        },
        TradeState::Closed => ReportedPayment::Closed,
        TradeState::Refunded => ReportedPayment::Refunded,
        TradeState::Failed => ReportedPayment::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::contract;

    fn status(state: TradeState, paid: Option<(u64, &str)>) -> TradeStatus {
        TradeStatus {
            payment_no: "p1".into(),
            state,
            paid_amount: paid.map(|(minor, currency)| contract::Money {
                minor,
                currency: currency.into(),
            }),
            provider_trade_id: None,
            paid_at: None,
        }
    }

    #[test]
    fn a_paid_report_carries_its_amount_as_money() {
        let r = reported(&status(TradeState::Paid, Some((100, "CNY"))));
        let cny = Currency::parse("CNY").expect("CNY");
        assert_eq!(
            r,
            ReportedPayment::Paid {
                amount: Money::new(100, cny).ok()
            }
        );
    }

    #[test]
    fn an_unreadable_paid_amount_is_reported_as_none_never_as_a_sentinel() {
        for paid in [
            None,
            Some((100, "XYZ")),
            Some((u64::MAX, "CNY")),
            Some((0, "CNY")),
        ] {
            assert_eq!(
                reported(&status(TradeState::Paid, paid)),
                ReportedPayment::Paid { amount: None },
                "{paid:?}"
            );
        }
    }
}
