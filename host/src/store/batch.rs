//! Several writes of one transaction in one round trip: on PostgreSQL they are sent as one
//! statement of data-modifying CTEs, on SQLite (in-process, where a statement costs no
//! round trip) one after the other. Each write says how many rows it must touch; a write
//! that touched another number means another request changed a row first (a lost race),
//! and the caller rolls the transaction back.
//!
//! The writes of a batch must not depend on each other's effects: PostgreSQL runs them on
//! one snapshot.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

use super::{Engine, StoreError};

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        Value::OptText(s.map(str::to_owned))
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::OptText(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::OptInt(v)
    }
}

/// One INSERT or UPDATE with its own `$1..` placeholders, and the rows it must touch
/// (`None`: any number).
#[derive(Debug, Clone)]
pub struct Write {
    sql: String,
    values: Vec<Value>,
    expect: Option<u64>,
}

impl Write {
    pub fn new(sql: impl Into<String>, expect: Option<u64>) -> Write {
        Write {
            sql: sql.into(),
            values: Vec::new(),
            expect,
        }
    }

    pub fn bind(mut self, v: impl Into<Value>) -> Write {
        self.values.push(v.into());
        self
    }
}

/// `$1, $2, ..` for `n` values starting at `$first`: the placeholders of an `IN` list.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    values: &'q [Value],
) -> Query<'q, Any, AnyArguments<'q>> {
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s.as_str()),
            Value::OptText(s) => q.bind(s.as_deref()),
            Value::Int(i) => q.bind(*i),
            Value::OptInt(i) => q.bind(*i),
        };
    }
    q
}

/// Renumbers `$n` placeholders by `offset`.
fn shift(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&format!("${}", n + offset)),
            Err(_) => out.push('$'),
        }
    }
    out
}

/// Runs one write on its own (a single statement needs no transaction); the rows it
/// touched.
pub async fn run(db: &super::Db, w: &Write) -> Result<u64, StoreError> {
    let done = bind_all(sqlx::query(&w.sql), &w.values)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

/// How many times a transaction is run again after an order event's sequence number was
/// taken by a concurrent one. Each such conflict means another writer of the same order
/// committed, so this bounds how many events of one order may be written at once.
const SEQUENCE_RETRIES: usize = 8;

/// Applies `writes` in a transaction of their own, handing back `value` when every write
/// touched the rows it expected; `LostRace` (rolled back, nothing written) otherwise.
///
/// A transaction that wrote an order event whose sequence number a concurrent transaction
/// took first is rolled back and run again (a fresh statement sees the other's number):
/// it is what the same writes arriving a moment later would have done. Its conditional
/// writes then see the other transaction's changes, and may find a lost race.
pub async fn transaction<T>(
    db: &super::Db,
    writes: &[Write],
    value: T,
) -> Result<super::Applied<T>, StoreError> {
    let mut retries = 0;
    loop {
        match once(db, writes).await {
            Ok(true) => return Ok(super::Applied::Done(value)),
            Ok(false) => return Ok(super::Applied::LostRace),
            Err(e) if retries < SEQUENCE_RETRIES && super::events::is_sequence_race(&e) => {
                retries += 1;
                tracing::debug!(
                    retries,
                    "an order event's sequence number was taken meanwhile; writing again"
                );
            }
            Err(e) => return Err(e),
        }
    }
}

/// One run of [`transaction`]: whether every write touched the rows it expected (committed)
/// or not (rolled back). On an error the dropped transaction rolls back.
async fn once(db: &super::Db, writes: &[Write]) -> Result<bool, StoreError> {
    let mut tx = db.pool.begin().await?;
    if !apply(&mut tx, db.engine, writes).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Applies `writes` inside `tx`; `Ok(false)` when one touched another number of rows than
/// it expected (the caller rolls back).
pub async fn apply(
    tx: &mut Transaction<'_, Any>,
    engine: Engine,
    writes: &[Write],
) -> Result<bool, StoreError> {
    match engine {
        Engine::Sqlite => {
            for w in writes {
                let done = bind_all(sqlx::query(&w.sql), &w.values)
                    .execute(&mut **tx)
                    .await?;
                if w.expect.is_some_and(|n| n != done.rows_affected()) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Engine::Postgres => {
            if writes.is_empty() {
                return Ok(true);
            }
            let mut ctes = Vec::with_capacity(writes.len());
            let mut counts = Vec::with_capacity(writes.len());
            let mut values = Vec::new();
            for (i, w) in writes.iter().enumerate() {
                ctes.push(format!(
                    "w{i} AS ({} RETURNING 1)",
                    shift(&w.sql, values.len())
                ));
                counts.push(format!("(SELECT count(*) FROM w{i}) AS n{i}"));
                values.extend(w.values.iter().cloned());
            }
            let sql = format!("WITH {} SELECT {}", ctes.join(", "), counts.join(", "));
            let row = bind_all(sqlx::query(&sql), &values)
                .fetch_one(&mut **tx)
                .await?;
            for (i, w) in writes.iter().enumerate() {
                let n: i64 = row.try_get(i)?;
                if w.expect.is_some_and(|e| e != n as u64) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_after_earlier_writes() {
        assert_eq!(
            shift("UPDATE t SET a = $1 WHERE b = $2 AND c IN ($10)", 3),
            "UPDATE t SET a = $4 WHERE b = $5 AND c IN ($13)"
        );
        assert_eq!(shift("SELECT '$'", 1), "SELECT '$'");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
