//! HTTP layer: the only place with axum types.

pub mod client_ip;
