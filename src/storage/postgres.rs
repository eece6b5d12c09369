//! PostgreSQL, for several stateless tokend nodes sharing one database. Conditional `UPDATE`s
//! take row locks, so the compare-and-swap operations are atomic under READ COMMITTED.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use uuid::Uuid;

use super::admin::impl_admin_store;
use super::clients::impl_client_store;
use super::dpop::impl_dpop_store;
use super::mfa::impl_mfa_store;
use super::passkeys::impl_passkey_store;
use super::service_tokens::impl_service_token_store;
use super::sql::{impl_store, HasDb, SESSION_COLUMNS};
use super::{
    AccountRecord, MembershipRecord, SessionLiveness, SessionRecord, StorageError, StorageResult,
    UserRecord,
};
use crate::clock::UnixTime;

/// PostgreSQL-backed [`super::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl HasDb for PgStore {
    type Db = sqlx::Postgres;
}

impl PgStore {
    /// Connects to a `postgres://` URL.
    pub async fn connect(url: &str, max_connections: u32) -> StorageResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Row locks order PostgreSQL's writers: no turn to wait for.
    async fn write_turn(&self) -> super::sql::WriteTurn {
        None
    }

    /// One statement, one round trip: PostgreSQL's row lock makes the conditional `UPDATE`
    /// atomic, and concurrent rotations of different sessions never wait on each other.
    async fn run_rotation(
        &self,
        rotation: &super::Rotation,
    ) -> StorageResult<Option<super::Rotated>> {
        Self::rotate_on(&self.pool, rotation).await
    }
}

impl_store!(PgStore, "./migrations/postgres", "BEGIN");
impl_mfa_store!(PgStore);
impl_service_token_store!(PgStore);
impl_client_store!(PgStore);
impl_admin_store!(PgStore);
impl_dpop_store!(PgStore);
impl_passkey_store!(PgStore);
