//! Black-box tests over real HTTP, one binary to save link time. Every storage-touching test runs
//! on SQLite and on PostgreSQL (see `both_backends!`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod admin;
mod admin_api;
mod cluster;
mod deploy;
mod dpop;
mod errors;
mod flow;
mod introspection;
mod jwt;
mod mfa;
mod oauth2;
mod openapi;
mod operations;
mod passkeys;
mod rate_limits;
mod refresh;
mod resource_api;
mod restart;
mod service_tokens;
mod sessions;
mod walkthroughs;
