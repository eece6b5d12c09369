//! Recovery codes: the way back in when the authenticator is lost (contract section 7).
//!
//! Ten codes of 80 random bits each, shown once. Stored as SHA-256 of the user id and the
//! normalised code: the random part makes brute force pointless, and the user id keeps a
//! database reader from attacking every user's codes at once. Each is single-use through one
//! conditional `UPDATE`; a new set replaces the whole old one in one transaction.

use serde::Serialize;
use uuid::Uuid;

use super::PasswordAndCode;
use crate::crypto::opaque::{normalise_recovery_code, sha256_hex, OpaqueSecret};
use crate::domain::principal::UserPrincipal;
use crate::domain::Tokend;
use crate::error::Result;

/// Codes per set.
pub const RECOVERY_CODES: usize = 10;

/// A fresh set of recovery codes, shown once; `Debug` never prints them.
#[derive(Serialize)]
pub struct RecoveryCodes {
    /// `xxxx-xxxx-xxxx-xxxx`, Crockford base32; case, spaces and dashes do not matter when typed.
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} x ***)", self.recovery_codes.len())
    }
}

/// What a typed recovery code is stored and looked up as.
pub fn hash_code(user: Uuid, typed: &str) -> String {
    let normalised = normalise_recovery_code(typed);
    sha256_hex(format!("tokend:recovery:v1:{user}:{normalised}").as_bytes())
}

/// A new set for `user`: the codes to show and the hashes to store.
pub fn generate(user: Uuid) -> (RecoveryCodes, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| OpaqueSecret::recovery_code().expose().to_string())
        .collect();
    let hashes = codes.iter().map(|c| hash_code(user, c)).collect();
    (
        RecoveryCodes {
            recovery_codes: codes,
        },
        hashes,
    )
}

impl Tokend {
    /// `POST /v1/me/mfa/recovery_codes`: password and a current TOTP code buy a new set; every
    /// old code dies in the same transaction that burns the code's time step.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &UserPrincipal,
        req: PasswordAndCode,
    ) -> Result<RecoveryCodes> {
        let user = self.recheck_password(caller, &req.password).await?;
        self.require_mfa_on(user.id).await?;
        let now = self.clock.now();
        let attempts_left = self.reserve_failure(user.id, now).await?;
        let step = match req.code.totp_digits() {
            Some(digits) => self.totp_proof(user.id, &digits, now).await?,
            None => None,
        };
        let Some(crate::storage::MfaProof::TotpStep(step)) = step else {
            return Err(super::wrong_code(attempts_left));
        };
        let (codes, hashes) = generate(user.id);
        if !self
            .store
            .replace_recovery_codes(user.id, step, &hashes, now)
            .await?
        {
            return Err(super::wrong_code(attempts_left));
        }
        self.refund_failure(user.id).await;
        tracing::info!(user = %user.id, "recovery codes replaced");
        Ok(codes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_redacted_and_hashed_per_user() {
        let user = Uuid::new_v4();
        let (codes, hashes) = generate(user);
        assert_eq!(codes.recovery_codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.recovery_codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(format!("{codes:?}"), "RecoveryCodes(10 x ***)");
        let typed = codes.recovery_codes[0].to_uppercase().replace('-', " ");
        assert_eq!(hash_code(user, &typed), hashes[0]);
        assert_ne!(hash_code(Uuid::new_v4(), &typed), hashes[0]);
        assert!(!hashes[0].contains(&codes.recovery_codes[0]));
    }
}
