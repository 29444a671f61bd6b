//! Reconciliation against the providers' bills: a day's bill fetched through the adapter's
//! optional `paygate:bills` export, matched by `domain::reconcile`, the result recorded by
//! `store::bills` (each difference once), money the provider collected that paygate did not
//! hold as paid handed to the late-payment rules (`settlement`), and the differences
//! counted in `/metrics` and left for an operator.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::domain::reconcile::{
    self, BillDay, BillKind, BillRow, BillState, Difference, Outcome, Totals,
};
use crate::domain::{Currency, Money};
use crate::runtime::contract::{self, BillError, TradeState, TradeStatus};
use crate::runtime::CallError;
use crate::store::bills::{self, DifferenceRecord, Run, RunState};
use crate::store::provider_configs;

use super::settlement::{outcome_text, Settled};
use super::trade::describe;
use super::{ErrorCode, Gateway, ServiceError};

/// Longest note an operator may leave on a resolved difference, in characters.
pub const MAX_NOTE_CHARS: usize = 1_000;

/// A day's reconciliation of one merchant at one provider, as recorded, with the
/// differences recorded for it (by every run of the day, resolved ones too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    pub run: Run,
    pub differences: Vec<DifferenceRecord>,
}

/// What a run over a day's bills did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayProgress {
    pub reports: Vec<DayReport>,
    /// False when the budget ran out before every bill was asked for.
    pub finished: bool,
}

/// Reads a bill day given by a person or a client. Errors: not `YYYY-MM-DD` (422
/// `invalid_day`).
pub fn parse_day(text: &str) -> Result<BillDay, ServiceError> {
    BillDay::parse(text).map_err(|e| ServiceError::invalid(ErrorCode::InvalidDay, e.to_string()))
}

impl Gateway {
    /// When the daily reconciliation runs (Beijing time), if it does.
    pub fn bills_at(&self) -> Option<time::Time> {
        self.timers.bills_at
    }

    /// Whether the active adapter of `provider` reconciles (exports `paygate:bills`).
    pub fn reconciles(&self, provider: &str) -> bool {
        self.runtime
            .adapter(provider)
            .is_some_and(|a| a.reconciles())
    }

    /// Reconciles `day` for every merchant and provider that can be (or the one merchant,
    /// the one provider, asked), skipping those already reconciled when `again` is false.
    /// Errors: a day that has not begun (422 `invalid_day`); a provider asked by name that
    /// does not reconcile (422 `provider_cannot_reconcile`). Today may be asked for: the
    /// providers answer that its bill is not ready (a run `not_ready`), and a simulator
    /// told to serve bills at once serves what it holds so far. A merchant's failure to fetch
    /// its bill is recorded in its run, not an error.
    pub async fn reconcile_day(
        &self,
        day: BillDay,
        merchant_id: Option<&str>,
        provider: Option<&str>,
        again: bool,
    ) -> Result<Vec<DayReport>, ServiceError> {
        Ok(self
            .reconcile_day_within(day, merchant_id, provider, again, None)
            .await?
            .reports)
    }

    /// [`Gateway::reconcile_day`] that starts no further bill after `budget` has passed
    /// (the daily task stays within its queue lease, and continues in a next run).
    pub async fn reconcile_day_within(
        &self,
        day: BillDay,
        merchant_id: Option<&str>,
        provider: Option<&str>,
        again: bool,
        budget: Option<std::time::Duration>,
    ) -> Result<DayProgress, ServiceError> {
        let started = std::time::Instant::now();
        let (start, _) = day.bounds_ms();
        if start > self.now_ms() {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidDay,
                format!("{day} has not begun yet (bill days begin at midnight Beijing time)"),
            ));
        }
        if let Some(p) = provider {
            if self.runtime.adapter(p).is_none() {
                return Err(ServiceError::unknown_provider(p));
            }
            if !self.reconciles(p) {
                return Err(CallError::NoBills {
                    adapter: p.to_owned(),
                    version: self
                        .runtime
                        .adapter(p)
                        .map(|a| a.info.version.clone())
                        .unwrap_or_default(),
                }
                .into());
            }
        }
        if let Some(m) = merchant_id {
            self.merchant(m).await?;
        }
        // Done: reconciled, with no money the bill found still waiting for the rules (a run
        // that stopped between recording and settling is run again).
        let done: HashSet<(String, String)> = if again {
            HashSet::new()
        } else {
            let unsettled = bills::unsettled(&self.db, &day.to_string()).await?;
            bills::runs(&self.db, &day.to_string(), merchant_id)
                .await?
                .into_iter()
                .filter(|r| r.state == RunState::Reconciled)
                .map(|r| (r.merchant_id, r.provider))
                .filter(|pair| !unsettled.contains(pair))
                .collect()
        };
        let mut progress = DayProgress {
            reports: Vec::new(),
            finished: true,
        };
        for (m, p) in provider_configs::all_pairs(&self.db).await? {
            if merchant_id.is_some_and(|id| id != m)
                || provider.is_some_and(|name| name != p)
                || !self.reconciles(&p)
                || done.contains(&(m.clone(), p.clone()))
            {
                continue;
            }
            if budget.is_some_and(|b| started.elapsed() > b) {
                progress.finished = false;
                break;
            }
            match self.reconcile_bill(&m, &p, day).await {
                Ok(report) => progress.reports.push(report),
                Err(e @ ServiceError::Store(_)) => return Err(e),
                // Recorded as far as it got; the other merchants go on.
                Err(e) => {
                    tracing::error!(merchant_id = %m, provider = %p, day = %day, error = %e, "reconciling a bill failed")
                }
            }
        }
        Ok(progress)
    }

    /// Whether some bill of `day` is to be asked for again: not reconciled, with attempts
    /// left ([`reconcile::bill_retry`]), or with money found that the rules have not acted on.
    pub async fn day_waits(&self, day: BillDay) -> Result<bool, ServiceError> {
        let day = day.to_string();
        let retry = bills::runs(&self.db, &day, None).await?.iter().any(|r| {
            r.state != RunState::Reconciled && reconcile::bill_retry(r.attempts).is_some()
        });
        Ok(retry || !bills::unsettled(&self.db, &day).await?.is_empty())
    }

    /// Fetches `merchant_id`'s bill of `day` at `provider`, matches it and records the
    /// outcome. What the provider collected and paygate did not hold as paid goes through
    /// the late-payment rules, as a notification would have. Errors only for paygate's own
    /// storage (and an unknown provider or configuration): a bill that cannot be had is a
    /// run recorded as `not_ready` or `failed`.
    pub async fn reconcile_bill(
        &self,
        merchant_id: &str,
        provider: &str,
        day: BillDay,
    ) -> Result<DayReport, ServiceError> {
        let day_text = day.to_string();
        let now = self.now_ms();
        let mut run = Run {
            merchant_id: merchant_id.to_owned(),
            provider: provider.to_owned(),
            day: day_text.clone(),
            state: RunState::Failed,
            attempts: 0,
            payment_rows: 0,
            refund_rows: 0,
            matched: 0,
            error: None,
            first_run_at: now,
            last_run_at: now,
            reconciled_at: None,
            totals: BTreeMap::new(),
        };
        let rows = match self.bill_rows(merchant_id, provider, &day_text).await? {
            Ok(rows) => rows,
            Err((state, why)) => return self.not_reconciled(run, state, why).await,
        };
        let named_payments: Vec<&str> = rows.iter().map(|r| r.payment_no.as_str()).collect();
        let named_refunds: Vec<&str> = rows.iter().filter_map(|r| r.refund_no.as_deref()).collect();
        let (payments, refunds) = bills::recorded(
            &self.db,
            merchant_id,
            provider,
            day,
            &named_payments,
            &named_refunds,
        )
        .await?;
        // A provider late with its bill may answer "no bill" (Alipay's isp.bill_not_exist
        // reads as a day without trades after 09:00): paygate knows better when it holds
        // payments paid that day.
        let paid_on_day = payments.iter().filter(|p| p.paid_on_day).count();
        if rows.is_empty() && paid_on_day > 0 {
            let why = format!(
                "the bill lists no trade, and paygate holds {paid_on_day} payment(s) paid that \
                 day: the bill is taken as not ready"
            );
            return self.not_reconciled(run, RunState::NotReady, why).await;
        }
        let outcome = reconcile::reconcile(&rows, &payments, &refunds);
        run.state = RunState::Reconciled;
        run.reconciled_at = Some(now);
        run.payment_rows = count(&rows, BillKind::Payment);
        run.refund_rows = count(&rows, BillKind::Refund);
        run.matched = outcome.matched;
        run.totals = totals(&outcome);
        let records: Vec<DifferenceRecord> = outcome
            .differences
            .iter()
            .map(|d| difference_record(d, &run, now))
            .collect();
        let saved = bills::save_run(&self.db, &run, &records).await?;
        for d in &saved.new_differences {
            metrics::counter!("paygate_bill_differences_total", "provider" => provider.to_owned(), "kind" => d.kind.clone()).increment(1);
            tracing::error!(merchant_id, provider, day = %day_text, kind = %d.kind, number = %d.subject_no, "bill difference for an operator");
        }
        metrics::counter!("paygate_bill_runs_total", "provider" => provider.to_owned(), "state" => "reconciled").increment(1);

        // Money paid at the provider and not at paygate: every run hands it to the rules
        // again (they are idempotent), so a run that stopped half-way is finished by the next.
        let recorded = bills::differences(&self.db, &day_text, Some(merchant_id)).await?;
        let paid_rows: HashMap<&str, &BillRow> = rows
            .iter()
            .filter(|r| r.kind == BillKind::Payment)
            .map(|r| (r.payment_no.as_str(), r))
            .collect();
        for d in &outcome.differences {
            let Difference::PaidOnlyAtProvider { payment_no, amount } = d else {
                continue;
            };
            let Some(row) = paid_rows.get(payment_no.as_str()) else {
                continue;
            };
            let status = TradeStatus {
                payment_no: payment_no.clone(),
                state: TradeState::Paid,
                provider_trade_id: Some(row.provider_trade_id.clone()),
                paid_amount: Some(contract::Money {
                    minor: u64::try_from(amount.minor()).unwrap_or(0),
                    currency: amount.currency().code().to_owned(),
                }),
                paid_at: Some(row.at_ms / 1000),
            };
            let action = match self.apply_report(&status, None).await? {
                Settled::Applied(s) => outcome_text(&s),
                Settled::UnknownPayment => "unknown payment".to_owned(),
            };
            tracing::warn!(merchant_id, provider, payment_no = %payment_no, %action, "the bill found a payment paygate had missed");
            if let Some(r) = recorded.iter().find(|r| {
                r.provider == provider
                    && r.kind == d.kind()
                    && &r.subject_no == payment_no
                    && r.action.is_none()
            }) {
                bills::set_action(&self.db, &r.id, &action).await?;
            }
        }
        tracing::info!(merchant_id, provider, day = %day_text, rows = rows.len(), matched = outcome.matched, differences = outcome.differences.len(), new = saved.new_differences.len(), "bill reconciled");
        self.day_report(saved.run).await
    }

    /// The day's bill rows through the adapter, or why there are none: (`not_ready`, the
    /// provider's words) or (`failed`, why). Errors: paygate's storage only; a merchant's
    /// configuration that cannot be used is a failed run, so that it stops no other merchant.
    async fn bill_rows(
        &self,
        merchant_id: &str,
        provider: &str,
        day: &str,
    ) -> Result<Result<Vec<BillRow>, (RunState, String)>, ServiceError> {
        let failed = |why: String| Ok(Err((RunState::Failed, why)));
        let ctx = match self.call_context(merchant_id, provider).await {
            Ok(ctx) => ctx,
            Err(ServiceError::Store(e)) => return Err(ServiceError::Store(e)),
            Err(e) => return failed(e.to_string()),
        };
        let fetched = self
            .runtime
            .fetch_bill(provider, ctx.grants.clone(), &ctx.config, day)
            .await;
        match fetched {
            Ok(Ok(rows)) => match rows
                .iter()
                .enumerate()
                .map(|(i, r)| bill_row(r).map_err(|e| format!("bill row {}: {e}", i + 1)))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(rows) => Ok(Ok(rows)),
                Err(why) => failed(why),
            },
            Ok(Err(BillError::NotReady(m))) => Ok(Err((
                RunState::NotReady,
                format!("the provider has not produced the bill yet: {m}"),
            ))),
            Ok(Err(BillError::Failed(e))) => failed(describe(&e)),
            Err(e) => failed(e.to_string()),
        }
    }

    /// Records a run that did not reconcile (`state`, `why`), and its report.
    async fn not_reconciled(
        &self,
        mut run: Run,
        state: RunState,
        why: String,
    ) -> Result<DayReport, ServiceError> {
        run.state = state;
        run.error = Some(why);
        let saved = bills::save_run(&self.db, &run, &[]).await?;
        metrics::counter!("paygate_bill_runs_total", "provider" => run.provider.clone(), "state" => state.as_str()).increment(1);
        tracing::warn!(merchant_id = %run.merchant_id, provider = %run.provider, day = %run.day, state = state.as_str(), error = ?run.error, attempts = saved.run.attempts, "bill not reconciled");
        self.day_report(saved.run).await
    }

    /// `run` with every difference recorded for its merchant, provider and day.
    /// As stored (the totals of the latest reconciled run with it).
    async fn day_report(&self, run: Run) -> Result<DayReport, ServiceError> {
        let totals = bills::runs(&self.db, &run.day, Some(&run.merchant_id))
            .await?
            .into_iter()
            .find(|r| r.provider == run.provider)
            .map(|r| r.totals)
            .unwrap_or_default();
        let differences = bills::differences(&self.db, &run.day, Some(&run.merchant_id))
            .await?
            .into_iter()
            .filter(|d| d.provider == run.provider)
            .collect();
        Ok(DayReport {
            run: Run { totals, ..run },
            differences,
        })
    }

    /// The runs of `day` and their differences (of one merchant when given).
    pub async fn bill_reports(
        &self,
        day: BillDay,
        merchant_id: Option<&str>,
    ) -> Result<Vec<DayReport>, ServiceError> {
        let day = day.to_string();
        let runs = bills::runs(&self.db, &day, merchant_id).await?;
        let mut differences = bills::differences(&self.db, &day, merchant_id).await?;
        Ok(runs
            .into_iter()
            .map(|run| {
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut differences)
                    .into_iter()
                    .partition(|d| d.merchant_id == run.merchant_id && d.provider == run.provider);
                differences = rest;
                DayReport {
                    run,
                    differences: mine,
                }
            })
            .collect())
    }

    /// `merchant_id`'s day at each provider it has configured whose adapter reconciles, by
    /// name: the day's report, or `None` when not reconciled yet.
    pub async fn settlement(
        &self,
        merchant_id: &str,
        day: BillDay,
    ) -> Result<Vec<(String, Option<DayReport>)>, ServiceError> {
        let mut reports = self.bill_reports(day, Some(merchant_id)).await?;
        let configured = provider_configs::providers_of(&self.db, &[merchant_id]).await?;
        let mut out = Vec::new();
        for (_, provider) in configured {
            let report = reports
                .iter()
                .position(|r| r.run.provider == provider)
                .map(|i| reports.swap_remove(i));
            if report.is_some() || self.reconciles(&provider) {
                out.push((provider, report));
            }
        }
        Ok(out)
    }

    /// Differences no operator has resolved, oldest first (at most 500).
    pub async fn open_bill_differences(&self) -> Result<Vec<DifferenceRecord>, ServiceError> {
        Ok(bills::open_differences(&self.db, 500).await?)
    }

    /// Resolves a difference with a note, by the operator `by`. Errors: unknown id (404);
    /// resolved already (409 `difference_resolved`); a blank or over-long note (422
    /// `invalid_note`).
    pub async fn resolve_bill_difference(
        &self,
        id: &str,
        note: &str,
        by: &str,
    ) -> Result<DifferenceRecord, ServiceError> {
        let note = note.trim();
        if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidNote,
                format!("a note of 1 to {MAX_NOTE_CHARS} characters says what was checked or done"),
            ));
        }
        let now = self.now_ms();
        if !bills::resolve(&self.db, id, by, note, now).await? {
            return Err(match bills::difference(&self.db, id).await? {
                None => ServiceError::NotFound("difference"),
                Some(d) => ServiceError::conflict(
                    ErrorCode::DifferenceResolved,
                    format!(
                        "resolved already by {} ",
                        d.resolved_by.as_deref().unwrap_or("an operator")
                    )
                    .trim_end()
                    .to_owned(),
                ),
            });
        }
        bills::difference(&self.db, id)
            .await?
            .ok_or(ServiceError::NotFound("difference"))
    }
}

/// A contract row in the domain's terms. Errors: an amount or currency that is not money.
fn bill_row(r: &contract::BillRow) -> Result<BillRow, String> {
    let currency = Currency::parse(&r.amount.currency).map_err(|e| e.to_string())?;
    let minor = i64::try_from(r.amount.minor).map_err(|_| "amount out of range".to_owned())?;
    let amount = Money::new(minor, currency).map_err(|e| e.to_string())?;
    // A fee is a part of what moved; an adapter's number beyond that is not a fee (and would
    // make the day's totals meaningless).
    if r.fee_minor.unsigned_abs() > r.amount.minor {
        return Err(format!(
            "fee {} is larger than the amount {}",
            r.fee_minor, r.amount.minor
        ));
    }
    Ok(BillRow {
        payment_no: r.payment_no.clone(),
        provider_trade_id: r.provider_trade_id.clone(),
        kind: match r.kind {
            contract::BillKind::Payment => BillKind::Payment,
            contract::BillKind::Refund => BillKind::Refund,
        },
        refund_no: r.refund_no.clone(),
        amount,
        fee_minor: r.fee_minor,
        state: match r.state {
            contract::BillState::Succeeded => BillState::Succeeded,
            contract::BillState::Processing => BillState::Processing,
            contract::BillState::Failed => BillState::Failed,
        },
        at_ms: r.at.saturating_mul(1000),
    })
}

fn count(rows: &[BillRow], kind: BillKind) -> u32 {
    u32::try_from(rows.iter().filter(|r| r.kind == kind).count()).unwrap_or(u32::MAX)
}

fn totals(outcome: &Outcome) -> BTreeMap<String, Totals> {
    outcome
        .totals
        .iter()
        .map(|(c, t)| ((*c).to_owned(), *t))
        .collect()
}

fn bill_state_name(s: BillState) -> &'static str {
    match s {
        BillState::Succeeded => "succeeded",
        BillState::Processing => "processing",
        BillState::Failed => "failed",
    }
}

/// A difference as the store records it, found by `run` at `now`.
fn difference_record(d: &Difference, run: &Run, now: i64) -> DifferenceRecord {
    let mut r = DifferenceRecord {
        id: format!("bd_{}", uuid::Uuid::now_v7().simple()),
        merchant_id: run.merchant_id.clone(),
        provider: run.provider.clone(),
        day: run.day.clone(),
        kind: d.kind().to_owned(),
        subject_no: String::new(),
        payment_no: String::new(),
        refund_no: None,
        currency: None,
        billed_minor: None,
        recorded_minor: None,
        billed_state: None,
        recorded_state: None,
        action: None,
        found_at: now,
        resolved_at: None,
        resolved_by: None,
        note: None,
    };
    let (money, payment_no, refund_no) = match d {
        Difference::PaidOnlyAtProvider { payment_no, amount }
        | Difference::UnknownTrade { payment_no, amount } => {
            ((Some(*amount), None), payment_no, None)
        }
        Difference::MissingFromBill { payment_no, amount } => ((None, *amount), payment_no, None),
        Difference::AmountDiffers {
            payment_no,
            billed,
            recorded,
        } => ((Some(*billed), *recorded), payment_no, None),
        Difference::RefundStateDiffers {
            refund_no,
            payment_no,
            billed,
            recorded,
        } => {
            r.billed_state = billed.map(|s| bill_state_name(s).to_owned());
            r.recorded_state = recorded.map(|s| s.as_str().to_owned());
            ((None, None), payment_no, Some(refund_no))
        }
        Difference::RefundAmountDiffers {
            refund_no,
            payment_no,
            billed,
            recorded,
        } => (
            (Some(*billed), Some(*recorded)),
            payment_no,
            Some(refund_no),
        ),
    };
    let (billed, recorded): (Option<Money>, Option<Money>) = money;
    r.currency = billed.or(recorded).map(|m| m.currency().code().to_owned());
    r.billed_minor = billed.map(|m| m.minor());
    r.recorded_minor = recorded.map(|m| m.minor());
    r.payment_no = payment_no.clone();
    r.refund_no = refund_no.cloned();
    r.subject_no = r.refund_no.clone().unwrap_or_else(|| r.payment_no.clone());
    r
}
