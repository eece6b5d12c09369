//! [`Tokend`]: the one application state (settings, store, keys, limiters, clock) that every rule
//! of the domain works on. Each domain module adds the methods for its part of the contract in an
//! `impl Tokend` block of its own.
//!
//! The domain owns this type, rather than `app`, so imports run one way: `app` assembles a
//! `Tokend` from storage and crypto and hands it to `http`; nothing in the domain reaches back up.
//! The fields it holds from inside the domain (`MfaState`, `ServiceTokenState`, `Vocabulary`) sit
//! in files that import nothing that imports this one.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::dpop_nonce::DpopNonces;
use crate::crypto::jwt::AccessTokens;
use crate::crypto::password::PasswordHasher;
use crate::crypto::refresh::RefreshTokenCodec;
use crate::domain::admin::throttle::AuditThrottle;
use crate::domain::mfa::MfaState;
use crate::domain::passkeys::PasskeyState;
use crate::domain::scopes::Vocabulary;
use crate::domain::service_tokens::ServiceTokenState;
use crate::limits::rate::TokenRateLimiter;
use crate::limits::{PerIpLimiter, SignInLimiter};
use crate::metrics::Metrics;
use crate::storage::DynStore;

/// Everything a request may need. Built once at start (by `app::build`) and shared through
/// an `Arc`; no globals.
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
    /// DPoP server nonces (RFC 9449 section 8).
    pub dpop_nonces: DpopNonces,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Scope vocabulary and roles.
    pub vocabulary: Vocabulary,
    /// Sign-in rate limits.
    pub sign_in_limiter: SignInLimiter,
    /// Password-reset attempts per address.
    pub reset_limiter: PerIpLimiter,
    /// Per-service-token request budgets.
    pub token_rates: TokenRateLimiter,
    /// At most one audit row per key per window for floods (rate-limited sign-ins).
    pub audit_throttle: AuditThrottle,
    /// Prometheus counters.
    pub metrics: Metrics,
    /// State of the second factor (keys, limiters).
    pub mfa: MfaState,
    /// State of service tokens (usage coalescing).
    pub service_tokens: ServiceTokenState,
    /// The WebAuthn relying party, when passkeys are on.
    pub passkeys: PasskeyState,
}
