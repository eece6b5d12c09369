//! Housekeeping the server runs on a timer and at shutdown: key reloads, limiter trimming,
//! coalesced writes and the purge of records that can never be used again.

use crate::domain::mfa::FAILURE_WINDOW_SECS;
use crate::domain::Tokend;

/// How long a revoked or expired session is kept before it is deleted (7 days).
pub const DEAD_SESSION_RETENTION: i64 = 7 * 86_400;

impl Tokend {
    /// Called once the server stopped accepting requests: closes the database cleanly.
    pub async fn shutdown(&self) {
        self.flush_service_token_usage().await;
        self.store.close().await;
    }

    /// Deletes what can never be used again: sessions dead for [`DEAD_SESSION_RETENTION`] (kept
    /// that long so an operator can still see why one ended) and spent or expired mfa_tokens.
    /// Runs hourly while serving; the tables would otherwise grow with every sign-in forever.
    pub async fn purge_dead_records(&self) {
        let now = self.clock.now();
        let mut liveness = self.session_liveness(now);
        liveness.idle_cutoff -= DEAD_SESSION_RETENTION;
        liveness.absolute_cutoff -= DEAD_SESSION_RETENTION;
        match self
            .store
            .purge_sessions(liveness, now - DEAD_SESSION_RETENTION)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged dead sessions"),
            Err(e) => tracing::warn!(error = %e, "could not purge dead sessions"),
        }
        let window = FAILURE_WINDOW_SECS;
        if let Err(e) = self.store.purge_mfa_tokens(now, window).await {
            tracing::warn!(error = %e, "could not purge spent mfa_tokens");
        }
        self.prune_audit().await;
    }

    /// Runs every minute while serving (bounded memory, coalesced writes).
    pub async fn upkeep(&self) {
        match self.access_tokens.reload(&self.settings.keys_dir) {
            Ok(true) => tracing::info!("signing keys changed on disk; reloaded"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "keys directory unreadable; keeping the loaded keys")
            }
        }
        self.sign_in_limiter.retain_recent();
        self.reset_limiter.retain_recent();
        self.token_rates.retain_recent();
        self.flush_service_token_usage().await;
        // DPoP proof ids outlive their window by at most a minute: the table stays at about a
        // minute's worth of proofs.
        if let Err(e) = self.store.purge_dpop_proofs(self.clock.now()).await {
            tracing::warn!(error = %e, "could not purge spent DPoP proof ids");
        }
        if let Err(e) = self.store.purge_challenges(self.clock.now()).await {
            tracing::warn!(error = %e, "could not purge expired passkey challenges");
        }
    }
}
