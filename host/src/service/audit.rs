//! The audit log of state-changing admin requests: written by the API's admin gate after
//! each one (refused ones included), read a page at a time, newest first.

use crate::store::audit::{self, AuditEntry};
use crate::store::Db;

use super::{ErrorCode, Gateway, ServiceError};

/// How many entries a page holds when the request does not say, and at most.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// A page of the audit log, newest first.
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The id to pass as `before` for the next (older) page; `None` on the last.
    pub next_before: Option<String>,
}

/// A new entry's id: `au_` and a UUIDv7, so ids sort by time.
pub fn new_id() -> String {
    format!("au_{}", uuid::Uuid::now_v7().simple())
}

/// Checks a page request: `limit` 1 to [`MAX_LIMIT`], `before` an entry id. 422
/// `invalid_query`.
fn page_request(limit: Option<i64>, before: Option<&str>) -> Result<u32, ServiceError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidQuery,
                format!("limit must be from 1 to {MAX_LIMIT}"),
            ))
        }
    };
    if let Some(b) = before {
        let ok = b
            .strip_prefix("au_")
            .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidQuery,
                "before must be an audit entry id (au_ and 32 hex digits)",
            ));
        }
    }
    Ok(limit)
}

/// Up to `limit` entries, newest first, older than `before` when given.
pub async fn page(
    db: &Db,
    limit: Option<i64>,
    before: Option<&str>,
) -> Result<AuditPage, ServiceError> {
    let limit = page_request(limit, before)?;
    let entries = audit::page(db, before, limit).await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    Ok(AuditPage {
        entries,
        next_before,
    })
}

impl Gateway {
    /// Writes one entry. A failure is logged (with the entry) and reported to the caller,
    /// which has already answered: the request's outcome does not depend on its audit.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), ServiceError> {
        audit::insert(&self.db, entry).await.map_err(|e| {
            tracing::error!(error = %e, ?entry, "cannot write the audit log");
            ServiceError::from(e)
        })
    }

    pub async fn audit_page(
        &self,
        limit: Option<i64>,
        before: Option<&str>,
    ) -> Result<AuditPage, ServiceError> {
        page(&self.db, limit, before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_page_takes_a_bounded_limit_and_an_entry_id() {
        assert_eq!(page_request(None, None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(page_request(Some(500), None).ok(), Some(500));
        assert!(page_request(Some(0), None).is_err());
        assert!(page_request(Some(501), None).is_err());
        assert!(page_request(None, Some(&new_id())).is_ok());
        assert!(page_request(None, Some("m_123")).is_err());
    }

    #[test]
    fn audit_ids_sort_by_time() {
        let a = new_id();
        let b = new_id();
        assert!(a < b, "{a} {b}");
    }
}
