//! Group commit for SQLite's hottest write. SQLite has one write lock per database: pooled
//! connections that each commit their own rotation take turns at it through `busy_timeout`'s
//! sleep-and-retry, and every commit pays its own fsync (`synchronous = FULL`). Here one task
//! owns rotation: it takes every rotation queued while the previous batch was committing, runs
//! them in one `BEGIN IMMEDIATE` transaction and commits once, so a busy server pays one fsync
//! for many rotations and no rotation sleeps on the lock. A rotation is answered only after the
//! commit that holds it returned, so every acknowledged rotation is as durable as before.

use sqlx::{Connection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::sqlite::SqliteStore;
use super::{Rotated, Rotation, StorageError, StorageResult};

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
    pub(crate) fn spawn(pool: SqlitePool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, jobs));
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

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<(Rotation, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit_batch(&pool, &batch).await {
            Ok(results) => {
                for ((_, reply), result) in batch.drain(..).zip(results) {
                    let _ = reply.send(result);
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
    }
}

/// Runs the batch in one transaction. A statement that fails answers its own rotation with the
/// error and leaves the others (SQLite keeps the transaction open after a failed statement);
/// a failed commit answers them all with its error, since none of them happened.
async fn commit_batch(
    pool: &SqlitePool,
    batch: &[(Rotation, Reply)],
) -> StorageResult<Vec<StorageResult<Option<Rotated>>>> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for (rotation, _) in batch {
        results.push(SqliteStore::rotate_on(&mut *tx, rotation).await);
    }
    tx.commit().await?;
    Ok(results)
}
