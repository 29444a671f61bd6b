//! The rules of a merchant's lists (`GET /v1/orders`, `/v1/payments`, `/v1/refunds`):
//! newest first, a page of 1 to [`MAX_LIMIT`] items, a creation-time range, and an opaque
//! cursor that resumes after the last item of the previous page.
//!
//! The cursor holds the last item's creation time and id: items are ordered by
//! (`created_at`, id) descending, which is total even when ids do not sort by time (a
//! refund number derived from an idempotency key does not), so a page never skips or
//! repeats an item, whatever is created meanwhile.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Items a page holds unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items a page holds.
pub const MAX_LIMIT: u32 = 200;

/// Where a page resumes: after the item created at `created_at` (ms) with id `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// The cursor as handed out: URL-safe base64 of `<created_at>:<id>`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }

    /// A cursor as [`Cursor::encode`] made it; `None` for anything else.
    pub fn decode(text: &str) -> Option<Cursor> {
        if text.is_empty() || text.len() > 200 {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (at, id) = raw.split_once(':')?;
        let created_at: i64 = at.parse().ok()?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (created_at >= 0 && id_ok).then(|| Cursor {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// A page request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
    /// Created at or after (ms).
    pub created_from: Option<i64>,
    /// Created before (ms).
    pub created_to: Option<i64>,
}

/// Why a page request is refused: the parameter and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{param}` {reason}")]
pub struct ListError {
    pub param: &'static str,
    pub reason: String,
}

fn refuse(param: &'static str, reason: impl Into<String>) -> ListError {
    ListError {
        param,
        reason: reason.into(),
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-12-01T00:00:00Z`).
fn instant(param: &'static str, text: &str) -> Result<i64, ListError> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| refuse(param, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))?;
    let ms = at.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms)
        .ok()
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| refuse(param, "must be after 1970"))
}

impl ListRequest {
    /// Checks the query's `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]), `cursor`
    /// (a previous page's `next_cursor`), `created_from` and `created_to` (RFC 3339;
    /// `created_from` before `created_to`).
    pub fn new(
        limit: Option<&str>,
        cursor: Option<&str>,
        created_from: Option<&str>,
        created_to: Option<&str>,
    ) -> Result<ListRequest, ListError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    refuse("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
                })?,
        };
        let cursor = cursor
            .map(|c| {
                Cursor::decode(c)
                    .ok_or_else(|| refuse("cursor", "must be the `next_cursor` of a previous page"))
            })
            .transpose()?;
        let created_from = created_from
            .map(|t| instant("created_from", t))
            .transpose()?;
        let created_to = created_to.map(|t| instant("created_to", t)).transpose()?;
        if let (Some(from), Some(to)) = (created_from, created_to) {
            if from >= to {
                return Err(refuse("created_to", "must be after `created_from`"));
            }
        }
        Ok(ListRequest {
            limit,
            cursor,
            created_from,
            created_to,
        })
    }
}

/// The cursor of the page after `items` (the page's items, newest first, as many as were
/// asked for plus one at most): `None` when `items` holds no more than `limit`, else the
/// cursor of its `limit`-th item; `items` is cut to `limit`.
pub fn next_cursor<T>(
    items: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (i64, String),
) -> Option<Cursor> {
    let limit = limit as usize;
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(|last| {
        let (created_at, id) = key(last);
        Cursor { created_at, id }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_it_was_handed_out_and_nothing_else_reads_as_one() {
        let c = Cursor {
            created_at: 1_764_547_200_123,
            id: "ord_01a22f82d9b677b68114863b8ec42f04".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "x",
            "bm9wZQ",
            &URL_SAFE_NO_PAD.encode("-1:a"),
            &URL_SAFE_NO_PAD.encode("1:a b"),
            &URL_SAFE_NO_PAD.encode("1:"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_page_request_takes_bounded_limits_rfc3339_times_in_order_and_a_cursor() {
        let r = ListRequest::new(None, None, None, None).expect("defaults");
        assert_eq!(
            (r.limit, r.cursor, r.created_from, r.created_to),
            (DEFAULT_LIMIT, None, None, None)
        );
        assert_eq!(
            ListRequest::new(Some("200"), None, None, None).map(|r| r.limit),
            Ok(200)
        );
        for bad in ["0", "201", "-1", "ten", "1.5"] {
            assert_eq!(
                ListRequest::new(Some(bad), None, None, None).map_err(|e| e.param),
                Err("limit")
            );
        }
        let r = ListRequest::new(
            None,
            None,
            Some("1970-01-01T00:00:01Z"),
            Some("1970-01-01T00:00:02+00:00"),
        )
        .expect("a range");
        assert_eq!((r.created_from, r.created_to), (Some(1000), Some(2000)));
        assert_eq!(
            ListRequest::new(
                None,
                None,
                Some("1970-01-01T00:00:02Z"),
                Some("1970-01-01T00:00:02Z")
            )
            .map_err(|e| e.param),
            Err("created_to")
        );
        assert_eq!(
            ListRequest::new(None, None, Some("yesterday"), None).map_err(|e| e.param),
            Err("created_from")
        );
        assert_eq!(
            ListRequest::new(None, Some("garbage!"), None, None).map_err(|e| e.param),
            Err("cursor")
        );
    }

    #[test]
    fn the_next_cursor_points_at_the_last_item_kept_and_only_when_more_follow() {
        let key = |n: &i64| (*n, format!("id{n}"));
        let mut three = vec![30, 20, 10];
        assert_eq!(next_cursor(&mut three, 3, key), None);
        assert_eq!(three.len(), 3);
        let mut four = vec![40, 30, 20, 10];
        assert_eq!(
            next_cursor(&mut four, 3, key),
            Some(Cursor {
                created_at: 20,
                id: "id20".into()
            })
        );
        assert_eq!(four, vec![40, 30, 20]);
    }
}
