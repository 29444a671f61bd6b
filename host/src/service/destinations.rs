//! Webhook destinations at run time: resolving a URL's host through an injectable
//! [`Resolver`] and judging the addresses by the domain's rule (`domain::destination`), at
//! creation (`check_url`) and on every delivery (`client`: a `reqwest` client whose name
//! look-ups go through the same rule, so the connection uses exactly the addresses that
//! were checked; there is no second look-up for an attacker's DNS to answer differently).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::destination::{host_ip, Policy, Refused};

/// How long a look-up at creation may take before the URL is refused as unresolvable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A boxed look-up.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves host names. Production uses the system's resolver ([`SystemResolver`]); tests
/// inject one they control.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host` (a name, never a literal address).
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;

    /// The last look at the addresses a delivery is about to connect to, after the rule
    /// passed them: returns those it may connect to. The system resolver passes them all;
    /// a test's resolver records them (and keeps any connection on loopback).
    fn connecting(&self, _host: &str, addrs: Vec<IpAddr>) -> Vec<IpAddr> {
        addrs
    }
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Why a URL cannot be a destination.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{0}")]
    Refused(Refused),
    #[error("`{0}` is not an absolute http(s) URL with a host")]
    NotAUrl(String),
    #[error("{host} cannot be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// The destination rule and the resolver it looks names up with. One per process.
#[derive(Clone)]
pub struct Destinations {
    policy: Arc<Policy>,
    resolver: Arc<dyn Resolver>,
}

impl Destinations {
    pub fn new(policy: Policy, resolver: Arc<dyn Resolver>) -> Destinations {
        Destinations {
            policy: Arc::new(policy),
            resolver,
        }
    }

    /// The rule in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks the host of `url` now: a literal address needs no look-up, nor does a host
    /// named on the allow list; any other name is resolved and every address it resolves to
    /// must pass.
    pub async fn check_url(&self, url: &str) -> Result<(), DestinationError> {
        let host = url_host(url)?;
        if let Some(ip) = host_ip(&host) {
            return self
                .policy
                .check(&host, &[ip])
                .map_err(DestinationError::Refused);
        }
        if self.policy.allows_host(&host) {
            return Ok(());
        }
        let addrs = match tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.lookup(&host)).await {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => {
                return Err(DestinationError::Unresolvable {
                    host,
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(DestinationError::Unresolvable {
                    host,
                    reason: "the look-up timed out".into(),
                })
            }
        };
        self.policy
            .check(&host, &addrs)
            .map_err(DestinationError::Refused)
    }

    /// Checks a URL whose host is a literal address (which `reqwest` connects to without a
    /// look-up, so the client's resolver never sees it): `Ok` for a host name, which the
    /// client's resolver checks when it connects.
    pub fn check_literal(&self, url: &str) -> Result<(), DestinationError> {
        let host = url_host(url)?;
        match host_ip(&host) {
            Some(ip) => {
                self.policy
                    .check(&host, &[ip])
                    .map_err(DestinationError::Refused)?;
                if self.resolver.connecting(&host, vec![ip]).is_empty() {
                    return Err(DestinationError::Unresolvable {
                        host,
                        reason: "the resolver refused the connection".into(),
                    });
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A client for requests to destinations: every name it connects to is resolved once
    /// and checked, and it connects only to the checked addresses; redirects are refused (a
    /// destination cannot bounce a signed request elsewhere). Literal-address URLs bypass
    /// resolvers: check them with [`Destinations::check_literal`] before sending.
    pub fn client(&self) -> reqwest::Client {
        Self::built(self.builder())
    }

    /// [`Destinations::client`] with a timeout on every request.
    pub fn client_with_timeout(&self, timeout: Duration) -> reqwest::Client {
        Self::built(self.builder().timeout(timeout))
    }

    /// Built once, at start-up. A default client in its place would skip the destination
    /// rule, so a failure to build this one (its TLS backend would not start: nothing any
    /// input can cause) stops paygate instead.
    fn built(builder: reqwest::ClientBuilder) -> reqwest::Client {
        #[allow(clippy::expect_used)]
        builder.build().expect(
            "the HTTP client for webhooks and sandbox notifications cannot be built (TLS backend)",
        )
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // No proxy, whatever HTTP(S)_PROXY or ALL_PROXY say: through a proxy the
            // connection would go to the proxy's address, the proxy would resolve the
            // destination itself, and the check below would only ever see the proxy.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolve(self.clone())))
    }
}

/// The host of an http(s) URL, as written (`[::1]` keeps its brackets).
fn url_host(url: &str) -> Result<String, DestinationError> {
    url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| DestinationError::NotAUrl(url.to_owned()))
}

/// The error a refused connection carries through `reqwest`, found again by
/// [`refusal_in`].
#[derive(Debug, thiserror::Error)]
#[error("destination refused: {0}")]
pub struct ConnectRefused(pub String);

/// The reason a destination was refused, if `error` (or one of its sources) is one.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = e {
        if let Some(r) = err.downcast_ref::<ConnectRefused>() {
            return Some(r.0.clone());
        }
        e = err.source();
    }
    None
}

/// `reqwest`'s resolver: looks the name up once, checks every address by the rule, and
/// hands back only what passed (and what the resolver's last look keeps).
struct CheckedResolve(Destinations);

impl reqwest::dns::Resolve for CheckedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let d = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = if d.policy.allows_host(&host) {
                d.resolver.lookup(&host).await?
            } else {
                let addrs = d.resolver.lookup(&host).await?;
                if let Err(refused) = d.policy.check(&host, &addrs) {
                    return Err(Box::new(ConnectRefused(refused.to_string()))
                        as Box<dyn std::error::Error + Send + Sync>);
                }
                addrs
            };
            let addrs = d.resolver.connecting(&host, addrs);
            if addrs.is_empty() {
                return Err(Box::new(ConnectRefused(format!(
                    "{host}: no address left to connect to"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            // The port is the URL's: reqwest replaces the 0.
            let addrs: Vec<SocketAddr> = addrs.into_iter().map(|ip| (ip, 0).into()).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
