//! The threads argon2id runs on: as many as hashes may run at once, each at the lowest CPU
//! priority and each reusing one memory area for every hash it computes.
//!
//! Why not tokio's blocking pool: a flood of sign-ins (credential stuffing) must not slow the
//! requests of people already signed in. At the lowest priority (niceness 19) the hashes take
//! whatever CPU the refreshes and API calls leave, so their latency barely moves under a flood,
//! while sign-ins still get every idle cycle. And a hash allocates `m_cost` KiB (19 MiB by
//! default); allocated afresh per hash, glibc keeps freed areas in per-thread arenas and the
//! resident set grows far past the configured concurrency. One area per thread, allocated on its
//! first hash and kept, bounds it at (threads x `m_cost`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;

/// A job: runs on a hashing thread with that thread's memory area.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing threads; dropping every handle lets them finish and exit.
#[derive(Clone)]
pub(crate) struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashPool")
    }
}

impl HashPool {
    /// Starts `threads` hashing threads. Callers bound the jobs in flight to `threads` (the
    /// hasher's semaphore), so a job never waits for a thread.
    pub(crate) fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("tokend-hash-{i}"))
                .spawn(move || worker(&queue))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a hashing thread and waits for its answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |memory| {
                let _ = answer.send(job(memory));
            }))
            .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))?;
        answered
            .await
            .map_err(|_| anyhow::anyhow!("a hashing thread failed"))
    }
}

fn worker(queue: &Mutex<mpsc::Receiver<Job>>) {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::warn!(error = %e, "could not lower the priority of a hashing thread");
    }
    let mut memory = Vec::new();
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job(&mut memory);
    }
}
