//! A merchant's lists of orders, payments and refunds, newest first by (`created_at`, id),
//! a page at a time (the rules are `domain::listing`'s), on the indexes of migration 0020.

use sqlx::any::AnyRow;

use super::orders::OrderRecord;
use super::payments::PaymentRecord;
use super::refunds::RefundRecord;
use super::{Db, StoreError};
use crate::domain::listing::ListRequest;

/// What a list is narrowed to.
pub struct Filter<'a> {
    pub merchant_id: &'a str,
    pub request: &'a ListRequest,
    /// A state of the listed kind, as stored.
    pub state: Option<&'a str>,
    /// Payments of this provider; refunds of its payments; orders it paid.
    pub provider: Option<&'a str>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// One list's statement: `table`'s `columns`, its id column, and how a provider narrows it.
struct Listed {
    table: &'static str,
    columns: &'static str,
    id: &'static str,
    provider: &'static str,
}

const ORDERS: Listed = Listed {
    table: "orders",
    columns: super::orders::COLUMNS,
    id: "id",
    provider: "paid_by IN (SELECT payment_no FROM payments WHERE provider = ",
};
const PAYMENTS: Listed = Listed {
    table: "payments",
    columns: super::payments::COLUMNS,
    id: "payment_no",
    provider: "provider = (",
};
const REFUNDS: Listed = Listed {
    table: "refunds",
    columns: super::refunds::COLUMNS,
    id: "refund_no",
    provider: "payment_no IN (SELECT payment_no FROM payments WHERE provider = ",
};

/// One page plus one item (the caller learns from it whether another page follows).
async fn page<T>(
    db: &Db,
    listed: &Listed,
    f: &Filter<'_>,
    from_row: fn(&AnyRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut binds = vec![Bind::Text(f.merchant_id.to_owned())];
    let mut sql = format!(
        "SELECT {} FROM {} WHERE merchant_id = $1",
        listed.columns, listed.table
    );
    let push = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        binds.len()
    };
    if let Some(state) = f.state {
        let n = push(&mut binds, Bind::Text(state.to_owned()));
        sql.push_str(&format!(" AND state = ${n}"));
    }
    if let Some(from) = f.request.created_from {
        let n = push(&mut binds, Bind::Int(from));
        sql.push_str(&format!(" AND created_at >= ${n}"));
    }
    if let Some(to) = f.request.created_to {
        let n = push(&mut binds, Bind::Int(to));
        sql.push_str(&format!(" AND created_at < ${n}"));
    }
    if let Some(c) = &f.request.cursor {
        let at = push(&mut binds, Bind::Int(c.created_at));
        let id = push(&mut binds, Bind::Text(c.id.clone()));
        sql.push_str(&format!(
            " AND (created_at < ${at} OR (created_at = ${at} AND {} < ${id}))",
            listed.id
        ));
    }
    if let Some(provider) = f.provider {
        let n = push(&mut binds, Bind::Text(provider.to_owned()));
        sql.push_str(&format!(" AND {}${n})", listed.provider));
    }
    let n = push(&mut binds, Bind::Int(i64::from(f.request.limit) + 1));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, {} DESC LIMIT ${n}",
        listed.id
    ));
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter().map(from_row).collect()
}

/// The merchant's orders as `f` narrows them: a page and one more.
pub async fn orders(db: &Db, f: &Filter<'_>) -> Result<Vec<OrderRecord>, StoreError> {
    page(db, &ORDERS, f, super::orders::from_row).await
}

/// The merchant's payments as `f` narrows them: a page and one more.
pub async fn payments(db: &Db, f: &Filter<'_>) -> Result<Vec<PaymentRecord>, StoreError> {
    page(db, &PAYMENTS, f, super::payments::from_row).await
}

/// The merchant's refunds as `f` narrows them: a page and one more.
pub async fn refunds(db: &Db, f: &Filter<'_>) -> Result<Vec<RefundRecord>, StoreError> {
    page(db, &REFUNDS, f, super::refunds::from_row).await
}
