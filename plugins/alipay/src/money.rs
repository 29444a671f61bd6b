//! Amounts as Alipay writes them: yuan in decimal text (`total_amount`, `refund_amount`,
//! `refund_fee`...), and paygate's integer fen. The conversion is the SDK's
//! (`paygate_sdk::money`, by digits, never through a float); this module holds Alipay's own
//! rules: CNY only, the range of an amount, and what counts as a refund.

use paygate_sdk::money::parse_decimal;

/// The only currency of Alipay's domestic trade API (`alipay.trade.*`): amounts are yuan.
pub const CURRENCY: &str = "CNY";

/// The smallest and largest `total_amount` Alipay accepts: 0.01 to 100000000.00 yuan
/// (`alipay.trade.precreate`, https://opendocs.alipay.com/open/02ekfg: `total_amount` "订单总
/// 金额，单位为元，精确到小数点后两位，取值范围[0.01,100000000]"; the SDKs' models say the same).
pub const MIN_FEN: u64 = 1;
pub const MAX_FEN: u64 = 100_000_000 * 100;

/// Alipay's yuan text as fen ("精确到小数点后两位": CNY's two decimals, read by the SDK's
/// [`parse_decimal`]: `0.1` == `0.10` == 10 fen, `5` == 500 fen). `None` for text that is
/// not money: signs, exponents, spaces, more than two decimals, a bare dot, or more money
/// than a `u64` of fen holds.
pub fn parse_yuan(text: &str) -> Option<u64> {
    parse_decimal(text, CURRENCY).ok()
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
    fn yuan_text_is_cny_at_two_decimals() {
        assert_eq!(parse_yuan("0.1"), Some(10));
        assert_eq!(parse_yuan("0.01"), Some(1));
        assert_eq!(parse_yuan("100000000.00"), Some(MAX_FEN));
        assert_eq!(parse_yuan("0.105"), None);
        assert_eq!(parse_yuan("-1.00"), None);
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
