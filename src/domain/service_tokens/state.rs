//! [`ServiceTokenState`]: the in-memory buffer of coalesced `last_used_at` writes (see
//! [`super::usage`] for the rule). A field of [`crate::domain::Tokend`], so it imports nothing
//! that imports `Tokend`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::clock::UnixTime;
use crate::config::Settings;

/// A use not yet written to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUse {
    /// When.
    pub at: UnixTime,
    /// From which client address.
    pub ip: String,
}

/// Service-token state built once at start: the buffer of coalesced uses. Its size is bounded by
/// the number of live tokens, since each token has at most one entry.
#[derive(Debug, Default)]
pub struct ServiceTokenState {
    pending: Mutex<HashMap<Uuid, PendingUse>>,
}

impl ServiceTokenState {
    /// Builds the state from the settings.
    pub fn new(_settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self::default())
    }

    fn with_pending<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, PendingUse>) -> T) -> T {
        // A panic while holding the lock cannot leave the map half-written (every operation is a
        // single insert or remove), so a poisoned lock is still safe to use.
        let mut guard = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Buffers a use unless a newer one is already buffered.
    pub(super) fn buffer(&self, id: Uuid, use_: PendingUse) {
        self.with_pending(|map| match map.get(&id) {
            Some(existing) if existing.at > use_.at => {}
            _ => {
                map.insert(id, use_);
            }
        });
    }

    /// The buffered use of a token, if any (shown by the management API).
    pub fn pending(&self, id: Uuid) -> Option<PendingUse> {
        self.with_pending(|map| map.get(&id).cloned())
    }

    pub(super) fn forget(&self, id: Uuid) {
        self.with_pending(|map| {
            map.remove(&id);
        });
    }

    pub(super) fn take_all(&self) -> HashMap<Uuid, PendingUse> {
        self.with_pending(std::mem::take)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(t: UnixTime) -> PendingUse {
        PendingUse {
            at: t,
            ip: format!("192.0.2.{t}"),
        }
    }

    #[test]
    fn buffer_keeps_the_newest_use_per_token() {
        let state = ServiceTokenState::default();
        let id = Uuid::new_v4();
        state.buffer(id, at(10));
        state.buffer(id, at(5));
        assert_eq!(state.pending(id), Some(at(10)));
        state.buffer(id, at(12));
        assert_eq!(state.pending(id), Some(at(12)));
        let other = Uuid::new_v4();
        state.buffer(other, at(1));
        let all = state.take_all();
        assert_eq!(all.len(), 2);
        assert_eq!(state.pending(id), None);
        state.buffer(id, at(3));
        state.forget(id);
        assert!(state.take_all().is_empty());
    }
}
