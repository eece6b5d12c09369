//! The rules of tokend, free of HTTP and SQL.

pub mod allowlist;
pub mod login;
pub mod password_policy;
