//! Persistence of service tokens, their audit trail and resource-server credentials (issue #4).

use async_trait::async_trait;

/// Service-token state.
#[async_trait]
pub trait ServiceTokenStore: Send + Sync {}

/// Implements [`ServiceTokenStore`] for a store with a `pool` field (see `sql.rs` for why a macro).
macro_rules! impl_service_token_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ServiceTokenStore for $store {}
    };
}

pub(crate) use impl_service_token_store;
