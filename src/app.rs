//! [`Tokend`]: the one application state (settings, store, keys, limiters, clock), built once at
//! start and shared by every request through an `Arc`. No globals.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::jwt::AccessTokens;
use crate::crypto::keys::{KeyRing, Secret32};
use crate::crypto::password::PasswordHasher;
use crate::crypto::refresh::RefreshTokenCodec;
use crate::domain::mfa::MfaState;
use crate::domain::scopes::Vocabulary;
use crate::domain::service_tokens::ServiceTokenState;
use crate::limits::SignInLimiter;
use crate::metrics::Metrics;
use crate::storage::{self, DynStore};

/// File in the keys directory holding the refresh-token MAC key.
pub const REFRESH_KEY_FILE: &str = "refresh.key";
/// How long a revoked or expired session is kept before it is deleted (7 days).
pub const DEAD_SESSION_RETENTION: i64 = 7 * 86_400;
/// File in the keys directory holding the key that encrypts TOTP secrets.
pub const MFA_KEY_FILE: &str = "mfa.key";

/// Everything a request may need.
#[derive(Debug)]
pub struct Tokend {
    /// Resolved settings.
    pub settings: Settings,
    /// Persistence.
    pub store: DynStore,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// JWT signing and verification.
    pub access_tokens: AccessTokens,
    /// Refresh-token derivation.
    pub refresh_tokens: RefreshTokenCodec,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Scope vocabulary and roles.
    pub vocabulary: Vocabulary,
    /// Sign-in rate limits.
    pub sign_in_limiter: SignInLimiter,
    /// Prometheus counters.
    pub metrics: Metrics,
    /// State of the second factor (keys, limiters).
    pub mfa: MfaState,
    /// State of service tokens (usage coalescing).
    pub service_tokens: ServiceTokenState,
}

/// The shared state handed to handlers.
pub type AppState = Arc<Tokend>;

impl Tokend {
    /// Connects and migrates the database, loads (or creates) keys and the vocabulary.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
        let vocabulary = Vocabulary::load(settings.scopes_file.as_deref())?;
        let store = storage::connect(settings.database_url.expose(), settings.db_max_connections)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("applying migrations")?;
        let ring = KeyRing::load_or_init(&settings.keys_dir, clock.now())?;
        let access_tokens = AccessTokens::new(
            ring,
            &settings.issuer,
            &settings.audience,
            i64::try_from(settings.access_token_ttl.as_secs()).unwrap_or(900),
        )?;
        let refresh_tokens = RefreshTokenCodec::new(&Secret32::load_or_init(
            &settings.keys_dir,
            REFRESH_KEY_FILE,
        )?);
        let hasher = PasswordHasher::new(&settings.argon2, settings.max_concurrent_hashes)?;
        let sign_in_limiter = SignInLimiter::new(
            settings.sign_in_per_ip_per_minute,
            settings.sign_in_per_login_per_minute,
        );
        let settings_for_state = settings.clone();
        Ok(Arc::new(Self {
            settings,
            store,
            clock,
            access_tokens,
            refresh_tokens,
            hasher,
            vocabulary,
            sign_in_limiter,
            metrics: Metrics::default(),
            mfa: MfaState::new(&settings_for_state)?,
            service_tokens: ServiceTokenState::new(&settings_for_state)?,
        }))
    }

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
        let window = crate::domain::mfa::FAILURE_WINDOW_SECS;
        if let Err(e) = self.store.purge_mfa_tokens(now, window).await {
            tracing::warn!(error = %e, "could not purge spent mfa_tokens");
        }
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
        self.flush_service_token_usage().await;
    }
}
