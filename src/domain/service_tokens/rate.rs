//! Per-token rate limits (issue #15): a token's own rate, or the account default in force when
//! it was created (copied, so a later change of the default leaves existing tokens as they
//! were), or `TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT` at request time for tokens with neither.
//! An account may cap what its tokens get (`max_rate_limit`). Enforced at tokend's own endpoints
//! that take service tokens; introspection does not spend a budget (the resource API that asks
//! does the counting).

use uuid::Uuid;

use crate::domain::principal::ServicePrincipal;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::limits::rate::{RateLimit, RateStatus};

fn parse_stored(text: Option<&str>) -> Option<RateLimit> {
    text.and_then(|t| t.parse().ok())
}

impl Tokend {
    /// The rate a new token gets: the requested one (validated, within the account's ceiling)
    /// or the account default.
    pub(super) async fn rate_for_new_token(
        &self,
        account: Uuid,
        requested: Option<RateLimit>,
    ) -> Result<Option<RateLimit>> {
        let (default, max) = self.store.account_rate_limits(account).await?;
        let (default, max) = (
            parse_stored(default.as_deref()),
            parse_stored(max.as_deref()),
        );
        let Some(requested) = requested else {
            return Ok(default);
        };
        let requested = requested
            .validate()
            .map_err(|e| Error::field("rate_limit.requests", e))?;
        if let Some(max) = max.filter(|max| requested.exceeds(*max)) {
            return Err(Error::InvalidRequest {
                message: format!("rate_limit {requested} is above the account's ceiling of {max}"),
                field: Some("rate_limit".into()),
                reason: Some("above_account_ceiling"),
            });
        }
        Ok(Some(requested))
    }

    /// The rate that applies to a stored token now.
    pub fn effective_rate(&self, stored: Option<&str>) -> Option<RateLimit> {
        parse_stored(stored).or(self.settings.service_token_default_rate_limit)
    }

    /// Spends one request of a service token's budget; `None` when no rate applies. A spent
    /// budget is the caller's to turn into 429 (the status carries `retry_after_secs`).
    pub async fn charge_token_rate(&self, principal: &ServicePrincipal) -> Option<RateStatus> {
        let rate = principal.rate_limit?;
        let status = self.token_rates.charge(principal.token_id, rate).await;
        if status.retry_after_secs.is_some() {
            self.metrics.event("service_token_rate_limited");
        }
        Some(status)
    }

    /// Sets an account's default rate for new tokens and the ceiling of what its tokens may get
    /// (`tokend account set-rate-limit`). A default above the ceiling is refused.
    pub async fn set_account_rate_limit(
        &self,
        account: Uuid,
        default: Option<RateLimit>,
        max: Option<RateLimit>,
    ) -> Result<()> {
        if let (Some(d), Some(m)) = (default, max) {
            if d.exceeds(m) {
                return Err(Error::field(
                    "rate_limit",
                    format!("the default {d} is above the ceiling {m}"),
                ));
            }
        }
        if !self
            .store
            .set_account_rate_limits(
                account,
                default.map(|d| d.to_string()).as_deref(),
                max.map(|m| m.to_string()).as_deref(),
            )
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
