//! Persistence of DPoP proof ids (RFC 9449 section 11.1): the `dpop_proofs` table every node of
//! one database shares, so a proof replayed against another node is refused too. One
//! implementation for both backends, stamped out by [`impl_dpop_store!`].

use async_trait::async_trait;

use super::StorageResult;
use crate::clock::UnixTime;

/// Proof ids seen within their replay window.
#[async_trait]
pub trait DpopStore: Send + Sync {
    /// Records a proof id (a hash of the key thumbprint and `jti`) until `expires_at`. `false`
    /// when it is already there and unexpired: a replay. An expired row of the same id is
    /// replaced, so the table never refuses a proof on a row `upkeep` has not pruned yet.
    async fn record_dpop_proof(
        &self,
        proof_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StorageResult<bool>;
    /// Deletes rows whose window has passed; returns how many.
    async fn purge_dpop_proofs(&self, now: UnixTime) -> StorageResult<u64>;
}

/// Implements [`DpopStore`] for a store with a `pool` field.
macro_rules! impl_dpop_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::DpopStore for $store {
            async fn record_dpop_proof(
                &self,
                proof_id: &str,
                expires_at: $crate::clock::UnixTime,
                now: $crate::clock::UnixTime,
            ) -> $crate::storage::StorageResult<bool> {
                // One statement: a new id inserts, an expired one is overwritten, a live one
                // changes nothing (the WHERE of the upsert fails), so two nodes racing on the
                // same proof see exactly one `true`.
                let done = sqlx::query(
                    "INSERT INTO dpop_proofs (proof_id, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (proof_id) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE dpop_proofs.expires_at < $3",
                )
                .bind(proof_id)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_dpop_proofs(
                &self,
                now: $crate::clock::UnixTime,
            ) -> $crate::storage::StorageResult<u64> {
                Ok(sqlx::query("DELETE FROM dpop_proofs WHERE expires_at < $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

pub(crate) use impl_dpop_store;
