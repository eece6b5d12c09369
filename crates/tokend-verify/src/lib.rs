//! Verify tokend's access tokens offline, with the public keys tokend publishes, and its service
//! tokens by introspection.
//!
//! Resource APIs (other teams' services) use this crate to check the JWT access tokens tokend
//! issues (RFC 9068) against the JWKS at `GET /.well-known/jwks.json`, without calling tokend
//! per request. tokend itself uses the same [`AccessClaims`], [`Introspection`] and [`Verifier`],
//! so there is exactly one definition of an access token.
//!
//! Offline validation cannot see revocations: a revoked session's access token keeps working
//! here until it expires (15 minutes by default). Endpoints that must stop at once should ask
//! tokend's `POST /v1/introspect` instead. Opaque service tokens (`tkd_live_…`) are not JWTs
//! and can only be checked by introspection (`Introspector`, feature `remote`), unless the
//! service exchanged them for a JWT first (RFC 8693; `token_kind` `service`), which verifies
//! offline like any access token and carries the token's allowlist and size cap as claims.
//!
//! # Features
//! - none: the offline core ([`Verifier`]), with no HTTP client and no runtime.
//! - `remote`: `RemoteVerifier` (discovery, JWKS fetch and refresh) and `Introspector`
//!   (`POST /v1/introspect` with a cache), on reqwest (rustls) and tokio.
//! - `axum`: `TokendAuth` and its layer, the `Principal` extractor, `RequireScope`, and the
//!   rejections in tokend's error envelope. With `remote` too, the layer fetches keys and
//!   introspects service tokens itself. The layer enforces service tokens' `rate_limit` with an
//!   in-process GCRA limiter (`TokenRateLimits`, on governor).
//! - `redis` (implies `axum`): `TokenRateLimits::redis`, budgets shared by every instance of
//!   the API through Redis, counted by [`GCRA_SCRIPT`] (the script tokend counts its own limits
//!   with), falling back to the in-process limiter while Redis cannot answer.
//!
//! # Layout
//! - `claims`: [`AccessClaims`], [`Introspection`] and [`ACCESS_TOKEN_TYP`], the wire shapes.
//! - `rate`: [`RateLimit`] (a service token's request budget, `{"requests": N, "per": PERIOD}`),
//!   [`RateStatus`] and [`GCRA_SCRIPT`]; one definition for tokend and resource APIs.
//! - `verifier`: [`Verifier`], which holds keys by `kid` and applies every check; its docs list
//!   the rules and the attack each one stops.
//! - `error`: [`VerifyError`], one variant per reason a caller can act on.
//! - `refresh`: [`JwksRefreshGate`], rate limiting for refetches on unknown `kid`s.
//! - `service_token` (feature `remote`): the local shape and checksum check of `tkd_live_…`
//!   tokens, so junk never reaches tokend.
//! - `remote` (feature `remote`): `RemoteVerifier`, `Introspector`, `AuthServerMetadata` and
//!   `RemoteError`; all network I/O lives here.
//! - `principal`, `rejection`, `client_ip`, `layer` (feature `axum`): the `Principal` extractor,
//!   `AuthRejection` and `ScopeRejection`, `TrustedProxies` (tokend's client-address rule), and
//!   `TokendAuth` with its layer, its counting body (the size cap) and `RequireScope`.
//! - `limiter` (feature `axum`): `TokenRateLimits`, the per-token GCRA limiter the layer uses
//!   (in process; through Redis with feature `redis`).
//!
//! # Fetching keys
//! With the `remote` feature, `RemoteVerifier` is built from the issuer URL and this API's
//! audience and does the rest: it discovers `jwks_uri` through the RFC 8414 metadata
//! (`/.well-known/oauth-authorization-server`, whose `issuer` must match), fetches the keys,
//! refreshes them in the background as `Cache-Control: max-age` says (tokend sends 240 s; the
//! delay is held between a floor and a ceiling), and refetches at once when a token names an
//! unknown `kid`, at most once per [`JwksRefreshGate`] interval. A failed fetch never removes a
//! key, so JWTs keep verifying while tokend is down.
//!
//! ```no_run
//! # #[cfg(feature = "remote")]
//! # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tokend_verify::RemoteVerifier;
//!
//! let verifier = RemoteVerifier::builder("https://auth.example.com", "photos-api")
//!     .refresh_bounds(Duration::from_secs(30), Duration::from_secs(3600))
//!     .leeway(5)
//!     .connect()
//!     .await?;
//! let claims = verifier.verify(token).await?;
//! println!("user {} in account {}", claims.sub, claims.account_uuid);
//! # Ok(()) }
//! ```
//!
//! Without it, the crate does no I/O: fetch the JWKS with any client, load it with
//! [`Verifier::from_jwks_json`] or [`Verifier::set_jwks`] (which keeps the old keys on error),
//! and ask a [`JwksRefreshGate`] before refetching for an unknown `kid`:
//!
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
//! # In an axum service
//! With `axum` and `remote`, one `TokendAuth` layer authenticates users and service callers,
//! enforces service tokens' allowlists, rate limits and size caps, and hands handlers a
//! `Principal`; `RequireScope` states each route's scope (`examples/photos_api.rs` is a complete
//! API):
//!
//! ```no_run
//! # #[cfg(all(feature = "axum", feature = "remote"))]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::handler::Handler;
//! use axum::routing::delete;
//! use tokend_verify::{Principal, RemoteVerifier, RequireScope, TokendAuth};
//!
//! async fn delete_photo(p: Principal) -> String {
//!     format!("deleted a photo of account {}", p.account_uuid())
//! }
//!
//! let keys = RemoteVerifier::connect("https://auth.example.com", "photos-api").await?;
//! let service_tokens = keys.introspector("resource-server-id", "resource-server-secret")?;
//! let auth = TokendAuth::remote(keys).with_introspector(service_tokens);
//! let app: axum::Router = axum::Router::new()
//!     .route("/photos/{id}", delete(delete_photo.layer(RequireScope("photos:delete"))))
//!     .layer(auth.layer());
//! # Ok(()) }
//! ```

mod claims;
#[cfg(feature = "axum")]
mod client_ip;
pub mod dpop;
mod error;
#[cfg(feature = "axum")]
mod layer;
#[cfg(feature = "axum")]
mod limiter;
#[cfg(feature = "axum")]
mod principal;
mod rate;
mod refresh;
#[cfg(feature = "axum")]
mod rejection;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "remote")]
mod service_token;
#[cfg(test)]
mod test_support;
mod verifier;

pub use claims::{
    AccessClaims, Introspection, ACCESS_TOKEN_TYP, TOKEN_KIND_SERVICE, TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_SERVICE,
};
#[cfg(feature = "axum")]
pub use client_ip::TrustedProxies;
pub use error::VerifyError;
#[cfg(feature = "axum")]
pub use layer::{AuthLayer, AuthService, RequireScope, RequireScopeService, TokendAuth};
#[cfg(feature = "redis")]
pub use limiter::InvalidRedisUrl;
#[cfg(feature = "axum")]
pub use limiter::TokenRateLimits;
#[cfg(feature = "axum")]
pub use principal::Principal;
pub use rate::{RateLimit, RatePeriod, RateStatus, GCRA_SCRIPT, MAX_RATE_REQUESTS};
pub use refresh::JwksRefreshGate;
#[cfg(feature = "axum")]
pub use rejection::{AuthRejection, ScopeRejection};
#[cfg(feature = "remote")]
pub use remote::{
    AuthServerMetadata, IntrospectError, Introspector, RemoteError, RemoteVerifier,
    RemoteVerifierBuilder, DEFAULT_HTTP_TIMEOUT, DEFAULT_INTROSPECTION_TTL,
    DEFAULT_REFRESH_CEILING, DEFAULT_REFRESH_FLOOR,
};
#[cfg(feature = "remote")]
pub use service_token::{
    is_well_formed_service_token, looks_like_service_token, DEFAULT_SERVICE_TOKEN_PREFIX,
};
pub use verifier::{Verifier, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};

/// Re-exported so callers name the same `JwkSet` type [`Verifier::set_jwks`] takes, without
/// depending on a matching jsonwebtoken version themselves.
pub use jsonwebtoken::jwk::JwkSet;
