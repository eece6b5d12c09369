//! The records the MFA rules exchange with [`super::MfaStore`]: plain data with no usable secret
//! (sealed TOTP secrets and SHA-256 hashes only). Defined here, beside the trait that accepts and
//! returns them, so storage needs nothing from the domain.

use uuid::Uuid;

use crate::clock::UnixTime;
use crate::storage::DeviceRecord;

/// A user's TOTP credential as stored.
#[derive(Debug, Clone)]
pub struct TotpCredential {
    /// `base64(nonce || ciphertext || tag)`, sealed with the user id as associated data.
    pub sealed_secret: String,
    /// Whether enrolment was confirmed (MFA is on).
    pub confirmed: bool,
    /// The newest time step ever accepted; only steps after it are acceptable.
    pub last_accepted_step: Option<i64>,
}

/// An mfa_token as stored: everything needed to finish the sign-in it belongs to.
#[derive(Debug, Clone)]
pub struct MfaTokenRecord {
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// The user who passed the password check.
    pub user_id: Uuid,
    /// The device of that sign-in; the session is started for it and no other.
    pub device: DeviceRecord,
    /// Creation time.
    pub created_at: UnixTime,
    /// Dead from this time on.
    pub expires_at: UnixTime,
    /// Wrong codes still tolerated.
    pub attempts_left: i64,
    /// The DPoP key the sign-in proved possession of, if any: the MFA step must prove the same
    /// key, and the session is bound to it.
    pub dpop_jkt: Option<String>,
    /// webauthn-rs's state for an assertion by one of the user's passkeys, when they have any.
    pub passkey_state: Option<String>,
}

/// Proof of the second factor, ready to be burnt atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaProof {
    /// A TOTP code matched this time step (not yet known to be unused).
    TotpStep(i64),
    /// A recovery code, by its stored hash (not yet known to exist or be unused).
    RecoveryCode(String),
    /// A passkey assertion that webauthn-rs accepted, to record with its counter's
    /// compare-and-set (not yet known to move the counter forward).
    Passkey(crate::storage::PasskeyUse),
}

/// The answer to "may this user try one more code?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureBudget {
    /// One attempt reserved; `failures` now counts it.
    Reserved {
        /// Failures in the current window, including this reservation.
        failures: i64,
    },
    /// The window is full until `window_ends`.
    Exhausted {
        /// When the window ends and attempts are allowed again.
        window_ends: UnixTime,
    },
}

/// How an attempt to finish an MFA sign-in ended in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaCompletion {
    /// The proof was burnt and the mfa_token consumed, in one transaction.
    Completed,
    /// The step was already used (or an earlier one), or the recovery code unknown or used.
    ProofRejected,
    /// The mfa_token was consumed or expired by someone else first; nothing was burnt.
    TokenGone,
}
