//! The rules of tokend, free of HTTP and SQL: [`Tokend`] is the state they work on, and each
//! module adds the methods for one part of the contract.

pub mod accounts;
pub mod admin;
pub mod allowlist;
pub mod dpop;
pub mod introspection;
pub mod login;
pub mod mfa;
pub mod oauth2;
pub mod passkeys;
pub mod password_policy;
pub mod principal;
pub mod refresh;
pub mod scopes;
pub mod service_tokens;
pub mod sessions;
pub mod sign_in;
mod tokend;
pub mod upkeep;

pub use tokend::Tokend;
