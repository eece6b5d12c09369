//! tokend: a token issuer.
//!
//! # Layout
//! - [`http`]: the only place with axum types; thin handlers mapping the domain to the wire contract.
//! - [`domain`]: the rules (sign-in, rotation, MFA, scopes, service tokens), free of axum and sqlx.
//! - [`storage`]: the only place with sqlx; one trait, a SQLite and a PostgreSQL implementation.
//! - [`crypto`]: every piece of secret material (keys, JWTs, opaque tokens, password hashing, AEAD).
//! - [`config`]: typed settings from the environment and an optional `tokend.toml`.

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
