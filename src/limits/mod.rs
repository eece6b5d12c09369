//! In-memory rate limits: the sign-in limits of contract section 3 (per client IP and per
//! normalised login, both checked before the password is hashed) and a generic keyed limiter that
//! other per-key budgets (such as MFA attempts per user) reuse.
//!
//! governor's keyed limiters keep one entry per key forever unless told otherwise, so the server
//! calls `retain_recent` every minute; an entry that has gone idle for a full replenish period is
//! indistinguishable from a fresh one, so dropping it forgives nothing.
//!
//! With `TOKEND_REDIS_URL` the sign-in budgets are shared by every node through [`redis`] (same
//! GCRA, one script per check); the in-process limiter stays as the fallback while Redis cannot
//! answer.

pub mod rate;
pub mod redis;

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A refusal, carrying how long to wait; becomes 429 `rate_limited` with `Retry-After` and
/// `details.retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; retry after {retry_after_secs} s")]
pub struct RateLimited {
    /// Whole seconds, rounded up and at least 1, as `Retry-After` requires.
    pub retry_after_secs: u64,
}

impl From<RateLimited> for crate::error::Error {
    fn from(r: RateLimited) -> Self {
        Self::RateLimited {
            retry_after_secs: r.retry_after_secs,
        }
    }
}

type Inner<K, C> =
    RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One budget per key, refilling evenly over a period (a GCRA token bucket). Generic over the
/// clock so tests can advance time instead of sleeping; production uses governor's default clock.
pub struct KeyedLimiter<K, C = DefaultClock>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    /// `None` when the limit is configured as 0, i.e. disabled.
    inner: Option<Inner<K, C>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` attempts per key per minute, with a burst of as many (the contract's shape for
    /// every sign-in limit); 0 disables the limit.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::new(per_minute, Duration::from_secs(60), DefaultClock::default())
    }
}

impl<K, C> KeyedLimiter<K, C>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    /// A budget of `burst` attempts that refills completely over `period`, read from `clock`.
    /// `burst` 0 or a zero `period` disables the limit, so "0" in configuration means "off".
    pub fn new(burst: u32, period: Duration, clock: C) -> Self {
        let inner = NonZeroU32::new(burst).and_then(|burst| {
            let quota = Quota::with_period(period / burst.get())?.allow_burst(burst);
            Some(RateLimiter::new(
                quota,
                DefaultKeyedStateStore::default(),
                clock,
            ))
        });
        Self { inner }
    }

    /// Spends one attempt of `key`'s budget, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), RateLimited> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            RateLimited {
                retry_after_secs: whole_seconds_at_least_one(wait),
            }
        })
    }

    /// Forgets keys whose budget has fully refilled and releases the memory, so a flood of
    /// one-off keys (random logins, many addresses) cannot grow the map without bound.
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently tracked, for metrics and tests.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |limiter| limiter.len())
    }

    /// Whether no key is tracked (always true for a disabled limit).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K, C> fmt::Debug for KeyedLimiter<K, C>
where
    K: Hash + Eq + Clone,
    C: Clock,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("enabled", &self.inner.is_some())
            .field("keys", &self.len())
            .finish()
    }
}

fn whole_seconds_at_least_one(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The two sign-in budgets of contract section 3, checked together before any password hashing.
#[derive(Debug)]
pub struct SignInLimiter<C = DefaultClock>
where
    C: Clock,
{
    per_ip: KeyedLimiter<IpAddr, C>,
    per_login: KeyedLimiter<String, C>,
    per_ip_per_minute: u32,
    per_login_per_minute: u32,
    shared: Option<Arc<redis::RedisLimiter>>,
}

impl SignInLimiter {
    /// Builds the limiter from `TOKEND_SIGN_IN_PER_IP_PER_MINUTE` and
    /// `TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE` (each also the burst; 0 disables it).
    pub fn new(per_ip_per_minute: u32, per_login_per_minute: u32) -> Self {
        Self::with_clock(
            per_ip_per_minute,
            per_login_per_minute,
            DefaultClock::default(),
        )
    }
}

impl<C: Clock + Clone> SignInLimiter<C> {
    /// Like [`SignInLimiter::new`] with an explicit clock, so tests can move time.
    pub fn with_clock(per_ip_per_minute: u32, per_login_per_minute: u32, clock: C) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            per_ip: KeyedLimiter::new(per_ip_per_minute, minute, clock.clone()),
            per_login: KeyedLimiter::new(per_login_per_minute, minute, clock),
            per_ip_per_minute,
            per_login_per_minute,
            shared: None,
        }
    }

    /// Shares the budgets across nodes through Redis (the local limiter stays as fallback).
    pub fn with_shared(mut self, shared: Arc<redis::RedisLimiter>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Whether a shared limiter is configured but Redis cannot answer right now.
    pub fn shared_falling_back(&self) -> Option<bool> {
        self.shared.as_ref().map(|s| s.is_falling_back())
    }

    /// [`Self::check`], shared across nodes when Redis is configured and answers.
    pub async fn charge(&self, ip: IpAddr, login: &str) -> Result<(), RateLimited> {
        if let Some(shared) = &self.shared {
            let budgets = [self.ip_budget(ip), self.login_budget(login)];
            if let Some(verdict) = shared.check(&budgets).await {
                return verdict;
            }
        }
        self.check(ip, login)
    }

    /// Charges only the address's budget, shared across nodes when Redis is configured and
    /// answers: for sign-ins that name no login (passkeys), so one address cannot try assertions
    /// faster than it could try passwords.
    pub async fn charge_ip(&self, ip: IpAddr) -> Result<(), RateLimited> {
        if let Some(shared) = &self.shared {
            if let Some(verdict) = shared.check(&[self.ip_budget(ip)]).await {
                return verdict;
            }
        }
        self.per_ip.check(&ip_key(ip))
    }

    /// [`Self::check_login`], shared across nodes when Redis is configured and answers.
    pub async fn charge_login(&self, login: &str) -> Result<(), RateLimited> {
        if let Some(shared) = &self.shared {
            if let Some(verdict) = shared.check(&[self.login_budget(login)]).await {
                return verdict;
            }
        }
        self.check_login(login)
    }

    fn ip_budget(&self, ip: IpAddr) -> redis::Budget {
        redis::Budget {
            key: format!("tokend:sign_in:ip:{}", ip_key(ip)),
            burst: self.per_ip_per_minute,
            period: Duration::from_secs(60),
        }
    }

    /// Logins are hashed in the key: Redis needs no list of who tries to sign in.
    fn login_budget(&self, login: &str) -> redis::Budget {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, login.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        redis::Budget {
            key: format!("tokend:sign_in:login:{hex}"),
            burst: self.per_login_per_minute,
            period: Duration::from_secs(60),
        }
    }

    /// Charges one sign-in attempt from `ip` for `login` (pass the normalised login, so spelling
    /// variants share one budget). The IP is checked first and, when it is over its limit, the
    /// login's budget is left alone: otherwise one address could lock a victim out just by being
    /// refused.
    pub fn check(&self, ip: IpAddr, login: &str) -> Result<(), RateLimited> {
        self.per_ip.check(&ip_key(ip))?;
        self.per_login.check(&login.to_owned())
    }

    /// Charges only the login's budget, for password checks that have no meaningful client IP of
    /// their own (re-entering the current password with a stolen access token), so they share the
    /// sign-in budget of that login instead of opening a second guessing channel.
    pub fn check_login(&self, login: &str) -> Result<(), RateLimited> {
        self.per_login.check(&login.to_owned())
    }

    /// Drops idle keys from both budgets; the server calls this every minute.
    pub fn retain_recent(&self) {
        self.per_ip.retain_recent();
        self.per_login.retain_recent();
    }

    /// Keys tracked across both budgets, for metrics and tests.
    pub fn len(&self) -> usize {
        self.per_ip.len() + self.per_login.len()
    }

    /// Whether neither budget tracks any key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One per-address budget (e.g. password-reset attempts), shared through Redis like the sign-in
/// budgets when configured.
#[derive(Debug)]
pub struct PerIpLimiter {
    name: &'static str,
    per_minute: u32,
    local: KeyedLimiter<IpAddr>,
    shared: Option<Arc<redis::RedisLimiter>>,
}

impl PerIpLimiter {
    /// `per_minute` attempts per address per minute (and burst); 0 disables it. `name` keeps its
    /// Redis keys apart from other budgets.
    pub fn new(
        name: &'static str,
        per_minute: u32,
        shared: Option<Arc<redis::RedisLimiter>>,
    ) -> Self {
        Self {
            name,
            per_minute,
            local: KeyedLimiter::per_minute(per_minute),
            shared,
        }
    }

    /// Charges one attempt from `ip`.
    pub async fn charge(&self, ip: IpAddr) -> Result<(), RateLimited> {
        if let Some(shared) = &self.shared {
            let budget = redis::Budget {
                key: format!("tokend:{}:ip:{}", self.name, ip_key(ip)),
                burst: self.per_minute,
                period: Duration::from_secs(60),
            };
            if let Some(verdict) = shared.check(&[budget]).await {
                return verdict;
            }
        }
        self.local.check(&ip_key(ip))
    }

    /// Drops idle keys (every minute).
    pub fn retain_recent(&self) {
        self.local.retain_recent();
    }
}

/// The key an address is limited under. IPv4-mapped IPv6 counts as the IPv4 address it is. A
/// native IPv6 client is keyed by its /64: one subscriber usually gets at least a /64 and can pick
/// any of its 2^64 addresses at will, so a per-address limit would be no limit at all.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(
        per_ip: u32,
        per_login: u32,
    ) -> (SignInLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            SignInLimiter::with_clock(per_ip, per_login, clock.clone()),
            clock,
        )
    }

    #[test]
    fn burst_then_rate_limited_with_retry_after() {
        let (l, clock) = limiter(20, 1000);
        let client = ip("203.0.113.9");
        for i in 0..20 {
            assert_eq!(l.check(client, &format!("user{i}")), Ok(()), "attempt {i}");
        }
        let err = l.check(client, "user99").unwrap_err();
        assert!(err.retry_after_secs >= 1);
        assert_eq!(err.retry_after_secs, 3); // one cell every 60/20 = 3 s
        clock.advance(Duration::from_secs(3));
        assert_eq!(l.check(client, "user99"), Ok(()));
    }

    #[test]
    fn per_login_is_independent_of_ip() {
        let (l, _clock) = limiter(20, 10);
        for i in 0..10 {
            assert_eq!(
                l.check(ip(&format!("198.51.100.{i}")), "ana@example.com"),
                Ok(())
            );
        }
        let err = l.check(ip("192.0.2.1"), "ana@example.com").unwrap_err();
        assert_eq!(err.retry_after_secs, 6);
        assert_eq!(l.check(ip("192.0.2.1"), "bob@example.com"), Ok(()));
    }

    #[test]
    fn refused_ip_does_not_charge_the_login() {
        let (l, _clock) = limiter(1, 1);
        assert_eq!(l.check(ip("192.0.2.1"), "other"), Ok(()));
        assert!(l.check(ip("192.0.2.1"), "victim").is_err());
        assert_eq!(l.check(ip("192.0.2.2"), "victim"), Ok(()));
    }

    #[test]
    fn check_login_shares_the_login_budget() {
        let (l, _clock) = limiter(20, 2);
        assert_eq!(l.check_login("ana"), Ok(()));
        assert_eq!(l.check(ip("192.0.2.1"), "ana"), Ok(()));
        assert!(l.check_login("ana").is_err());
        assert!(l.check(ip("192.0.2.2"), "ana").is_err());
    }

    #[test]
    fn ipv6_keyed_by_slash_64_and_mapped_as_ipv4() {
        let (l, _clock) = limiter(2, 1000);
        assert_eq!(l.check(ip("2001:db8:1:2::1"), "a"), Ok(()));
        assert_eq!(l.check(ip("2001:db8:1:2:ffff::9"), "b"), Ok(()));
        assert!(l.check(ip("2001:db8:1:2::abcd"), "c").is_err());
        assert_eq!(l.check(ip("2001:db8:1:3::1"), "d"), Ok(()));

        assert_eq!(l.check(ip("192.0.2.7"), "e"), Ok(()));
        assert_eq!(l.check(ip("::ffff:192.0.2.7"), "f"), Ok(()));
        assert!(l.check(ip("192.0.2.7"), "g").is_err());
    }

    #[test]
    fn zero_disables_a_limit() {
        let (l, _clock) = limiter(0, 0);
        for _ in 0..100 {
            assert_eq!(l.check(ip("192.0.2.1"), "ana"), Ok(()));
        }
        assert!(l.is_empty());
        let generic = KeyedLimiter::<u32, _>::new(5, Duration::ZERO, FakeRelativeClock::default());
        assert_eq!(generic.check(&1), Ok(()));
    }

    #[test]
    fn retain_recent_forgets_idle_keys() {
        let (l, clock) = limiter(20, 10);
        for i in 0..5 {
            l.check(ip(&format!("192.0.2.{i}")), &format!("user{i}"))
                .unwrap();
        }
        assert_eq!(l.len(), 10);
        l.retain_recent();
        assert_eq!(l.len(), 10, "keys used just now are kept");
        clock.advance(Duration::from_secs(61));
        l.retain_recent();
        assert_eq!(l.len(), 0);
        assert!(l.is_empty());
    }

    #[test]
    fn generic_limiter_works_for_uuids_and_rounds_up() {
        let clock = FakeRelativeClock::default();
        let l = KeyedLimiter::<uuid::Uuid, _>::new(2, Duration::from_secs(5), clock.clone());
        let user = uuid::Uuid::new_v4();
        l.check(&user).unwrap();
        l.check(&user).unwrap();
        clock.advance(Duration::from_millis(500));
        // Next cell due 2.5 s after start, 2 s from now.
        assert_eq!(l.check(&user).unwrap_err().retry_after_secs, 2);
        clock.advance(Duration::from_millis(1900));
        // 0.1 s left rounds up to 1.
        assert_eq!(l.check(&user).unwrap_err().retry_after_secs, 1);
        assert_eq!(l.check(&uuid::Uuid::new_v4()), Ok(()));
        assert_eq!(format!("{l:?}"), "KeyedLimiter { enabled: true, keys: 2 }");
        let default_clock = KeyedLimiter::<uuid::Uuid>::per_minute(5);
        assert_eq!(default_clock.check(&user), Ok(()));
    }

    #[test]
    fn rounding_helper() {
        assert_eq!(whole_seconds_at_least_one(Duration::ZERO), 1);
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_at_least_one(Duration::from_secs(3)), 3);
        assert_eq!(whole_seconds_at_least_one(Duration::from_millis(3001)), 4);
    }
}
