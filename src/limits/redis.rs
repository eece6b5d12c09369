//! Rate limits shared by every node through Redis (`TOKEND_REDIS_URL`): the same GCRA as the
//! in-process limiter, decided by one atomic Lua script per check that reads Redis's own clock
//! (`TIME`), so nodes with skewed clocks still share one budget.
//!
//! Redis is an optimisation of fairness, never a dependency of availability: every call is bounded
//! by a short timeout, and when Redis cannot answer the caller falls back to its in-process
//! limiter (never unlimited, never locked out, never a 5xx). The switch is logged once each way,
//! shown by `/metrics` and `/readyz`, and a reconnect is tried at most once per second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
// The GCRA script is defined once, in `tokend-verify`, so resource APIs sharing budgets through
// Redis count exactly as tokend does.
use tokend_verify::GCRA_SCRIPT;

use super::RateLimited;

/// How long one Redis round trip may take before the check falls back to the local limiter.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// Minimum time between reconnect attempts while Redis is unreachable.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// One budget of a shared check: a key and its GCRA parameters.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Redis key (namespaced by the caller; never a secret).
    pub key: String,
    /// Attempts per period and burst; 0 means unlimited.
    pub burst: u32,
    /// The period over which `burst` attempts refill.
    pub period: Duration,
}

/// A detailed verdict for one budget.
#[derive(Debug, Clone, Copy)]
pub struct Detailed {
    /// Requests left.
    pub remaining: u32,
    /// Until the budget is full again.
    pub reset: Duration,
    /// When refused: until the next request is allowed.
    pub retry_after: Option<Duration>,
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// The shared limiter and its health.
pub struct RedisLimiter {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
    script: redis::Script,
    falling_back: AtomicBool,
    /// Milliseconds since `started` of the last reconnect attempt.
    last_attempt_ms: AtomicU64,
    started: Instant,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("falling_back", &self.is_falling_back())
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Parses the URL; connecting happens on first use, so tokend starts while Redis is down.
    pub fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("TOKEND_REDIS_URL: {e}"))?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
            script: redis::Script::new(GCRA_SCRIPT),
            falling_back: AtomicBool::new(false),
            last_attempt_ms: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    /// Whether checks currently run in process because Redis cannot answer.
    pub fn is_falling_back(&self) -> bool {
        self.falling_back.load(Ordering::Relaxed)
    }

    /// Charges every budget in order. `None` means Redis could not decide (the caller must use
    /// its local limiter); `Some` is Redis's verdict, shared by every node.
    pub async fn check(&self, budgets: &[Budget]) -> Option<Result<(), RateLimited>> {
        let mut connection = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        for b in budgets {
            let interval_us = match b.burst {
                0 => 0,
                n => (b.period.as_micros() / u128::from(n)).max(1),
            };
            invocation
                .key(&b.key)
                .arg(u64::try_from(interval_us).unwrap_or(u64::MAX))
                .arg(b.burst);
        }
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok((0, _, _))) => {
                self.healthy();
                Some(Ok(()))
            }
            Ok(Ok((_, wait_us, _))) => {
                self.healthy();
                let wait = micros(wait_us);
                Some(Err(RateLimited {
                    retry_after_secs: super::whole_seconds_at_least_one(wait),
                }))
            }
            Ok(Err(e)) => {
                self.broken(&e.to_string()).await;
                None
            }
            Err(_) => {
                self.broken("timed out").await;
                None
            }
        }
    }

    /// One budget, with what the `RateLimit-*` headers need: remaining requests and the time
    /// until the budget is full again. `None`: the caller must decide locally.
    pub async fn check_detailed(&self, budget: &Budget) -> Option<Detailed> {
        let mut connection = self.connection().await?;
        let interval_us = match budget.burst {
            0 => 0,
            n => (budget.period.as_micros() / u128::from(n)).max(1),
        };
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(&budget.key)
            .arg(u64::try_from(interval_us).unwrap_or(u64::MAX))
            .arg(budget.burst);
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok((0, remaining, reset_us))) => {
                self.healthy();
                Some(Detailed {
                    remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    reset: micros(reset_us),
                    retry_after: None,
                })
            }
            Ok(Ok((_, wait_us, reset_us))) => {
                self.healthy();
                Some(Detailed {
                    remaining: 0,
                    reset: micros(reset_us),
                    retry_after: Some(micros(wait_us)),
                })
            }
            Ok(Err(e)) => {
                self.broken(&e.to_string()).await;
                None
            }
            Err(_) => {
                self.broken("timed out").await;
                None
            }
        }
    }

    /// The current connection, or a new one if the last reconnect attempt is old enough.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_attempt_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < RECONNECT_INTERVAL.as_millis() as u64 {
            return None;
        }
        self.last_attempt_ms.store(now_ms.max(1), Ordering::Relaxed);
        let connect = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(CALL_TIMEOUT * 4, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => {
                drop(slot);
                self.note_fallback(&e.to_string());
                None
            }
            Err(_) => {
                drop(slot);
                self.note_fallback("connect timed out");
                None
            }
        }
    }

    fn healthy(&self) {
        if self.falling_back.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again; rate limits are shared across nodes again");
        }
    }

    async fn broken(&self, why: &str) {
        *self.connection.lock().await = None;
        self.note_fallback(why);
    }

    fn note_fallback(&self, why: &str) {
        if !self.falling_back.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %why,
                "Redis unreachable; rate limits fall back to this node's own limiter");
        }
    }
}
