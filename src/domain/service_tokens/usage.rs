//! `last_used_at` / `last_used_ip` without a database write per request (contract section 6).
//!
//! A use is written at once when the stored `last_used_at` is a minute old or more (or unset), so
//! the column is never more than a minute stale; otherwise it is buffered here, one entry per
//! token (the newest use wins), and written by [`Tokend::flush_usage`], which runs every minute
//! and at graceful shutdown. A token busy on one node therefore costs at most about two writes a
//! minute, and a graceful stop loses nothing. A crash may lose up to a minute of "last used"
//! information, which is the price of not writing on every request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::app::Tokend;
use crate::clock::UnixTime;
use crate::storage::ServiceTokenRecord;

/// How old the stored `last_used_at` may get before a use is written straight away.
pub const USAGE_WRITE_INTERVAL_SECS: i64 = 60;

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
    fn with_pending<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, PendingUse>) -> T) -> T {
        // A panic while holding the lock cannot leave the map half-written (every operation is a
        // single insert or remove), so a poisoned lock is still safe to use.
        let mut guard = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Buffers a use unless a newer one is already buffered.
    fn buffer(&self, id: Uuid, use_: PendingUse) {
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

    fn forget(&self, id: Uuid) {
        self.with_pending(|map| {
            map.remove(&id);
        });
    }

    fn take_all(&self) -> HashMap<Uuid, PendingUse> {
        self.with_pending(std::mem::take)
    }
}

impl Tokend {
    /// Records a successful use of a token whose row was just read.
    pub(super) async fn note_service_token_use(
        &self,
        row: &ServiceTokenRecord,
        ip: IpAddr,
        now: UnixTime,
    ) {
        let use_ = PendingUse {
            at: now,
            ip: ip.to_string(),
        };
        let stale = row
            .last_used_at
            .is_none_or(|stored| now - stored >= USAGE_WRITE_INTERVAL_SECS);
        if !stale {
            self.service_tokens.buffer(row.id, use_);
            return;
        }
        // This write supersedes anything buffered for the token.
        self.service_tokens.forget(row.id);
        if let Err(e) = self
            .store
            .record_service_token_use(row.id, use_.at, &use_.ip)
            .await
        {
            // Never fail a request over bookkeeping; the next flush retries.
            tracing::warn!(token = %row.id, error = %e, "could not record service-token use");
            self.service_tokens.buffer(row.id, use_);
        }
    }

    /// Writes every buffered use. A failed write is put back (unless a newer use arrived
    /// meanwhile) for the next run.
    pub(super) async fn flush_usage(&self) {
        let batch = self.service_tokens.take_all();
        if batch.is_empty() {
            return;
        }
        let mut written = 0usize;
        for (id, use_) in batch {
            match self
                .store
                .record_service_token_use(id, use_.at, &use_.ip)
                .await
            {
                Ok(()) => written += 1,
                Err(e) => {
                    tracing::warn!(token = %id, error = %e, "could not flush service-token use");
                    self.service_tokens.buffer(id, use_);
                }
            }
        }
        tracing::debug!(written, "service-token uses flushed");
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
