//! [`RateLimit`]: a request budget such as `1000/hour`, the plan-style rate a service token
//! carries (issue #15), and [`TokenRateLimiter`], which enforces it per token with the same GCRA
//! as the sign-in limits: in process, or shared through Redis across nodes.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::redis::{Budget, RedisLimiter};

/// The largest `requests` a rate may name: a budget beyond this is no budget.
pub const MAX_REQUESTS: u32 = 1_000_000_000;

/// The period a rate refills over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Period {
    /// Its length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// `requests` per `per`, refilling evenly (GCRA), with a burst of `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per period, 1 to [`MAX_REQUESTS`].
    pub requests: u32,
    /// The period.
    pub per: Period,
}

impl RateLimit {
    /// Checks the bounds; the reason names what is wrong.
    pub fn validate(self) -> Result<Self, String> {
        if self.requests == 0 || self.requests > MAX_REQUESTS {
            return Err(format!("rate_limit.requests must be 1 to {MAX_REQUESTS}"));
        }
        Ok(self)
    }

    /// Whether this rate allows more requests over time than `other` (compared exactly, by
    /// cross-multiplying, never through floating point).
    pub fn exceeds(self, other: Self) -> bool {
        u128::from(self.requests) * u128::from(other.per.seconds())
            > u128::from(other.requests) * u128::from(self.per.seconds())
    }

    fn period(self) -> Duration {
        Duration::from_secs(self.per.seconds())
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.per.name())
    }
}

/// `N/PERIOD` (`1000/hour`), the form of the CLI and of `TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT`.
impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (n, per) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not N/PERIOD, e.g. 1000/hour"))?;
        let requests = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a whole number of requests"))?;
        let per = match per.trim().to_ascii_lowercase().as_str() {
            "second" | "s" | "sec" => Period::Second,
            "minute" | "m" | "min" => Period::Minute,
            "hour" | "h" => Period::Hour,
            "day" | "d" => Period::Day,
            other => {
                return Err(format!(
                    "unknown period {other:?}; use second, minute, hour or day"
                ))
            }
        };
        Self { requests, per }.validate()
    }
}

/// Where a token stands after a check, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The budget (`requests`).
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub reset_secs: u64,
    /// When refused: seconds until the next request is allowed.
    pub retry_after_secs: Option<u64>,
}

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
