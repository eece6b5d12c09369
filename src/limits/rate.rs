//! [`RateLimit`]: a request budget such as `1000/hour`, the plan-style rate a service token
//! carries (issue #15), and [`TokenRateLimiter`], which enforces it per token with the same GCRA
//! as the sign-in limits: in process, or shared through Redis across nodes.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use super::redis::{Budget, RedisLimiter};

/// The rate types are defined once, in `tokend-verify`, so tokend and resource APIs read the same
/// `{"requests": N, "per": PERIOD}` shape; re-exported under tokend's names.
pub use tokend_verify::{
    RateLimit, RatePeriod as Period, RateStatus, MAX_RATE_REQUESTS as MAX_REQUESTS,
};

type Limiter =
    RateLimiter<Uuid, DefaultKeyedStateStore<Uuid>, DefaultClock, StateInformationMiddleware>;

/// Per-token budgets: one governor limiter per distinct rate (tokens of the same plan share
/// the limiter, each under its own key), or Redis when configured and answering.
#[derive(Default)]
pub struct TokenRateLimiter {
    local: Mutex<HashMap<RateLimit, Arc<Limiter>>>,
    shared: Option<Arc<RedisLimiter>>,
}

impl fmt::Debug for TokenRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRateLimiter")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl TokenRateLimiter {
    /// A limiter that shares budgets through `shared` when given.
    pub fn new(shared: Option<Arc<RedisLimiter>>) -> Self {
        Self {
            local: Mutex::default(),
            shared,
        }
    }

    /// Spends one request of `token`'s budget.
    pub async fn charge(&self, token: Uuid, rate: RateLimit) -> RateStatus {
        let interval = rate.period() / rate.requests.max(1);
        if let Some(shared) = &self.shared {
            let budget = Budget {
                key: format!("tokend:token_rate:{token}"),
                burst: rate.requests,
                period: rate.period(),
            };
            if let Some(v) = shared.check_detailed(&budget).await {
                return RateStatus {
                    limit: rate.requests,
                    remaining: v.remaining,
                    reset_secs: ceil_secs(v.reset),
                    retry_after_secs: v.retry_after.map(|d| ceil_secs(d).max(1)),
                };
            }
        }
        let limiter = self.limiter(rate);
        match limiter.check_key(&token) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateStatus {
                    limit: rate.requests,
                    remaining,
                    reset_secs: ceil_secs(interval * (rate.requests - remaining)),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                RateStatus {
                    limit: rate.requests,
                    remaining: 0,
                    reset_secs: ceil_secs(interval * rate.requests),
                    retry_after_secs: Some(ceil_secs(wait).max(1)),
                }
            }
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

    /// Drops idle keys of every budget (every minute).
    pub fn retain_recent(&self) {
        let map = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        for limiter in map.values() {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares_and_refuses() {
        let r: RateLimit = "1000/hour".parse().unwrap();
        assert_eq!(
            r,
            RateLimit {
                requests: 1000,
                per: Period::Hour
            }
        );
        assert_eq!(r.to_string(), "1000/hour");
        assert!("5/second".parse::<RateLimit>().unwrap().exceeds(r));
        assert!(!"10/minute".parse::<RateLimit>().unwrap().exceeds(r));
        for bad in [
            "",
            "0/minute",
            "-1/minute",
            "5/fortnight",
            "5",
            "x/hour",
            "2000000000/day",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn counts_down_then_refuses_with_retry_after() {
        let l = TokenRateLimiter::new(None);
        let rate: RateLimit = "5/minute".parse().unwrap();
        let token = Uuid::new_v4();
        for expected in (0..5).rev() {
            let s = l.charge(token, rate).await;
            assert_eq!((s.remaining, s.retry_after_secs), (expected, None));
        }
        let refused = l.charge(token, rate).await;
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_secs, Some(12));
        // Another token of the same plan has its own budget.
        assert_eq!(l.charge(Uuid::new_v4(), rate).await.remaining, 4);
    }
}
