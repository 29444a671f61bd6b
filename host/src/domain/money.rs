//! Money: an integer of minor units with an ISO 4217 currency. Never a float.

use std::fmt;

/// The largest amount paygate accepts, in minor units: 10,000,000,000 (100 million units of
/// a two-decimal currency). Larger amounts are a client bug, not a purchase.
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000;

/// ISO 4217 active codes with their number of decimals (minor unit exponent).
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be above 0 minor units")]
    NotPositive,
    #[error("amount must be at most {MAX_AMOUNT_MINOR} minor units")]
    TooLarge,
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("amounts in different currencies cannot be added")]
    CurrencyMismatch,
}

/// An ISO 4217 alphabetic currency code, known to paygate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    decimals: u8,
}

impl Currency {
    /// Every code [`Currency::parse`] accepts, in alphabetical order.
    pub fn codes() -> Vec<&'static str> {
        CURRENCIES.iter().map(|(code, _)| *code).collect()
    }

    /// Parses an upper-case ISO 4217 code (`CNY`); lower case is refused so that stored codes
    /// are canonical.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(code, decimals)| Currency {
                code,
                decimals: *decimals,
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(16).collect()))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimals of the currency's minor unit (2 for CNY, 0 for JPY).
    pub fn decimals(&self) -> u8 {
        self.decimals
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// An amount of money: positive minor units, at most [`MAX_AMOUNT_MINOR`], in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        if minor > MAX_AMOUNT_MINOR {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money { minor, currency })
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Sums amounts of one currency (a combined payment); refuses mixed currencies and a
    /// total above the cap.
    pub fn sum(amounts: &[Money]) -> Result<Money, MoneyError> {
        let first = amounts.first().ok_or(MoneyError::NotPositive)?;
        let mut total: i64 = 0;
        for m in amounts {
            if m.currency != first.currency {
                return Err(MoneyError::CurrencyMismatch);
            }
            total = total.checked_add(m.minor).ok_or(MoneyError::TooLarge)?;
        }
        Money::new(total, first.currency)
    }
}

impl fmt::Display for Money {
    /// `CNY 12.34`, `JPY 1200`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = u32::from(self.currency.decimals);
        if d == 0 {
            return write!(f, "{} {}", self.currency, self.minor);
        }
        let unit = 10_i64.pow(d);
        write!(
            f,
            "{} {}.{:0width$}",
            self.currency,
            self.minor / unit,
            self.minor % unit,
            width = d as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").expect("CNY is ISO 4217")
    }

    #[test]
    fn known_codes_parse_with_their_decimals() {
        assert_eq!(cny().decimals(), 2);
        assert_eq!(Currency::parse("JPY").map(|c| c.decimals()), Ok(0));
        assert_eq!(Currency::parse("KWD").map(|c| c.decimals()), Ok(3));
    }

    #[test]
    fn unknown_or_lower_case_codes_are_refused() {
        for code in ["XXX1", "cny", "", "ABC", "RMB"] {
            assert!(
                matches!(Currency::parse(code), Err(MoneyError::UnknownCurrency(_))),
                "{code}"
            );
        }
    }

    #[test]
    fn amount_must_be_positive_and_below_the_cap() {
        assert_eq!(Money::new(0, cny()), Err(MoneyError::NotPositive));
        assert_eq!(Money::new(-1, cny()), Err(MoneyError::NotPositive));
        assert_eq!(
            Money::new(MAX_AMOUNT_MINOR + 1, cny()),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::new(MAX_AMOUNT_MINOR, cny()).map(|m| m.minor()),
            Ok(MAX_AMOUNT_MINOR)
        );
        assert_eq!(Money::new(1, cny()).map(|m| m.minor()), Ok(1));
    }

    #[test]
    fn sum_refuses_mixed_currencies_and_overflow() {
        let usd = Currency::parse("USD").expect("USD");
        let a = Money::new(100, cny()).expect("valid");
        let b = Money::new(250, cny()).expect("valid");
        assert_eq!(Money::sum(&[a, b]).map(|m| m.minor()), Ok(350));
        let c = Money::new(1, usd).expect("valid");
        assert_eq!(Money::sum(&[a, c]), Err(MoneyError::CurrencyMismatch));
        let big = Money::new(MAX_AMOUNT_MINOR, cny()).expect("valid");
        assert_eq!(Money::sum(&[big, a]), Err(MoneyError::TooLarge));
        assert_eq!(Money::sum(&[]), Err(MoneyError::NotPositive));
    }

    #[test]
    fn display_uses_the_currency_decimals() {
        assert_eq!(
            Money::new(1234, cny()).expect("valid").to_string(),
            "CNY 12.34"
        );
        assert_eq!(Money::new(5, cny()).expect("valid").to_string(), "CNY 0.05");
        let jpy = Currency::parse("JPY").expect("JPY");
        assert_eq!(
            Money::new(1200, jpy).expect("valid").to_string(),
            "JPY 1200"
        );
    }
}
