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

/// An amount in minor units as JSON Schema's `integer` means it: `668` or an integral
/// `668.0` (generated clients and JSON libraries that hold every number as a double write
/// the latter). A fraction (`668.5`) or a number beyond `i64` is refused.
pub fn minor_units<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct MinorUnits;
    impl serde::de::Visitor<'_> for MinorUnits {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer number of minor units")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("the amount is too large"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            // 2^53 bounds the integers a double holds exactly; amounts stay far below it.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && v.abs() <= EXACT {
                Ok(v as i64)
            } else {
                Err(E::custom(format!(
                    "{v} is not an integer number of minor units"
                )))
            }
        }
    }
    d.deserialize_any(MinorUnits)
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

    #[derive(Debug, serde::Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "minor_units")]
        amount: i64,
    }

    #[test]
    fn an_amount_is_an_integer_or_an_integral_number_and_never_a_fraction() {
        let amount = |s: &str| parse::<Amount>(s.as_bytes()).map(|a| a.amount);
        assert_eq!(amount(r#"{"amount":668}"#).ok(), Some(668));
        assert_eq!(amount(r#"{"amount":668.0}"#).ok(), Some(668));
        assert_eq!(amount(r#"{"amount":-3}"#).ok(), Some(-3));
        for refused in [
            r#"{"amount":668.5}"#,
            r#"{"amount":"668"}"#,
            r#"{"amount":1e300}"#,
            r#"{"amount":18446744073709551615}"#,
        ] {
            let err = amount(refused).expect_err(refused);
            assert_eq!(
                err.code,
                crate::service::ErrorCode::InvalidBody,
                "{refused}"
            );
        }
    }
}
