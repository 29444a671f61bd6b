//! A merchant's own lists: its orders, payments and refunds, newest first, a page at a
//! time, narrowed by state, creation time and provider (`domain::listing` has the rules).

use crate::domain::listing::{next_cursor, ListRequest};
use crate::domain::{OrderState, PaymentState, RefundState};
use crate::store::listing::{self, Filter};
use crate::store::orders::OrderRecord;
use crate::store::payments::PaymentRecord;
use crate::store::refunds::RefundRecord;

use super::{Gateway, ServiceError};

/// One page: its items, newest first, and the cursor of the next page (`None` on the last).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn paged<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> (i64, String)) -> Page<T> {
    let next = next_cursor(&mut items, limit, key).map(|c| c.encode());
    Page {
        items,
        next_cursor: next,
    }
}

impl Gateway {
    /// The merchant's orders; `provider`: those it paid.
    pub async fn list_orders(
        &self,
        merchant_id: &str,
        request: &ListRequest,
        state: Option<OrderState>,
        provider: Option<&str>,
    ) -> Result<Page<OrderRecord>, ServiceError> {
        let f = Filter {
            merchant_id,
            request,
            state: state.map(|s| s.as_str()),
            provider,
        };
        let items = listing::orders(&self.db, &f).await?;
        Ok(paged(items, request.limit, |o| {
            (o.created_at, o.id.clone())
        }))
    }

    /// The merchant's payments.
    pub async fn list_payments(
        &self,
        merchant_id: &str,
        request: &ListRequest,
        state: Option<PaymentState>,
        provider: Option<&str>,
    ) -> Result<Page<PaymentRecord>, ServiceError> {
        let f = Filter {
            merchant_id,
            request,
            state: state.map(|s| s.as_str()),
            provider,
        };
        let items = listing::payments(&self.db, &f).await?;
        Ok(paged(items, request.limit, |p| {
            (p.created_at, p.payment_no.clone())
        }))
    }

    /// The merchant's refunds; `provider`: those of its payments.
    pub async fn list_refunds(
        &self,
        merchant_id: &str,
        request: &ListRequest,
        state: Option<RefundState>,
        provider: Option<&str>,
    ) -> Result<Page<RefundRecord>, ServiceError> {
        let f = Filter {
            merchant_id,
            request,
            state: state.map(|s| s.as_str()),
            provider,
        };
        let items = listing::refunds(&self.db, &f).await?;
        Ok(paged(items, request.limit, |r| {
            (r.created_at, r.refund_no.clone())
        }))
    }
}
