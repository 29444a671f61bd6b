//! The SQL delay queue: one table (`delay_tasks`) in paygate's database. Claims are one
//! conditional UPDATE ... RETURNING (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! concurrent workers never take the same row; SQLite serialises writers anyway).

use std::time::Duration;

use sqlx::Row;

use super::{new_token, Claim, Claimed, QueueError, QueueStats};
use crate::clock::Clock;
use crate::store::{Db, Engine};

#[derive(Clone, Debug)]
pub struct SqlQueue {
    db: Db,
    /// The clock due times are computed and compared with: paygate's.
    clock: Clock,
}

impl SqlQueue {
    pub fn new(db: Db) -> SqlQueue {
        SqlQueue {
            db,
            clock: Clock::System,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Compares due times with `clock` from now on.
    pub fn with_clock(self, clock: Clock) -> SqlQueue {
        SqlQueue { clock, ..self }
    }

    pub async fn schedule(
        &self,
        queue: &str,
        key: &str,
        payload: &str,
        due_ms: i64,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO delay_tasks (queue, task_key, payload, due_at, ready_at, leased, token, attempts)
             VALUES ($1, $2, $3, $4, $4, 0, $5, 0)
             ON CONFLICT (queue, task_key) DO UPDATE SET payload = EXCLUDED.payload, due_at = EXCLUDED.due_at,
             ready_at = EXCLUDED.ready_at, leased = 0, token = EXCLUDED.token, attempts = 0",
        )
        .bind(queue)
        .bind(key)
        .bind(payload)
        .bind(due_ms)
        .bind(new_token())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    pub async fn put_back(
        &self,
        queue: &str,
        tasks: &[super::NewTask],
        existing: super::Existing,
    ) -> Result<usize, QueueError> {
        let on_conflict = match existing {
            super::Existing::Keep => "DO NOTHING",
            super::Existing::TakeBackClaimed => {
                "DO UPDATE SET payload = EXCLUDED.payload, due_at = EXCLUDED.due_at,
                 ready_at = EXCLUDED.ready_at, leased = 0, token = EXCLUDED.token, attempts = 0
                 WHERE delay_tasks.leased = 1"
            }
        };
        let mut added = 0;
        // 200 rows of 5 parameters: well under SQLite's and PostgreSQL's parameter limits.
        for batch in tasks.chunks(200) {
            let rows: Vec<String> = (0..batch.len())
                .map(|i| {
                    let p = i * 4 + 2;
                    format!(
                        "($1, ${}, ${}, ${}, ${}, 0, ${}, 0)",
                        p,
                        p + 1,
                        p + 2,
                        p + 2,
                        p + 3
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO delay_tasks (queue, task_key, payload, due_at, ready_at, leased, token, attempts)
                 VALUES {} ON CONFLICT (queue, task_key) {on_conflict}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(queue);
            for t in batch {
                query = query
                    .bind(&t.key)
                    .bind(&t.payload)
                    .bind(t.due_ms)
                    .bind(new_token());
            }
            let done = query.execute(&self.db.pool).await?;
            added += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        Ok(added)
    }

    pub async fn claim(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        ahead: Duration,
    ) -> Result<Claim, QueueError> {
        let now = self.clock.now_ms();
        let lock = match self.db.engine {
            Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        // One token per claim batch: each row's claim is still unique, because a row's token
        // changes at every claim and no two batches share a token.
        let sql = format!(
            "UPDATE delay_tasks SET ready_at = $1, leased = 1, token = $2, attempts = attempts + 1
             WHERE queue = $3 AND task_key IN (
                 SELECT task_key FROM delay_tasks WHERE queue = $3 AND ready_at <= $4
                 ORDER BY ready_at LIMIT $5 {lock})
             RETURNING task_key, payload, due_at, attempts, token"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease.as_millis() as i64)
            .bind(new_token())
            .bind(queue)
            .bind(now + ahead.as_millis() as i64)
            .bind(max as i64)
            .fetch_all(&self.db.pool)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    key: r.try_get("task_key")?,
                    payload: r.try_get("payload")?,
                    due_ms: r.try_get("due_at")?,
                    attempts: r.try_get("attempts")?,
                    token: r.try_get("token")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        claimed.sort_by_key(|c| c.due_ms);
        Ok(Claim {
            tasks: claimed,
            next_ready: self.next_ready(queue).await?,
        })
    }

    pub async fn ack(&self, queue: &str, tasks: &[&Claimed]) -> Result<Vec<bool>, QueueError> {
        // A claim gives its whole batch one token: one DELETE per token (and per 500 keys,
        // well under both engines' parameter limits).
        let mut tokens: Vec<i64> = tasks.iter().map(|t| t.token).collect();
        tokens.sort_unstable();
        tokens.dedup();
        let mut gone = std::collections::HashSet::new();
        for token in tokens {
            let keys: Vec<&str> = tasks
                .iter()
                .filter(|t| t.token == token)
                .map(|t| t.key.as_str())
                .collect();
            for part in keys.chunks(500) {
                let list: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = format!(
                    "DELETE FROM delay_tasks WHERE queue = $1 AND token = $2 AND leased = 1
                     AND task_key IN ({}) RETURNING task_key",
                    list.join(", ")
                );
                let mut query = sqlx::query(&sql).bind(queue).bind(token);
                for key in part {
                    query = query.bind(*key);
                }
                for row in query.fetch_all(&self.db.pool).await? {
                    gone.insert((row.try_get::<String, _>("task_key")?, token));
                }
            }
        }
        Ok(tasks
            .iter()
            .map(|t| gone.contains(&(t.key.clone(), t.token)))
            .collect())
    }

    pub async fn retry(
        &self,
        queue: &str,
        task: &Claimed,
        payload: &str,
        due_ms: i64,
    ) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE delay_tasks SET payload = $1, due_at = $2, ready_at = $2, leased = 0, token = $3
             WHERE queue = $4 AND task_key = $5 AND token = $6 AND leased = 1",
        )
        .bind(payload)
        .bind(due_ms)
        .bind(new_token())
        .bind(queue)
        .bind(&task.key)
        .bind(task.token)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn cancel(&self, queue: &str, key: &str) -> Result<bool, QueueError> {
        let done = sqlx::query("DELETE FROM delay_tasks WHERE queue = $1 AND task_key = $2")
            .bind(queue)
            .bind(key)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn next_ready(&self, queue: &str) -> Result<Option<i64>, QueueError> {
        let row = sqlx::query("SELECT MIN(ready_at) AS next FROM delay_tasks WHERE queue = $1")
            .bind(queue)
            .fetch_one(&self.db.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?)
    }

    pub async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let now = self.clock.now_ms();
        let row = sqlx::query(
            "SELECT
               COALESCE(SUM(CASE WHEN ready_at <= $2 THEN 1 ELSE 0 END), 0) AS ready,
               COALESCE(SUM(CASE WHEN ready_at > $2 AND leased = 0 THEN 1 ELSE 0 END), 0) AS scheduled,
               COALESCE(SUM(CASE WHEN ready_at > $2 AND leased = 1 THEN 1 ELSE 0 END), 0) AS in_flight,
               MIN(CASE WHEN ready_at <= $2 THEN due_at END) AS oldest
             FROM delay_tasks WHERE queue = $1",
        )
        .bind(queue)
        .bind(now)
        .fetch_one(&self.db.pool)
        .await?;
        let get = |name: &str| -> Result<u64, QueueError> {
            Ok(row.try_get::<i64, _>(name)?.max(0) as u64)
        };
        Ok(QueueStats {
            ready: get("ready")?,
            scheduled: get("scheduled")?,
            in_flight: get("in_flight")?,
            oldest_ready_ms: row.try_get::<Option<i64>, _>("oldest")?,
        })
    }
}
