//! Assembly: builds the one [`Tokend`] state from the settings (database connected and migrated,
//! keys loaded or created, vocabulary read) and names the handle the HTTP layer shares. This is
//! the only module that knows every part at once; it depends on the domain, never the other way.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::dpop_nonce::DpopNonces;
use crate::crypto::jwt::AccessTokens;
use crate::crypto::keys::{KeyRing, Secret32, REFRESH_KEY_FILE};
use crate::crypto::password::PasswordHasher;
use crate::crypto::refresh::RefreshTokenCodec;
use crate::domain::admin::throttle::AuditThrottle;
use crate::domain::mfa::MfaState;
use crate::domain::passkeys::PasskeyState;
use crate::domain::scopes::Vocabulary;
use crate::domain::service_tokens::ServiceTokenState;
pub use crate::domain::Tokend;
use crate::limits::rate::TokenRateLimiter;
use crate::limits::redis::RedisLimiter;
use crate::limits::{PerIpLimiter, SignInLimiter};
use crate::metrics::Metrics;
use crate::storage;

/// The shared state handed to handlers.
pub type AppState = Arc<Tokend>;

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
    let refresh_secret = Secret32::load_or_init(&settings.keys_dir, REFRESH_KEY_FILE)?;
    let refresh_tokens = RefreshTokenCodec::new(&refresh_secret);
    let dpop_nonces = DpopNonces::new(&refresh_secret)?;
    let hasher = PasswordHasher::new(&settings.argon2, settings.max_concurrent_hashes)?;
    let shared = match &settings.redis_url {
        Some(url) => Some(Arc::new(
            RedisLimiter::new(url.expose()).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let mut sign_in_limiter = SignInLimiter::new(
        settings.sign_in_per_ip_per_minute,
        settings.sign_in_per_login_per_minute,
    );
    if let Some(shared) = &shared {
        sign_in_limiter = sign_in_limiter.with_shared(shared.clone());
    }
    let token_rates = TokenRateLimiter::new(shared.clone());
    let reset_limiter = PerIpLimiter::new(
        "password_reset",
        settings.password_reset_per_ip_per_minute,
        shared,
    );
    let mfa = MfaState::new(&settings)?;
    let service_tokens = ServiceTokenState::new(&settings)?;
    let passkeys = PasskeyState::new(&settings)?;
    Ok(Arc::new(Tokend {
        settings,
        store,
        clock,
        access_tokens,
        refresh_tokens,
        dpop_nonces,
        hasher,
        vocabulary,
        sign_in_limiter,
        reset_limiter,
        token_rates,
        audit_throttle: AuditThrottle::default(),
        metrics: Metrics::default(),
        mfa,
        service_tokens,
        passkeys,
    }))
}
