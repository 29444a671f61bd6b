//! Trades in the `sandbox_trades` table: reading them (with expiry applied), creating them
//! idempotently, and their state changes. Each state change is one conditional UPDATE, so
//! of two racing changes (a pay and a close) exactly one matches the row and wins; the loser
//! re-reads the trade to say why it lost.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use crate::error::SandboxError;
use crate::now_ms;

/// Where a trade is in its life (PROTOCOL.md). `Refunded` means paid, then refunded in part
/// or in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeState {
    Open,
    Paid,
    Closed,
    Refunded,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::Open => "open",
            TradeState::Paid => "paid",
            TradeState::Closed => "closed",
            TradeState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<TradeState> {
        [
            TradeState::Open,
            TradeState::Paid,
            TradeState::Closed,
            TradeState::Refunded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Paid, whether or not refunds followed: what a pay or a close is refused for.
    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Paid | TradeState::Refunded)
    }
}

/// One row of `sandbox_trades`; times in milliseconds.
#[derive(Debug, Clone)]
pub struct Trade {
    pub payment_no: String,
    pub account_id: String,
    pub trade_id: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    pub notify_url: String,
    /// Where the checkout page sends the payer after paying.
    pub return_url: Option<String>,
    pub state: TradeState,
    pub expires_at_ms: i64,
    pub paid_amount: Option<i64>,
    pub paid_at_ms: Option<i64>,
    pub refunded_amount: i64,
    pub created_count: i64,
    pub queried_count: i64,
    pub closed_count: i64,
    pub refunded_count: i64,
    pub notify_sent_count: i64,
    pub notify_ack_count: i64,
}

const COLUMNS: &str = "payment_no, account_id, trade_id, amount, currency, subject, channel, \
    notify_url, return_url, state, expires_at, paid_amount, paid_at, refunded_amount, created_count, \
    queried_count, closed_count, refunded_count, notify_sent_count, notify_ack_count";

impl Trade {
    fn from_row(row: &SqliteRow) -> Result<Trade, SandboxError> {
        let state: String = row.try_get("state")?;
        Ok(Trade {
            payment_no: row.try_get("payment_no")?,
            account_id: row.try_get("account_id")?,
            trade_id: row.try_get("trade_id")?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
            subject: row.try_get("subject")?,
            channel: row.try_get("channel")?,
            notify_url: row.try_get("notify_url")?,
            return_url: row.try_get("return_url")?,
            state: TradeState::parse(&state)
                .ok_or_else(|| SandboxError::Corrupt(format!("unknown trade state `{state}`")))?,
            expires_at_ms: row.try_get("expires_at")?,
            paid_amount: row.try_get("paid_amount")?,
            paid_at_ms: row.try_get("paid_at")?,
            refunded_amount: row.try_get("refunded_amount")?,
            created_count: row.try_get("created_count")?,
            queried_count: row.try_get("queried_count")?,
            closed_count: row.try_get("closed_count")?,
            refunded_count: row.try_get("refunded_count")?,
            notify_sent_count: row.try_get("notify_sent_count")?,
            notify_ack_count: row.try_get("notify_ack_count")?,
        })
    }
}

/// A validated `POST /api/trades`, times in milliseconds.
#[derive(Debug, Clone)]
pub struct NewTrade {
    pub payment_no: String,
    pub account_id: String,
    pub amount: i64,
    pub currency: String,
    pub subject: String,
    pub channel: String,
    pub expires_at_ms: i64,
    pub notify_url: String,
    pub return_url: Option<String>,
}

/// Closes the trade if it is open and its deadline has passed: an expired trade *is*
/// closed, and writing it down makes a later pay or create see it so.
async fn expire_if_due(pool: &SqlitePool, payment_no: &str, now: i64) -> Result<(), SandboxError> {
    sqlx::query(
        "UPDATE sandbox_trades SET state = 'closed', updated_at = $2 \
         WHERE payment_no = $1 AND state = 'open' AND expires_at <= $2",
    )
    .bind(payment_no)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// The trade, with expiry applied, whoever its account. One read in the common case; a
/// trade read as open past its deadline is closed (conditionally) and read again.
pub async fn load(pool: &SqlitePool, payment_no: &str) -> Result<Option<Trade>, SandboxError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandbox_trades WHERE payment_no = $1"
    ))
    .bind(payment_no)
    .fetch_optional(pool)
    .await?;
    match row.as_ref().map(Trade::from_row).transpose()? {
        Some(trade) => Ok(Some(with_expiry(pool, trade).await?)),
        None => Ok(None),
    }
}

/// `trade` as just read, or, if it is open past its deadline, closed and read again.
async fn with_expiry(pool: &SqlitePool, trade: Trade) -> Result<Trade, SandboxError> {
    let now = now_ms();
    if trade.state != TradeState::Open || trade.expires_at_ms > now {
        return Ok(trade);
    }
    expire_if_due(pool, &trade.payment_no, now).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandbox_trades WHERE payment_no = $1"
    ))
    .bind(&trade.payment_no)
    .fetch_one(pool)
    .await?;
    Trade::from_row(&row)
}

/// The sandbox's own trade id and the account of trade `payment_no`, read only (for logs).
pub async fn identity(
    pool: &SqlitePool,
    payment_no: &str,
) -> Result<Option<(String, String)>, SandboxError> {
    let row = sqlx::query("SELECT trade_id, account_id FROM sandbox_trades WHERE payment_no = $1")
        .bind(payment_no)
        .fetch_optional(pool)
        .await?;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("trade_id")?, r.try_get("account_id")?)))
        .transpose()?)
}

/// The trade, or `TradeNotFound`.
pub async fn get(pool: &SqlitePool, payment_no: &str) -> Result<Trade, SandboxError> {
    load(pool, payment_no)
        .await?
        .ok_or(SandboxError::TradeNotFound)
}

/// The API calls counted per trade.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Queried,
    Closed,
    Refunded,
}

/// Counts a call on the account's trade and answers the trade (expiry applied);
/// `TradeNotFound` when the account has no such trade, so the count is also the existence
/// check. Calls are counted whatever their outcome: tests want to see what an adapter tried.
pub async fn count_call(
    pool: &SqlitePool,
    payment_no: &str,
    account_id: &str,
    counter: Counter,
) -> Result<Trade, SandboxError> {
    // Fixed column names, never input: the only SQL assembled with format!.
    let column = match counter {
        Counter::Queried => "queried_count",
        Counter::Closed => "closed_count",
        Counter::Refunded => "refunded_count",
    };
    let row = sqlx::query(&format!(
        "UPDATE sandbox_trades SET {column} = {column} + 1 \
         WHERE payment_no = $1 AND account_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(payment_no)
    .bind(account_id)
    .fetch_optional(pool)
    .await?
    .ok_or(SandboxError::TradeNotFound)?;
    with_expiry(pool, Trade::from_row(&row)?).await
}

/// Creates the trade, or answers the existing one if it has the same account, amount and
/// currency (counting the create and possibly shortening the deadline, never past the first
/// one's nor reopening an expired trade); `ParamMismatch` otherwise.
pub async fn create(pool: &SqlitePool, new: &NewTrade) -> Result<Trade, SandboxError> {
    let now = now_ms();
    let trade_id = format!("sbt{}", uuid::Uuid::now_v7().simple());
    // Insert-or-nothing rather than read-then-insert: two racing creates cannot both insert.
    let inserted = sqlx::query(&format!(
        "INSERT INTO sandbox_trades (payment_no, account_id, trade_id, amount, currency, subject, \
         channel, notify_url, return_url, state, expires_at, first_expires_at, refunded_amount, \
         created_count, queried_count, closed_count, refunded_count, notify_sent_count, \
         notify_ack_count, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11, 'open', $9, $9, 0, 1, 0, 0, 0, 0, 0, $10, $10) \
         ON CONFLICT (payment_no) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(&new.payment_no)
    .bind(&new.account_id)
    .bind(&trade_id)
    .bind(new.amount)
    .bind(&new.currency)
    .bind(&new.subject)
    .bind(&new.channel)
    .bind(&new.notify_url)
    .bind(new.expires_at_ms)
    .bind(now)
    .bind(&new.return_url)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = inserted {
        return with_expiry(pool, Trade::from_row(&row)?).await;
    }

    // The deadline only moves while the trade is open and not yet expired (`expires_at > now`),
    // so a repeated create never revives a trade that has already closed by expiry.
    let matched = sqlx::query(
        "UPDATE sandbox_trades SET created_count = created_count + 1, updated_at = $6, \
         return_url = COALESCE($7, return_url), \
         expires_at = CASE WHEN state = 'open' AND expires_at > $6 \
             THEN (CASE WHEN $5 < first_expires_at THEN $5 ELSE first_expires_at END) \
             ELSE expires_at END \
         WHERE payment_no = $1 AND account_id = $2 AND amount = $3 AND currency = $4",
    )
    .bind(&new.payment_no)
    .bind(&new.account_id)
    .bind(new.amount)
    .bind(&new.currency)
    .bind(new.expires_at_ms)
    .bind(now)
    .bind(&new.return_url)
    .execute(pool)
    .await?;
    let existing = get(pool, &new.payment_no).await?;
    if matched.rows_affected() == 0 {
        let field = if existing.account_id != new.account_id {
            "account"
        } else if existing.amount != new.amount {
            "amount"
        } else {
            "currency"
        };
        return Err(SandboxError::ParamMismatch(format!(
            "a trade with this payment_no exists with another {field}"
        )));
    }
    Ok(existing)
}

/// Pays the trade in full. An open trade past its deadline is closed and refused, unless
/// `late` (a payment that raced a close at a real provider), which pays closed trades too.
pub async fn pay(pool: &SqlitePool, payment_no: &str, late: bool) -> Result<Trade, SandboxError> {
    let now = now_ms();
    let sql = if late {
        "UPDATE sandbox_trades SET state = 'paid', paid_amount = amount, paid_at = $2, updated_at = $2 \
         WHERE payment_no = $1 AND state IN ('open', 'closed')"
    } else {
        "UPDATE sandbox_trades SET state = 'paid', paid_amount = amount, paid_at = $2, updated_at = $2 \
         WHERE payment_no = $1 AND state = 'open' AND expires_at > $2"
    };
    let done = sqlx::query(sql)
        .bind(payment_no)
        .bind(now)
        .execute(pool)
        .await?;
    let trade = get(pool, payment_no).await?;
    if done.rows_affected() == 1 {
        return Ok(trade);
    }
    Err(match trade.state {
        s if s.is_paid() => SandboxError::TradePaid,
        TradeState::Closed => SandboxError::TradeClosed,
        // The update failed only if the trade was not open or had expired, and `get` closes
        // an expired trade: still open here means the row is not what this code wrote.
        _ => SandboxError::Corrupt(format!("trade {payment_no} refused payment while open")),
    })
}

/// Closes the trade; closing a closed trade is fine, closing a paid one is `TradePaid`.
pub async fn close(pool: &SqlitePool, payment_no: &str) -> Result<Trade, SandboxError> {
    sqlx::query("UPDATE sandbox_trades SET state = 'closed', updated_at = $2 WHERE payment_no = $1 AND state = 'open'")
        .bind(payment_no)
        .bind(now_ms())
        .execute(pool)
        .await?;
    let trade = get(pool, payment_no).await?;
    match trade.state {
        TradeState::Closed => Ok(trade),
        s if s.is_paid() => Err(SandboxError::TradePaid),
        _ => Err(SandboxError::Corrupt(format!(
            "trade {payment_no} still open after close"
        ))),
    }
}

/// Counts one notification attempt, and its acknowledgement when the receiver gave one.
pub async fn count_notification(
    pool: &SqlitePool,
    payment_no: &str,
    acknowledged: bool,
) -> Result<(), SandboxError> {
    let sql = if acknowledged {
        "UPDATE sandbox_trades SET notify_sent_count = notify_sent_count + 1, \
         notify_ack_count = notify_ack_count + 1 WHERE payment_no = $1"
    } else {
        "UPDATE sandbox_trades SET notify_sent_count = notify_sent_count + 1 WHERE payment_no = $1"
    };
    sqlx::query(sql).bind(payment_no).execute(pool).await?;
    Ok(())
}
