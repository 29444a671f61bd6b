//! Amounts as Alipay writes them: yuan in decimal text (`total_amount`, `refund_amount`,
//! `refund_fee`...), and paygate's integer fen. Converted by digits, never through a float,
//! so `0.1`, `0.10` and `"10 fen"` are the same money and `0.105` is no money at all.

use std::fmt::Write;

/// The only currency of Alipay's domestic trade API (`alipay.trade.*`): amounts are yuan.
pub const CURRENCY: &str = "CNY";

/// The smallest and largest `total_amount` Alipay accepts: 0.01 to 100000000.00 yuan
/// (`alipay.trade.precreate`, https://opendocs.alipay.com/open/02ekfg: `total_amount` "订单总
/// 金额，单位为元，精确到小数点后两位，取值范围[0.01,100000000]"; the SDKs' models say the same).
pub const MIN_FEN: u64 = 1;
pub const MAX_FEN: u64 = 100_000_000 * 100;

/// `fen` as Alipay's yuan text: the integer part, a dot, exactly two decimals
/// (`1` -> `0.01`, `100` -> `1.00`, `123456` -> `1234.56`).
pub fn yuan(fen: u64) -> String {
    let mut text = String::with_capacity(24);
    // Writing into a String cannot fail.
    let _ = write!(text, "{}.{:02}", fen / 100, fen % 100);
    text
}

/// Alipay's yuan text as fen: digits, then optionally a dot and one or two digits
/// (`0.1` == `0.10` == 10 fen, `5` == 500 fen). `None` for anything else: signs, exponents,
/// spaces, more than two decimals, a bare dot, or more money than a `u64` of fen holds.
pub fn parse_yuan(text: &str) -> Option<u64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) {
        return None;
    }
    let cents = match fraction {
        None => 0,
        Some(f) if all_digits(f) && f.len() <= 2 => {
            let value: u64 = f.parse().ok()?;
            if f.len() == 1 {
                value * 10
            } else {
                value
            }
        }
        Some(_) => return None,
    };
    let whole: u64 = whole.parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

/// Whether `text` is money above zero (`refund_fee=0.00` in a notification is no refund).
/// Text that is not money counts as none.
pub fn is_positive(text: Option<&str>) -> bool {
    text.and_then(parse_yuan).is_some_and(|fen| fen > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fen_is_0_01_and_a_hundred_fen_is_1_00() {
        assert_eq!(yuan(1), "0.01");
        assert_eq!(yuan(100), "1.00");
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(123_456), "1234.56");
        assert_eq!(yuan(MAX_FEN), "100000000.00");
    }

    #[test]
    fn ten_fen_is_0_10_and_0_1_is_ten_fen() {
        assert_eq!(yuan(10), "0.10");
        assert_eq!(parse_yuan("0.1"), Some(10));
        assert_eq!(parse_yuan("0.10"), Some(10));
        assert_eq!(parse_yuan("0.01"), Some(1));
        assert_eq!(parse_yuan("5"), Some(500));
        assert_eq!(parse_yuan("88.88"), Some(8888));
        assert_eq!(parse_yuan("00.50"), Some(50));
    }

    #[test]
    fn every_amount_round_trips_through_its_text() {
        for fen in [1, 9, 10, 99, 100, 101, 1999, 100_000, MAX_FEN] {
            assert_eq!(parse_yuan(&yuan(fen)), Some(fen), "{fen}");
        }
    }

    #[test]
    fn text_that_is_not_two_decimal_money_is_refused() {
        for bad in [
            "", ".", "1.", ".5", "0.105", "-1.00", "+1.00", "1e2", "1.0e1", " 1.00", "1.00 ",
            "1,00", "NaN", "Infinity", "0x10", "１.00", "1.0.0",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_yuan("184467440737095516.16"),
            None,
            "more fen than a u64"
        );
    }

    #[test]
    fn a_zero_refund_fee_is_no_refund() {
        assert!(!is_positive(Some("0.00")));
        assert!(!is_positive(Some("0")));
        assert!(!is_positive(None));
        assert!(!is_positive(Some("garbage")));
        assert!(is_positive(Some("0.01")));
        assert!(is_positive(Some("10.23")));
    }
}
