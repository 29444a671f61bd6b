//! Rate limits on the API (`governor`'s GCRA, keyed): per client IP and per API key on
//! `/v1/*`, and per client IP on `/v1/notify/*` (unauthenticated: providers call it).
//! Refused requests get 429 `rate_limited` with `Retry-After`, and are counted in
//! `paygate_rate_limited_total{scope}` (`ip`, `merchant`, `notify`, `sign_in`). The console's
//! sign-in form is limited per client IP whatever the configuration ([`SIGN_IN_PER_MINUTE`]):
//! a token cannot be guessed, but a flood of guesses would bury the audit log. The admin
//! API, health and metrics are not limited: operators must reach a gateway under load.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::RateLimit;
use crate::service::ErrorCode;

/// Every this many requests, keys idle long enough to be full again are dropped (a client
/// sending random keys must not grow the table for ever).
const PRUNE_EVERY: u64 = 4096;

/// The limiters in force (`None`: that limit is off). One per process, shared by requests.
pub struct Limits {
    /// Per SHA-256 of the bearer token: a merchant's API key (an unknown key is limited
    /// too, before the database is asked about it).
    merchant: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    /// Per client IP, `/v1/*` less notifications.
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Per client IP, `/v1/notify/*`.
    notify: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Per client IP, `POST /console/login`.
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    requests: AtomicU64,
}

/// Console sign-ins a client IP may post per minute (and at once): enough for an operator
/// who mistypes, too few to flood the audit log.
pub const SIGN_IN_PER_MINUTE: u32 = 10;

fn limiter<K: std::hash::Hash + Eq + Clone>(
    limit: Option<RateLimit>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let limit = limit?;
    let rate = NonZeroU32::new(limit.per_second)?;
    let burst = NonZeroU32::new(limit.burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    pub fn new(
        merchant: Option<RateLimit>,
        ip: Option<RateLimit>,
        notify: Option<RateLimit>,
    ) -> Limits {
        Limits {
            merchant: limiter(merchant),
            ip: limiter(ip),
            notify: limiter(notify),
            sign_in: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(SIGN_IN_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
            )),
            requests: AtomicU64::new(0),
        }
    }

    fn prune(&self) {
        if !self
            .requests
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY)
        {
            return;
        }
        for l in [&self.ip, &self.notify].into_iter().flatten() {
            l.retain_recent();
        }
        self.sign_in.retain_recent();
        if let Some(l) = &self.merchant {
            l.retain_recent();
        }
    }
}

/// How long until a refused key may try again, in whole seconds (at least 1).
/// The address a per-IP limit counts a client under: an IPv6 client by its /64, the
/// smallest network a site is given (one host can use every address in it, so counting
/// each address would give it 2^64 buckets); an IPv4-mapped IPv6 peer as its IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

fn retry_after<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Option<u64> {
    match limiter.check_key(key) {
        Ok(()) => None,
        Err(not_until) => {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).map(|s| s.max(1))
        }
    }
}

fn refused(scope: &'static str, seconds: u64, what: &str) -> Response {
    metrics::counter!("paygate_rate_limited_total", "scope" => scope).increment(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!("too many requests {what}; try again in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The middleware: checks the limits that apply to the request's path before it is
/// handled. The client IP is the connection's peer (`ConnectInfo`); behind a proxy that is
/// the proxy, so size the IP limits for it or turn them off.
pub async fn limit(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_key(c.0.ip()));
    if path == "/console/login" && req.method() == axum::http::Method::POST {
        limits.prune();
        if let Some(s) = ip.and_then(|ip| retry_after(&limits.sign_in, &ip)) {
            return refused("sign_in", s, "to sign in from this address");
        }
        return next.run(req).await;
    }
    if !path.starts_with("/v1/") {
        return next.run(req).await;
    }
    limits.prune();
    if path.starts_with("/v1/notify/") {
        if let (Some(l), Some(ip)) = (&limits.notify, ip) {
            if let Some(s) = retry_after(l, &ip) {
                return refused(
                    "notify",
                    s,
                    "from this address to the notification endpoint",
                );
            }
        }
        return next.run(req).await;
    }
    if let (Some(l), Some(ip)) = (&limits.ip, ip) {
        if let Some(s) = retry_after(l, &ip) {
            return refused("ip", s, "from this address");
        }
    }
    if let Some(l) = &limits.merchant {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| <[u8; 32]>::from(Sha256::digest(k.trim().as_bytes())));
        if let Some(key) = key {
            if let Some(s) = retry_after(l, &key) {
                return refused("merchant", s, "with this API key");
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64_and_a_mapped_one_as_ipv4() {
        let key = |t: &str| client_key(t.parse().expect("an address"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7".parse::<IpAddr>().expect("v4"));
    }

    use super::*;

    #[test]
    fn a_key_over_its_burst_waits_at_least_a_second_and_another_key_is_unaffected() {
        let l = limiter::<u8>(Some(RateLimit {
            per_second: 1,
            burst: 2,
        }))
        .expect("limit on");
        assert_eq!(retry_after(&l, &1), None);
        assert_eq!(retry_after(&l, &1), None);
        let wait = retry_after(&l, &1).expect("third refused");
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(retry_after(&l, &2), None);
    }

    #[test]
    fn an_absent_limit_builds_no_limiter() {
        assert!(limiter::<u8>(None).is_none());
    }
}
