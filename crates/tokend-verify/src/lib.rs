//! Verify tokend's access tokens offline, with the public keys tokend publishes.
//!
//! Resource APIs (other teams' services) use this crate to check the JWT access tokens tokend
//! issues (RFC 9068) against the JWKS at `GET /.well-known/jwks.json`, without calling tokend
//! per request. tokend itself uses the same [`AccessClaims`], [`Introspection`] and [`Verifier`],
//! so there is exactly one definition of an access token.
//!
//! Offline validation cannot see revocations: a revoked session's access token keeps working
//! here until it expires (15 minutes by default). Endpoints that must stop at once should ask
//! tokend's `POST /v1/introspect` instead. Opaque service tokens (`tkd_live_…`) are not JWTs
//! and can only be checked by introspection.
//!
//! # Layout
//! - `claims`: [`AccessClaims`], [`Introspection`] and [`ACCESS_TOKEN_TYP`], the wire shapes.
//! - `verifier`: [`Verifier`], which holds keys by `kid` and applies every check; its docs list
//!   the rules and the attack each one stops.
//! - `error`: [`VerifyError`], one variant per reason a caller can act on.
//! - `refresh`: [`JwksRefreshGate`], rate limiting for refetches on unknown `kid`s.
//! - `principal` (feature `axum`): the `Principal` extractor and its 401/403 rejections.
//!
//! # Fetching keys
//! The crate does no network I/O, so it needs no HTTP client and fits whichever one a service
//! already uses. A service fetches the JWKS at start-up, refetches it periodically and, through
//! a [`JwksRefreshGate`], when a token names a `kid` it does not know (tokend publishes a key
//! before signing with it, so one refetch finds it):
//!
//! ```ignore
//! use std::sync::{Arc, RwLock};
//! use std::time::Instant;
//! use tokend_verify::{JwksRefreshGate, Verifier};
//!
//! async fn refresh(http: &reqwest::Client, current: &RwLock<Arc<Verifier>>) -> anyhow::Result<()> {
//!     let jwks: jsonwebtoken::jwk::JwkSet = http
//!         .get("https://auth.example.com/.well-known/jwks.json")
//!         .send().await?.error_for_status()?.json().await?;
//!     let mut next = Verifier::clone(&current.read().unwrap());
//!     next.set_jwks(&jwks)?; // on error the old keys stay in service
//!     *current.write().unwrap() = Arc::new(next);
//!     Ok(())
//! }
//!
//! // In the request path, before answering 401 for an unknown kid:
//! let gate = JwksRefreshGate::default();
//! if !verifier.knows_kid(kid) && gate.should_refetch(Instant::now()) {
//!     refresh(&http, &current).await?;
//! }
//! ```
//!
//! # Usage
//! ```no_run
//! use tokend_verify::{Verifier, VerifyError};
//!
//! fn check(jwks_json: &str, token: &str) -> Result<(), VerifyError> {
//!     let verifier = Verifier::from_jwks_json("https://auth.example.com", "photos-api", jwks_json)?;
//!     let claims = verifier.verify(token)?;
//!     if claims.has_scope("photos:read") {
//!         println!("user {} in account {}", claims.sub, claims.account_uuid);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! With the `axum` feature, handlers take a `Principal` and the router state provides an
//! `Arc<Verifier>` (see `Principal` for a state that swaps keys at run time):
//!
//! ```ignore
//! async fn delete_photo(p: tokend_verify::Principal) -> Result<&'static str, tokend_verify::ScopeRejection> {
//!     p.require_scope("photos:delete")?;
//!     Ok("deleted")
//! }
//! let app = axum::Router::new()
//!     .route("/photos/{id}", axum::routing::delete(delete_photo))
//!     .with_state(std::sync::Arc::new(verifier));
//! ```

mod claims;
mod error;
#[cfg(feature = "axum")]
mod principal;
mod refresh;
#[cfg(test)]
mod test_support;
mod verifier;

pub use claims::{
    AccessClaims, Introspection, ACCESS_TOKEN_TYP, TOKEN_KIND_SERVICE, TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_SERVICE,
};
pub use error::VerifyError;
#[cfg(feature = "axum")]
pub use principal::{AuthRejection, Principal, ScopeRejection};
pub use refresh::JwksRefreshGate;
pub use verifier::{Verifier, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};

/// Re-exported so callers name the same `JwkSet` type [`Verifier::set_jwks`] takes, without
/// depending on a matching jsonwebtoken version themselves.
pub use jsonwebtoken::jwk::JwkSet;
