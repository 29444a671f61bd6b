//! Starting (or resuming) payment of one or more orders at a provider: the repay rule
//! decides between the stored action, asking the provider again, a switch and a new
//! payment; the provider's answer is stored once.

use std::collections::BTreeSet;

use super::calls::About;
use crate::domain::repay::{
    action_reusable, decide, payer_binding, OpenPayment, PayTarget, PayerDetail, RepayDecision,
};
use crate::domain::{
    check_payer, pay_window, Money, OrderState, PayAction, PaymentEvent, PaymentNo, PaymentState,
    Transition,
};
use crate::runtime::contract::{self, ProviderError};
use crate::store::orders::{self, OrderRecord};
use crate::store::payments::{self, Opened, PaymentRecord};
use crate::store::Applied;

use super::orders::state_conflict;
use super::trade::describe;
use super::{CallContext, ErrorCode, Gateway, ServiceError};

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
    /// The orders' deadline (the earliest of them), as displayed to the payer.
    pub expires_at: i64,
    /// True when the stored action was returned without calling the provider.
    pub reused: bool,
}

/// What one pay request is about, checked.
struct Target {
    order_ids: Vec<String>,
    binding: String,
}

impl Gateway {
    pub async fn pay(
        &self,
        merchant_id: &str,
        cmd: PayCommand,
    ) -> Result<PayOutcome, ServiceError> {
        let target = self.check_pay(&cmd)?;
        let repay_target = PayTarget {
            provider: &cmd.provider,
            channel: &cmd.channel,
            order_ids: target.order_ids.iter().map(String::as_str).collect(),
            payer_binding: &target.binding,
        };
        // The common case first: orders in no open payment, for which the repay rule says
        // "new". Reserving them is what proves it; if any is taken or not payable, or the
        // merchant's configuration cannot be read (it is read before anything is reserved,
        // so a provider not configured leaves nothing open), the rule is applied below to
        // the orders as they are, and the orders' own state answers first.
        if decide(&repay_target, &[]) == RepayDecision::New {
            if let Ok(ctx) = self.call_context(merchant_id, &cmd.provider).await {
                if let Some(outcome) = self.open_new(merchant_id, &cmd, &target, &ctx).await? {
                    return Ok(outcome);
                }
            }
        }
        // Concurrent requests for the same orders race through the database: each round
        // reads the orders and their open payments and applies the repay rule again.
        for _ in 0..MAX_ROUNDS {
            let orders = orders::get_many(&self.db, merchant_id, &target.order_ids).await?;
            if orders.len() != target.order_ids.len() {
                return Err(ServiceError::NotFound("order"));
            }
            if let Some(o) = orders.iter().find(|o| o.state != OrderState::PAYABLE) {
                return Err(state_conflict(o.state));
            }
            let expires_at = earliest_deadline(&orders);
            self.window(expires_at)?;
            let open = self.open_payments(merchant_id, &orders).await?;
            let now = self.now_ms();
            let open_refs: Vec<_> = open
                .iter()
                .map(|p| OpenPayment {
                    payment_no: &p.payment_no,
                    provider: &p.provider,
                    channel: &p.channel,
                    order_ids: p.order_ids.iter().map(String::as_str).collect(),
                    payer_binding: &p.payer_binding,
                    action_valid: action_reusable(
                        p.action.is_some(),
                        p.action_expires_at,
                        p.provider_deadline,
                        now,
                        self.rules.action_margin_ms,
                    ),
                })
                .collect();
            match decide(&repay_target, &open_refs) {
                RepayDecision::Reuse { payment_no } => {
                    let Some(payment) = open.into_iter().find(|p| p.payment_no == payment_no)
                    else {
                        continue;
                    };
                    tracing::Span::current().record("payment_no", payment_no.as_str());
                    tracing::info!("returning the stored pay action; provider not called");
                    return Ok(PayOutcome {
                        payment,
                        expires_at,
                        reused: true,
                    });
                }
                RepayDecision::CallAgain { payment_no } => {
                    let Some(payment) = open.into_iter().find(|p| p.payment_no == payment_no)
                    else {
                        continue;
                    };
                    tracing::Span::current().record("payment_no", payment_no.as_str());
                    let now = self.now_ms();
                    if payments::take_opening(
                        &self.db,
                        &payment_no,
                        PaymentState::Open,
                        now + self.opening_lease_ms(),
                        now,
                        now + self.rules.action_margin_ms,
                    )
                    .await?
                    {
                        let ctx = match self.call_context(merchant_id, &cmd.provider).await {
                            Ok(ctx) => ctx,
                            Err(e) => {
                                payments::release_opening(&self.db, &payment_no).await?;
                                return Err(e);
                            }
                        };
                        return self
                            .open_trade(payment, &ctx, &orders, &cmd, expires_at)
                            .await;
                    }
                    // Another request (maybe in another process) is asking the provider right
                    // now: wait for its answer instead of asking twice.
                    if let Some(payment) = self.wait_for_opening(merchant_id, &payment).await? {
                        tracing::info!("answered with the action another request obtained; provider not called");
                        return Ok(PayOutcome {
                            payment,
                            expires_at,
                            reused: true,
                        });
                    }
                }
                RepayDecision::CloseThenNew { close } => {
                    for payment in open.iter().filter(|p| close.contains(&p.payment_no)) {
                        // Another request is asking the provider to open this trade right now:
                        // closing it under that request would leave the trade it opens
                        // untracked. Let it finish; the caller retries.
                        if payment
                            .opening_until
                            .is_some_and(|until| until > self.now_ms())
                        {
                            return Err(ServiceError::conflict(
                                ErrorCode::PaymentInProgress,
                                format!("payment {} of these orders is being opened by another request; try again", payment.payment_no),
                            ));
                        }
                        tracing::info!(closing = %payment.payment_no, provider = %payment.provider, "switching (provider, channel, payer or orders): closing the open trade first");
                        // "Already paid" there means the order is paid: refuse, start nothing.
                        self.close_at_provider(payment).await?;
                    }
                }
                RepayDecision::New => {
                    let ctx = self.call_context(merchant_id, &cmd.provider).await?;
                    if let Some(outcome) = self.open_new(merchant_id, &cmd, &target, &ctx).await? {
                        return Ok(outcome);
                    }
                }
            }
        }
        Err(ServiceError::conflict(
            ErrorCode::PaymentInProgress,
            "these orders are being paid by concurrent requests; try again",
        ))
    }

    /// The request's checks that need no database: order ids, provider, channel, payer.
    fn check_pay(&self, cmd: &PayCommand) -> Result<Target, ServiceError> {
        let ids: BTreeSet<&String> = cmd.order_ids.iter().collect();
        if cmd.order_ids.is_empty() || cmd.order_ids.len() > MAX_ORDERS_PER_PAYMENT {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidOrderIds,
                format!("order_ids must hold 1 to {MAX_ORDERS_PER_PAYMENT} order ids"),
            ));
        }
        if ids.len() != cmd.order_ids.len() {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidOrderIds,
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
                ErrorCode::UnknownChannel,
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
        check_payer(
            cmd.payer.open_id.as_deref(),
            cmd.payer.client_ip.as_deref(),
            cmd.payer.return_url.as_deref(),
        )
        .map_err(|m| ServiceError::invalid(ErrorCode::InvalidPayer, m))?;
        Ok(Target {
            order_ids: ids.into_iter().cloned().collect(),
            binding: payer_binding(
                &binds,
                cmd.payer.open_id.as_deref(),
                cmd.payer.client_ip.as_deref(),
            ),
        })
    }

    /// The pay window of orders due at `expires_at`: the provider's deadline, or
    /// `order_expiring`.
    fn window(&self, expires_at: i64) -> Result<i64, ServiceError> {
        pay_window(
            expires_at,
            self.now_ms(),
            self.rules.repay_cutoff_ms,
            self.timers.grace_ms,
        )
        .map(|w| w.provider_deadline_ms)
        .map_err(|e| ServiceError::conflict(ErrorCode::OrderExpiring, e.to_string()))
    }

    /// A new payment for the orders, reserving them in the same transaction, then its trade
    /// opened at the provider. `None` when an order was not payable and free any more.
    async fn open_new(
        &self,
        merchant_id: &str,
        cmd: &PayCommand,
        target: &Target,
        ctx: &CallContext,
    ) -> Result<Option<PayOutcome>, ServiceError> {
        let payment_no = PaymentNo::generate();
        let now = self.now_ms();
        let opening_until = now + self.opening_lease_ms();
        let opened = payments::open(
            &self.db,
            merchant_id,
            &target.order_ids,
            OrderState::PAYABLE,
            payment_no.as_str(),
            now,
            |orders| {
                // The amount comes from the database, never from the request.
                let amounts: Vec<Money> = orders.iter().map(|o| o.amount).collect();
                let amount = Money::sum(&amounts).map_err(|e| {
                    ServiceError::invalid(
                        ErrorCode::InvalidCombination,
                        format!("orders cannot be paid together: {e}"),
                    )
                })?;
                let provider_deadline = self.window(earliest_deadline(orders))?;
                Ok::<_, ServiceError>(PaymentRecord {
                    payment_no: payment_no.to_string(),
                    merchant_id: merchant_id.to_owned(),
                    provider: cmd.provider.clone(),
                    channel: cmd.channel.clone(),
                    amount,
                    state: PaymentState::INITIAL,
                    provider_deadline,
                    action: None,
                    action_expires_at: None,
                    payer_binding: target.binding.clone(),
                    provider_trade_id: None,
                    flag: None,
                    paid_amount: None,
                    created_at: now,
                    updated_at: now,
                    paid_at: None,
                    opening_until: Some(opening_until),
                    refunded_minor: 0,
                    order_ids: target.order_ids.clone(),
                })
            },
        )
        .await?;
        match opened {
            Opened::Made(payment, orders) => {
                tracing::Span::current().record("payment_no", payment_no.as_str());
                tracing::info!(amount = %payment.amount, "payment created");
                let expires_at = earliest_deadline(&orders);
                self.open_trade(*payment, ctx, &orders, cmd, expires_at)
                    .await
                    .map(Some)
            }
            Opened::NotPayable => Ok(None),
            Opened::Refused(e) => Err(e),
        }
    }

    /// How long a request may hold a payment while it asks the provider to open the trade:
    /// the adapter's wall-clock limit and a margin.
    fn opening_lease_ms(&self) -> i64 {
        self.runtime.limits().wall_timeout.as_millis() as i64 + 5_000
    }

    /// The distinct open payments of these orders.
    async fn open_payments(
        &self,
        merchant_id: &str,
        orders: &[OrderRecord],
    ) -> Result<Vec<PaymentRecord>, ServiceError> {
        let nos: BTreeSet<String> = orders
            .iter()
            .filter_map(|o| o.open_payment_no.clone())
            .collect();
        let nos: Vec<String> = nos.into_iter().collect();
        let found = payments::get_many(&self.db, merchant_id, &nos).await?;
        Ok(found.into_iter().filter(|p| p.state.is_open()).collect())
    }

    /// Waits while another request opens the trade of `seen`. The payment with the action
    /// that request stored (whatever its remaining lifetime: it is the provider's latest);
    /// `None` when the other request gave up or the payment ended (the caller looks again).
    async fn wait_for_opening(
        &self,
        merchant_id: &str,
        seen: &PaymentRecord,
    ) -> Result<Option<PaymentRecord>, ServiceError> {
        let give_up = tokio::time::Instant::now()
            + std::time::Duration::from_millis(self.opening_lease_ms() as u64);
        loop {
            let p = self.payment_record(merchant_id, &seen.payment_no).await?;
            if !p.state.is_open() {
                return Ok(None);
            }
            let stored_another = p.action.is_some()
                && (p.action != seen.action || p.action_expires_at != seen.action_expires_at);
            if stored_another && p.opening_until.is_none() {
                return Ok(Some(p));
            }
            let opening = p.opening_until.is_some_and(|until| until > self.now_ms());
            if !opening || tokio::time::Instant::now() > give_up {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Asks the provider to open (or reopen, same number, same deadline) the payment's trade
    /// while holding the payment's opening lease, and stores the action.
    async fn open_trade(
        &self,
        payment: PaymentRecord,
        ctx: &CallContext,
        orders: &[OrderRecord],
        cmd: &PayCommand,
        expires_at: i64,
    ) -> Result<PayOutcome, ServiceError> {
        let request = contract::PayRequest {
            payment_no: payment.payment_no.clone(),
            amount: contract::Money {
                minor: payment.amount.minor().unsigned_abs(),
                currency: payment.amount.currency().code().to_owned(),
            },
            subject: pay_subject(orders),
            channel: cmd.channel.clone(),
            // Rounded up: the provider's deadline is never before paygate's own.
            expires_at: (payment.provider_deadline + 999).div_euclid(1000),
            notify_url: self.notify_url(&cmd.provider, &payment.merchant_id),
            payer: cmd.payer.clone(),
        };
        let answer = self
            .recorded(
                About {
                    merchant_id: &payment.merchant_id,
                    provider: &cmd.provider,
                    payment_no: &payment.payment_no,
                    refund_no: None,
                },
                "pay",
                self.runtime
                    .pay(&cmd.provider, ctx.grants.clone(), &ctx.config, &request),
            )
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
                tracing::warn!(error = %describe(&e), "provider refused to renew the pay action; the open trade stays tracked");
                return Err(refused_again(e));
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
        let action_expires_at = response.action_expires_at.map(|s| s.saturating_mul(1000));
        let now = self.now_ms();
        let stored = payments::set_action(
            &self.db,
            &payment.payment_no,
            PaymentState::Open,
            &action,
            action_expires_at,
            response.provider_trade_id.as_deref(),
            now,
        )
        .await?;
        if let Applied::LostRace = stored {
            return Err(self.ended_while_opening(&payment).await?);
        }
        tracing::info!(
            action = action_kind(&action),
            ?action_expires_at,
            "provider opened the trade"
        );
        // Notifications get lost: query the provider on a schedule until the payment settles.
        if let Err(e) = self
            .timers
            .schedule_sync(&payment.merchant_id, &payment.payment_no, now)
            .await
        {
            tracing::error!(error = %e, "could not schedule status queries; they resume at the next start");
        }
        let provider_trade_id = response.provider_trade_id.or(payment.provider_trade_id);
        Ok(PayOutcome {
            payment: PaymentRecord {
                action: Some(action),
                action_expires_at,
                provider_trade_id,
                opening_until: None,
                updated_at: now,
                ..payment
            },
            expires_at,
            reused: false,
        })
    }

    /// The payment ended while the provider opened its trade (a switch closed it, or it
    /// settled): the trade just opened must not stay payable.
    async fn ended_while_opening(
        &self,
        payment: &PaymentRecord,
    ) -> Result<ServiceError, ServiceError> {
        tracing::warn!("payment ended while its trade was being opened; closing that trade");
        let ended = self
            .payment_record(&payment.merchant_id, &payment.payment_no)
            .await?;
        if ended.state.collected() {
            // Paid through the action handed out before: nothing to close.
            return Ok(ServiceError::conflict(
                ErrorCode::OrderPaid,
                "the payment was paid while the provider answered",
            ));
        }
        if let Err(e) = self.close_at_provider(&ended).await {
            tracing::error!(error = %e, "could not close the trade opened for an ended payment; the status sync keeps watching it");
        }
        Ok(ServiceError::conflict(
            ErrorCode::PaymentInProgress,
            "the orders' payment changed while the provider answered; try again",
        ))
    }

    /// Turns the provider's refusal to open a trade into the payment's fate and an error.
    async fn pay_refused(&self, payment: &PaymentRecord, e: ProviderError) -> ServiceError {
        let message = describe(&e);
        let failed = match &e {
            ProviderError::Unreachable(_) => {
                return ServiceError::provider(ErrorCode::ProviderUnreachable, message, true)
            }
            ProviderError::AlreadyPaid => {
                return match self.sync_payment(payment).await {
                    Ok(_) => ServiceError::conflict(
                        ErrorCode::OrderPaid,
                        "the provider reports this payment already paid",
                    ),
                    Err(err) => err,
                };
            }
            ProviderError::Rejected(_)
            | ProviderError::AlreadyClosed
            | ProviderError::NotFound
            | ProviderError::BadSignature(_) => {
                ServiceError::provider(ErrorCode::ProviderRejected, message, false)
            }
            ProviderError::Config(_) => {
                ServiceError::provider(ErrorCode::ProviderMisconfigured, message, false)
            }
            ProviderError::Unsupported(_) => ServiceError::invalid(ErrorCode::Unsupported, message),
        };
        tracing::warn!(error = %failed, "provider refused the trade; payment failed");
        if let Ok(Transition::To(change)) = payment.state.apply(PaymentEvent::Fail) {
            if let Err(store) =
                payments::end_unpaid(&self.db, &payment.payment_no, change, self.now_ms()).await
            {
                return store.into();
            }
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
}

/// The error for a provider that refused to renew the action of a trade it opened before
/// (the payment stays open).
fn refused_again(e: ProviderError) -> ServiceError {
    let code = match e {
        ProviderError::Config(_) => ErrorCode::ProviderMisconfigured,
        _ => ErrorCode::ProviderRejected,
    };
    ServiceError::provider(
        code,
        format!(
            "{}; the payment's open trade stays tracked until its deadline",
            describe(&e)
        ),
        false,
    )
}

/// The orders' deadline: the earliest of them.
fn earliest_deadline(orders: &[OrderRecord]) -> i64 {
    orders
        .iter()
        .map(|o| o.expires_at)
        .min()
        .unwrap_or_default()
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
