//! Calling the provider and answering it: building JSON requests, sending them through the
//! host's `http` import, reading JSON answers, building notification replies, and mapping
//! the `http` and `keys` imports' errors to what the host should do next.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::{self, Method, Request, Response};
use crate::{keys, ProviderError, Reply};

/// A request with no headers and an empty body (a `GET`, a `POST` without payload). Add
/// headers (signatures...) to `request.headers`, then [`send`] it.
pub fn request(method: Method, url: &str) -> Request {
    Request {
        method,
        url: url.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A request whose body is `body` as JSON, with `content-type` and `accept` set to
/// `application/json`. The body is final: sign `request.body`, add the signature to
/// `request.headers`, then [`send`] it.
///
/// Fails with [`ProviderError::Unsupported`] if `body` cannot be written as JSON (a map
/// with non-string keys): the adapter cannot make this request, and nothing was sent.
pub fn json_request<T: Serialize + ?Sized>(
    method: Method,
    url: &str,
    body: &T,
) -> Result<Request, ProviderError> {
    let body = serde_json::to_vec(body).map_err(|e| {
        ProviderError::Unsupported(format!("cannot write the request to {url} as JSON: {e}"))
    })?;
    Ok(Request {
        method,
        url: url.to_owned(),
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ],
        body,
    })
}

/// Sends `request` through the host and waits for the whole response, whatever its status.
///
/// The import's failures become: `denied` and `invalid` → [`ProviderError::Config`] (the
/// URL is built from the merchant's base-URL settings, which also make the allowlist, and
/// nothing was sent); `timeout`, `connection` and `too-large` → [`ProviderError::Unreachable`]
/// (the provider may have acted: the host queries later).
pub fn send(request: Request) -> Result<Response, ProviderError> {
    let url = request.url.clone();
    http::send(&request).map_err(|e| http_error(&url, e))
}

/// [`json_request`] with `headers` added, then [`send`]: for providers that do not sign
/// the body.
pub fn send_json<T: Serialize + ?Sized>(
    method: Method,
    url: &str,
    headers: Vec<(String, String)>,
    body: &T,
) -> Result<Response, ProviderError> {
    let mut request = json_request(method, url, body)?;
    request.headers.extend(headers);
    send(request)
}

/// The response body parsed as JSON. An answer that does not parse as what the provider
/// documents leaves the outcome unknown: [`ProviderError::Unreachable`].
pub fn json_body<T: DeserializeOwned>(response: &Response) -> Result<T, ProviderError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        ProviderError::Unreachable(format!(
            "unreadable answer from the provider (HTTP {}): {e}",
            response.status
        ))
    })
}

/// A reply to a provider's notification: `status`, `content-type: application/json` and
/// `body` written as JSON.
pub fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        // Writing a `Value` cannot fail: its map keys are strings.
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// What the host should do after the `http` import failed on a request to `url`.
fn http_error(url: &str, error: http::Error) -> ProviderError {
    match error {
        http::Error::Denied(m) => ProviderError::Config(format!(
            "the host refused to call {url} ({m}): only the hosts of the adapter's base-URL \
             settings are reachable"
        )),
        http::Error::Invalid(m) => {
            ProviderError::Config(format!("the request to {url} is malformed: {m}"))
        }
        http::Error::Timeout => ProviderError::Unreachable(format!("no answer from {url} in time")),
        http::Error::Connection(m) => {
            ProviderError::Unreachable(format!("cannot reach {url}: {m}"))
        }
        http::Error::TooLarge => ProviderError::Unreachable(format!(
            "the answer from {url} was larger than the host accepts"
        )),
    }
}

/// So that `keys::sign(...)?` works in a function returning [`ProviderError`]: a missing or
/// wrong key is the merchant's configuration; a decryption that fails means the data was not
/// the provider's; input the key operation refuses came from the provider's answer.
impl From<keys::Error> for ProviderError {
    fn from(error: keys::Error) -> Self {
        match error {
            keys::Error::UnknownKey(name) => ProviderError::Config(format!(
                "the merchant's configuration has no secret `{name}`"
            )),
            keys::Error::WrongKind(m) => {
                ProviderError::Config(format!("a secret is not of the kind needed: {m}"))
            }
            keys::Error::InvalidInput(m) => {
                ProviderError::Unreachable(format!("the key operation refused its input: {m}"))
            }
            keys::Error::DecryptFailed => ProviderError::BadSignature(
                "decryption failed: wrong key, or the data was tampered with".to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_request_carries_its_body_and_content_type() {
        let r = json_request(Method::Post, "http://h/p", &serde_json::json!({"a": 1}))
            .expect("a JSON value");
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "http://h/p");
        assert_eq!(r.body, br#"{"a":1}"#.to_vec());
        assert_eq!(
            crate::header(&r.headers, "content-type"),
            Some("application/json")
        );
        let plain = request(Method::Get, "http://h/q");
        assert!(plain.headers.is_empty() && plain.body.is_empty());
    }

    #[test]
    fn a_body_that_is_not_json_is_unsupported() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), "tuple keys are not JSON");
        assert!(matches!(
            json_request(Method::Post, "http://h/p", &map),
            Err(ProviderError::Unsupported(_))
        ));
    }

    #[test]
    fn an_unreadable_answer_leaves_the_outcome_unknown() {
        #[derive(serde::Deserialize, Debug)]
        struct Answer {
            #[allow(dead_code)]
            id: String,
        }
        let response = |body: &[u8]| Response {
            status: 200,
            headers: Vec::new(),
            body: body.to_vec(),
        };
        assert!(json_body::<Answer>(&response(br#"{"id":"x"}"#)).is_ok());
        match json_body::<Answer>(&response(b"<html>")) {
            Err(ProviderError::Unreachable(m)) => assert!(m.contains("HTTP 200"), "{m}"),
            other => panic!("expected unreachable, got {other:?}"),
        }
        assert!(matches!(
            json_body::<Answer>(&response(br#"{"other":1}"#)),
            Err(ProviderError::Unreachable(_))
        ));
    }

    #[test]
    fn replies_are_json() {
        let r = json_reply(200, &serde_json::json!({"code": "SUCCESS"}));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(r.body, br#"{"code":"SUCCESS"}"#.to_vec());
    }

    #[test]
    fn http_failures_say_what_the_host_should_do() {
        let url = "http://h/p";
        assert!(matches!(
            http_error(url, http::Error::Denied("not allowed".into())),
            ProviderError::Config(m) if m.contains(url) && m.contains("base-URL")
        ));
        assert!(matches!(
            http_error(url, http::Error::Invalid("bad header".into())),
            ProviderError::Config(_)
        ));
        for e in [
            http::Error::Timeout,
            http::Error::Connection("refused".into()),
            http::Error::TooLarge,
        ] {
            assert!(matches!(http_error(url, e), ProviderError::Unreachable(m) if m.contains(url)));
        }
    }

    #[test]
    fn key_failures_say_what_the_host_should_do() {
        assert!(matches!(
            ProviderError::from(keys::Error::UnknownKey("api_key".into())),
            ProviderError::Config(m) if m.contains("`api_key`")
        ));
        assert!(matches!(
            ProviderError::from(keys::Error::WrongKind("rsa".into())),
            ProviderError::Config(_)
        ));
        assert!(matches!(
            ProviderError::from(keys::Error::InvalidInput("nonce".into())),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(
            ProviderError::from(keys::Error::DecryptFailed),
            ProviderError::BadSignature(_)
        ));
    }
}
