//! Password hashing with argon2id, off the async workers and bounded in flight.
//!
//! Each hash holds `m_cost` KiB for its duration; a semaphore caps how many run at once, so a
//! flood of sign-ins queues instead of exhausting memory, and cheap routes stay fast. Hashes run
//! on their own low-priority threads, each reusing one memory area ([`super::hash_pool`]). The
//! permit moves into the job: a client that disconnects cannot free the slot while its hash still
//! runs. Unknown logins verify against a dummy hash made with the current parameters, so they
//! cost exactly what a wrong password costs.

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::hash_pool::HashPool;
use crate::config::Argon2Params;

/// Longest a hash waits for a thread. Past it the server is hashing slower than sign-ins arrive
/// (a flood): the request is refused at once with [`HashQueueFull`], instead of waiting for a
/// hash whose client has long given up, which would spend the CPU of live sign-ins on dead ones.
pub const HASH_QUEUE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// A hash could not get a thread within [`HASH_QUEUE_DEADLINE`]: answer "retry later".
#[derive(Debug, thiserror::Error)]
#[error("password hashing is saturated; retry later")]
pub struct HashQueueFull;

/// Longest password accepted, in bytes: checked before hashing, never truncated.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as received; `Debug` never prints it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Wraps a password read from a terminal or request.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The clear text, for policy checks and hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password is right.
    pub matches: bool,
    /// The stored hash uses other parameters than the current ones and should be replaced.
    pub needs_rehash: bool,
}

/// The stored "hash" of a user created without a password: not a PHC string, so no password
/// matches it; sign-in verifies against the dummy hash instead, at full cost, and only a reset
/// lets the user in.
pub const NO_PASSWORD: &str = "!";

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    pool: HashPool,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    queue_deadline: std::time::Duration,
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds a hasher; computes the dummy hash once, with these parameters.
    pub fn new(config: &Argon2Params, max_in_flight: usize) -> anyhow::Result<Self> {
        let params = Params::new(config.m_cost, config.t_cost, config.p_cost, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy_hash = hash_with(
            &params,
            "tokend dummy password for unknown logins",
            &mut Vec::new(),
        )?;
        Ok(Self {
            params,
            pool: HashPool::start(max_in_flight.max(1))?,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_in_flight: max_in_flight.max(1),
            queued: Arc::default(),
            queue_deadline: HASH_QUEUE_DEADLINE,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Waits for a hashing slot, counted in [`Self::queue_depth`] while it waits.
    async fn permit(&self) -> anyhow::Result<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        // Counted while waiting, also when the request is dropped mid-wait (a client gone).
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.queued);
        let permit =
            tokio::time::timeout(self.queue_deadline, self.permits.clone().acquire_owned()).await;
        Ok(permit.map_err(|_| HashQueueFull)??)
    }

    /// Hashes waiting for a slot (a gauge for operators: a long queue means sign-ins are
    /// arriving faster than the configured hash concurrency can serve).
    pub fn queue_depth(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes running now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.permits.available_permits())
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let permit = self.permit().await?;
        let params = self.params.clone();
        let password = password.clone();
        self.pool
            .run(move |memory| {
                let _permit = permit;
                hash_with(&params, password.expose(), memory)
            })
            .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no user, so
    /// both cases cost one full hash with the current parameters.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> anyhow::Result<Verified> {
        let permit = self.permit().await?;
        let params = self.params.clone();
        let password = password.clone();
        let known = stored.is_some();
        let stored: String = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_string);
        self.pool
            .run(move |memory| {
                let _permit = permit;
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    // A corrupt stored hash must not be a faster path: pay for one anyway.
                    let _ = hash_with(&params, password.expose(), memory);
                    return Ok(Verified {
                        matches: false,
                        needs_rehash: false,
                    });
                };
                let matches = verify_with(&parsed, password.expose(), &params, memory) && known;
                Ok(Verified {
                    matches,
                    needs_rehash: matches && !uses_params(&parsed, &params),
                })
            })
            .await?
    }
}

/// One argon2id hash with `params` into `memory`, which is grown to the current parameters'
/// size once and then reused; a larger stored hash (older, costlier parameters) gets a memory
/// area of its own for the one hash, so the kept areas stay at the configured size.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    current: &Params,
    password: &str,
    salt: &[u8],
    memory: &mut Vec<Block>,
) -> anyhow::Result<Output> {
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let blocks = params.block_count();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut own;
    let area: &mut [Block] = if blocks <= current.block_count() {
        if memory.len() < blocks {
            memory.resize(current.block_count(), Block::default());
        }
        &mut memory[..blocks]
    } else {
        own = vec![Block::default(); blocks];
        &mut own
    };
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *area)
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// A new PHC string for `password` with the current parameters and a fresh salt.
fn hash_with(params: &Params, password: &str, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = super::keys::random_bytes()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let output = compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        params,
        password,
        &salt_bytes,
        memory,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `stored`, recomputed with the stored hash's own algorithm,
/// version, parameters and salt; outputs are compared in constant time (`Output`'s equality).
fn verify_with(
    stored: &PasswordHash<'_>,
    password: &str,
    current: &Params,
    memory: &mut Vec<Block>,
) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let Ok(version) = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map(Option::unwrap_or_default)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut salt_buffer = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    compute(algorithm, version, &params, current, password, salt, memory)
        .is_ok_and(|computed| computed == *expected)
}

fn uses_params(hash: &PasswordHash<'_>, params: &Params) -> bool {
    hash.algorithm == argon2::ARGON2ID_IDENT
        && hash.version == Some(Version::V0x13.into())
        && Params::try_from(hash).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cheap(m: u32) -> PasswordHasher {
        PasswordHasher::new(
            &Argon2Params {
                m_cost: m,
                t_cost: 1,
                p_cost: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_flag_old_parameters() {
        let old = cheap(64);
        let pw = Password::new("correct horse battery staple");
        let hash = old.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let v = old.verify(&pw, Some(&hash)).await.unwrap();
        assert_eq!(
            v,
            Verified {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = old
            .verify(&Password::new("nope nope nope"), Some(&hash))
            .await
            .unwrap();
        assert!(!wrong.matches);
        let v = cheap(128).verify(&pw, Some(&hash)).await.unwrap();
        assert_eq!(
            v,
            Verified {
                matches: true,
                needs_rehash: true
            }
        );
    }

    /// Hashes made here verify with the argon2 crate's own verifier and the other way round, so
    /// reusing memory changed nothing of the format or the result.
    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = cheap(256);
        let pw = Password::new("correct horse battery staple");
        let ours = h.hash(&pw).await.unwrap();
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        );
        argon2
            .verify_password(pw.expose().as_bytes(), &PasswordHash::new(&ours).unwrap())
            .unwrap();
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let theirs = argon2
            .hash_password(pw.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(h.verify(&pw, Some(&theirs)).await.unwrap().matches);
        assert!(
            !h.verify(&Password::new("wrong"), Some(&theirs))
                .await
                .unwrap()
                .matches
        );
        // A costlier stored hash (say, before the parameters were lowered) still verifies.
        let costly = cheap(1024).hash(&pw).await.unwrap();
        let v = h.verify(&pw, Some(&costly)).await.unwrap();
        assert!(v.matches && v.needs_rehash);
    }

    /// Hashing threads run at the lowest priority, so a flood of sign-ins leaves CPU to
    /// everything else.
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        let pool = HashPool::start(1).unwrap();
        let stat = pool
            .run(|_| std::fs::read_to_string("/proc/thread-self/stat").unwrap())
            .await
            .unwrap();
        // Field 19 (after the parenthesised name) is the nice value.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        assert_eq!(fields[16], "19", "{stat}");
    }

    /// Past the queue deadline a hash is refused at once with `HashQueueFull`, and the hashes
    /// already running are unaffected.
    #[tokio::test]
    async fn a_saturated_hasher_refuses_instead_of_queueing_forever() {
        let mut slow = PasswordHasher::new(
            &Argon2Params {
                m_cost: 32 * 1024,
                t_cost: 8,
                p_cost: 1,
            },
            1,
        )
        .unwrap();
        slow.queue_deadline = std::time::Duration::from_millis(20);
        let pw = Password::new("correct horse battery staple");
        let running = {
            let slow = slow.clone();
            let pw = pw.clone();
            tokio::spawn(async move { slow.hash(&pw).await })
        };
        // Let the first hash take the only thread.
        while slow.in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = slow.verify(&pw, None).await.unwrap_err();
        assert!(refused.is::<HashQueueFull>(), "{refused}");
        assert_eq!(slow.queue_depth(), 0);
        let hash = running.await.unwrap().unwrap();
        assert!(slow.verify(&pw, Some(&hash)).await.unwrap().matches);
    }

    #[tokio::test]
    async fn unknown_login_never_matches_even_the_dummy_password() {
        let h = cheap(64);
        let v = h
            .verify(
                &Password::new("tokend dummy password for unknown logins"),
                None,
            )
            .await
            .unwrap();
        assert!(!v.matches);
        assert_eq!(format!("{:?}", Password::new("secret")), "Password(***)");
    }
}
