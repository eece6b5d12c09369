//! [`RateLimit`]: a service token's request budget such as `1000/hour` (issue #15), the one
//! definition tokend stores and serialises and resource APIs read from introspection answers
//! and exchanged JWTs, and [`GCRA_SCRIPT`], the one Redis script both sides count with.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest `requests` a rate may name: a budget beyond this is no budget.
pub const MAX_RATE_REQUESTS: u32 = 1_000_000_000;

/// The period a [`RateLimit`] refills over; `"second"`, `"minute"`, `"hour"` or `"day"` on the
/// wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatePeriod {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl RatePeriod {
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

/// `requests` per `per`, refilling evenly (GCRA), with a burst of `requests`:
/// `{"requests": 1000, "per": "hour"}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per period, 1 to [`MAX_RATE_REQUESTS`].
    pub requests: u32,
    /// The period.
    pub per: RatePeriod,
}

impl RateLimit {
    /// Checks the bounds; the reason names what is wrong.
    ///
    /// # Errors
    /// When `requests` is 0 or above [`MAX_RATE_REQUESTS`].
    pub fn validate(self) -> Result<Self, String> {
        if self.requests == 0 || self.requests > MAX_RATE_REQUESTS {
            return Err(format!(
                "rate_limit.requests must be 1 to {MAX_RATE_REQUESTS}"
            ));
        }
        Ok(self)
    }

    /// Whether this rate allows more requests over time than `other` (compared exactly, by
    /// cross-multiplying, never through floating point).
    pub fn exceeds(self, other: Self) -> bool {
        u128::from(self.requests) * u128::from(other.per.seconds())
            > u128::from(other.requests) * u128::from(self.per.seconds())
    }

    /// The period as a duration.
    pub fn period(self) -> Duration {
        Duration::from_secs(self.per.seconds())
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.per.name())
    }
}

/// `N/PERIOD` (`1000/hour`), the form of tokend's CLI and settings.
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
            "second" | "s" | "sec" => RatePeriod::Second,
            "minute" | "m" | "min" => RatePeriod::Minute,
            "hour" | "h" => RatePeriod::Hour,
            "day" | "d" => RatePeriod::Day,
            other => {
                return Err(format!(
                    "unknown period {other:?}; use second, minute, hour or day"
                ))
            }
        };
        Self { requests, per }.validate()
    }
}

/// Where a token stands after one request was counted, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The budget (`requests`).
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub reset_secs: u64,
    /// When refused: seconds until the next request is allowed (at least 1).
    pub retry_after_secs: Option<u64>,
}

/// GCRA over several keys in order, as one atomic Redis Lua script that reads Redis's own clock
/// (`TIME`), so instances with skewed clocks still share one budget. tokend counts its own
/// limits with it and the `redis` feature's shared limiter counts resource-API budgets with it.
///
/// `ARGV[2i-1]` is key i's emission interval in microseconds (0: no limit), `ARGV[2i]` its
/// burst. A key over its budget stops the walk, so later keys are not charged. Returns
/// `{0, remaining, reset_us}` of the last key when allowed, else `{i, wait_us, reset_us}` of the
/// refusing key (`reset_us`: until its budget is full again).
pub const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local remaining = 0
local reset = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  if interval > 0 then
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    local allow_at = tat - interval * (burst - 1)
    if allow_at > now then
      return {i, allow_at - now, tat - now}
    end
    local new_tat = tat + interval
    redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
    remaining = math.floor((now + interval * burst - new_tat) / interval)
    reset = new_tat - now
  end
end
return {0, remaining, reset}
";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares_refuses_and_keeps_the_wire_shape() {
        let r: RateLimit = "1000/hour".parse().unwrap();
        assert_eq!(
            r,
            RateLimit {
                requests: 1000,
                per: RatePeriod::Hour
            }
        );
        assert_eq!(r.to_string(), "1000/hour");
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!({"requests": 1000, "per": "hour"})
        );
        assert!("5/second".parse::<RateLimit>().unwrap().exceeds(r));
        assert!(!"10/minute".parse::<RateLimit>().unwrap().exceeds(r));
        for bad in ["", "0/minute", "-1/minute", "5/fortnight", "2000000000/day"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<RateLimit>(r#"{"requests":5,"per":"week"}"#).is_err());
    }
}
