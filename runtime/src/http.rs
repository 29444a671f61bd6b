//! The `http` import: outbound requests from an adapter, only to the origins its merchant's
//! base-URL settings name, with the host's timeout and size limits. Redirects are not
//! followed, so an allowed host cannot bounce a request elsewhere.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::bindings::paygate::provider::http::{self, Method, Request, Response};

/// The origins (scheme, host, port) an adapter may call for one merchant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    origins: BTreeSet<(String, String, u16)>,
}

impl Allowlist {
    /// Adds the origin of a base URL setting. Refuses anything but absolute `https` URLs,
    /// and plain `http` to a loopback host (a simulator on the operator's machine): payment
    /// traffic never crosses a network unencrypted.
    pub fn allow_base_url(&mut self, base: &str) -> Result<(), String> {
        let origin =
            origin_of(base).ok_or_else(|| format!("`{base}` is not an absolute http(s) URL"))?;
        if origin.0 == "http" && !is_loopback(&origin.1) {
            return Err(format!(
                "`{base}` uses plain http to a host that is not loopback: use https \
                 (http is accepted for 127.0.0.1, ::1 and localhost only)"
            ));
        }
        self.origins.insert(origin);
        Ok(())
    }

    /// Whether `url` may be called, or why not.
    pub fn check(&self, url: &str) -> Result<url::Url, http::Error> {
        let parsed = url::Url::parse(url)
            .map_err(|e| http::Error::Invalid(format!("bad URL `{url}`: {e}")))?;
        let origin = origin_of(url)
            .ok_or_else(|| http::Error::Denied(format!("`{url}` is not an http(s) URL")))?;
        if !self.origins.contains(&origin) {
            return Err(http::Error::Denied(format!(
                "{}://{}:{} is not in this adapter's allowlist (its base-URL settings)",
                origin.0, origin.1, origin.2
            )));
        }
        Ok(parsed)
    }
}

/// Whether `host` (as `url` writes it: IPv6 in brackets) names this machine.
fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `scheme://host:port` of `url` for a log line, or only its scheme when it has no host
/// (`file:`); nothing of the path or query.
fn shown_origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
            (Some(host), None) => format!("{}://{host}", u.scheme()),
            (None, _) => format!("{}:", u.scheme()),
        },
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some((
        u.scheme().to_owned(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

/// Limits of outbound calls, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

/// Builds the client adapters' requests go through.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("paygate/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A test's scripted provider: the answer to each request the allowlist let through.
pub type Script = Arc<dyn Fn(&Request) -> Result<Response, http::Error> + Send + Sync>;

/// Where the requests an allowlist lets through go.
#[derive(Clone)]
pub enum Transport {
    /// The network, through one shared client that follows no redirect.
    Network(reqwest::Client),
    /// Answers from a script, for testing an adapter without a provider (the adapter test
    /// harness): no request leaves the process. The allowlist still applies first.
    Scripted(Script),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Network(_) => f.write_str("Transport::Network"),
            Transport::Scripted(_) => f.write_str("Transport::Scripted"),
        }
    }
}

/// Sends an adapter's request: refused unless `allowlist` admits its origin (and logged
/// then, by origin only), else through `transport` under `limits`.
pub(crate) async fn send(
    transport: &Transport,
    allowlist: &Allowlist,
    limits: &HttpLimits,
    adapter: &str,
    req: Request,
) -> Result<Response, http::Error> {
    let url = match allowlist.check(&req.url) {
        Ok(url) => url,
        Err(e) => {
            if let http::Error::Denied(_) = &e {
                // A request outside the allowlist is an adapter reaching for what its
                // merchant did not grant (a bug, or a hostile adapter probing the
                // network): operators must see it. Only the origin is logged, never the
                // path or query, which may carry payment data.
                tracing::warn!(
                    adapter,
                    origin = %shown_origin(&req.url),
                    "adapter http request refused: origin not in its allowlist"
                );
            }
            return Err(e);
        }
    };
    match transport {
        Transport::Scripted(script) => script(&req),
        Transport::Network(client) => send_over(client, limits, url, req).await,
    }
}

async fn send_over(
    client: &reqwest::Client,
    limits: &HttpLimits,
    url: url::Url,
    req: Request,
) -> Result<Response, http::Error> {
    let method = match req.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Delete => reqwest::Method::DELETE,
        Method::Patch => reqwest::Method::PATCH,
    };
    let mut builder = client
        .request(method.clone(), url.clone())
        .timeout(limits.timeout);
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| http::Error::Invalid(format!("bad header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| http::Error::Invalid(format!("bad value for header `{name}`")))?;
        builder = builder.header(name, value);
    }
    tracing::debug!(%method, origin = %shown_origin(url.as_str()), path = url.path(), "adapter http request sent");
    let mut response = builder.body(req.body).send().await.map_err(|e| {
        if e.is_timeout() {
            http::Error::Timeout
        } else {
            http::Error::Connection(e.to_string())
        }
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limits.max_response_bytes {
                    return Err(http::Error::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err(http::Error::Timeout),
            Err(e) => return Err(http::Error::Connection(e.to_string())),
        }
    }
    // The origin only: a path or query may carry payment data (as in the refusal above).
    tracing::info!(%method, origin = %shown_origin(url.as_str()), status, bytes = body.len(), "adapter http exchange");
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Allowlist {
        let mut a = Allowlist::default();
        a.allow_base_url("https://api.mch.weixin.qq.com")
            .expect("url");
        a.allow_base_url("http://127.0.0.1:8080/sandbox")
            .expect("url");
        a
    }

    #[test]
    fn urls_on_allowed_origins_pass() {
        let a = list();
        assert!(a
            .check("https://api.mch.weixin.qq.com/v3/pay/transactions/native")
            .is_ok());
        assert!(a.check("https://API.mch.weixin.qq.com:443/v3/x").is_ok());
        assert!(a.check("http://127.0.0.1:8080/sandbox/api/trades").is_ok());
    }

    #[test]
    fn other_hosts_ports_and_schemes_are_denied() {
        let a = list();
        for url in [
            "https://evil.example/v3",
            "http://api.mch.weixin.qq.com/v3",
            "https://api.mch.weixin.qq.com:8443/v3",
            "http://127.0.0.1:8081/sandbox",
            "http://localhost:8080/sandbox",
            "file:///etc/passwd",
            "https://api.mch.weixin.qq.com.evil.example/",
        ] {
            assert!(matches!(a.check(url), Err(http::Error::Denied(_))), "{url}");
        }
        assert!(matches!(a.check("not a url"), Err(http::Error::Invalid(_))));
    }

    #[test]
    fn a_refused_url_is_logged_by_its_origin_without_path_or_query() {
        assert_eq!(
            shown_origin("https://169.254.169.254/latest/meta-data/?token=secret"),
            "https://169.254.169.254:443"
        );
        assert_eq!(
            shown_origin("http://127.0.0.1:5432/x"),
            "http://127.0.0.1:5432"
        );
        assert_eq!(shown_origin("file:///etc/passwd"), "file:");
        assert_eq!(shown_origin("not a url"), "(not a URL)");
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        let mut a = Allowlist::default();
        assert!(a.allow_base_url("ftp://x").is_err());
        assert!(a.allow_base_url("/relative").is_err());
    }

    #[test]
    fn plain_http_is_allowed_for_loopback_hosts_only() {
        let mut a = Allowlist::default();
        for url in [
            "http://127.0.0.1:9090",
            "http://127.1.2.3/x",
            "http://[::1]:8080/sandbox",
            "http://localhost:8080",
            "https://api.mch.weixin.qq.com",
            "https://10.0.0.5:8443",
        ] {
            assert!(a.allow_base_url(url).is_ok(), "{url}");
        }
        for url in [
            "http://api.mch.weixin.qq.com",
            "http://10.0.0.5:8080",
            "http://[2001:db8::1]/",
            "http://localhost.evil.example",
        ] {
            let e = a.allow_base_url(url).expect_err(url);
            assert!(e.contains("plain http") && e.contains(url), "{e}");
        }
        assert!(a.check("http://[::1]:8080/sandbox/api").is_ok());
    }
}
