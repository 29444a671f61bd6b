//! The record of every provider notification paygate received, verified or refused.

use super::{now_ms, Db, StoreError};

pub async fn record(
    db: &Db,
    provider: &str,
    merchant_id: &str,
    payment_no: Option<&str>,
    verified: bool,
    outcome: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO provider_notifications (id, provider, merchant_id, payment_no, verified, outcome, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(provider)
    .bind(merchant_id)
    .bind(payment_no)
    .bind(i32::from(verified))
    .bind(outcome)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}
