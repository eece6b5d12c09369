//! The standard OAuth 2.0 surface (issue #8): a real OAuth client library against the discovered
//! metadata, the token endpoint's RFC 6749 errors, token exchange, resource indicators,
//! revocation, registered clients and the metadata itself. Every case on SQLite and PostgreSQL.

mod audiences;
mod cli;
mod exchange;
mod metadata;
mod revocation;
mod standard_client;
mod token_endpoint;

pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const SERVICE_TOKEN_TYPE: &str = "urn:tokend:params:oauth:token-type:service_token";
