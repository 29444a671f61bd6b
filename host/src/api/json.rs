//! Request bodies: JSON parsed from the raw bytes (the raw bytes also fingerprint
//! idempotent requests), with errors that say what is wrong.

use serde::de::DeserializeOwned;

use super::error::ApiError;
use axum::http::StatusCode;

/// Parses a JSON body: malformed JSON is 400 `malformed_json`; well-formed JSON of the
/// wrong shape (missing field, wrong type, unknown field) is 422 `invalid_body`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                crate::service::ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {inner}"),
            ),
            serde_json::error::Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                crate::service::ErrorCode::InvalidBody,
                format!("{inner}{at}"),
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
    }

    #[test]
    fn malformed_json_is_400_and_wrong_shape_is_422() {
        assert_eq!(
            parse::<Body>(b"{amount: 1").expect_err("bad").code.as_str(),
            "malformed_json"
        );
        let e = parse::<Body>(b"{}").expect_err("missing");
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        );
        assert!(e.message.contains("amount"), "{}", e.message);
        assert_eq!(
            parse::<Body>(br#"{"amount": "1"}"#)
                .expect_err("type")
                .code
                .as_str(),
            "invalid_body"
        );
        assert_eq!(
            parse::<Body>(br#"{"amount": 1e40}"#)
                .expect_err("huge")
                .code
                .as_str(),
            "invalid_body"
        );
        assert_eq!(
            parse::<Body>(br#"{"amount": 1, "x": 2}"#)
                .expect_err("unknown")
                .code
                .as_str(),
            "invalid_body"
        );
        assert_eq!(
            parse::<Body>(br#"{"amount": 5}"#).map(|b| b.amount).ok(),
            Some(5)
        );
    }
}
