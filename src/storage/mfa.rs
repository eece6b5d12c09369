//! Persistence of the second factor: TOTP enrolment, recovery codes, mfa_tokens (issue #3).

use async_trait::async_trait;

/// MFA state. Every "use once" operation is one conditional statement.
#[async_trait]
pub trait MfaStore: Send + Sync {}

/// Implements [`MfaStore`] for a store with a `pool` field (see `sql.rs` for why a macro).
macro_rules! impl_mfa_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::MfaStore for $store {}
    };
}

pub(crate) use impl_mfa_store;
