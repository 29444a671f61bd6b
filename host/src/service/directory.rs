//! Finding merchants again: pages of them, one by id (or, for the CLI, by name) with the
//! providers configured for it, and its merchant-wide webhook endpoint. Never a secret:
//! API keys are kept as hashes, webhook secrets and provider secrets sealed, and none of
//! them is read here.

use crate::domain::merchant::{webhook_url, PageRequest};
use crate::store::merchants::{self, Merchant};
use crate::store::provider_configs;
use crate::store::Db;

use super::{ErrorCode, Gateway, ServiceError};

/// A merchant as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantDetail {
    pub merchant: Merchant,
    /// The providers it has a configuration for, by name.
    pub providers: Vec<String>,
}

/// One page of merchants, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantPage {
    pub merchants: Vec<MerchantDetail>,
    /// The `after` of the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// How many merchants of one name a lookup by name reports.
const MAX_NAMESAKES: u32 = 10;

/// The merchants with their configured providers, in two statements.
async fn with_providers(db: &Db, list: Vec<Merchant>) -> Result<Vec<MerchantDetail>, ServiceError> {
    let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    let configured = provider_configs::providers_of(db, &ids).await?;
    Ok(list
        .into_iter()
        .map(|merchant| {
            let providers = configured
                .iter()
                .filter(|(id, _)| *id == merchant.id)
                .map(|(_, p)| p.clone())
                .collect();
            MerchantDetail {
                merchant,
                providers,
            }
        })
        .collect())
}

/// A page of merchants (only those named exactly `name`, when given).
pub async fn list(
    db: &Db,
    page: &PageRequest,
    name: Option<&str>,
) -> Result<MerchantPage, ServiceError> {
    // One more than the page holds says whether another page follows.
    let mut found = merchants::page(db, page.after.as_deref(), name, page.limit + 1).await?;
    let more = found.len() > page.limit as usize;
    found.truncate(page.limit as usize);
    let next_after = if more {
        found.last().map(|m| m.id.clone())
    } else {
        None
    };
    Ok(MerchantPage {
        merchants: with_providers(db, found).await?,
        next_after,
    })
}

/// One merchant by id: 404 `merchant_not_found` if there is none.
pub async fn show(db: &Db, id: &str) -> Result<MerchantDetail, ServiceError> {
    let merchant = merchants::get(db, id)
        .await?
        .ok_or(ServiceError::NotFound("merchant"))?;
    let mut one = with_providers(db, vec![merchant]).await?;
    one.pop()
        .ok_or_else(|| ServiceError::internal("reading a merchant", anyhow::anyhow!("it vanished")))
}

/// The merchants an operator means by `id_or_name`: the one with that id, else those with
/// that name (names are not unique; at most ten), oldest first. Empty when none matches.
pub async fn find(db: &Db, id_or_name: &str) -> Result<Vec<MerchantDetail>, ServiceError> {
    let wanted = id_or_name.trim();
    if let Some(merchant) = merchants::get(db, wanted).await? {
        return with_providers(db, vec![merchant]).await;
    }
    let namesakes = merchants::by_name(db, wanted, MAX_NAMESAKES).await?;
    with_providers(db, namesakes).await
}

/// Sets the merchant's webhook endpoint (`None` removes it), checked as an order's
/// `notify_url` is: 422 `invalid_notify_url`, 404 `merchant_not_found`. Events of orders
/// without a `notify_url` of their own go there from now on, the pending ones included.
pub async fn set_webhook(
    db: &Db,
    id: &str,
    notify_url: Option<&str>,
) -> Result<MerchantDetail, ServiceError> {
    let notify_url = webhook_url(notify_url)
        .map_err(|e| ServiceError::invalid(ErrorCode::InvalidNotifyUrl, e.to_string()))?;
    if !merchants::set_notify_url(db, id, notify_url.as_deref()).await? {
        return Err(ServiceError::NotFound("merchant"));
    }
    tracing::info!(merchant_id = id, notify_url = ?notify_url, "merchant webhook endpoint set");
    show(db, id).await
}

impl Gateway {
    /// See [`list`].
    pub async fn list_merchants(
        &self,
        page: &PageRequest,
        name: Option<&str>,
    ) -> Result<MerchantPage, ServiceError> {
        list(&self.db, page, name).await
    }

    /// See [`show`].
    pub async fn merchant(&self, id: &str) -> Result<MerchantDetail, ServiceError> {
        show(&self.db, id).await
    }

    /// See [`set_webhook`].
    pub async fn set_merchant_webhook(
        &self,
        id: &str,
        notify_url: Option<&str>,
    ) -> Result<MerchantDetail, ServiceError> {
        // The syntax first (its message is the clearer one), then the destination rule.
        let checked = webhook_url(notify_url)
            .map_err(|e| ServiceError::invalid(ErrorCode::InvalidNotifyUrl, e.to_string()))?;
        if let Some(url) = &checked {
            self.check_destination(url).await?;
        }
        set_webhook(&self.db, id, notify_url).await
    }
}
