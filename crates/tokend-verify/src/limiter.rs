//! [`TokenRateLimits`] (feature `axum`): the per-token GCRA limiter the
//! [`TokendAuth`](crate::TokendAuth) layer enforces service tokens' `rate_limit` with. In
//! process by default (governor); with feature `redis`, shared by every instance of the API
//! through Redis and [`GCRA_SCRIPT`](crate::GCRA_SCRIPT), falling back to the in-process
//! limiter (never to no limit) while Redis cannot answer.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::{RateLimit, RateStatus};

#[cfg(feature = "redis")]
mod shared;

#[cfg(feature = "redis")]
pub use shared::InvalidRedisUrl;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Idle keys are dropped from the in-process limiters once per this many checks.
const RETAIN_EVERY: u64 = 4096;

/// Per-token request budgets: one GCRA limiter per distinct rate, each token under its own key
/// (the principal's subject, `service_token:<id>`, the same for an introspected token and its
/// exchanged JWT). Cheap to share: [`TokendAuth`](crate::TokendAuth) holds it in an `Arc`.
#[derive(Default)]
pub struct TokenRateLimits {
    local: Mutex<HashMap<RateLimit, Arc<Limiter>>>,
    checks: AtomicU64,
    #[cfg(feature = "redis")]
    shared: Option<shared::Shared>,
}

impl fmt::Debug for TokenRateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TokenRateLimits");
        #[cfg(feature = "redis")]
        d.field("shared", &self.shared.is_some());
        d.finish_non_exhaustive()
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl TokenRateLimits {
    /// Budgets kept in this process (the default of [`TokendAuth`](crate::TokendAuth)): right
    /// for one instance; several instances each allow the full budget.
    pub fn in_process() -> Self {
        Self::default()
    }

    /// Budgets shared through Redis at `url` (`redis://host:port/`) by every instance that
    /// names the same Redis, counted by the same atomic script tokend uses. Connecting happens on
    /// first use, so the API starts while Redis is down; each call is bounded by a short timeout,
    /// and while Redis cannot answer the in-process limiter decides (never unlimited). A
    /// reconnect is tried at most once a second.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<Self, InvalidRedisUrl> {
        Ok(Self {
            shared: Some(shared::Shared::new(url)?),
            ..Self::default()
        })
    }

    /// Whether checks currently run in process because Redis cannot answer (false without
    /// Redis).
    pub fn is_falling_back(&self) -> bool {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            return shared.is_falling_back();
        }
        false
    }

    /// Spends one request of `key`'s budget at `rate`, and says where it stands; a refused
    /// request has `retry_after_secs`.
    pub async fn charge(&self, key: &str, rate: RateLimit) -> RateStatus {
        let requests = rate.requests.max(1);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            if let Some(status) = shared.charge(key, rate).await {
                return status;
            }
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
            self.retain_recent();
        }
        let interval = rate.period() / requests;
        let limiter = self.limiter(rate);
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(requests);
                RateStatus {
                    limit: rate.requests,
                    remaining,
                    reset_secs: ceil_secs(interval * (requests - remaining)),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => RateStatus {
                limit: rate.requests,
                remaining: 0,
                reset_secs: ceil_secs(interval * requests),
                retry_after_secs: Some(
                    ceil_secs(not_until.wait_time_from(limiter.clock().now())).max(1),
                ),
            },
        }
    }

    fn limiter(&self, rate: RateLimit) -> Arc<Limiter> {
        let mut map = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(rate)
            .or_insert_with(|| {
                let burst = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(rate.period() / burst.get())
                    .unwrap_or_else(|| Quota::per_second(burst))
                    .allow_burst(burst);
                Arc::new(RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
            })
            .clone()
    }

    /// Drops idle keys of every in-process budget.
    fn retain_recent(&self) {
        let map = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        for limiter in map.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_down_then_refuses_with_retry_after_per_key() {
        let limits = TokenRateLimits::in_process();
        let rate: RateLimit = "5/minute".parse().unwrap();
        for expected in (0..5).rev() {
            let s = limits.charge("service_token:a", rate).await;
            assert_eq!(
                (s.limit, s.remaining, s.retry_after_secs),
                (5, expected, None)
            );
            assert!(s.reset_secs > 0 && s.reset_secs <= 60);
        }
        let refused = limits.charge("service_token:a", rate).await;
        assert_eq!((refused.remaining, refused.retry_after_secs), (0, Some(12)));
        // Another token of the same plan has its own budget.
        assert_eq!(limits.charge("service_token:b", rate).await.remaining, 4);
        assert!(!limits.is_falling_back());
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn unreachable_redis_falls_back_to_in_process_never_unlimited() {
        assert!(TokenRateLimits::redis("not a url").is_err());
        // Port 1 on loopback: refused at once.
        let limits = TokenRateLimits::redis("redis://127.0.0.1:1/").unwrap();
        let rate: RateLimit = "2/minute".parse().unwrap();
        assert_eq!(limits.charge("k", rate).await.remaining, 1);
        assert!(limits.is_falling_back());
        assert_eq!(limits.charge("k", rate).await.remaining, 0);
        assert!(limits.charge("k", rate).await.retry_after_secs.is_some());
    }
}
