//! [`AuditThrottle`]: at most one audit row per key per window for events that come in floods
//! (rate-limited sign-ins). A field of [`crate::domain::Tokend`], so it imports nothing that
//! imports `Tokend`. Bounded: at most [`MAX_KEYS`] keys; past that the oldest half is dropped,
//! which only means a flood may write one more row per key.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::clock::UnixTime;

/// Keys remembered at most.
pub const MAX_KEYS: usize = 10_000;

/// When each key last wrote a row.
#[derive(Debug, Default)]
pub struct AuditThrottle {
    last: Mutex<HashMap<String, UnixTime>>,
}

impl AuditThrottle {
    /// Whether `key` may write a row at `now` (and, if so, notes it).
    pub fn admit(&self, key: &str, now: UnixTime, window: i64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.get(key).is_some_and(|&at| now - at < window) {
            return false;
        }
        if last.len() >= MAX_KEYS {
            let mut times: Vec<UnixTime> = last.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            last.retain(|_, at| *at > cut);
        }
        last.insert(key.to_string(), now);
        true
    }

    /// Forgets keys last seen before `cutoff`.
    pub fn forget_before(&self, cutoff: UnixTime) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.retain(|_, at| *at >= cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_key_per_window() {
        let t = AuditThrottle::default();
        assert!(t.admit("ip:1", 100, 60));
        assert!(!t.admit("ip:1", 159, 60));
        assert!(t.admit("ip:2", 110, 60));
        assert!(t.admit("ip:1", 160, 60));
        t.forget_before(150);
        assert!(t.admit("ip:2", 111, 60), "forgotten keys start afresh");
    }
}
