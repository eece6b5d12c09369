//! The raw argon2id rate: what the hardware the bench runs on can hash with tokend's parameters
//! (same crate, same algorithm, version and costs as `src/crypto/password.rs`), on `threads`
//! threads at once, with no HTTP, database or queueing around it. The ceiling for sign-ins.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// tokend's argon2id costs.
#[derive(Debug, Clone, Copy)]
pub struct Costs {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

/// Hashes per second over `duration` with `threads` threads hashing all the time (after a
/// warm-up of one hash per thread). Blocks the calling thread.
pub fn measure(costs: Costs, threads: usize, duration: Duration) -> anyhow::Result<f64> {
    let params = Params::new(costs.m_cost, costs.t_cost, costs.p_cost, None)
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (argon2, stop, counted, measuring) = (
                argon2.clone(),
                stop.clone(),
                counted.clone(),
                measuring.clone(),
            );
            std::thread::spawn(move || -> anyhow::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    hash_once(&argon2)?;
                    // Completions inside the window: unbiased at both edges.
                    if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            })
        })
        .collect();
    // Warm-up: long enough for every thread to finish a hash or two.
    std::thread::sleep(Duration::from_millis(300));
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow!("a hashing thread panicked"))??;
    }
    Ok(counted.load(Ordering::Relaxed) as f64 / elapsed)
}

fn hash_once(argon2: &Argon2<'_>) -> anyhow::Result<()> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow!("salt: {e}"))?;
    argon2
        .hash_password(b"bench passphrase 0123456789abcdef", &salt)
        .map_err(|e| anyhow!("hashing: {e}"))?;
    Ok(())
}
