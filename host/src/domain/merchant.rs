//! Merchants as operators address them: by id or by name, a page at a time, and the
//! merchant-wide webhook endpoint that the events of its orders go to when an order names
//! no `notify_url` of its own.

use super::order::{is_notify_url, MAX_NOTIFY_URL_CHARS};

/// How many merchants a page holds when the request does not say.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// The most merchants one page holds.
pub const MAX_PAGE_LIMIT: u32 = 200;

/// Why a merchant request is refused; `field` names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MerchantError {
    pub field: &'static str,
    pub reason: String,
}

/// One page of the merchant list: newest first (merchant ids are UUIDv7, so they sort by
/// creation time), `limit` of them, starting after the id `after` (the previous page's
/// last, absent for the first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageRequest {
    /// Checks `limit` (1 to [`MAX_PAGE_LIMIT`], default [`DEFAULT_PAGE_LIMIT`]) and `after`
    /// (a merchant id as a previous page handed it out).
    pub fn new(limit: Option<i64>, after: Option<&str>) -> Result<PageRequest, MerchantError> {
        let limit = match limit {
            None => DEFAULT_PAGE_LIMIT,
            Some(n) if (1..=i64::from(MAX_PAGE_LIMIT)).contains(&n) => n as u32,
            Some(_) => {
                return Err(MerchantError {
                    field: "limit",
                    reason: format!("must be from 1 to {MAX_PAGE_LIMIT}"),
                })
            }
        };
        let after = match after {
            None => None,
            Some(id) if looks_like_id(id) => Some(id.to_owned()),
            Some(_) => {
                return Err(MerchantError {
                    field: "after",
                    reason: "must be a merchant id (`m_` and 32 hex digits), the `next_after` \
                             of the previous page"
                        .to_owned(),
                })
            }
        };
        Ok(PageRequest { limit, after })
    }
}

/// Whether `s` has the shape of a merchant id: `m_` and 32 lower-case hex digits. Anything
/// else an operator types is a name.
pub fn looks_like_id(s: &str) -> bool {
    s.strip_prefix("m_").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A merchant-wide webhook endpoint as given (`None` removes it), checked as an order's
/// `notify_url` is.
pub fn webhook_url(url: Option<&str>) -> Result<Option<String>, MerchantError> {
    match url.map(str::trim) {
        None => Ok(None),
        Some(u) if is_notify_url(u) => Ok(Some(u.to_owned())),
        Some(_) => Err(MerchantError {
            field: "notify_url",
            reason: format!(
                "must be an absolute http(s) URL of at most {MAX_NOTIFY_URL_CHARS} characters"
            ),
        }),
    }
}

/// Where an order's events are delivered: its own `notify_url`, else its merchant's
/// endpoint, else nowhere (the events are kept and listed, not sent).
pub fn webhook_endpoint<'a>(order: Option<&'a str>, merchant: Option<&'a str>) -> Option<&'a str> {
    order.or(merchant)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "m_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b";

    #[test]
    fn an_orders_own_notify_url_wins_over_the_merchants_endpoint() {
        assert_eq!(
            webhook_endpoint(
                Some("https://a.example/hook"),
                Some("https://m.example/hook")
            ),
            Some("https://a.example/hook")
        );
        assert_eq!(
            webhook_endpoint(None, Some("https://m.example/hook")),
            Some("https://m.example/hook")
        );
        assert_eq!(webhook_endpoint(None, None), None);
    }

    #[test]
    fn a_merchant_endpoint_is_checked_as_an_order_notify_url_is() {
        assert_eq!(
            webhook_url(Some(" https://shop.example/paygate ")),
            Ok(Some("https://shop.example/paygate".to_owned()))
        );
        assert_eq!(webhook_url(None), Ok(None));
        let too_long = format!("https://shop.example/{}", "a".repeat(MAX_NOTIFY_URL_CHARS));
        for bad in [
            "",
            "shop.example/hook",
            "ftp://shop.example/x",
            "https://",
            too_long.as_str(),
        ] {
            let e = webhook_url(Some(bad)).expect_err(bad);
            assert_eq!(e.field, "notify_url", "{bad}");
        }
    }

    #[test]
    fn a_page_holds_fifty_merchants_unless_asked_for_one_to_two_hundred() {
        assert_eq!(
            PageRequest::new(None, None),
            Ok(PageRequest {
                limit: DEFAULT_PAGE_LIMIT,
                after: None
            })
        );
        assert_eq!(
            PageRequest::new(Some(200), Some(ID)).map(|p| p.limit),
            Ok(200)
        );
        for bad in [0, -1, 201] {
            assert_eq!(
                PageRequest::new(Some(bad), None).map_err(|e| e.field),
                Err("limit"),
                "{bad}"
            );
        }
        assert_eq!(
            PageRequest::new(None, Some("demo")).map_err(|e| e.field),
            Err("after")
        );
    }

    #[test]
    fn only_the_shape_of_a_merchant_id_is_taken_for_an_id() {
        assert!(looks_like_id(ID));
        let (upper, longer) = (ID.to_uppercase(), format!("{ID}0"));
        for name in ["demo", "m_", "m_demo", upper.as_str(), longer.as_str()] {
            assert!(!looks_like_id(name), "{name}");
        }
    }
}
