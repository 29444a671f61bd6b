//! Reconciliation's rule: one provider's bill for one day, row by row, against paygate's
//! record of the same trades, every difference classified. A provider's books are the
//! final word on money: notifications get lost and status queries stop at the deadline,
//! so the bill finds what they missed (PROVIDERS.md, "Bills").
//!
//! Pure: the caller hands it the day's rows and paygate's payments and refunds (those the
//! rows name, and those paygate finished that day), and applies what it answers. The same
//! inputs give the same answer, so running a day twice finds the same differences.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::money::Money;
use super::payment::PaymentState;
use super::refund::RefundState;

/// A provider's bill day: a calendar day in the providers' own time zone. WeChat Pay and
/// Alipay both cut their bills at midnight Beijing time (UTC+8, no daylight saving): WeChat
/// Pay's `bill_date` and Alipay's `bill_date` name such a day (PROVIDERS.md, "Bills").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillDay(Date);

/// Why a text is not a bill day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a day: expected YYYY-MM-DD, such as 2026-12-01")]
pub struct NotADay(pub String);

impl BillDay {
    /// Beijing time, the bill days' zone.
    pub const ZONE: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
        Ok(z) => z,
        Err(_) => UtcOffset::UTC,
    };

    /// Reads `YYYY-MM-DD` (exactly: ten characters, a real calendar day).
    pub fn parse(text: &str) -> Result<BillDay, NotADay> {
        let bad = || NotADay(text.chars().take(40).collect());
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
            return Err(bad());
        };
        let month = u8::try_from(m)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(bad)?;
        let day = u8::try_from(d).map_err(|_| bad())?;
        let year = i32::try_from(y).map_err(|_| bad())?;
        Date::from_calendar_date(year, month, day)
            .map(BillDay)
            .map_err(|_| bad())
    }

    /// The bill day an instant (ms since the epoch) falls in.
    pub fn of_instant(ms: i64) -> BillDay {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        BillDay(at.to_offset(Self::ZONE).date())
    }

    /// The day's first instant and the next day's first, in ms since the epoch: an instant
    /// `t` is on the day when `start <= t < end`.
    pub fn bounds_ms(self) -> (i64, i64) {
        (
            self.local_ms(Time::MIDNIGHT),
            self.next().local_ms(Time::MIDNIGHT),
        )
    }

    /// The next day.
    pub fn next(self) -> BillDay {
        BillDay(self.0.next_day().unwrap_or(self.0))
    }

    /// The previous day.
    pub fn previous(self) -> BillDay {
        BillDay(self.0.previous_day().unwrap_or(self.0))
    }

    /// This day's `at` (Beijing time), in ms since the epoch.
    pub fn local_ms(self, at: Time) -> i64 {
        let local = PrimitiveDateTime::new(self.0, at).assume_offset(Self::ZONE);
        i64::try_from(local.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// When the daily reconciliation of this day falls due: the next day at `at`, Beijing
    /// time (bills are ready from 09:00, Alipay, and 10:00, WeChat Pay).
    pub fn reconcile_due_ms(self, at: Time) -> i64 {
        self.next().local_ms(at)
    }

    /// The latest day whose reconciliation is due at `now_ms`: yesterday once today's `at`
    /// has passed, else the day before.
    pub fn latest_due(now_ms: i64, at: Time) -> BillDay {
        let yesterday = BillDay::of_instant(now_ms).previous();
        if yesterday.reconcile_due_ms(at) <= now_ms {
            yesterday
        } else {
            yesterday.previous()
        }
    }
}

impl std::fmt::Display for BillDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

/// How long a day whose bill is not ready yet (or could not be fetched) is asked again:
/// every half hour for a day, then it waits for an operator (`paygate reconcile`).
pub const BILL_RETRY_EVERY: Duration = Duration::minutes(30);
pub const BILL_ATTEMPTS: u32 = 48;

/// What a day's reconciliation does next after an attempt that did not reconcile.
pub fn bill_retry(attempts: u32) -> Option<Duration> {
    (attempts < BILL_ATTEMPTS).then_some(BILL_RETRY_EVERY)
}

/// What a bill row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    /// Money collected for a trade.
    Payment,
    /// Money returned for a refund of a trade.
    Refund,
}

/// The state a bill gives a row. A payment row is always `Succeeded` (bills list money that
/// moved); a refund row may still be processing, or have failed (WeChat Pay's refund bill
/// lists `PROCESSING` and `ABNORMAL` refunds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillState {
    Succeeded,
    Processing,
    Failed,
}

/// One row of a provider's bill, in paygate's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// The merchant order number the provider holds: paygate's payment number.
    pub payment_no: String,
    pub provider_trade_id: String,
    pub kind: BillKind,
    /// paygate's refund number (the provider's `out_refund_no` / `out_request_no`), for a
    /// refund row.
    pub refund_no: Option<String>,
    pub amount: Money,
    /// The provider's fee, in minor units of `amount`'s currency (0 when none; negative
    /// when a refund returns a fee).
    pub fee_minor: i64,
    pub state: BillState,
    /// When the money moved, as the bill says: ms since the epoch.
    pub at_ms: i64,
}

/// A payment as paygate holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPayment {
    pub payment_no: String,
    pub state: PaymentState,
    /// What the provider collected, as paygate recorded it.
    pub paid_amount: Option<Money>,
    /// Paid on the bill's day (by paygate's record): the bill must list it.
    pub paid_on_day: bool,
}

/// A refund as paygate holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRefund {
    pub refund_no: String,
    pub payment_no: String,
    pub amount: Money,
    pub state: RefundState,
    /// Asked for on the bill's day and not failed (by paygate's record): the bill must list
    /// it. WeChat Pay's bill lists a refund on the day it was asked for, in its state then;
    /// Alipay's refunds complete when asked.
    pub asked_on_day: bool,
}

/// A difference between the bill and paygate's record: what an operator is shown, what the
/// metrics count (by [`Difference::kind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The provider collected money for a payment paygate does not hold as paid (a lost
    /// notification the status queries also missed). The late-payment rules settle it: the
    /// payment is paid if its orders still can be, else the money is refunded.
    PaidOnlyAtProvider { payment_no: String, amount: Money },
    /// A row whose payment number paygate never issued (another system's trade on the
    /// same provider account, or a forged bill): flagged, nothing changed.
    UnknownTrade { payment_no: String, amount: Money },
    /// paygate holds the payment paid on the day; the bill does not list it.
    MissingFromBill {
        payment_no: String,
        amount: Option<Money>,
    },
    /// The bill's amount is not what paygate recorded as collected.
    AmountDiffers {
        payment_no: String,
        billed: Money,
        recorded: Option<Money>,
    },
    /// A refund's state at the provider is not paygate's (`None`: absent on that side).
    RefundStateDiffers {
        refund_no: String,
        payment_no: String,
        billed: Option<BillState>,
        recorded: Option<RefundState>,
    },
    /// A refund's amount at the provider is not paygate's.
    RefundAmountDiffers {
        refund_no: String,
        payment_no: String,
        billed: Money,
        recorded: Money,
    },
}

impl Difference {
    /// The kind, then the payment or refund number it is about.
    fn number(&self) -> (&'static str, &str) {
        let no = match self {
            Difference::PaidOnlyAtProvider { payment_no, .. }
            | Difference::UnknownTrade { payment_no, .. }
            | Difference::MissingFromBill { payment_no, .. }
            | Difference::AmountDiffers { payment_no, .. } => payment_no,
            Difference::RefundStateDiffers { refund_no, .. }
            | Difference::RefundAmountDiffers { refund_no, .. } => refund_no,
        };
        (self.kind(), no)
    }

    /// The metric label and the flag's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::PaidOnlyAtProvider { .. } => "paid_only_at_provider",
            Difference::UnknownTrade { .. } => "unknown_trade",
            Difference::MissingFromBill { .. } => "missing_from_bill",
            Difference::AmountDiffers { .. } => "amount_differs",
            Difference::RefundStateDiffers { .. } => "refund_state_differs",
            Difference::RefundAmountDiffers { .. } => "refund_amount_differs",
        }
    }
}

/// The bill's totals in one currency, in minor units: what was collected, refunded and
/// charged in fees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub collected: i64,
    pub refunded: i64,
    pub fees: i64,
    pub rows: u32,
}

/// A day's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Rows that agree with paygate's record.
    pub matched: u32,
    /// In bill order, then what paygate holds and the bill lacks (by number).
    pub differences: Vec<Difference>,
    /// The bill's totals by currency code (succeeded rows only).
    pub totals: BTreeMap<&'static str, Totals>,
}

/// Matches `rows` against `payments` and `refunds` (see the module doc for which they
/// must hold).
pub fn reconcile(
    rows: &[BillRow],
    payments: &[RecordedPayment],
    refunds: &[RecordedRefund],
) -> Outcome {
    let by_payment: HashMap<&str, &RecordedPayment> = payments
        .iter()
        .map(|p| (p.payment_no.as_str(), p))
        .collect();
    let by_refund: HashMap<&str, &RecordedRefund> =
        refunds.iter().map(|r| (r.refund_no.as_str(), r)).collect();
    let mut outcome = Outcome {
        matched: 0,
        differences: Vec::new(),
        totals: BTreeMap::new(),
    };
    let mut billed_payments: HashSet<&str> = HashSet::new();
    let mut billed_refunds: HashSet<&str> = HashSet::new();
    for row in rows {
        if row.state == BillState::Succeeded {
            let t = outcome
                .totals
                .entry(row.amount.currency().code())
                .or_default();
            t.rows += 1;
            t.fees += row.fee_minor;
            match row.kind {
                BillKind::Payment => t.collected += row.amount.minor(),
                BillKind::Refund => t.refunded += row.amount.minor(),
            }
        }
        let difference = match row.kind {
            BillKind::Payment => {
                billed_payments.insert(&row.payment_no);
                payment_row(row, by_payment.get(row.payment_no.as_str()).copied())
            }
            BillKind::Refund => {
                let recorded = row
                    .refund_no
                    .as_deref()
                    .and_then(|no| by_refund.get(no).copied());
                if let Some(r) = recorded {
                    billed_refunds.insert(&r.refund_no);
                }
                refund_row(
                    row,
                    recorded,
                    by_payment.contains_key(row.payment_no.as_str()),
                )
            }
        };
        match difference {
            Some(d) => outcome.differences.push(d),
            None => outcome.matched += 1,
        }
    }
    let mut unbilled: Vec<Difference> = payments
        .iter()
        .filter(|p| p.paid_on_day && !billed_payments.contains(p.payment_no.as_str()))
        .map(|p| Difference::MissingFromBill {
            payment_no: p.payment_no.clone(),
            amount: p.paid_amount,
        })
        .chain(
            refunds
                .iter()
                .filter(|r| r.asked_on_day && !billed_refunds.contains(r.refund_no.as_str()))
                .map(|r| Difference::RefundStateDiffers {
                    refund_no: r.refund_no.clone(),
                    payment_no: r.payment_no.clone(),
                    billed: None,
                    recorded: Some(r.state),
                }),
        )
        .collect();
    // Payments before refunds, each by number: the order does not depend on the inputs'.
    unbilled.sort_by(|a, b| a.number().cmp(&b.number()));
    outcome.differences.extend(unbilled);
    outcome
}

/// A payment row against paygate's payment of that number.
fn payment_row(row: &BillRow, recorded: Option<&RecordedPayment>) -> Option<Difference> {
    let Some(p) = recorded else {
        return Some(Difference::UnknownTrade {
            payment_no: row.payment_no.clone(),
            amount: row.amount,
        });
    };
    match p.state {
        // Refunded was paid first: the bill's collection row stands for that.
        PaymentState::Paid | PaymentState::Refunded => {
            (p.paid_amount != Some(row.amount)).then(|| Difference::AmountDiffers {
                payment_no: row.payment_no.clone(),
                billed: row.amount,
                recorded: p.paid_amount,
            })
        }
        PaymentState::Open | PaymentState::Closed | PaymentState::Failed => {
            Some(Difference::PaidOnlyAtProvider {
                payment_no: row.payment_no.clone(),
                amount: row.amount,
            })
        }
    }
}

/// A refund row against paygate's refund of that number (`payment_known`: whether paygate
/// issued the row's payment number).
fn refund_row(
    row: &BillRow,
    recorded: Option<&RecordedRefund>,
    payment_known: bool,
) -> Option<Difference> {
    let Some(r) = recorded else {
        if !payment_known {
            return Some(Difference::UnknownTrade {
                payment_no: row.payment_no.clone(),
                amount: row.amount,
            });
        }
        return Some(Difference::RefundStateDiffers {
            refund_no: row.refund_no.clone().unwrap_or_default(),
            payment_no: row.payment_no.clone(),
            billed: Some(row.state),
            recorded: None,
        });
    };
    // A bill shows a refund as it stood when the bill was cut: one processing then may have
    // succeeded or failed since (a bank card's refund takes days), which is progress, not a
    // difference.
    let agrees = matches!(
        (row.state, r.state),
        (BillState::Succeeded, RefundState::Succeeded)
            | (BillState::Processing, _)
            | (BillState::Failed, RefundState::Failed)
    );
    if !agrees {
        return Some(Difference::RefundStateDiffers {
            refund_no: r.refund_no.clone(),
            payment_no: r.payment_no.clone(),
            billed: Some(row.state),
            recorded: Some(r.state),
        });
    }
    (r.amount != row.amount).then(|| Difference::RefundAmountDiffers {
        refund_no: r.refund_no.clone(),
        payment_no: r.payment_no.clone(),
        billed: row.amount,
        recorded: r.amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    fn day(text: &str) -> BillDay {
        BillDay::parse(text).expect("day")
    }

    #[test]
    fn a_bill_day_is_read_exactly_as_yyyy_mm_dd() {
        assert_eq!(day("2026-12-01").to_string(), "2026-12-01");
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2026-12-1",
            "2026/12/01",
            "2026-13-01",
            "2025-02-29",
            "+202-12-01",
            "2026-12-01T",
            "",
            "２０２６-12-01",
        ] {
            assert!(BillDay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bill_day_runs_from_midnight_to_midnight_beijing_time() {
        let (start, end) = day("2026-12-01").bounds_ms();
        // 2026-12-01T00:00+08:00 is 2026-11-30T16:00Z.
        assert_eq!(start, 1_796_083_200_000 - 8 * 3_600_000);
        assert_eq!(end - start, 86_400_000);
        assert_eq!(BillDay::of_instant(start), day("2026-12-01"));
        assert_eq!(BillDay::of_instant(start - 1), day("2026-11-30"));
        assert_eq!(BillDay::of_instant(end - 1), day("2026-12-01"));
        assert_eq!(BillDay::of_instant(end), day("2026-12-02"));
        assert_eq!(day("2026-12-31").next(), day("2027-01-01"));
        assert_eq!(day("2027-01-01").previous(), day("2026-12-31"));
    }

    #[test]
    fn a_day_is_reconciled_the_next_morning_after_the_bills_are_ready() {
        let at = Time::from_hms(10, 30, 0).expect("time");
        let due = day("2026-12-01").reconcile_due_ms(at);
        let (next_start, _) = day("2026-12-02").bounds_ms();
        assert_eq!(due, next_start + (10 * 60 + 30) * 60_000);
        // At 10:29 on the 2nd the 1st is not due yet: the latest due day is the 30th.
        assert_eq!(BillDay::latest_due(due - 60_000, at), day("2026-11-30"));
        assert_eq!(BillDay::latest_due(due, at), day("2026-12-01"));
    }

    #[test]
    fn a_day_not_reconciled_is_asked_every_half_hour_for_a_day() {
        assert_eq!(bill_retry(1), Some(Duration::minutes(30)));
        assert_eq!(bill_retry(BILL_ATTEMPTS - 1), Some(Duration::minutes(30)));
        assert_eq!(bill_retry(BILL_ATTEMPTS), None);
    }

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::parse("CNY").expect("CNY")).expect("money")
    }

    fn paid_row(no: &str, minor: i64) -> BillRow {
        BillRow {
            payment_no: no.into(),
            provider_trade_id: format!("4200{no}"),
            kind: BillKind::Payment,
            refund_no: None,
            amount: cny(minor),
            fee_minor: minor / 100,
            state: BillState::Succeeded,
            at_ms: 1_796_083_200_000,
        }
    }

    fn refund_row_of(no: &str, refund_no: &str, minor: i64, state: BillState) -> BillRow {
        BillRow {
            kind: BillKind::Refund,
            refund_no: Some(refund_no.into()),
            state,
            fee_minor: 0,
            ..paid_row(no, minor)
        }
    }

    fn payment(no: &str, state: PaymentState, paid: Option<i64>, on_day: bool) -> RecordedPayment {
        RecordedPayment {
            payment_no: no.into(),
            state,
            paid_amount: paid.map(cny),
            paid_on_day: on_day,
        }
    }

    fn refund(
        no: &str,
        payment_no: &str,
        minor: i64,
        state: RefundState,
        on_day: bool,
    ) -> RecordedRefund {
        RecordedRefund {
            refund_no: no.into(),
            payment_no: payment_no.into(),
            amount: cny(minor),
            state,
            asked_on_day: on_day,
        }
    }

    #[test]
    fn a_day_that_agrees_has_no_difference_and_totals_every_row() {
        let rows = [
            paid_row("p1", 1000),
            paid_row("p2", 500),
            refund_row_of("p1", "r1", 300, BillState::Succeeded),
        ];
        let payments = [
            payment("p1", PaymentState::Paid, Some(1000), true),
            payment("p2", PaymentState::Paid, Some(500), true),
        ];
        let refunds = [refund("r1", "p1", 300, RefundState::Succeeded, true)];
        let o = reconcile(&rows, &payments, &refunds);
        assert_eq!(o.differences, vec![]);
        assert_eq!(o.matched, 3);
        assert_eq!(
            o.totals.get("CNY"),
            Some(&Totals {
                collected: 1500,
                refunded: 300,
                fees: 15,
                rows: 3
            })
        );
    }

    #[test]
    fn money_paygate_does_not_hold_as_paid_goes_to_the_late_payment_rules() {
        for state in [
            PaymentState::Open,
            PaymentState::Closed,
            PaymentState::Failed,
        ] {
            let o = reconcile(
                &[paid_row("p1", 1000)],
                &[payment("p1", state, None, false)],
                &[],
            );
            assert_eq!(
                o.differences,
                vec![Difference::PaidOnlyAtProvider {
                    payment_no: "p1".into(),
                    amount: cny(1000)
                }],
                "{state:?}"
            );
        }
    }

    #[test]
    fn a_refunded_payment_s_collection_row_matches_its_paid_amount() {
        let o = reconcile(
            &[paid_row("p1", 1000)],
            &[payment("p1", PaymentState::Refunded, Some(1000), true)],
            &[],
        );
        assert_eq!((o.matched, o.differences.len()), (1, 0));
    }

    #[test]
    fn a_row_paygate_never_issued_is_an_unknown_trade() {
        let o = reconcile(
            &[
                paid_row("x9", 700),
                refund_row_of("x9", "rx", 100, BillState::Succeeded),
            ],
            &[],
            &[],
        );
        assert_eq!(
            o.differences,
            vec![
                Difference::UnknownTrade {
                    payment_no: "x9".into(),
                    amount: cny(700)
                },
                Difference::UnknownTrade {
                    payment_no: "x9".into(),
                    amount: cny(100)
                },
            ]
        );
    }

    #[test]
    fn a_payment_paid_that_day_and_absent_from_the_bill_is_missing() {
        let payments = [
            payment("p1", PaymentState::Paid, Some(1000), true),
            payment("p2", PaymentState::Paid, Some(500), false),
        ];
        let o = reconcile(&[], &payments, &[]);
        assert_eq!(
            o.differences,
            vec![Difference::MissingFromBill {
                payment_no: "p1".into(),
                amount: Some(cny(1000))
            }],
            "p2 was paid another day: another bill lists it"
        );
    }

    #[test]
    fn an_amount_other_than_the_one_recorded_differs() {
        let o = reconcile(
            &[paid_row("p1", 999)],
            &[payment("p1", PaymentState::Paid, Some(1000), true)],
            &[],
        );
        assert_eq!(
            o.differences,
            vec![Difference::AmountDiffers {
                payment_no: "p1".into(),
                billed: cny(999),
                recorded: Some(cny(1000))
            }]
        );
    }

    #[test]
    fn refund_states_agree_only_pairwise_and_amounts_must_match() {
        let p = [payment("p1", PaymentState::Paid, Some(1000), false)];
        let agreeing = [
            (BillState::Succeeded, RefundState::Succeeded),
            (BillState::Processing, RefundState::Pending),
            // Progress since the bill was cut.
            (BillState::Processing, RefundState::Succeeded),
            (BillState::Processing, RefundState::Failed),
            (BillState::Failed, RefundState::Failed),
        ];
        for billed in [
            BillState::Succeeded,
            BillState::Processing,
            BillState::Failed,
        ] {
            for recorded in [
                RefundState::Pending,
                RefundState::Succeeded,
                RefundState::Failed,
            ] {
                let o = reconcile(
                    &[refund_row_of("p1", "r1", 300, billed)],
                    &p,
                    &[refund("r1", "p1", 300, recorded, false)],
                );
                let agrees = agreeing.contains(&(billed, recorded));
                assert_eq!(
                    o.differences.is_empty(),
                    agrees,
                    "{billed:?} vs {recorded:?}"
                );
            }
        }
        let o = reconcile(
            &[refund_row_of("p1", "r1", 200, BillState::Succeeded)],
            &p,
            &[refund("r1", "p1", 300, RefundState::Succeeded, true)],
        );
        assert_eq!(
            o.differences,
            vec![Difference::RefundAmountDiffers {
                refund_no: "r1".into(),
                payment_no: "p1".into(),
                billed: cny(200),
                recorded: cny(300)
            }]
        );
    }

    #[test]
    fn a_refund_on_only_one_side_differs_in_state() {
        let p = [payment("p1", PaymentState::Paid, Some(1000), false)];
        let o = reconcile(
            &[refund_row_of("p1", "r9", 100, BillState::Succeeded)],
            &p,
            &[],
        );
        assert_eq!(o.differences[0].kind(), "refund_state_differs");
        let o = reconcile(
            &[],
            &p,
            &[refund("r1", "p1", 300, RefundState::Succeeded, true)],
        );
        assert_eq!(
            o.differences,
            vec![Difference::RefundStateDiffers {
                refund_no: "r1".into(),
                payment_no: "p1".into(),
                billed: None,
                recorded: Some(RefundState::Succeeded)
            }]
        );
    }

    #[test]
    fn running_a_day_twice_gives_the_same_outcome() {
        let rows = [paid_row("p2", 10), paid_row("x", 5), paid_row("p1", 7)];
        let payments = [
            payment("p1", PaymentState::Closed, None, false),
            payment("p2", PaymentState::Paid, Some(10), true),
            payment("p3", PaymentState::Paid, Some(3), true),
            payment("p4", PaymentState::Paid, Some(4), true),
        ];
        let first = reconcile(&rows, &payments, &[]);
        assert_eq!(first, reconcile(&rows, &payments, &[]));
        let kinds: Vec<&str> = first.differences.iter().map(Difference::kind).collect();
        assert_eq!(
            kinds,
            [
                "unknown_trade",
                "paid_only_at_provider",
                "missing_from_bill",
                "missing_from_bill"
            ]
        );
    }
}
