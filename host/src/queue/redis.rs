//! The Redis delay queue. Per queue, all keys share one hash tag (`{prefix:queue}`), so the
//! scripts also run on Redis Cluster:
//! - `:due`   sorted set, key -> when it may next be claimed (ms): due time, or lease end;
//! - `:lease` set of the keys currently claimed;
//! - `:data`  hash, key -> payload;  `:at` hash, key -> original due time (for lag);
//! - `:tok`   hash, key -> current claim token;  `:att` hash, key -> attempts.
//!
//! A claim moves due keys to a lease by rescoring them to `now + lease` in `:due` and
//! marking them in `:lease`; a lapsed lease is therefore simply due again. Due times are
//! compared with the clock that computed them, paygate's, passed to the scripts (DESIGN §5:
//! a Redis whose clock is ahead must not run a deadline early; handlers re-check their rule
//! anyway). Lease ends are on the claiming host's clock too, so the hosts sharing a queue
//! must agree on the time within the lease (90 s by default; NTP keeps them within
//! milliseconds): a host further ahead takes tasks another host is still running. Every
//! change is one Lua script, atomic.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use super::{new_token, Claimed, QueueError, QueueStats};
use crate::clock::Clock;

const SCHEDULE: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[6], ARGV[1], 0)
return 1
"#;

const CLAIM: &str = r#"
local now = tonumber(ARGV[4])
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i, k in ipairs(keys) do
  local token = string.format('%d', tonumber(ARGV[3]) + i)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), k)
  redis.call('SADD', KEYS[2], k)
  redis.call('HSET', KEYS[5], k, token)
  local attempts = redis.call('HINCRBY', KEYS[6], k, 1)
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGET', KEYS[3], k) or ''
  out[#out + 1] = redis.call('HGET', KEYS[4], k) or '0'
  out[#out + 1] = tostring(attempts)
  out[#out + 1] = token
end
return out
"#;

const ACK: &str = r#"
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
return 1
"#;

const RETRY: &str = r#"
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] or redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[5])
return 1
"#;

const CANCEL: &str = r#"
local existed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
return existed
"#;

const STATS: &str = r#"
local now = tonumber(ARGV[1])
local total = redis.call('ZCARD', KEYS[1])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local leased = redis.call('SCARD', KEYS[2])
local leased_ready = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local score = redis.call('ZSCORE', KEYS[1], k)
  if score and tonumber(score) <= now then leased_ready = leased_ready + 1 end
end
return {ready, total - ready - (leased - leased_ready), leased - leased_ready}
"#;

/// The longest one attempt to connect to Redis may take.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest paygate waits for the answer to one Redis command (every command it sends is
/// a short one: no blocking reads).
pub const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Attempts to re-establish a lost connection before a command fails.
const RECONNECT_RETRIES: usize = 3;

/// The address `url` names (`127.0.0.1:6379`, a socket path; never the password), for
/// messages; `REDIS_URL` when it is not a Redis URL.
pub fn address(url: &str) -> String {
    redis::Client::open(url)
        .map(|c| c.get_connection_info().addr.to_string())
        .unwrap_or_else(|_| "REDIS_URL".to_owned())
}

/// One connection to `url` and a `PING`, each bounded by [`CONNECT_TIMEOUT`]: whether Redis
/// is there and answers (start-up checks it before paygate binds its port).
pub async fn ping(url: &str) -> Result<(), redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CONNECT_TIMEOUT);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}

/// The scripts, loaded once (EVALSHA, falling back to EVAL).
#[derive(Debug)]
struct Scripts {
    schedule: Script,
    claim: Script,
    ack: Script,
    retry: Script,
    cancel: Script,
    stats: Script,
}

#[derive(Clone)]
pub struct RedisQueue {
    conn: ConnectionManager,
    /// Every key paygate writes starts with this (`PAYGATE_REDIS_PREFIX`).
    prefix: String,
    scripts: std::sync::Arc<Scripts>,
    /// The clock due times are computed and compared with: paygate's.
    clock: Clock,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects to `url` (`redis://host:port/db`); keys start with `prefix`. Every
    /// connection attempt and every command is bounded ([`CONNECT_TIMEOUT`],
    /// [`RESPONSE_TIMEOUT`]), and a lost connection is re-established a few times with a
    /// short backoff: a Redis that goes away makes commands fail within seconds, never hang.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisQueue, QueueError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(RECONNECT_RETRIES)
            // Reconnect delays of 1 s, then 2 s (the library's default grows a hundredfold
            // from 1 s to a minute per attempt: minutes of silence while Redis is down).
            .set_factor(2)
            .set_max_delay(2_000);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisQueue {
            conn,
            clock: Clock::System,
            prefix: prefix.to_owned(),
            scripts: std::sync::Arc::new(Scripts {
                schedule: Script::new(SCHEDULE),
                claim: Script::new(CLAIM),
                ack: Script::new(ACK),
                retry: Script::new(RETRY),
                cancel: Script::new(CANCEL),
                stats: Script::new(STATS),
            }),
        })
    }

    /// The key prefix every key of this paygate starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection for other uses (health checks, streams).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    fn keys(&self, queue: &str) -> [String; 6] {
        let tag = format!("{{{}:{}}}", self.prefix, queue);
        ["due", "lease", "data", "at", "tok", "att"].map(|part| format!("{tag}:{part}"))
    }

    fn invocation<'a>(&self, script: &'a Script, queue: &str) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        for k in self.keys(queue) {
            inv.key(k);
        }
        inv
    }

    pub async fn schedule(
        &self,
        queue: &str,
        key: &str,
        payload: &str,
        due_ms: i64,
    ) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.schedule, queue);
        inv.arg(key).arg(payload).arg(due_ms).arg(new_token());
        let _: i64 = inv.invoke_async(&mut conn).await?;
        Ok(())
    }

    pub async fn claim(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.claim, queue);
        // Tokens of one batch are base + 1..=max: unique, since every batch draws a new base.
        let base = new_token();
        inv.arg(lease.as_millis() as i64)
            .arg(max)
            .arg(base)
            .arg(self.clock.now_ms());
        let flat: Vec<String> = inv.invoke_async(&mut conn).await?;
        let parse = |s: &str, what: &str| {
            s.parse::<i64>()
                .map_err(|_| QueueError::Protocol(format!("{what} `{s}`")))
        };
        flat.chunks(5)
            .map(|c| match c {
                [key, payload, due, attempts, token] => Ok(Claimed {
                    key: key.clone(),
                    payload: payload.clone(),
                    due_ms: parse(due, "due time")?,
                    attempts: parse(attempts, "attempts")?,
                    token: parse(token, "token")?,
                }),
                _ => Err(QueueError::Protocol("claim returned a partial task".into())),
            })
            .collect()
    }

    pub async fn ack(&self, queue: &str, task: &Claimed) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.ack, queue);
        inv.arg(&task.key).arg(task.token);
        let done: i64 = inv.invoke_async(&mut conn).await?;
        Ok(done == 1)
    }

    pub async fn retry(
        &self,
        queue: &str,
        task: &Claimed,
        payload: &str,
        due_ms: i64,
    ) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.retry, queue);
        inv.arg(&task.key)
            .arg(task.token)
            .arg(payload)
            .arg(due_ms)
            .arg(new_token());
        let done: i64 = inv.invoke_async(&mut conn).await?;
        Ok(done == 1)
    }

    pub async fn cancel(&self, queue: &str, key: &str) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.cancel, queue);
        inv.arg(key);
        let existed: i64 = inv.invoke_async(&mut conn).await?;
        Ok(existed == 1)
    }

    pub async fn next_ready(&self, queue: &str) -> Result<Option<i64>, QueueError> {
        let mut conn = self.conn.clone();
        let [due, ..] = self.keys(queue);
        let first: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(due)
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        Ok(first.first().map(|(_, score)| *score as i64))
    }

    pub async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.stats, queue);
        inv.arg(self.clock.now_ms());
        let counts: Vec<i64> = inv.invoke_async(&mut conn).await?;
        match counts.as_slice() {
            [ready, scheduled, in_flight] => Ok(QueueStats {
                ready: (*ready).max(0) as u64,
                scheduled: (*scheduled).max(0) as u64,
                in_flight: (*in_flight).max(0) as u64,
            }),
            _ => Err(QueueError::Protocol(
                "stats returned the wrong shape".into(),
            )),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Compares due times with `clock` from now on.
    pub fn with_clock(self, clock: Clock) -> RedisQueue {
        RedisQueue { clock, ..self }
    }
}
