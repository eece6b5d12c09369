//! The embedded default: SQLite in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a commit that returned survives a power loss, not only a
//! crash (`NORMAL` in WAL mode may lose the last commits on power loss; a token issuer that forgets
//! a rotation would hand out a token the next start calls reused). `busy_timeout` makes writers
//! queue instead of failing, and write transactions open with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::admin::impl_admin_store;
use super::clients::impl_client_store;
use super::dpop::impl_dpop_store;
use super::mfa::impl_mfa_store;
use super::passkeys::impl_passkey_store;
use super::service_tokens::impl_service_token_store;
use super::sql::{impl_store, HasDb, SESSION_COLUMNS};
use super::{
    AccountRecord, MembershipRecord, Rotated, Rotation, SessionLiveness, SessionRecord,
    StorageError, StorageResult, UserRecord,
};
use crate::clock::UnixTime;

/// SQLite-backed [`super::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    rotations: RotationWriter,
    /// Turns at SQLite's write lock, shared by write transactions and the rotation writer.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
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
        let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let rotations = RotationWriter::spawn(pool.clone(), gate.clone());
        Ok(Self {
            pool,
            rotations,
            gate,
        })
    }

    /// Waits for this store's turn at the write lock (first come, first served).
    async fn write_turn(&self) -> super::sql::WriteTurn {
        Some(self.gate.clone().lock_owned().await)
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
impl_passkey_store!(SqliteStore);

// ---- group commit -------------------------------------------------------------------------------
// Group commit for SQLite's hottest write. SQLite has one write lock per database: pooled
// connections that each commit their own rotation take turns at it through `busy_timeout`'s
// sleep-and-retry, and every commit pays its own fsync (`synchronous = FULL`). Here one task
// owns rotation: it takes every rotation queued while the previous batch was committing, runs
// them in one `BEGIN IMMEDIATE` transaction and commits once, so a busy server pays one fsync
// for many rotations and no rotation sleeps on the lock. A rotation is answered only after the
// commit that holds it returned, so every acknowledged rotation is as durable as before.

/// Most rotations in one transaction: bounds how long the write lock is held at once.
const MAX_BATCH: usize = 256;

/// Rotations waiting for the writer; beyond this, callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<StorageResult<Option<Rotated>>>;

/// The handle to the rotation writer; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct RotationWriter {
    queue: mpsc::Sender<(Rotation, Reply)>,
}

impl RotationWriter {
    /// Starts the writer on `pool`'s connections. It ends when every handle is dropped.
    pub(crate) fn spawn(pool: SqlitePool, gate: std::sync::Arc<tokio::sync::Mutex<()>>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, gate, jobs));
        Self { queue }
    }

    /// Queues one rotation and waits for the commit that holds it.
    pub(crate) async fn rotate(&self, rotation: Rotation) -> StorageResult<Option<Rotated>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((rotation, reply))
            .await
            .map_err(|_| StorageError::Other("the rotation writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StorageError::Other("the rotation writer has stopped".into()))?
    }
}

async fn run(
    pool: SqlitePool,
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    mut jobs: mpsc::Receiver<(Rotation, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut busy_since: Option<std::time::Instant> = None;
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A caller that went away (its client disconnected) does not get its token spent.
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let started = busy_since.get_or_insert_with(std::time::Instant::now);
        let turn = gate.lock().await;
        let committed = commit_batch(&pool, &batch).await;
        drop(turn);
        match committed {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(error = %message, rotations = batch.len(), "rotation batch failed");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StorageError::Other(message.clone())));
                }
            }
        }
        // Other writers (sign-ins, sign-outs, DPoP proof ids) wait for SQLite's lock in its busy
        // handler, which retries on its own schedule. While rotations keep the writer busy back
        // to back, it leaves the lock free for a moment every so often so they get their turn;
        // rotations queue meanwhile and the next batch takes them all. An idle moment (an empty
        // queue) gives them their turn for free.
        if jobs.is_empty() {
            busy_since = None;
        } else if started.elapsed() >= BUSY_STRETCH {
            tokio::time::sleep(LOCK_BREAK).await;
            busy_since = None;
        }
    }
}

/// How long the writer may run batches back to back before it leaves the lock free.
const BUSY_STRETCH: std::time::Duration = std::time::Duration::from_millis(20);

/// How long it leaves SQLite's write lock free then.
const LOCK_BREAK: std::time::Duration = std::time::Duration::from_millis(2);

/// Runs the batch in one transaction, all or nothing: the first statement that fails ends it
/// (SQLite may already have rolled the transaction back, as it does on a full disk or an I/O
/// error), nothing is committed and every rotation of the batch gets the error, so no token is
/// spent for a caller that is told it failed.
async fn commit_batch(
    pool: &SqlitePool,
    batch: &[(Rotation, Reply)],
) -> StorageResult<Vec<Option<Rotated>>> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for (rotation, _) in batch {
        results.push(SqliteStore::rotate_on(&mut *tx, rotation).await?);
    }
    tx.commit().await?;
    Ok(results)
}
