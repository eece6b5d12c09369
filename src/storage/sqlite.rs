//! The embedded default: SQLite in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a commit that returned survives a power loss, not only a
//! crash (`NORMAL` in WAL mode may lose the last commits on power loss; a token issuer that forgets
//! a rotation would hand out a token the next start calls reused). `busy_timeout` makes writers
//! queue instead of failing, and write transactions open with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::admin::impl_admin_store;
use super::clients::impl_client_store;
use super::dpop::impl_dpop_store;
use super::mfa::impl_mfa_store;
use super::service_tokens::impl_service_token_store;
use super::sql::{impl_store, HasDb, SESSION_COLUMNS};
use super::{
    AccountRecord, MembershipRecord, SessionLiveness, SessionRecord, StorageError, StorageResult,
    UserRecord,
};
use crate::clock::UnixTime;

/// SQLite-backed [`super::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    rotations: super::sqlite_writer::RotationWriter,
}

impl HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}

impl SqliteStore {
    /// Opens (creating if missing) the database file named by a `sqlite://` URL.
    pub async fn connect(url: &str, max_connections: u32) -> StorageResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::Other(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let rotations = super::sqlite_writer::RotationWriter::spawn(pool.clone());
        Ok(Self { pool, rotations })
    }

    /// Through the one writer, which commits the rotations queued meanwhile together.
    async fn run_rotation(
        &self,
        rotation: &super::Rotation,
    ) -> StorageResult<Option<super::Rotated>> {
        self.rotations.rotate(rotation.clone()).await
    }
}

impl_store!(SqliteStore, "./migrations/sqlite", "BEGIN IMMEDIATE");
impl_mfa_store!(SqliteStore);
impl_service_token_store!(SqliteStore);
impl_client_store!(SqliteStore);
impl_admin_store!(SqliteStore);
impl_dpop_store!(SqliteStore);
