//! Budgets shared through Redis (feature `redis`): [`GCRA_SCRIPT`], one atomic call per check,
//! bounded by a short timeout; `None` tells the caller to decide in process.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::ceil_secs;
use crate::{RateLimit, RateStatus, GCRA_SCRIPT};

/// How long one Redis round trip may take before the check falls back to the local limiter.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Minimum time between reconnect attempts while Redis is unreachable.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Namespace of the budgets' keys (`tokend-verify:rate:service_token:<id>`).
const KEY_PREFIX: &str = "tokend-verify:rate:";

/// A Redis URL [`TokenRateLimits::redis`](crate::TokenRateLimits::redis) could not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRedisUrl(String);

impl fmt::Display for InvalidRedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Redis URL: {}", self.0)
    }
}

impl std::error::Error for InvalidRedisUrl {}

/// The Redis side of [`TokenRateLimits`](crate::TokenRateLimits).
pub(super) struct Shared {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    script: redis::Script,
    falling_back: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

impl Shared {
    pub(super) fn new(url: &str) -> Result<Self, InvalidRedisUrl> {
        let client = redis::Client::open(url).map_err(|e| InvalidRedisUrl(e.to_string()))?;
        Ok(Self {
            client,
            connection: tokio::sync::Mutex::new(None),
            script: redis::Script::new(GCRA_SCRIPT),
            falling_back: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
        })
    }

    pub(super) fn is_falling_back(&self) -> bool {
        self.falling_back.load(Ordering::Relaxed)
    }

    /// Redis's verdict for one request of `key`, or `None` when Redis cannot decide.
    pub(super) async fn charge(&self, key: &str, rate: RateLimit) -> Option<RateStatus> {
        let mut connection = self.connection().await?;
        let requests = rate.requests.max(1);
        let interval_us = (rate.period().as_micros() / u128::from(requests)).max(1);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{KEY_PREFIX}{key}"))
            .arg(u64::try_from(interval_us).unwrap_or(u64::MAX))
            .arg(requests);
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        let (refused, a, reset_us) = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                *self.connection.lock().await = None;
                self.falling_back.store(true, Ordering::Relaxed);
                return None;
            }
        };
        self.falling_back.store(false, Ordering::Relaxed);
        Some(RateStatus {
            limit: rate.requests,
            remaining: if refused == 0 {
                u32::try_from(a.max(0)).unwrap_or(u32::MAX)
            } else {
                0
            },
            reset_secs: ceil_secs(micros(reset_us)),
            retry_after_secs: (refused != 0).then(|| ceil_secs(micros(a)).max(1)),
        })
    }

    /// The current connection, or a new one if the last attempt is old enough.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RECONNECT_INTERVAL) {
                self.falling_back.store(true, Ordering::Relaxed);
                return None;
            }
            *last = Some(Instant::now());
        }
        let connect = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            Ok(Err(_)) | Err(_) => {
                self.falling_back.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}
