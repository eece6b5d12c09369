//! tokend: a token issuer.
//!
//! # Layout
//! Imports run one way, top to bottom; no module imports one above it (`ARCHITECTURE.md` draws it).
//!
//! - [`http`]: the only place with axum and hyper types. Thin handlers extract, call the domain
//!   and map the result to the wire contract (the `/v1` envelope, or RFC 6749 errors in
//!   [`http::oauth2`]); [`http::server`] drives connections with timeouts and a bounded drain;
//!   [`http::ops`] holds health, metrics, the access log, request ids and CORS;
//!   [`http::client_ip`] resolves the caller's address.
//! - [`cli`]: the `tokend` commands; calls the domain like a handler does.
//! - [`app`]: assembly. Builds the one [`domain::Tokend`] from settings, storage and keys, and
//!   names the `Arc` handle ([`app::AppState`]) that `http` shares.
//! - [`domain`]: the rules (sign-in, rotation, MFA, scopes, service tokens, the standard OAuth
//!   surface in [`domain::oauth2`], the admin API, reset tickets and audit trail in
//!   [`domain::admin`]), free of axum and sqlx.
//!   It owns the state type, [`domain::Tokend`], and each module adds methods for its part of the
//!   contract. The domain owns it (rather than each part receiving only its handles) because the
//!   rules cross-cut: a refresh needs the store, clock, keys, vocabulary and metrics at once, and one
//!   type keeps every handler's signature the same. The state's own fields defined in the domain
//!   (`MfaState`, `ServiceTokenState`, `Vocabulary`) live in files that import nothing that
//!   imports `Tokend`, so there is no circle inside the domain either.
//! - [`storage`]: the only place with sqlx; one [`storage::Store`] trait, a SQLite and a PostgreSQL
//!   implementation. What it accepts and returns (records) is defined in storage; the domain maps
//!   records to its own types where they differ (e.g. `Device` to `DeviceRecord`).
//! - [`crypto`]: every piece of secret material (keys and their files, JWTs, opaque tokens,
//!   password hashing, AEAD, TOTP math).
//! - Shared ground floor, importing nothing above: [`config`] (typed settings), [`error`] (the one
//!   error enum; storage maps its own errors onto it), [`clock`] (time as a parameter),
//!   [`limits`] (GCRA rate limits: in process, shared through Redis, and per-token rates),
//!   [`metrics`] (counters, histograms, gauges), [`trusted_proxies`] (the
//!   `TOKEND_TRUSTED_PROXIES` setting type) and [`redact`] (secret-safe `Debug`).

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod redact;
pub mod storage;
pub mod trusted_proxies;
