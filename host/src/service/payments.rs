//! Payments: starting (or resuming) payment of one or more orders at a provider, reading a
//! payment, closing it at the provider, and querying the provider to settle it.

use std::collections::BTreeSet;

use crate::domain::repay::{
    action_reusable, decide, payer_binding, OpenPayment, PayTarget, PayerDetail, RepayDecision,
};
use crate::domain::{
    pay_window, Money, OrderState, PayAction, PaymentNo, PaymentState, ReportedPayment, WindowError,
};
use crate::runtime::contract::{self, ProviderError, TradeState, TradeStatus};
use crate::store::now_ms;
use crate::store::orders::{self, OrderRecord};
use crate::store::payments::{self, NewPayment, PaymentRecord, ReportDetails, SettleOutcome};

use super::orders::state_conflict;
use super::{Gateway, ServiceError};

/// How often one pay request re-applies the repay rule after losing a race.
const MAX_ROUNDS: usize = 8;

/// The most orders one combined payment may carry.
pub const MAX_ORDERS_PER_PAYMENT: usize = 50;

/// A pay request, as the API validated its shape.
#[derive(Debug, Clone)]
pub struct PayCommand {
    pub order_ids: Vec<String>,
    pub provider: String,
    pub channel: String,
    pub payer: contract::Payer,
}

/// The answer to a pay request.
#[derive(Debug, Clone)]
pub struct PayOutcome {
    pub payment: PaymentRecord,
    pub order_ids: Vec<String>,
    /// The orders' deadline (the earliest of them), as displayed to the payer.
    pub expires_at: i64,
    pub action: Option<PayAction>,
    /// True when the stored action was returned without calling the provider.
    pub reused: bool,
}

impl Gateway {
    pub async fn pay(
        &self,
        merchant_id: &str,
        cmd: PayCommand,
    ) -> Result<PayOutcome, ServiceError> {
        let ids: BTreeSet<&String> = cmd.order_ids.iter().collect();
        if cmd.order_ids.is_empty() || cmd.order_ids.len() > MAX_ORDERS_PER_PAYMENT {
            return Err(ServiceError::invalid(
                "invalid_order_ids",
                format!("order_ids must hold 1 to {MAX_ORDERS_PER_PAYMENT} order ids"),
            ));
        }
        if ids.len() != cmd.order_ids.len() {
            return Err(ServiceError::invalid(
                "invalid_order_ids",
                "order_ids names an order twice",
            ));
        }
        let adapter = self
            .runtime
            .adapter(&cmd.provider)
            .ok_or_else(|| ServiceError::unknown_provider(&cmd.provider))?;
        let Some(channel) = adapter.info.channels.iter().find(|c| c.name == cmd.channel) else {
            let names: Vec<&str> = adapter
                .info
                .channels
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(ServiceError::invalid(
                "unknown_channel",
                format!(
                    "provider `{}` has no channel `{}` (it has: {})",
                    cmd.provider,
                    cmd.channel,
                    names.join(", ")
                ),
            ));
        };
        let binds: Vec<PayerDetail> = channel
            .binds
            .iter()
            .map(|b| match b {
                contract::PayerBinding::OpenId => PayerDetail::OpenId,
                contract::PayerBinding::ClientIp => PayerDetail::ClientIp,
            })
            .collect();
        crate::domain::check_payer(
            cmd.payer.open_id.as_deref(),
            cmd.payer.client_ip.as_deref(),
            cmd.payer.return_url.as_deref(),
        )
        .map_err(|m| ServiceError::invalid("invalid_payer", m))?;
        let binding = payer_binding(
            &binds,
            cmd.payer.open_id.as_deref(),
            cmd.payer.client_ip.as_deref(),
        );

        // The amount comes from the database, never from the request.
        let mut orders = Vec::with_capacity(ids.len());
        for id in &ids {
            orders.push(self.order(merchant_id, id).await?);
        }
        for o in &orders {
            if o.state != OrderState::Pending {
                return Err(state_conflict(o.state));
            }
        }
        let amounts: Vec<Money> = orders
            .iter()
            .map(|o| {
                crate::domain::Currency::parse(&o.currency).and_then(|c| Money::new(o.amount, c))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::Internal(format!("stored order amount: {e}")))?;
        let total = Money::sum(&amounts).map_err(|e| {
            ServiceError::invalid(
                "invalid_combination",
                format!("orders cannot be paid together: {e}"),
            )
        })?;
        let expires_at = orders
            .iter()
            .map(|o| o.expires_at)
            .min()
            .unwrap_or_default();
        let window = pay_window(
            expires_at,
            now_ms(),
            self.rules.repay_cutoff_ms,
            self.timers.grace_ms,
        )
        .map_err(|e| match e {
            WindowError::Expiring { .. } => ServiceError::conflict("order_expiring", e.to_string()),
        })?;
        let order_ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();

        let target = PayTarget {
            provider: &cmd.provider,
            channel: &cmd.channel,
            order_ids: order_ids.iter().map(String::as_str).collect(),
            payer_binding: &binding,
        };
        // Concurrent requests for the same orders race through the database: each round
        // re-reads the orders' open payments and applies the repay rule again.
        for _ in 0..MAX_ROUNDS {
            let open = self.open_payments(merchant_id, &order_ids).await?;
            let open_refs: Vec<_> = open
                .iter()
                .map(|(p, ids)| OpenPayment {
                    payment_no: &p.payment_no,
                    provider: &p.provider,
                    channel: &p.channel,
                    order_ids: ids.iter().map(String::as_str).collect(),
                    payer_binding: &p.payer_binding,
                    action_valid: action_reusable(
                        p.action.is_some(),
                        p.action_expires_at,
                        p.provider_deadline,
                        now_ms(),
                        self.rules.action_margin_ms,
                    ),
                })
                .collect();
            match decide(&target, &open_refs) {
                RepayDecision::Reuse { payment_no } => {
                    let payment = self.payment_record(merchant_id, &payment_no).await?;
                    tracing::Span::current().record("payment_no", payment_no.as_str());
                    tracing::info!("returning the stored pay action; provider not called");
                    return self.outcome(payment, order_ids, expires_at, true);
                }
                RepayDecision::CallAgain { payment_no } => {
                    tracing::Span::current().record("payment_no", payment_no.as_str());
                    let ctx = self.call_context(merchant_id, &cmd.provider).await?;
                    let now = now_ms();
                    if payments::take_opening(
                        &self.db,
                        &payment_no,
                        now + self.opening_lease_ms(),
                        now + self.rules.action_margin_ms,
                    )
                    .await?
                    {
                        let payment = self.payment_record(merchant_id, &payment_no).await?;
                        return self
                            .open_trade(payment, &ctx, &orders, &cmd, order_ids, expires_at)
                            .await;
                    }
                    // Another request (maybe in another process) is asking the provider right
                    // now: wait for its answer instead of asking twice.
                    let seen = open
                        .iter()
                        .find(|(p, _)| p.payment_no == payment_no)
                        .map(|(p, _)| p.version)
                        .unwrap_or_default();
                    if let Some(payment) = self
                        .wait_for_opening(merchant_id, &payment_no, seen)
                        .await?
                    {
                        tracing::info!("answered with the action another request obtained; provider not called");
                        return self.outcome(payment, order_ids, expires_at, true);
                    }
                }
                RepayDecision::CloseThenNew { close } => {
                    for payment_no in close {
                        let payment = self.payment_record(merchant_id, &payment_no).await?;
                        // Another request is asking the provider to open this trade right now:
                        // closing it under that request would leave the trade it opens
                        // untracked. Let it finish; the caller retries.
                        if payment.opening_until.is_some_and(|until| until > now_ms()) {
                            return Err(ServiceError::conflict(
                                "payment_in_progress",
                                format!("payment {payment_no} of these orders is being opened by another request; try again"),
                            ));
                        }
                        tracing::info!(closing = %payment_no, provider = %payment.provider, "switching (provider, channel, payer or orders): closing the open trade first");
                        // "Already paid" there means the order is paid: refuse, start nothing.
                        self.close_at_provider(&payment).await?;
                    }
                }
                RepayDecision::New => {
                    // Read (and checked) before the payment reserves its orders, so a provider
                    // the merchant has not configured leaves nothing open.
                    let ctx = self.call_context(merchant_id, &cmd.provider).await?;
                    let payment_no = PaymentNo::generate();
                    let created = payments::create(
                        &self.db,
                        &NewPayment {
                            payment_no: payment_no.as_str(),
                            merchant_id,
                            provider: &cmd.provider,
                            channel: &cmd.channel,
                            amount: total.minor(),
                            currency: total.currency().code(),
                            provider_deadline: window.provider_deadline_ms,
                            payer_binding: &binding,
                            order_ids: &order_ids,
                            opening_until: now_ms() + self.opening_lease_ms(),
                        },
                    )
                    .await?;
                    if created {
                        tracing::Span::current().record("payment_no", payment_no.as_str());
                        tracing::info!(amount = total.minor(), currency = %total.currency(), "payment created");
                        let payment = self
                            .payment_record(merchant_id, payment_no.as_str())
                            .await?;
                        return self
                            .open_trade(payment, &ctx, &orders, &cmd, order_ids, expires_at)
                            .await;
                    }
                }
            }
            // Orders changed under us (another request won a race): look again.
            for o in &orders {
                let now = self.order(merchant_id, &o.id).await?;
                if now.state != OrderState::Pending {
                    return Err(state_conflict(now.state));
                }
            }
        }
        Err(ServiceError::conflict(
            "payment_in_progress",
            "these orders are being paid by concurrent requests; try again",
        ))
    }

    /// How long a request may hold a payment while it asks the provider to open the trade:
    /// the adapter's wall-clock limit and a margin.
    fn opening_lease_ms(&self) -> i64 {
        self.runtime.limits().wall_timeout.as_millis() as i64 + 5_000
    }

    /// The distinct open payments of these orders, each with its order ids.
    async fn open_payments(
        &self,
        merchant_id: &str,
        order_ids: &[String],
    ) -> Result<Vec<(PaymentRecord, Vec<String>)>, ServiceError> {
        let mut seen = BTreeSet::new();
        let mut open = Vec::new();
        for id in order_ids {
            let order = self.order(merchant_id, id).await?;
            if let Some(no) = order.open_payment_no {
                if seen.insert(no.clone()) {
                    let payment = self.payment_record(merchant_id, &no).await?;
                    if payment.state == PaymentState::Open {
                        let ids = payments::order_ids(&self.db, &no).await?;
                        open.push((payment, ids));
                    }
                }
            }
        }
        Ok(open)
    }

    /// Waits while another request opens the trade of `payment_no`, which this request saw
    /// at `seen_version`. The payment with the action that request stored (whatever its
    /// remaining lifetime: it is the provider's latest); `None` when the other request gave
    /// up or the payment ended (the caller looks again).
    async fn wait_for_opening(
        &self,
        merchant_id: &str,
        payment_no: &str,
        seen_version: i64,
    ) -> Result<Option<PaymentRecord>, ServiceError> {
        let give_up = tokio::time::Instant::now()
            + std::time::Duration::from_millis(self.opening_lease_ms() as u64);
        loop {
            let p = self.payment_record(merchant_id, payment_no).await?;
            if p.state != PaymentState::Open {
                return Ok(None);
            }
            // Storing an action bumps the version; taking or releasing the lease does not.
            if p.version != seen_version && p.action.is_some() && p.opening_until.is_none() {
                return Ok(Some(p));
            }
            let opening = p.opening_until.is_some_and(|until| until > now_ms());
            if !opening || tokio::time::Instant::now() > give_up {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn outcome(
        &self,
        payment: PaymentRecord,
        order_ids: Vec<String>,
        expires_at: i64,
        reused: bool,
    ) -> Result<PayOutcome, ServiceError> {
        let action = match &payment.action {
            Some(stored) => Some(
                serde_json::from_str(stored)
                    .map_err(|e| ServiceError::Internal(format!("stored action: {e}")))?,
            ),
            None => None,
        };
        Ok(PayOutcome {
            payment,
            order_ids,
            expires_at,
            action,
            reused,
        })
    }

    /// Asks the provider to open (or reopen, same number, same deadline) the payment's trade
    /// while holding the payment's opening lease, and stores the action.
    async fn open_trade(
        &self,
        payment: PaymentRecord,
        ctx: &super::CallContext,
        orders: &[OrderRecord],
        cmd: &PayCommand,
        order_ids: Vec<String>,
        expires_at: i64,
    ) -> Result<PayOutcome, ServiceError> {
        let merchant_id = payment.merchant_id.clone();
        let request = contract::PayRequest {
            payment_no: payment.payment_no.clone(),
            amount: contract::Money {
                minor: payment.amount as u64,
                currency: payment.currency.clone(),
            },
            subject: pay_subject(orders),
            channel: cmd.channel.clone(),
            // Rounded up: the provider's deadline is never before paygate's own.
            expires_at: (payment.provider_deadline + 999).div_euclid(1000),
            notify_url: self.notify_url(&cmd.provider, &merchant_id),
            payer: cmd.payer.clone(),
        };
        let answer = self
            .runtime
            .pay(&cmd.provider, ctx.grants.clone(), &ctx.config, &request)
            .await;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(e))
                if payment.action.is_some()
                    && !matches!(
                        e,
                        ProviderError::AlreadyPaid
                            | ProviderError::AlreadyClosed
                            | ProviderError::Unreachable(_)
                    ) =>
            {
                // Asked again under a number the provider already opened a trade for: its
                // refusal of this call (a key rotated, a parameter changed) says nothing of
                // that trade, which may still be paid. It stays open and tracked; the
                // deadline queries and closes it.
                payments::release_opening(&self.db, &payment.payment_no).await?;
                tracing::warn!(error = ?e, "provider refused to renew the pay action; the open trade stays tracked");
                return Err(self.pay_refused_again(e));
            }
            Ok(Err(e)) => {
                let err = self.pay_refused(&payment, e).await;
                payments::release_opening(&self.db, &payment.payment_no).await?;
                return Err(err);
            }
            Err(e) => {
                // The adapter failed before answering: whether the provider opened the trade is
                // unknown, so the payment stays open and a retry reuses its number.
                payments::release_opening(&self.db, &payment.payment_no).await?;
                return Err(e.into());
            }
        };
        let action = pay_action(response.action);
        let json =
            serde_json::to_string(&action).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let action_expires_at = response.action_expires_at.map(|s| s.saturating_mul(1000));
        let stored = payments::set_action(
            &self.db,
            &payment.payment_no,
            &json,
            action_expires_at,
            response.provider_trade_id.as_deref(),
        )
        .await?;
        if !stored {
            // The payment ended while the provider opened its trade (a switch closed it, or
            // it settled): the trade just opened must not stay payable.
            tracing::warn!("payment ended while its trade was being opened; closing that trade");
            let ended = self
                .payment_record(&merchant_id, &payment.payment_no)
                .await?;
            if matches!(ended.state, PaymentState::Paid | PaymentState::Refunded) {
                // Paid through the action handed out before: nothing to close.
                return Err(ServiceError::conflict(
                    "order_paid",
                    "the payment was paid while the provider answered",
                ));
            }
            if let Err(e) = self.close_at_provider(&ended).await {
                tracing::error!(error = %e, "could not close the trade opened for an ended payment; the status sync keeps watching it");
            }
            return Err(ServiceError::conflict(
                "payment_in_progress",
                "the orders' payment changed while the provider answered; try again",
            ));
        }
        tracing::info!(
            action = action_kind(&action),
            ?action_expires_at,
            "provider opened the trade"
        );
        // Notifications get lost: query the provider on a schedule until the payment settles.
        if let Err(e) = self
            .timers
            .schedule_sync(&merchant_id, &payment.payment_no, now_ms())
            .await
        {
            tracing::error!(error = %e, "could not schedule status queries; they resume at the next start");
        }
        let payment = self
            .payment_record(&merchant_id, &payment.payment_no)
            .await?;
        self.outcome(payment, order_ids, expires_at, false)
    }

    /// The error for a provider that refused to renew the action of a trade it opened before
    /// (the payment stays open).
    fn pay_refused_again(&self, e: ProviderError) -> ServiceError {
        let message = match &e {
            ProviderError::Rejected(r) => format!("the provider refused: {} {}", r.code, r.message),
            ProviderError::Config(m) => {
                format!("the merchant's provider configuration is wrong: {m}")
            }
            other => format!("the provider refused: {other:?}"),
        };
        let code = match e {
            ProviderError::Config(_) => "provider_misconfigured",
            _ => "provider_rejected",
        };
        ServiceError::Provider {
            code,
            message: format!(
                "{message}; the payment's open trade stays tracked until its deadline"
            ),
            retryable: false,
        }
    }

    /// Turns the provider's refusal to open a trade into the payment's fate and an error.
    async fn pay_refused(&self, payment: &PaymentRecord, e: ProviderError) -> ServiceError {
        let definitive = |code, message: String| ServiceError::Provider {
            code,
            message,
            retryable: false,
        };
        let failed = match &e {
            ProviderError::Unreachable(m) => {
                return ServiceError::Provider {
                    code: "provider_unreachable",
                    message: format!("provider unreachable: {m}"),
                    retryable: true,
                }
            }
            ProviderError::AlreadyPaid => {
                return match self.sync_payment(payment).await {
                    Ok(_) => ServiceError::conflict(
                        "order_paid",
                        "the provider reports this payment already paid",
                    ),
                    Err(err) => err,
                };
            }
            ProviderError::Rejected(r) => definitive(
                "provider_rejected",
                format!("the provider refused: {} {}", r.code, r.message),
            ),
            ProviderError::AlreadyClosed => definitive(
                "provider_rejected",
                "the provider has closed this trade".into(),
            ),
            ProviderError::NotFound => definitive(
                "provider_rejected",
                "the provider does not know this trade".into(),
            ),
            ProviderError::BadSignature(m) => {
                definitive("provider_rejected", format!("signature problem: {m}"))
            }
            ProviderError::Config(m) => definitive(
                "provider_misconfigured",
                format!("the merchant's provider configuration is wrong: {m}"),
            ),
            ProviderError::Unsupported(m) => ServiceError::invalid(
                "unsupported",
                format!("not supported by this provider: {m}"),
            ),
        };
        tracing::warn!(error = %failed, "provider refused the trade; payment failed");
        if let Err(store) =
            payments::end_unpaid(&self.db, &payment.payment_no, PaymentState::Failed).await
        {
            return store.into();
        }
        failed
    }

    pub async fn payment_record(
        &self,
        merchant_id: &str,
        payment_no: &str,
    ) -> Result<PaymentRecord, ServiceError> {
        if PaymentNo::parse(payment_no).is_none() {
            return Err(ServiceError::NotFound("payment"));
        }
        payments::get(&self.db, merchant_id, payment_no)
            .await?
            .ok_or(ServiceError::NotFound("payment"))
    }

    pub async fn payment_orders(&self, payment_no: &str) -> Result<Vec<OrderRecord>, ServiceError> {
        Ok(orders::of_payment(&self.db, payment_no).await?)
    }

    /// Closes an open payment's trade at its provider, then locally. "Already paid" at the
    /// provider settles the payment as paid instead and refuses with `order_paid`.
    ///
    /// A refused close is never taken at its word: providers do not all pin the code for
    /// "closing a paid trade" (WeChat Pay's documentation does not), so any refusal other
    /// than "already closed" or "unknown trade" is followed by a query, and the trade's
    /// real state decides.
    pub async fn close_at_provider(&self, payment: &PaymentRecord) -> Result<(), ServiceError> {
        let ctx = self
            .call_context(&payment.merchant_id, &payment.provider)
            .await?;
        let refusal = match self
            .runtime
            .close(
                &payment.provider,
                ctx.grants.clone(),
                &ctx.config,
                &payment.payment_no,
            )
            .await?
        {
            Ok(()) | Err(ProviderError::AlreadyClosed) | Err(ProviderError::NotFound) => {
                return self.closed_at_provider(payment).await;
            }
            Err(ProviderError::Unreachable(m)) => {
                return Err(ServiceError::Provider {
                    code: "provider_unreachable",
                    message: format!("could not close the open payment: {m}"),
                    retryable: true,
                })
            }
            Err(refusal) => refusal,
        };
        tracing::info!(payment_no = %payment.payment_no, ?refusal, "close refused; asking the provider for the trade's state");
        let status = match self.query_at_provider(payment, ctx).await? {
            Ok(status) => status,
            Err(ProviderError::NotFound) => return self.closed_at_provider(payment).await,
            Err(e) => {
                return Err(ServiceError::Provider {
                    code: "provider_unreachable",
                    message: format!(
                        "the provider refused to close the payment ({refusal:?}) and its state \
                         could not be read ({e:?})"
                    ),
                    retryable: true,
                })
            }
        };
        match status.state {
            TradeState::Paid | TradeState::Refunded => {
                self.apply_trade_status(&status).await?;
                Err(ServiceError::conflict(
                    "order_paid",
                    "the provider reports this payment paid",
                ))
            }
            TradeState::Closed | TradeState::Failed => self.closed_at_provider(payment).await,
            // Still payable there: nothing may close locally (the money could still come).
            TradeState::Open => Err(ServiceError::Provider {
                code: "provider_rejected",
                message: format!(
                    "the provider refused to close the open payment and reports it still \
                     open: {refusal:?}"
                ),
                retryable: true,
            }),
        }
    }

    /// Records that the payment's trade can no longer be paid at its provider.
    async fn closed_at_provider(&self, payment: &PaymentRecord) -> Result<(), ServiceError> {
        payments::end_unpaid(&self.db, &payment.payment_no, PaymentState::Closed).await?;
        tracing::info!(payment_no = %payment.payment_no, "payment closed at the provider");
        Ok(())
    }

    /// The provider's answer about the payment's trade, with the merchant's `ctx`.
    async fn query_at_provider(
        &self,
        payment: &PaymentRecord,
        ctx: super::CallContext,
    ) -> Result<Result<TradeStatus, ProviderError>, ServiceError> {
        Ok(self
            .runtime
            .query(
                &payment.provider,
                ctx.grants,
                &ctx.config,
                &payment.payment_no,
            )
            .await?)
    }

    /// Asks the provider for the payment's state and settles it.
    pub async fn sync_payment(
        &self,
        payment: &PaymentRecord,
    ) -> Result<SettleOutcome, ServiceError> {
        let ctx = self
            .call_context(&payment.merchant_id, &payment.provider)
            .await?;
        match self.query_at_provider(payment, ctx).await? {
            Ok(status) => self.apply_trade_status(&status).await,
            Err(e) => Err(ServiceError::Provider {
                code: "provider_unreachable",
                message: format!("status query failed: {e:?}"),
                retryable: true,
            }),
        }
    }

    /// Applies a provider's report (notification or query) through settlement.
    pub async fn apply_trade_status(
        &self,
        status: &TradeStatus,
    ) -> Result<SettleOutcome, ServiceError> {
        let outcome = payments::settle_report(
            &self.db,
            &status.payment_no,
            &reported(status),
            &ReportDetails {
                provider_trade_id: status.provider_trade_id.as_deref(),
                paid_at_ms: status.paid_at.map(|s| s * 1000),
            },
        )
        .await?;
        match &outcome {
            SettleOutcome::Paid { order_ids, .. } => {
                tracing::info!(payment_no = %status.payment_no, ?order_ids, "payment settled: paid")
            }
            SettleOutcome::PaidWithConflict { conflicting, .. } => {
                tracing::error!(payment_no = %status.payment_no, ?conflicting, "paid for orders no longer payable: flagged double_payment")
            }
            SettleOutcome::Flagged(flag) => {
                tracing::error!(payment_no = %status.payment_no, flag, "payment flagged for an operator")
            }
            SettleOutcome::Closed => {
                tracing::info!(payment_no = %status.payment_no, "payment settled: closed")
            }
            SettleOutcome::Unchanged => {
                tracing::info!(payment_no = %status.payment_no, "report changes nothing (already applied)")
            }
            SettleOutcome::UnknownPayment => {
                tracing::warn!(payment_no = %status.payment_no, "report for an unknown payment")
            }
            SettleOutcome::LatePayment => {
                tracing::error!(payment_no = %status.payment_no, "paid after paygate closed it: flagged late_payment")
            }
        }
        if let SettleOutcome::Paid { events, .. } | SettleOutcome::PaidWithConflict { events, .. } =
            &outcome
        {
            self.dispatch(events).await;
        }
        // Money paygate must not keep goes back; the report itself is recorded either way.
        let unwanted = match &outcome {
            SettleOutcome::LatePayment => Some("late_payment"),
            SettleOutcome::PaidWithConflict { .. } => Some("double_payment"),
            _ => None,
        };
        if let Some(kind) = unwanted {
            if let Err(e) = self.refund_unwanted(&status.payment_no, kind).await {
                tracing::error!(payment_no = %status.payment_no, error = %e, "refund of unwanted money failed; flagged");
                payments::flag(&self.db, &status.payment_no, "refund_failed").await?;
            }
        }
        Ok(outcome)
    }
}

/// The provider's report, reduced for the settlement rule. "Paid" without an amount cannot
/// be checked, so it is reported with none, which the rule flags as a mismatch.
pub fn reported(status: &TradeStatus) -> ReportedPayment {
    match status.state {
        TradeState::Open => ReportedPayment::Open,
        TradeState::Paid => match &status.paid_amount {
            Some(m) => ReportedPayment::Paid {
                minor: i64::try_from(m.minor).unwrap_or(-1),
                currency: m.currency.clone(),
            },
            None => ReportedPayment::Paid {
                minor: -1,
                currency: String::new(),
            },
        },
        TradeState::Closed => ReportedPayment::Closed,
        TradeState::Refunded => ReportedPayment::Refunded,
        TradeState::Failed => ReportedPayment::Failed,
    }
}

/// The subject the provider shows: the order's, or a summary for a combined payment.
fn pay_subject(orders: &[OrderRecord]) -> String {
    match orders {
        [one] => one.subject.clone(),
        [first, rest @ ..] => format!("{} (+{} more)", first.subject, rest.len()),
        [] => String::new(),
    }
}

fn pay_action(action: contract::PayAction) -> PayAction {
    match action {
        contract::PayAction::QrCode(content) => PayAction::QrCode { content },
        contract::PayAction::Redirect(url) => PayAction::Redirect { url },
        contract::PayAction::HtmlForm(html) => PayAction::HtmlForm { html },
        contract::PayAction::SdkParams(params) => PayAction::SdkParams {
            params: params.into_iter().collect(),
        },
    }
}

fn action_kind(a: &PayAction) -> &'static str {
    match a {
        PayAction::QrCode { .. } => "qr_code",
        PayAction::Redirect { .. } => "redirect",
        PayAction::HtmlForm { .. } => "html_form",
        PayAction::SdkParams { .. } => "sdk_params",
    }
}
