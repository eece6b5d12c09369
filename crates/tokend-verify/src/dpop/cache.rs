//! [`JtiCache`]: the replay check of RFC 9449 section 4.3 (check 12) for one process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{DpopError, VerifiedProof};

/// A bounded in-memory set of recently seen proof `jti`s, for a resource API that runs as one
/// process. Entries are kept until their replay horizon; when full, the oldest entry is dropped
/// first (its proof is then only as fresh as `iat` allows, so keep `capacity` above the number of
/// proofs a window can see). Several instances of an API behind one balancer should share a
/// store instead (Redis, a database).
#[derive(Debug)]
pub struct JtiCache {
    capacity: usize,
    pub(super) inner: Mutex<JtiEntries>,
}

#[derive(Debug, Default)]
pub(super) struct JtiEntries {
    pub(super) seen: HashMap<String, i64>,
    pub(super) order: VecDeque<(String, i64)>,
}

impl JtiCache {
    /// A cache remembering at most `capacity` proofs.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(JtiEntries::default()),
        }
    }

    /// Records the proof; `Err(Replayed)` if its key and `jti` were seen before and are still
    /// within their horizon. `now` expires old entries first.
    ///
    /// # Errors
    /// [`DpopError::Replayed`].
    pub fn check_and_record(
        &self,
        proof: &VerifiedProof,
        horizon: i64,
        now: i64,
    ) -> Result<(), DpopError> {
        let key = format!("{}:{}", proof.jkt, proof.jti);
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((old, until)) = entries.order.front().cloned() {
            if until >= now && entries.order.len() < self.capacity {
                break;
            }
            entries.order.pop_front();
            if entries.seen.get(&old) == Some(&until) {
                entries.seen.remove(&old);
            }
        }
        if entries.seen.get(&key).is_some_and(|until| *until >= now) {
            return Err(DpopError::Replayed);
        }
        entries.seen.insert(key.clone(), horizon);
        entries.order.push_back((key, horizon));
        Ok(())
    }
}

impl Default for JtiCache {
    fn default() -> Self {
        Self::new(100_000)
    }
}
