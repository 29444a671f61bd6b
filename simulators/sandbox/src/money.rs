//! Amounts as the sandbox takes them: positive integer minor units of an ISO 4217 currency,
//! as PROTOCOL.md says. The currency table is the `iso_currency` crate's: a provider knows
//! ISO 4217, not paygate's own list.

use iso_currency::Currency;

/// The largest amount of one trade or refund, in minor units (100 million CNY).
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000;

/// Checks an amount of `minor` units of `currency` (an upper-case ISO 4217 code); the
/// refusal says why, for an `INVALID_REQUEST`.
pub fn check_amount(minor: i64, currency: &str) -> Result<(), String> {
    decimals(currency)?;
    if minor <= 0 {
        return Err("amount must be above 0 minor units".into());
    }
    if minor > MAX_AMOUNT_MINOR {
        return Err(format!(
            "amount must be at most {MAX_AMOUNT_MINOR} minor units"
        ));
    }
    Ok(())
}

/// `CNY 12.34`, `JPY 1200`: minor units shown with the currency's decimals.
pub fn format_amount(minor: i64, currency: &str) -> String {
    match decimals(currency) {
        Ok(0) => format!("{currency} {minor}"),
        Ok(d) => {
            let unit = 10_i64.pow(d);
            let sign = if minor < 0 { "-" } else { "" };
            let (whole, frac) = (
                minor.unsigned_abs() / unit as u64,
                minor.unsigned_abs() % unit as u64,
            );
            format!(
                "{currency} {sign}{whole}.{frac:0width$}",
                width = d as usize
            )
        }
        // Trades are validated on creation, so this is only a row written by hand.
        Err(_) => format!("{currency} {minor} (minor units)"),
    }
}

/// The number of decimals of `code`'s minor unit. Lower case is refused so that stored
/// codes are canonical; codes without a minor unit (gold, SDRs) are not money one pays with.
fn decimals(code: &str) -> Result<u32, String> {
    let unknown = || {
        format!(
            "`{}` is not an ISO 4217 currency code",
            code.chars().take(16).collect::<String>()
        )
    };
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(unknown());
    }
    let currency = Currency::from_code(code).ok_or_else(unknown)?;
    currency.exponent().map(u32::from).ok_or_else(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_minor_units_of_a_known_currency() {
        assert_eq!(check_amount(1, "CNY"), Ok(()));
        assert_eq!(check_amount(MAX_AMOUNT_MINOR, "JPY"), Ok(()));
        assert!(check_amount(0, "CNY").is_err());
        assert!(check_amount(-5, "CNY").is_err());
        assert!(check_amount(MAX_AMOUNT_MINOR + 1, "CNY").is_err());
        for code in ["cny", "RMB", "", "XAU", "CNYY"] {
            assert!(check_amount(100, code).is_err(), "{code}");
        }
    }
}
