//! Persistence of the second factor: TOTP enrolment, recovery codes, mfa_tokens and the per-user
//! failure window (issue #3).
//!
//! Every "use once" operation is one conditional statement checked by rows affected (or
//! `RETURNING`), never a read followed by a write, so two requests (or two nodes) cannot both
//! spend the same time step, recovery code, attempt or mfa_token. Operations that change several
//! tables run in one write transaction opened with the backend's `begin_write`.
//!
//! This file holds the trait and the pieces of SQL shared by several methods; [`sql`] stamps the
//! implementation out for both backends.

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageResult;
use crate::clock::UnixTime;
pub use records::{FailureBudget, MfaCompletion, MfaProof, MfaTokenRecord, TotpCredential};

/// MFA state.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Stores a new pending TOTP secret, replacing a pending one; false (and nothing changed)
    /// when the user already has a confirmed secret.
    async fn put_pending_totp(
        &self,
        user: Uuid,
        sealed_secret: &str,
        now: UnixTime,
    ) -> StorageResult<bool>;
    /// The user's TOTP credential, pending or confirmed.
    async fn totp_credential(&self, user: Uuid) -> StorageResult<Option<TotpCredential>>;
    /// Confirms the pending secret `sealed_secret` (false if it was replaced or confirmed
    /// meanwhile), marks `step` used and stores the first recovery codes, in one transaction.
    async fn confirm_totp(
        &self,
        user: Uuid,
        sealed_secret: &str,
        step: i64,
        recovery_code_hashes: &[String],
        now: UnixTime,
        audit: &[super::AuditRecord],
    ) -> StorageResult<bool>;
    /// Burns `step` (false if it or a later one was used) and replaces every recovery code, in
    /// one transaction.
    async fn replace_recovery_codes(
        &self,
        user: Uuid,
        step: i64,
        recovery_code_hashes: &[String],
        now: UnixTime,
    ) -> StorageResult<bool>;
    /// Burns `proof` (false if it is not usable) and deletes the credential, the recovery codes
    /// and the pending mfa_tokens, in one transaction.
    async fn disable_totp(
        &self,
        user: Uuid,
        proof: &MfaProof,
        now: UnixTime,
        audit: &[super::AuditRecord],
    ) -> StorageResult<bool>;
    /// Stores a new mfa_token, dropping the user's dead ones.
    async fn create_mfa_token(&self, token: &MfaTokenRecord, now: UnixTime) -> StorageResult<()>;
    /// Deletes every mfa_token that can no longer be used (expired, used or out of attempts) and
    /// failure windows that ended before `now`; returns how many rows went.
    async fn purge_mfa_tokens(&self, now: UnixTime, window_secs: i64) -> StorageResult<u64>;
    /// An mfa_token that is unused, unexpired and has attempts left.
    async fn live_mfa_token(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StorageResult<Option<MfaTokenRecord>>;
    /// Takes one attempt from a live mfa_token; the attempts left after it, or `None` when
    /// the token is dead or out of attempts.
    async fn spend_mfa_attempt(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StorageResult<Option<i64>>;
    /// Reserves one failure in the user's window of `window` seconds holding at most `limit`
    /// failures (a new window starts when the old one ended).
    async fn reserve_mfa_failure(
        &self,
        user: Uuid,
        now: UnixTime,
        window: i64,
        limit: u32,
    ) -> StorageResult<FailureBudget>;
    /// Gives back a reserved failure (the attempt succeeded).
    async fn refund_mfa_failure(&self, user: Uuid) -> StorageResult<()>;
    /// Burns `proof` and consumes the mfa_token in one transaction: both or neither.
    async fn complete_mfa(
        &self,
        token_hash: &str,
        user: Uuid,
        proof: &MfaProof,
        now: UnixTime,
    ) -> StorageResult<MfaCompletion>;
}

/// Columns of `mfa_tokens` in the order [`impl_mfa_store!`] reads them.
pub(crate) const MFA_TOKEN_COLUMNS: &str = "token_hash, user_id, device_name, device_platform, \
    device_app_version, client_id, created_at, expires_at, attempts_left, dpop_jkt, passkey_state";

/// A row of `mfa_tokens` as read.
pub(crate) type MfaTokenRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

/// Builds the record from a row; a corrupt user id is a storage error, not a panic.
pub(crate) fn mfa_token_from_row(row: MfaTokenRow) -> StorageResult<MfaTokenRecord> {
    let (
        token_hash,
        user,
        name,
        platform,
        app_version,
        client_id,
        created,
        expires,
        attempts,
        dpop_jkt,
        passkey_state,
    ) = row;
    Ok(MfaTokenRecord {
        token_hash,
        user_id: Uuid::parse_str(&user)
            .map_err(|e| super::StorageError::Other(format!("mfa_tokens.user_id: {e}")))?,
        device: crate::storage::DeviceRecord {
            name,
            platform,
            app_version,
            client_id,
        },
        created_at: created,
        expires_at: expires,
        attempts_left: attempts,
        dpop_jkt,
        passkey_state,
    })
}

/// Burns a TOTP step: only a confirmed credential, only forward.
pub(crate) const BURN_STEP_SQL: &str = "UPDATE totp_credentials SET last_accepted_step = $2 \
    WHERE user_id = $1 AND confirmed \
    AND (last_accepted_step IS NULL OR last_accepted_step < $2)";

/// Burns a recovery code: only an unused one of this user.
pub(crate) const BURN_RECOVERY_CODE_SQL: &str = "UPDATE recovery_codes SET used_at = $3 \
    WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";

mod records;
mod sql;

pub(crate) use sql::impl_mfa_store;
