//! Reconciliation's record (migration 0021): each (merchant, provider, day)'s latest run,
//! what its bill says per currency, and the differences found, each once. A run's result
//! is written in one transaction; differences already recorded are left as they are, so a
//! day run twice changes nothing the first run did not.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::batch::placeholders;
use super::orders::money;
use super::{Db, StoreError};
use crate::domain::reconcile::{BillDay, RecordedPayment, RecordedRefund, Totals};
use crate::domain::{PaymentState, RefundState};

/// Numbers per `IN (...)` list: well under SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 500;

/// What a run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Reconciled,
    NotReady,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Reconciled => "reconciled",
            RunState::NotReady => "not_ready",
            RunState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<RunState> {
        match s {
            "reconciled" => Some(RunState::Reconciled),
            "not_ready" => Some(RunState::NotReady),
            "failed" => Some(RunState::Failed),
            _ => None,
        }
    }
}

/// One (merchant, provider, day)'s latest run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub merchant_id: String,
    pub provider: String,
    pub day: String,
    pub state: RunState,
    /// Runs so far, this one included.
    pub attempts: u32,
    pub payment_rows: u32,
    pub refund_rows: u32,
    pub matched: u32,
    /// Why it did not reconcile (not ready, failed).
    pub error: Option<String>,
    /// Milliseconds since the epoch.
    pub first_run_at: i64,
    pub last_run_at: i64,
    pub reconciled_at: Option<i64>,
    /// The bill's totals by currency code, when reconciled.
    pub totals: BTreeMap<String, Totals>,
}

/// One difference, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DifferenceRecord {
    /// `bd_` and a UUIDv7 (32 hex digits).
    pub id: String,
    pub merchant_id: String,
    pub provider: String,
    pub day: String,
    /// `Difference::kind`.
    pub kind: String,
    /// The payment number, or the refund number for a refund's difference.
    pub subject_no: String,
    pub payment_no: String,
    pub refund_no: Option<String>,
    pub currency: Option<String>,
    pub billed_minor: Option<i64>,
    pub recorded_minor: Option<i64>,
    pub billed_state: Option<String>,
    pub recorded_state: Option<String>,
    /// What paygate did about it (`paid`, `refunded as a late payment`...).
    pub action: Option<String>,
    pub found_at: i64,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

/// The payments and refunds of `merchant_id` at `provider` that a day's bill must be
/// matched with: those paid (refunds: succeeded) on the day, and those the bill names.
pub async fn recorded(
    db: &Db,
    merchant_id: &str,
    provider: &str,
    day: BillDay,
    named_payments: &[&str],
    named_refunds: &[&str],
) -> Result<(Vec<RecordedPayment>, Vec<RecordedRefund>), StoreError> {
    let (start, end) = day.bounds_ms();
    let scope = Scope {
        merchant_id,
        provider,
        start,
        end,
    };
    let payments = scope
        .rows(
            db,
            "SELECT payment_no, state, paid_amount, currency, paid_at FROM payments
             WHERE merchant_id = $1 AND provider = $2",
            "paid_at >= $3 AND paid_at < $4",
            "payment_no",
            named_payments,
        )
        .await?
        .iter()
        .map(|row| recorded_payment(row, start, end).map(|p| (p.payment_no.clone(), p)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    // Refunds asked for on the day and not failed (see `RecordedRefund::asked_on_day`); the
    // state is the domain's name, written into the statement (not input).
    let asked_on_day = format!(
        "r.state <> '{}' AND r.created_at >= $3 AND r.created_at < $4",
        RefundState::Failed.as_str()
    );
    let refunds = scope
        .rows(
            db,
            "SELECT r.refund_no, r.payment_no, r.amount, r.currency, r.state, r.created_at
             FROM refunds r JOIN payments p ON p.payment_no = r.payment_no
             WHERE r.merchant_id = $1 AND p.provider = $2",
            &asked_on_day,
            "r.refund_no",
            named_refunds,
        )
        .await?
        .iter()
        .map(|row| recorded_refund(row, start, end).map(|r| (r.refund_no.clone(), r)))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok((
        payments.into_values().collect(),
        refunds.into_values().collect(),
    ))
}

/// One merchant at one provider on one day (`start <= t < end`, ms).
struct Scope<'a> {
    merchant_id: &'a str,
    provider: &'a str,
    start: i64,
    end: i64,
}

impl Scope<'_> {
    /// The rows of `select` (whose `$1` is the merchant and `$2` the provider) that
    /// `on_day` picks (with the day's bounds as `$3` and `$4`), then those whose `key` is
    /// one of `named`, a chunk at a time. A row may come twice.
    async fn rows(
        &self,
        db: &Db,
        select: &str,
        on_day: &str,
        key: &str,
        named: &[&str],
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut rows = sqlx::query(&format!("{select} AND {on_day}"))
            .bind(self.merchant_id)
            .bind(self.provider)
            .bind(self.start)
            .bind(self.end)
            .fetch_all(&db.pool)
            .await?;
        for chunk in named.chunks(CHUNK) {
            let sql = format!("{select} AND {key} IN ({})", placeholders(3, chunk.len()));
            let mut q = sqlx::query(&sql).bind(self.merchant_id).bind(self.provider);
            for no in chunk {
                q = q.bind(*no);
            }
            rows.extend(q.fetch_all(&db.pool).await?);
        }
        Ok(rows)
    }
}

fn recorded_payment(r: &AnyRow, start: i64, end: i64) -> Result<RecordedPayment, StoreError> {
    let state: String = r.try_get("state")?;
    let currency: String = r.try_get("currency")?;
    let paid_minor: Option<i64> = r.try_get("paid_amount")?;
    let paid_at: Option<i64> = r.try_get("paid_at")?;
    Ok(RecordedPayment {
        payment_no: r.try_get("payment_no")?,
        state: PaymentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("payment state `{state}`")))?,
        paid_amount: paid_minor.map(|m| money(m, &currency)).transpose()?,
        paid_on_day: paid_at.is_some_and(|t| t >= start && t < end),
    })
}

fn recorded_refund(r: &AnyRow, start: i64, end: i64) -> Result<RecordedRefund, StoreError> {
    let state: String = r.try_get("state")?;
    let currency: String = r.try_get("currency")?;
    let state = RefundState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("refund state `{state}`")))?;
    let created_at: i64 = r.try_get("created_at")?;
    Ok(RecordedRefund {
        refund_no: r.try_get("refund_no")?,
        payment_no: r.try_get("payment_no")?,
        amount: money(r.try_get("amount")?, &currency)?,
        state,
        asked_on_day: state != RefundState::Failed && created_at >= start && created_at < end,
    })
}

/// What one run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub run: Run,
    /// The differences this run recorded for the first time.
    pub new_differences: Vec<DifferenceRecord>,
}

/// Records a run: the run row (attempts counted), and when reconciled, the day's totals
/// replaced and each of `differences` inserted unless recorded already. One transaction.
pub async fn save_run(
    db: &Db,
    run: &Run,
    differences: &[DifferenceRecord],
) -> Result<Saved, StoreError> {
    let mut tx = db.pool.begin().await?;
    // A day once reconciled stays so: a later attempt that could not fetch the bill keeps
    // the reconciled counts (and the totals, replaced only by a reconciled run), and only
    // records its error and time.
    let row = sqlx::query(
        "INSERT INTO bill_runs (merchant_id, provider, bill_day, state, attempts, payment_rows,
         refund_rows, matched, error, first_run_at, last_run_at, reconciled_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $9, $10)
         ON CONFLICT (merchant_id, provider, bill_day) DO UPDATE SET
         state = CASE WHEN $4 = $11 THEN $4 WHEN bill_runs.state = $11 THEN bill_runs.state
                 ELSE $4 END,
         payment_rows = CASE WHEN $4 = $11 THEN $5 ELSE bill_runs.payment_rows END,
         refund_rows = CASE WHEN $4 = $11 THEN $6 ELSE bill_runs.refund_rows END,
         matched = CASE WHEN $4 = $11 THEN $7 ELSE bill_runs.matched END,
         attempts = bill_runs.attempts + 1, error = $8, last_run_at = $9,
         reconciled_at = COALESCE($10, bill_runs.reconciled_at)
         RETURNING state, attempts, payment_rows, refund_rows, matched, first_run_at,
         reconciled_at",
    )
    .bind(&run.merchant_id)
    .bind(&run.provider)
    .bind(&run.day)
    .bind(run.state.as_str())
    .bind(i64::from(run.payment_rows))
    .bind(i64::from(run.refund_rows))
    .bind(i64::from(run.matched))
    .bind(run.error.as_deref())
    .bind(run.last_run_at)
    .bind(run.reconciled_at)
    .bind(RunState::Reconciled.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let stored = run_counts(&row)?;
    let state: String = row.try_get("state")?;
    let mut saved = Saved {
        run: Run {
            state: RunState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("bill run state `{state}`")))?,
            attempts: stored.attempts,
            payment_rows: stored.payment_rows,
            refund_rows: stored.refund_rows,
            matched: stored.matched,
            first_run_at: row.try_get("first_run_at")?,
            reconciled_at: row.try_get("reconciled_at")?,
            ..run.clone()
        },
        new_differences: Vec::new(),
    };
    if run.state == RunState::Reconciled {
        sqlx::query(
            "DELETE FROM bill_totals WHERE merchant_id = $1 AND provider = $2 AND bill_day = $3",
        )
        .bind(&run.merchant_id)
        .bind(&run.provider)
        .bind(&run.day)
        .execute(&mut *tx)
        .await?;
        for (currency, t) in &run.totals {
            sqlx::query(
                "INSERT INTO bill_totals (merchant_id, provider, bill_day, currency, collected,
                 refunded, fees, rows_counted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.merchant_id)
            .bind(&run.provider)
            .bind(&run.day)
            .bind(currency)
            .bind(t.collected)
            .bind(t.refunded)
            .bind(t.fees)
            .bind(i64::from(t.rows))
            .execute(&mut *tx)
            .await?;
        }
        for d in differences {
            let inserted = sqlx::query(
                "INSERT INTO bill_differences (id, merchant_id, provider, bill_day, kind,
                 subject_no, payment_no, refund_no, currency, billed_minor, recorded_minor,
                 billed_state, recorded_state, action, found_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (merchant_id, provider, bill_day, kind, subject_no) DO NOTHING",
            )
            .bind(&d.id)
            .bind(&d.merchant_id)
            .bind(&d.provider)
            .bind(&d.day)
            .bind(&d.kind)
            .bind(&d.subject_no)
            .bind(&d.payment_no)
            .bind(d.refund_no.as_deref())
            .bind(d.currency.as_deref())
            .bind(d.billed_minor)
            .bind(d.recorded_minor)
            .bind(d.billed_state.as_deref())
            .bind(d.recorded_state.as_deref())
            .bind(d.action.as_deref())
            .bind(d.found_at)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                saved.new_differences.push(d.clone());
            }
        }
    }
    tx.commit().await?;
    Ok(saved)
}

/// The (merchant, provider) pairs of `day` with money the bill found that the late-payment
/// rules have not acted on yet (a run that stopped between recording and settling).
pub async fn unsettled(
    db: &Db,
    day: &str,
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT merchant_id, provider FROM bill_differences
         WHERE bill_day = $1 AND kind = 'paid_only_at_provider' AND action IS NULL",
    )
    .bind(day)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("provider")?)))
        .collect()
}

/// Sets what paygate did about a difference recorded without an action yet (the late
/// payment rules ran after the difference was recorded).
pub async fn set_action(db: &Db, id: &str, action: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE bill_differences SET action = $1 WHERE id = $2 AND action IS NULL")
        .bind(action)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

const RUN_COLUMNS: &str = "merchant_id, provider, bill_day, state, attempts, payment_rows, \
     refund_rows, matched, error, first_run_at, last_run_at, reconciled_at";

/// The runs of `day`, with their totals, by merchant then provider; of one merchant when
/// `merchant_id` is given.
pub async fn runs(db: &Db, day: &str, merchant_id: Option<&str>) -> Result<Vec<Run>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM bill_runs WHERE bill_day = $1
         AND ($2 IS NULL OR merchant_id = $2) ORDER BY merchant_id, provider"
    ))
    .bind(day)
    .bind(merchant_id)
    .fetch_all(&db.pool)
    .await?;
    let totals = sqlx::query(
        "SELECT merchant_id, provider, currency, collected, refunded, fees, rows_counted
         FROM bill_totals WHERE bill_day = $1 AND ($2 IS NULL OR merchant_id = $2)",
    )
    .bind(day)
    .bind(merchant_id)
    .fetch_all(&db.pool)
    .await?;
    let mut runs = rows
        .iter()
        .map(run_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    for t in &totals {
        let m: String = t.try_get("merchant_id")?;
        let p: String = t.try_get("provider")?;
        let rows_counted: i64 = t.try_get("rows_counted")?;
        if let Some(run) = runs
            .iter_mut()
            .find(|r| r.merchant_id == m && r.provider == p)
        {
            run.totals.insert(
                t.try_get("currency")?,
                Totals {
                    collected: t.try_get("collected")?,
                    refunded: t.try_get("refunded")?,
                    fees: t.try_get("fees")?,
                    rows: u32::try_from(rows_counted).unwrap_or(u32::MAX),
                },
            );
        }
    }
    Ok(runs)
}

/// A run row's counts.
struct Counts {
    attempts: u32,
    payment_rows: u32,
    refund_rows: u32,
    matched: u32,
}

fn run_counts(r: &AnyRow) -> Result<Counts, StoreError> {
    let count = |name: &str| -> Result<u32, StoreError> {
        let n: i64 = r.try_get(name)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    };
    Ok(Counts {
        attempts: count("attempts")?,
        payment_rows: count("payment_rows")?,
        refund_rows: count("refund_rows")?,
        matched: count("matched")?,
    })
}

fn run_from_row(r: &AnyRow) -> Result<Run, StoreError> {
    let state: String = r.try_get("state")?;
    let counts = run_counts(r)?;
    Ok(Run {
        merchant_id: r.try_get("merchant_id")?,
        provider: r.try_get("provider")?,
        day: r.try_get("bill_day")?,
        state: RunState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("bill run state `{state}`")))?,
        attempts: counts.attempts,
        payment_rows: counts.payment_rows,
        refund_rows: counts.refund_rows,
        matched: counts.matched,
        error: r.try_get("error")?,
        first_run_at: r.try_get("first_run_at")?,
        last_run_at: r.try_get("last_run_at")?,
        reconciled_at: r.try_get("reconciled_at")?,
        totals: BTreeMap::new(),
    })
}

const DIFFERENCE_COLUMNS: &str = "id, merchant_id, provider, bill_day, kind, subject_no, \
     payment_no, refund_no, currency, billed_minor, recorded_minor, billed_state, \
     recorded_state, action, found_at, resolved_at, resolved_by, note";

/// The differences of `day` (of one merchant when given), in the order found.
pub async fn differences(
    db: &Db,
    day: &str,
    merchant_id: Option<&str>,
) -> Result<Vec<DifferenceRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM bill_differences WHERE bill_day = $1
         AND ($2 IS NULL OR merchant_id = $2) ORDER BY found_at, id"
    ))
    .bind(day)
    .bind(merchant_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(difference_from_row).collect()
}

/// Differences no operator has resolved, oldest first, at most `limit`.
pub async fn open_differences(db: &Db, limit: i64) -> Result<Vec<DifferenceRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM bill_differences WHERE resolved_at IS NULL
         ORDER BY found_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(difference_from_row).collect()
}

/// One difference by id.
pub async fn difference(db: &Db, id: &str) -> Result<Option<DifferenceRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM bill_differences WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(difference_from_row).transpose()
}

/// Marks a difference resolved, only if it is not yet: `false` when another operator was
/// first.
pub async fn resolve(
    db: &Db,
    id: &str,
    by: &str,
    note: &str,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE bill_differences SET resolved_at = $1, resolved_by = $2, note = $3
         WHERE id = $4 AND resolved_at IS NULL",
    )
    .bind(at_ms)
    .bind(by)
    .bind(note)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn difference_from_row(r: &AnyRow) -> Result<DifferenceRecord, StoreError> {
    Ok(DifferenceRecord {
        id: r.try_get("id")?,
        merchant_id: r.try_get("merchant_id")?,
        provider: r.try_get("provider")?,
        day: r.try_get("bill_day")?,
        kind: r.try_get("kind")?,
        subject_no: r.try_get("subject_no")?,
        payment_no: r.try_get("payment_no")?,
        refund_no: r.try_get("refund_no")?,
        currency: r.try_get("currency")?,
        billed_minor: r.try_get("billed_minor")?,
        recorded_minor: r.try_get("recorded_minor")?,
        billed_state: r.try_get("billed_state")?,
        recorded_state: r.try_get("recorded_state")?,
        action: r.try_get("action")?,
        found_at: r.try_get("found_at")?,
        resolved_at: r.try_get("resolved_at")?,
        resolved_by: r.try_get("resolved_by")?,
        note: r.try_get("note")?,
    })
}
