//! `last_used_at` / `last_used_ip` without a database write per request (contract section 6).
//!
//! A use is written at once when the stored `last_used_at` is a minute old or more (or unset), so
//! the column is never more than a minute stale; otherwise it is buffered here, one entry per
//! token (the newest use wins), and written by [`Tokend::flush_usage`], which runs every minute
//! and at graceful shutdown. A token busy on one node therefore costs at most about two writes a
//! minute, and a graceful stop loses nothing. A crash may lose up to a minute of "last used"
//! information, which is the price of not writing on every request.

use std::net::IpAddr;

use super::state::PendingUse;
use crate::clock::UnixTime;
use crate::domain::Tokend;
use crate::storage::ServiceTokenRecord;

/// How old the stored `last_used_at` may get before a use is written straight away.
pub const USAGE_WRITE_INTERVAL_SECS: i64 = 60;

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
