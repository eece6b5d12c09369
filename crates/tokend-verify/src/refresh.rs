//! Rate limiting for JWKS refetches triggered by unknown `kid`s.
//!
//! A `kid` is attacker input: without a gate, a flood of tokens naming random `kid`s would turn
//! every resource API into a client hammering tokend's JWKS endpoint.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Allows at most one JWKS refetch per interval, across all threads.
///
/// Resource APIs call [`should_refetch`](Self::should_refetch) when
/// [`Verifier::knows_kid`](crate::Verifier::knows_kid) is false for a token's `kid`, and only
/// fetch when it says yes; tokend publishes keys before signing with them, so a genuine new key
/// is picked up by the first allowed refetch. Time is a parameter so tests need not sleep.
#[derive(Debug)]
pub struct JwksRefreshGate {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl JwksRefreshGate {
    /// The default spacing between refetches: short enough that a rotation is picked up almost
    /// at once, long enough that a flood of bogus `kid`s costs tokend two requests a minute.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

    /// A gate allowing one refetch per `interval`; the first call is always allowed.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
    }

    /// The spacing this gate enforces, for logs and for scheduling a retry.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether the caller may refetch now; a `true` claims the slot, so of many threads asking
    /// at once exactly one is told to fetch.
    ///
    /// An `Instant` earlier than the last allowed one (a caller passing a stale clock reading)
    /// is treated as "too soon" rather than as a licence to fetch.
    pub fn should_refetch(&self, now: Instant) -> bool {
        // The guarded value is a plain `Option<Instant>`, always consistent, so a panic in
        // another holder cannot have corrupted it.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let allowed = match *last {
            None => true,
            Some(prev) => now
                .checked_duration_since(prev)
                .is_some_and(|d| d >= self.interval),
        };
        if allowed {
            *last = Some(now);
        }
        allowed
    }
}

impl Default for JwksRefreshGate {
    /// A gate with [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL).
    fn default() -> Self {
        Self::new(Self::DEFAULT_INTERVAL)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn allows_one_refetch_per_interval() {
        let gate = JwksRefreshGate::default();
        let t0 = Instant::now();
        assert!(gate.should_refetch(t0));
        assert!(!gate.should_refetch(t0));
        assert!(!gate.should_refetch(t0 + Duration::from_secs(29)));
        assert!(gate.should_refetch(t0 + Duration::from_secs(30)));
        assert!(!gate.should_refetch(t0 + Duration::from_secs(31)));
        assert!(gate.should_refetch(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn a_stale_instant_is_never_allowed() {
        let gate = JwksRefreshGate::new(Duration::from_secs(1));
        let t0 = Instant::now() + Duration::from_secs(10);
        assert!(gate.should_refetch(t0));
        assert!(!gate.should_refetch(t0 - Duration::from_secs(5)));
    }

    #[test]
    fn exactly_one_of_many_threads_wins() {
        let gate = Arc::new(JwksRefreshGate::default());
        let now = Instant::now();
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let gate = Arc::clone(&gate);
                std::thread::spawn(move || gate.should_refetch(now))
            })
            .collect();
        let wins = handles.into_iter().map(|h| h.join().unwrap());
        assert_eq!(wins.filter(|w| *w).count(), 1);
    }
}
