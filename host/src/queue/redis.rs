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

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};

use super::{new_token, Claim, Claimed, QueueError, QueueStats};
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

/// Schedules each (key, payload, due, token) from ARGV[2] on whose key is not in the queue,
/// or, when ARGV[1] is 1, is claimed.
const PUT_BACK: &str = r#"
local added = 0
local take_back = ARGV[1] == '1'
for i = 2, #ARGV, 4 do
  local k = ARGV[i]
  if not redis.call('ZSCORE', KEYS[1], k)
     or (take_back and redis.call('SISMEMBER', KEYS[2], k) == 1) then
    redis.call('ZADD', KEYS[1], ARGV[i + 2], k)
    redis.call('SREM', KEYS[2], k)
    redis.call('HSET', KEYS[3], k, ARGV[i + 1])
    redis.call('HSET', KEYS[4], k, ARGV[i + 2])
    redis.call('HSET', KEYS[5], k, ARGV[i + 3])
    redis.call('HSET', KEYS[6], k, 0)
    added = added + 1
  end
end
return added
"#;

/// Claims up to ARGV[2] keys claimable by ARGV[4] + ARGV[5] (now, plus how far ahead the
/// worker claims), leasing them until ARGV[4] + ARGV[1]; each key's token is ARGV[3] + its
/// index. Returns key, payload, due, attempts, token for each, then the score of the queue's
/// first key after the claim ('' when empty): when the next claim can find something, which
/// spares an idle worker a second round trip. One variadic command per structure for the
/// whole batch (HMGET, ZADD, SADD, HSET), not one per key: Redis runs every queue's scripts
/// on one thread, so its calls per task bound the burst rate.
const CLAIM: &str = r#"
local now = tonumber(ARGV[4])
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + tonumber(ARGV[5]), 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
if #keys > 0 then
  local until_ms = now + tonumber(ARGV[1])
  local payloads = redis.call('HMGET', KEYS[3], unpack(keys))
  local dues = redis.call('HMGET', KEYS[4], unpack(keys))
  local counts = redis.call('HMGET', KEYS[6], unpack(keys))
  local scored, tokens, attempts = {}, {}, {}
  for i, k in ipairs(keys) do
    local token = string.format('%d', tonumber(ARGV[3]) + i)
    local n = (tonumber(counts[i]) or 0) + 1
    scored[#scored + 1] = until_ms
    scored[#scored + 1] = k
    tokens[#tokens + 1] = k
    tokens[#tokens + 1] = token
    attempts[#attempts + 1] = k
    attempts[#attempts + 1] = n
    out[#out + 1] = k
    out[#out + 1] = payloads[i] or ''
    out[#out + 1] = dues[i] or '0'
    out[#out + 1] = tostring(n)
    out[#out + 1] = token
  end
  redis.call('ZADD', KEYS[1], unpack(scored))
  redis.call('SADD', KEYS[2], unpack(keys))
  redis.call('HSET', KEYS[5], unpack(tokens))
  redis.call('HSET', KEYS[6], unpack(attempts))
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
out[#out + 1] = first[2] or ''
return out
"#;

/// Removes each claimed (key, token) pair of ARGV whose claim is still the current one;
/// returns 1 or 0 per pair, in order. The removals are variadic, one per structure.
const ACK: &str = r#"
local keys, tokens = {}, {}
for i = 1, #ARGV, 2 do
  keys[#keys + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
local held = redis.call('HMGET', KEYS[5], unpack(keys))
local gone, out = {}, {}
for i, k in ipairs(keys) do
  if held[i] == tokens[i] and redis.call('SISMEMBER', KEYS[2], k) == 1 then
    gone[#gone + 1] = k
    out[i] = 1
  else
    out[i] = 0
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('SREM', KEYS[2], unpack(gone))
  for j = 3, 6 do
    redis.call('HDEL', KEYS[j], unpack(gone))
  end
end
return out
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
-- The longest-waiting ready task not claimed: the start of the queue's lag (-1: none).
local oldest = -1
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 64)) do
  if redis.call('SISMEMBER', KEYS[2], k) == 0 then
    oldest = tonumber(redis.call('ZSCORE', KEYS[1], k))
    break
  end
end
return {ready, total - ready - (leased - leased_ready), leased - leased_ready, oldest}
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
    let nodes: Vec<String> = node_urls(url)
        .into_iter()
        .map(|u| {
            redis::Client::open(u)
                .map(|c| c.get_connection_info().addr.to_string())
                .unwrap_or_else(|_| "REDIS_URL".to_owned())
        })
        .collect();
    match nodes.as_slice() {
        [] => "REDIS_URL".to_owned(),
        _ => nodes.join(","),
    }
}

/// One connection to `url` and a `PING`, each bounded by [`CONNECT_TIMEOUT`]: whether Redis
/// is there and answers (start-up checks it before paygate binds its port).
pub async fn ping(url: &str) -> Result<(), redis::RedisError> {
    // Of a cluster's seed list, the first node.
    let url = node_urls(url).first().copied().unwrap_or(url);
    let mut conn = probe(url).await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}

/// A plain connection to the one server at `url`, connecting and answering within
/// [`CONNECT_TIMEOUT`]: for a question asked once.
async fn probe(url: &str) -> Result<redis::aio::MultiplexedConnection, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CONNECT_TIMEOUT);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
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
    put_back: Script,
}

/// paygate's connection to Redis: one server (reconnecting on its own), or a Redis Cluster
/// (commands routed to the node of their key's slot, following its topology). `REDIS_URL`
/// may name any node of a cluster, or several nodes separated by commas.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// Sends `cmd`, a command about the server itself (`INFO`), to the server that holds
    /// `key`: on a cluster, the node of its slot; otherwise the one server.
    async fn on_node_of(&mut self, key: &str, cmd: &Cmd) -> Result<Value, redis::RedisError> {
        match self {
            RedisConn::Single(c) => cmd.query_async(c).await,
            RedisConn::Cluster(c) => {
                let route = Route::new(slot(key), SlotAddr::Master);
                c.route_command(
                    cmd,
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                )
                .await
            }
        }
    }
}

/// The Redis Cluster slot of `key`: CRC16 (XMODEM) of its hash tag (the text between the
/// first `{` and the next `}`, when not empty) or of the whole key, modulo 16384
/// (<https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags>).
fn slot(key: &str) -> u16 {
    let tagged = key.find('{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.find('}')
            .filter(|close| *close > 0)
            .map(|close| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key).as_bytes()) % 16_384
}

/// The node URLs of `url`: several separated by commas (a cluster's seed nodes), or one.
fn node_urls(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Whether `e` is a server's refusal of a command (renamed or denied by an ACL, as some
/// hosted Redis do with `INFO`), rather than a failure to reach it.
fn refused(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::ResponseError | redis::ErrorKind::ExtensionError
    )
}

/// Whether the server at `url` runs in cluster mode (`INFO cluster`: `cluster_enabled:1`).
async fn is_cluster(url: &str) -> Result<bool, redis::RedisError> {
    let mut conn = probe(url).await?;
    match redis::cmd("INFO")
        .arg("cluster")
        .query_async::<String>(&mut conn)
        .await
    {
        Ok(info) => Ok(info_field(&info, "cluster_enabled") == Some("1")),
        // A server that answers but will not say (INFO renamed or denied, as some hosted
        // Redis do) is taken for a single server.
        Err(e) if refused(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Clone)]
pub struct RedisQueue {
    conn: RedisConn,
    /// Every key paygate writes starts with this (`PAYGATE_REDIS_PREFIX`).
    prefix: String,
    scripts: std::sync::Arc<Scripts>,
    /// The clock due times are computed and compared with: paygate's.
    clock: Clock,
    /// Per queue, the `run_id` of the Redis server holding it when paygate last marked it:
    /// another one means a restart or a failover, after which recent keys may be gone.
    server_ids: std::sync::Arc<std::sync::Mutex<ServerIds>>,
}

/// Per queue name, the `run_id` of its server (`None`: the server would not say).
type ServerIds = Vec<(String, Option<String>)>;

/// Tasks per call of the put-back script: a page of reconciliation, short
/// enough that Redis is never blocked for long.
const PUT_BACK_BATCH: usize = 500;

/// The most keys one claim or ack script handles: Lua's `unpack` is bounded by its C stack
/// (8,000 values), and a claim unpacks two per key.
const MAX_BATCH: usize = 1_000;

/// Whether Redis's `maxmemory-policy` may evict paygate's keys, and what to do. paygate's
/// keys carry no expiry, so the `volatile-*` policies never pick them (they only evict keys
/// with a TTL, and answer OOM like `noeviction` otherwise); the `allkeys-*` ones may drop a
/// deadline or a retry under memory pressure
/// (<https://redis.io/docs/latest/develop/reference/eviction/>).
pub fn eviction_rule(policy: &str) -> Option<String> {
    if policy.starts_with("allkeys-") {
        Some(format!(
            "Redis's maxmemory-policy is {policy}: under memory pressure it evicts paygate's \
             queue keys (deadlines, status queries, retries), which paygate then only finds \
             again at its next reconciliation; set maxmemory-policy to noeviction"
        ))
    } else {
        None
    }
}

/// The value of `field` in the text of an `INFO` answer (`field:value` lines).
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects to `url` (`redis://host:port/db`; for a Redis Cluster, any of its nodes,
    /// or several separated by commas: a server in cluster mode is recognised); keys start
    /// with `prefix`. Every connection attempt and every command is bounded
    /// ([`CONNECT_TIMEOUT`], [`RESPONSE_TIMEOUT`]), and a lost connection is re-established
    /// a few times with a short backoff: a Redis that goes away makes commands fail within
    /// seconds, never hang.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisQueue, QueueError> {
        let nodes = node_urls(url);
        let first = nodes.first().copied().unwrap_or(url);
        let conn = if nodes.len() > 1 || is_cluster(first).await? {
            let client = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(RECONNECT_RETRIES as u32)
                .build()?;
            RedisConn::Cluster(client.get_async_connection().await?)
        } else {
            RedisConn::Single(RedisQueue::single(first).await?)
        };
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
                put_back: Script::new(PUT_BACK),
            }),
            server_ids: std::sync::Arc::default(),
        })
    }

    /// A self-reconnecting connection to one server.
    async fn single(url: &str) -> Result<ConnectionManager, QueueError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(RECONNECT_RETRIES)
            // Reconnect delays of 1 s, then 2 s (the library's default grows a hundredfold
            // from 1 s to a minute per attempt: minutes of silence while Redis is down).
            .set_factor(2)
            .set_max_delay(2_000);
        Ok(ConnectionManager::new_with_config(client, config).await?)
    }

    /// The key prefix every key of this paygate starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A connection for other uses (health checks, streams).
    pub fn connection(&self) -> RedisConn {
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

    pub async fn put_back(
        &self,
        queue: &str,
        tasks: &[super::NewTask],
        existing: super::Existing,
    ) -> Result<usize, QueueError> {
        let take_back = i64::from(existing == super::Existing::TakeBackClaimed);
        let mut added = 0;
        for batch in tasks.chunks(PUT_BACK_BATCH) {
            let mut conn = self.conn.clone();
            let mut inv = self.invocation(&self.scripts.put_back, queue);
            inv.arg(take_back);
            for t in batch {
                inv.arg(&t.key)
                    .arg(&t.payload)
                    .arg(t.due_ms)
                    .arg(new_token());
            }
            let n: i64 = inv.invoke_async(&mut conn).await?;
            added += usize::try_from(n).unwrap_or(0);
        }
        Ok(added)
    }

    /// The key of `queue`'s mark: inside its hash tag, so on a cluster it lives (and is
    /// lost) with the queue's own keys.
    fn mark_key(&self, queue: &str) -> String {
        format!("{{{}:{}}}:mark", self.prefix, queue)
    }

    /// The `INFO section` text of the server holding `queue` (on a cluster, its node);
    /// empty when the server refuses `INFO` (then paygate goes by its marks alone).
    async fn info(&self, queue: &str, section: &str) -> Result<String, QueueError> {
        let mut conn = self.conn.clone();
        match conn
            .on_node_of(&self.mark_key(queue), redis::cmd("INFO").arg(section))
            .await
        {
            Ok(answer) => Ok(redis::from_redis_value(&answer)?),
            Err(e) if refused(&e) => Ok(String::new()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn mark(&self, queues: &[&str]) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut ids = Vec::with_capacity(queues.len());
        for queue in queues {
            let _: () = redis::cmd("SET")
                .arg(self.mark_key(queue))
                .arg(self.clock.now_ms())
                .query_async(&mut conn)
                .await?;
            let info = self.info(queue, "server").await?;
            ids.push((
                (*queue).to_owned(),
                info_field(&info, "run_id").map(str::to_owned),
            ));
        }
        if let Ok(mut known) = self.server_ids.lock() {
            *known = ids;
        }
        Ok(())
    }

    pub async fn continuity(&self, queues: &[&str]) -> Result<super::Continuity, QueueError> {
        let mut conn = self.conn.clone();
        let known = self
            .server_ids
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        for queue in queues {
            let present: i64 = redis::cmd("EXISTS")
                .arg(self.mark_key(queue))
                .query_async(&mut conn)
                .await?;
            if present == 0 {
                return Ok(super::Continuity::Lost(format!(
                    "the mark paygate keeps in its `{queue}` queue is gone: Redis lost \
                     paygate's keys (FLUSHDB or FLUSHALL, a restart without persistence, a \
                     failover to a replica that was behind, or eviction)"
                )));
            }
            let before = known
                .iter()
                .find(|(q, _)| q == queue)
                .and_then(|(_, id)| id.as_deref());
            let info = self.info(queue, "server").await?;
            match (before, info_field(&info, "run_id")) {
                (Some(before), Some(now)) if before != now => {
                    return Ok(super::Continuity::Lost(format!(
                        "the Redis server of paygate's `{queue}` queue is another process than \
                         before (run_id {before} -> {now}): a restart or a failover, which may \
                         have lost the keys written just before"
                    )))
                }
                _ => {}
            }
        }
        Ok(super::Continuity::Intact)
    }

    /// See [`super::DelayQueue::eviction_warning`]; on a cluster, the first node of a queue
    /// that may evict.
    pub async fn eviction_warning(&self, queues: &[&str]) -> Result<Option<String>, QueueError> {
        for queue in queues {
            let info = self.info(queue, "memory").await?;
            if let Some(warning) = info_field(&info, "maxmemory_policy").and_then(eviction_rule) {
                return Ok(Some(warning));
            }
            if !matches!(self.conn, RedisConn::Cluster(_)) {
                break;
            }
        }
        Ok(None)
    }

    pub async fn claim(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        ahead: Duration,
    ) -> Result<Claim, QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = self.invocation(&self.scripts.claim, queue);
        // Tokens of one batch are base + 1..=max: unique, since every batch draws a new base.
        let base = new_token();
        inv.arg(lease.as_millis() as i64)
            .arg(max.min(MAX_BATCH))
            .arg(base)
            .arg(self.clock.now_ms())
            .arg(ahead.as_millis() as i64);
        let flat: Vec<String> = inv.invoke_async(&mut conn).await?;
        let parse = |s: &str, what: &str| {
            s.parse::<i64>()
                .map_err(|_| QueueError::Protocol(format!("{what} `{s}`")))
        };
        let Some((next, tasks)) = flat.split_last() else {
            return Err(QueueError::Protocol("claim returned nothing".into()));
        };
        let tasks = tasks
            .chunks(5)
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
            .collect::<Result<_, _>>()?;
        let next_ready = match next.as_str() {
            "" => None,
            // A score comes back as Redis writes a double; scores here are whole ms.
            score => Some(
                score
                    .parse::<f64>()
                    .map_err(|_| QueueError::Protocol(format!("next score `{score}`")))?
                    as i64,
            ),
        };
        Ok(Claim { tasks, next_ready })
    }

    pub async fn ack(&self, queue: &str, tasks: &[&Claimed]) -> Result<Vec<bool>, QueueError> {
        let mut acked = Vec::with_capacity(tasks.len());
        for part in tasks.chunks(MAX_BATCH) {
            let mut conn = self.conn.clone();
            let mut inv = self.invocation(&self.scripts.ack, queue);
            for task in part {
                inv.arg(&task.key).arg(task.token);
            }
            let done: Vec<i64> = inv.invoke_async(&mut conn).await?;
            if done.len() != part.len() {
                return Err(QueueError::Protocol("ack answered for other tasks".into()));
            }
            acked.extend(done.into_iter().map(|d| d == 1));
        }
        Ok(acked)
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
            [ready, scheduled, in_flight, oldest] => Ok(QueueStats {
                ready: (*ready).max(0) as u64,
                scheduled: (*scheduled).max(0) as u64,
                in_flight: (*in_flight).max(0) as u64,
                oldest_ready_ms: (*oldest >= 0).then_some(*oldest),
            }),
            _ => Err(QueueError::Protocol(
                "stats returned the wrong shape".into(),
            )),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Compares due times with `clock` from now on.
    pub fn with_clock(self, clock: Clock) -> RedisQueue {
        RedisQueue { clock, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_policies_that_evict_keys_without_expiry_are_warned_about() {
        for safe in [
            "noeviction",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            assert_eq!(eviction_rule(safe), None, "{safe}");
        }
        for risky in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            let warning = eviction_rule(risky).expect(risky);
            assert!(
                warning.contains(risky) && warning.contains("noeviction"),
                "{warning}"
            );
        }
    }

    #[test]
    fn a_key_slot_is_that_of_its_hash_tag() {
        // The cluster specification's examples: CRC16("123456789") = 0x31C3.
        assert_eq!(slot("123456789"), 0x31C3);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("{user1000}.followers"), slot("{user1000}.following"));
        assert_eq!(
            slot("foo{}{bar}"),
            slot("foo{}{bar}"),
            "an empty tag hashes the key"
        );
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
        assert_eq!(
            slot("{paygate:deadline}:mark"),
            slot("{paygate:deadline}:due")
        );
    }

    #[test]
    fn an_info_field_is_read_from_its_own_line() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n# Memory\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert_eq!(info_field(info, "run_id"), Some("abc123"));
        assert_eq!(info_field(info, "maxmemory_policy"), Some("allkeys-lru"));
        assert_eq!(
            info_field(info, "maxmemory"),
            None,
            "a prefix of another field is not it"
        );
        assert_eq!(info_field(info, "tcp_port"), None);
    }
}
