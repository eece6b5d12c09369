//! Password hashing with argon2id, off the async workers and bounded in flight.
//!
//! Each hash holds `m_cost` KiB for its duration; a semaphore caps how many run at once, so a
//! flood of sign-ins queues instead of exhausting memory or the blocking pool, and cheap routes
//! stay fast. The permit moves into the blocking closure: a client that disconnects cannot free
//! the slot while its hash still runs. Unknown logins verify against a dummy hash made with the
//! current parameters, so they cost exactly what a wrong password costs.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::config::Argon2Params;

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
    argon2: Argon2<'static>,
    params: Params,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    queued: Arc<std::sync::atomic::AtomicUsize>,
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
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = hash_blocking(&argon2, "tokend dummy password for unknown logins")?;
        Ok(Self {
            argon2,
            params,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_in_flight: max_in_flight.max(1),
            queued: Arc::default(),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Waits for a hashing slot, counted in [`Self::queue_depth`] while it waits.
    async fn permit(&self) -> anyhow::Result<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        self.queued.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        Ok(permit?)
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
        let argon2 = self.argon2.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_blocking(&argon2, password.expose())
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
        let argon2 = self.argon2.clone();
        let params = self.params.clone();
        let password = password.clone();
        let known = stored.is_some();
        let stored: String = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_string);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let Ok(parsed) = PasswordHash::new(&stored) else {
                // A corrupt stored hash must not be a faster path: pay for one anyway.
                let _ = hash_blocking(&argon2, password.expose());
                return Ok(Verified {
                    matches: false,
                    needs_rehash: false,
                });
            };
            let matches = known
                && argon2
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok();
            if !known {
                let _ = argon2.verify_password(password.expose().as_bytes(), &parsed);
            }
            Ok(Verified {
                matches,
                needs_rehash: matches && !uses_params(&parsed, &params),
            })
        })
        .await?
    }
}

fn hash_blocking(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = super::keys::random_bytes()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
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
