//! Alipay's amounts: yuan as decimal text (`"88.88"`), kept here as whole fen so that no
//! amount ever goes through a float. Pure, and unit-tested.

use serde_json::Value;

/// The smallest and largest `total_amount` Alipay takes: `[0.01, 100000000]` yuan.
///
/// Source: the `alipay.trade.precreate` / `page.pay` / `wap.pay` request tables
/// (「订单总金额，单位为元，精确到小数点后两位，取值范围[0.01,100000000]」), as copied into the
/// SDK models (sigoden/alipay `PreCreateTrade.ts`).
pub const MIN_TOTAL_FEN: u64 = 1;
/// 100000000.00 yuan.
pub const MAX_TOTAL_FEN: u64 = 10_000_000_000;

/// Reads yuan as Alipay's `Price` type: digits, optionally a point and one or two digits
/// (`"1"`, `"0.1"`, `"88.88"`). No sign, no exponent, no third decimal. The amount in fen.
pub fn parse_yuan(text: &str) -> Option<u64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 2 {
        return None;
    }
    // Leading zeros are harmless (`"00.10"`), but the number must fit.
    let whole: u64 = whole.parse().ok()?;
    let cents: u64 = match fraction.len() {
        0 => 0,
        1 => u64::from(fraction.as_bytes()[0] - b'0') * 10,
        _ => fraction.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// An amount as it appears in a `biz_content`: a JSON string (what the official SDKs send)
/// or a JSON number (what hand-written clients often send, e.g. `"total_amount":0.01`). A
/// number is read through its shortest decimal text, which serde_json gives exactly for
/// every amount with at most two decimals, and then as money.
pub fn amount_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => parse_yuan(text),
        Value::Number(n) => parse_yuan(&n.to_string()),
        _ => None,
    }
}

/// Fen as Alipay writes yuan in answers and notifications: always two decimals (`"0.10"`).
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yuan_text_is_read_as_whole_fen() {
        assert_eq!(parse_yuan("88.88"), Some(8888));
        assert_eq!(parse_yuan("0.1"), Some(10));
        assert_eq!(parse_yuan("0.10"), Some(10), "0.1 equals 0.10");
        assert_eq!(parse_yuan("1"), Some(100));
        assert_eq!(parse_yuan("00.01"), Some(1));
        assert_eq!(parse_yuan("0"), Some(0));
        assert_eq!(parse_yuan("100000000.00"), Some(MAX_TOTAL_FEN));
    }

    #[test]
    fn text_that_is_not_yuan_with_at_most_two_decimals_is_refused() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "0.001",
            "-1",
            "+1",
            "1e2",
            "1,00",
            " 1",
            "1 ",
            "0x10",
            "１",
            "99999999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amounts_come_as_strings_or_numbers_but_never_through_arithmetic_on_floats() {
        assert_eq!(amount_of(&json!("0.01")), Some(1));
        assert_eq!(amount_of(&json!(0.01)), Some(1));
        assert_eq!(amount_of(&json!(88.88)), Some(8888));
        assert_eq!(amount_of(&json!(100000000.01)), Some(10_000_000_001));
        assert_eq!(amount_of(&json!(12)), Some(1200));
        assert_eq!(amount_of(&json!(0.005)), None);
        assert_eq!(amount_of(&json!(null)), None);
        assert_eq!(amount_of(&json!(true)), None);
    }

    #[test]
    fn answers_write_yuan_with_two_decimals() {
        assert_eq!(yuan(10), "0.10");
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(0), "0.00");
    }
}
