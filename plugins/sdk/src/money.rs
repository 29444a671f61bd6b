//! Amounts as providers write them: paygate's integer minor units (`Money::minor`) and a
//! provider's decimal text in major units (`"0.01"` yuan, `"100"` yen, `"1.000"` dinar), per
//! currency. Converted by digits, never through a float, so `0.1` and `0.10` are the same
//! money and `0.105` yuan is no money at all.
//!
//! How many decimals a currency has is its ISO 4217 minor unit ("exponent"; the standard's
//! list one, maintained by SIX: https://www.six-group.com/en/products-services/financial-information/data-standards.html).
//! A currency missing from [`exponent`]'s table is an error: guessing two decimals for it
//! would move money by a factor of ten or a hundred. Providers that deviate from ISO 4217
//! for some currency, and providers' own amount ranges, are the adapter's rules, not this
//! module's.

use std::fmt;

/// Why a conversion between minor units and decimal text failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyTextError {
    /// The currency is not in [`exponent`]'s table.
    UnknownCurrency(String),
    /// The text is not plain decimal money in the currency: a sign, an exponent, a space, a
    /// bare or trailing dot, a character that is not a digit, more decimals than the
    /// currency has. Holds the text.
    NotDecimal(String),
    /// The amount is more minor units than a `u64` holds. Holds the text.
    Overflow(String),
}

impl fmt::Display for MoneyTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyTextError::UnknownCurrency(currency) => {
                write!(f, "currency `{currency}` has no known ISO 4217 minor unit")
            }
            MoneyTextError::NotDecimal(text) => write!(f, "`{text}` is not decimal money"),
            MoneyTextError::Overflow(text) => {
                write!(f, "`{text}` is more money than paygate's amounts hold")
            }
        }
    }
}

impl std::error::Error for MoneyTextError {}

/// The number of decimals of `currency` (an upper-case ISO 4217 code): 2 for CNY, USD, EUR,
/// HKD...; 0 for JPY, KRW...; 3 for KWD, BHD...; 4 for the accounting units CLF and UYW.
pub fn exponent(currency: &str) -> Result<u32, MoneyTextError> {
    // ISO 4217 list one, "Minor unit" column. Only currencies a provider might quote; add
    // more from the same list, never from a provider's page (see the module doc).
    const ZERO: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    const FOUR: &[&str] = &["CLF", "UYW"];
    const TWO: &[&str] = &[
        "AED", "ARS", "AUD", "BDT", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR",
        "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "KES", "KZT", "LKR", "MAD", "MOP", "MXN", "MYR",
        "NGN", "NOK", "NPR", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
        "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "UYU", "ZAR",
    ];
    let known = |table: &[&str]| table.contains(&currency);
    if known(TWO) {
        Ok(2)
    } else if known(ZERO) {
        Ok(0)
    } else if known(THREE) {
        Ok(3)
    } else if known(FOUR) {
        Ok(4)
    } else {
        Err(MoneyTextError::UnknownCurrency(currency.to_owned()))
    }
}

/// `minor` units of `currency` as decimal text in major units: the integer part, then, if
/// the currency has decimals, a dot and exactly that many digits (`1` CNY -> `0.01`,
/// `100` CNY -> `1.00`, `100` JPY -> `100`, `1` KWD -> `0.001`).
pub fn decimal(minor: u64, currency: &str) -> Result<String, MoneyTextError> {
    let decimals = exponent(currency)?;
    let text = minor.to_string();
    // At most 4 (the table above).
    let width = decimals as usize;
    if width == 0 {
        return Ok(text);
    }
    // Left-pad with zeros so that there is at least one digit before the dot.
    let padded = format!("{text:0>len$}", len = width + 1);
    let (whole, fraction) = padded.split_at(padded.len() - width);
    Ok(format!("{whole}.{fraction}"))
}

/// A provider's decimal text in major units of `currency` as minor units: digits, then
/// optionally a dot and one to as many digits as the currency has decimals (`0.1` CNY ==
/// `0.10` CNY == 10, `5` CNY == 500, `100` JPY == 100). Refused: signs, exponents, spaces,
/// a bare dot (`.`, `1.`, `.5`), more decimals than the currency has (any for JPY), anything
/// but ASCII digits, and more minor units than a `u64` holds.
pub fn parse_decimal(text: &str, currency: &str) -> Result<u64, MoneyTextError> {
    let decimals = exponent(currency)?;
    let not_decimal = || MoneyTextError::NotDecimal(text.to_owned());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) {
        return Err(not_decimal());
    }
    let fraction_len = u32::try_from(fraction.len()).map_err(|_| not_decimal())?;
    if text.contains('.') && (!all_digits(fraction) || fraction_len > decimals) {
        return Err(not_decimal());
    }
    let overflow = || MoneyTextError::Overflow(text.to_owned());
    let scale = 10u64.checked_pow(decimals).ok_or_else(overflow)?;
    // `0.1` of a two-decimal currency is 10 minor units: the fraction's digits count from
    // the left.
    let fraction_scale = 10u64
        .checked_pow(decimals - fraction_len)
        .ok_or_else(overflow)?;
    let fraction_value = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u64>().map_err(|_| overflow())?
    };
    // Digits only: the one way `parse` fails now is a number too large for a u64.
    let whole: u64 = whole.parse().map_err(|_| overflow())?;
    whole
        .checked_mul(scale)
        .and_then(|minor| minor.checked_add(fraction_value * fraction_scale))
        .ok_or_else(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str, currency: &str) -> Option<u64> {
        parse_decimal(text, currency).ok()
    }

    #[test]
    fn currencies_have_their_iso_4217_decimals() {
        for (currency, decimals) in [
            ("CNY", 2),
            ("USD", 2),
            ("EUR", 2),
            ("HKD", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
            ("CLF", 4),
        ] {
            assert_eq!(exponent(currency), Ok(decimals), "{currency}");
        }
    }

    #[test]
    fn an_unknown_currency_is_an_error_not_a_guess() {
        for currency in ["", "XYZ", "cny", "CNY ", "RMB", "BTC"] {
            assert_eq!(
                exponent(currency),
                Err(MoneyTextError::UnknownCurrency(currency.to_owned()))
            );
            assert!(decimal(1, currency).is_err(), "{currency:?}");
            assert!(parse_decimal("1", currency).is_err(), "{currency:?}");
        }
    }

    #[test]
    fn one_fen_is_0_01_and_a_hundred_fen_is_1_00() {
        let cny = |minor| decimal(minor, "CNY").ok();
        assert_eq!(cny(1).as_deref(), Some("0.01"));
        assert_eq!(cny(10).as_deref(), Some("0.10"));
        assert_eq!(cny(100).as_deref(), Some("1.00"));
        assert_eq!(cny(0).as_deref(), Some("0.00"));
        assert_eq!(cny(123_456).as_deref(), Some("1234.56"));
        assert_eq!(cny(10_000_000_000).as_deref(), Some("100000000.00"));
        assert_eq!(
            cny(u64::MAX).as_deref(),
            Some("184467440737095516.15"),
            "the largest amount"
        );
    }

    #[test]
    fn a_hundred_yen_is_100_and_one_fils_is_0_001() {
        assert_eq!(decimal(100, "JPY").as_deref(), Ok("100"));
        assert_eq!(decimal(0, "KRW").as_deref(), Ok("0"));
        assert_eq!(decimal(1, "KWD").as_deref(), Ok("0.001"));
        assert_eq!(decimal(1_234, "BHD").as_deref(), Ok("1.234"));
        assert_eq!(decimal(5, "CLF").as_deref(), Ok("0.0005"));
        assert_eq!(decimal(u64::MAX, "JPY"), Ok(u64::MAX.to_string()));
    }

    #[test]
    fn fewer_decimals_than_the_currency_has_are_the_same_money() {
        assert_eq!(parsed("0.1", "CNY"), Some(10));
        assert_eq!(parsed("0.10", "CNY"), Some(10));
        assert_eq!(parsed("0.01", "CNY"), Some(1));
        assert_eq!(parsed("5", "CNY"), Some(500));
        assert_eq!(parsed("88.88", "CNY"), Some(8888));
        assert_eq!(parsed("00.50", "CNY"), Some(50));
        assert_eq!(parsed("100", "JPY"), Some(100));
        assert_eq!(parsed("007", "KRW"), Some(7));
        assert_eq!(parsed("1.5", "KWD"), Some(1_500));
        assert_eq!(parsed("1.05", "KWD"), Some(1_050));
        assert_eq!(parsed("0.001", "BHD"), Some(1));
    }

    #[test]
    fn every_amount_round_trips_through_its_text() {
        for currency in ["CNY", "JPY", "KWD", "CLF"] {
            for minor in [
                0,
                1,
                9,
                10,
                99,
                100,
                101,
                1_999,
                100_000,
                10_000_000_000,
                u64::MAX,
            ] {
                let text = decimal(minor, currency).expect("a known currency");
                assert_eq!(parsed(&text, currency), Some(minor), "{text} {currency}");
            }
        }
    }

    #[test]
    fn text_that_is_not_plain_decimal_money_is_refused() {
        for bad in [
            "", ".", "1.", ".5", "0.105", "-1.00", "+1.00", "-0", "1e2", "1.0e1", "1E2", " 1.00",
            "1.00 ", "1 000", "1,00", "1_000", "NaN", "Infinity", "inf", "0x10", "１.00", "1.0.0",
            "1..0", "٣",
        ] {
            assert_eq!(
                parse_decimal(bad, "CNY"),
                Err(MoneyTextError::NotDecimal(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn more_decimals_than_the_currency_has_are_refused() {
        assert!(parse_decimal("0.105", "CNY").is_err());
        assert!(parse_decimal("100.0", "JPY").is_err());
        assert!(parse_decimal("100.", "JPY").is_err());
        assert!(parse_decimal("0.0001", "KWD").is_err());
        assert_eq!(parsed("0.000", "KWD"), Some(0));
    }

    #[test]
    fn more_money_than_a_u64_of_minor_units_is_refused() {
        assert_eq!(parsed("184467440737095516.15", "CNY"), Some(u64::MAX));
        for (text, currency) in [
            ("184467440737095516.16", "CNY"),
            ("184467440737095517", "CNY"),
            ("18446744073709551616", "JPY"),
            ("99999999999999999999999999", "CNY"),
            ("18446744073709551.616", "KWD"),
        ] {
            assert_eq!(
                parse_decimal(text, currency),
                Err(MoneyTextError::Overflow(text.to_owned())),
                "{text} {currency}"
            );
        }
    }

    #[test]
    fn errors_say_what_was_wrong() {
        assert_eq!(
            MoneyTextError::UnknownCurrency("XYZ".into()).to_string(),
            "currency `XYZ` has no known ISO 4217 minor unit"
        );
        assert_eq!(
            MoneyTextError::NotDecimal("1e2".into()).to_string(),
            "`1e2` is not decimal money"
        );
    }
}
