//! Two-factor sign-in (issue #3; contract sections 3 `/v1/auth/mfa` and 7): TOTP enrolment, the
//! mfa_token step between a correct password and a session, and recovery codes.
//!
//! What an attacker holding a stolen password can do is bounded three ways, all in the database
//! so they hold across nodes:
//! - each mfa_token tolerates [`MFA_TOKEN_ATTEMPTS`] wrong codes;
//! - each user tolerates `settings.mfa_failures_per_user` wrong codes per [`FAILURE_WINDOW_SECS`]
//!   across all of their mfa_tokens (and the enrolment endpoints), so fresh mfa_tokens buy
//!   nothing;
//! - a TOTP time step is accepted once per user and never an earlier one.
//!
//! Both budgets are charged *before* a code is checked and the user's is refunded on success, so
//! a burst of parallel guesses cannot all slip through a check-then-count gap.
//!
//! # Layout
//! - this file: state, wire types, the challenge issued at sign-in and `POST /v1/auth/mfa`;
//! - [`totp`]: RFC 6238 codes, enrolment, confirmation, disabling;
//! - [`recovery`]: recovery codes;
//!
//! The records exchanged with storage (`MfaTokenRecord`, `MfaProof`, …) are storage's own.

pub mod recovery;
mod state;
pub mod totp;

pub use state::MfaState;

use std::net::IpAddr;

use serde::Deserialize;

use super::sign_in::{Device, MfaChallenge, SessionAudit, SignedIn};
use crate::crypto::opaque::{sha256_hex, OpaqueSecret};
use crate::crypto::password::Password;
use crate::domain::admin::audit::AuditEvent;
use crate::domain::dpop::DpopInput;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{
    DeviceRecord, FailureBudget, MfaCompletion, MfaProof, MfaTokenRecord, UserRecord,
};

/// Seconds an mfa_token lives (contract section 3).
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Wrong codes one mfa_token tolerates (contract section 3).
pub const MFA_TOKEN_ATTEMPTS: i64 = 5;
/// Length of the per-user failure window.
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// Prefix of every mfa_token, so other tokens are refused without a database read.
pub const MFA_TOKEN_PREFIX: &str = "mfa_";

/// Deserialises a JSON string without ever echoing the value: serde's default type errors quote
/// numbers (`invalid type: integer `123456``), and those messages reach the client's error body.
struct SecretStringVisitor;

impl serde::de::Visitor<'_> for SecretStringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<String, E> {
        Err(E::custom("expected a string, got a number"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<String, E> {
        Err(E::custom("expected a string, got a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<String, E> {
        Err(E::custom("expected a string, got a number"))
    }
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    d.deserialize_string(SecretStringVisitor)
}

/// A TOTP or recovery code as typed; `Debug` never prints it, nor do deserialisation errors.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct MfaCode(#[serde(deserialize_with = "secret_string")] String);

impl std::fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaCode(***)")
    }
}

impl MfaCode {
    /// Wraps a code (tests, CLI).
    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    /// The six digits of a TOTP code, if that is what was typed (spaces, as apps show them,
    /// are ignored).
    fn totp_digits(&self) -> Option<String> {
        let digits: String = self.0.chars().filter(|c| !c.is_whitespace()).collect();
        (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    }
}

/// An mfa_token as presented; `Debug` never prints it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct MfaTokenParam(#[serde(deserialize_with = "secret_string")] String);

impl std::fmt::Debug for MfaTokenParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaTokenParam(***)")
    }
}

/// `POST /v1/auth/mfa` body; `Debug` prints nothing of it (the assertion included).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSignInRequest {
    /// From the sign-in response.
    pub mfa_token: MfaTokenParam,
    /// Six TOTP digits or one unused recovery code; or else `passkey`.
    #[serde(default)]
    pub code: Option<MfaCode>,
    /// An assertion for the challenge's `passkey_options`, in the W3C `PublicKeyCredential`
    /// JSON form; or else `code`.
    #[serde(default)]
    pub passkey: Option<webauthn_rs::prelude::PublicKeyCredential>,
}

/// Body of the endpoints that change MFA and need both factors again
/// (`DELETE /v1/me/mfa/totp`, `POST /v1/me/mfa/recovery_codes`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordAndCode {
    /// The user's password, checked again.
    pub password: Password,
    /// A current TOTP code (disabling also takes a recovery code, for a lost device).
    pub code: MfaCode,
}

/// `invalid_mfa_code` on the `/v1/me/mfa` endpoints: `attempts_left` counts what the user's
/// failure window still allows (no limit configured: `u32::MAX`).
pub(super) fn wrong_code(attempts_left: Option<u32>) -> Error {
    Error::InvalidMfaCode {
        attempts_left: attempts_left.unwrap_or(u32::MAX),
    }
}

/// What is wrong with the state of the caller's MFA for the request (`details.reason`).
fn mfa_state_error(reason: &'static str, message: &str) -> Error {
    Error::InvalidRequest {
        message: message.to_string(),
        field: None,
        reason: Some(reason),
    }
}

impl Tokend {
    /// The seam used by sign-in: `None` while the user has no confirmed second factor, else a
    /// fresh mfa_token bound to the user and the sign-in's device.
    pub(crate) async fn mfa_challenge_for(
        &self,
        user: &UserRecord,
        device: &Device,
        dpop_jkt: Option<String>,
    ) -> Result<Option<MfaChallenge>> {
        let confirmed = self
            .store
            .totp_credential(user.id)
            .await?
            .is_some_and(|c| c.confirmed);
        let passkey = self.passkey_step(user.id).await?;
        if !confirmed && passkey.is_none() {
            return Ok(None);
        }
        let mut methods = Vec::new();
        if confirmed {
            methods.push("totp");
        }
        if passkey.is_some() {
            methods.push("passkey");
        }
        if confirmed {
            methods.push("recovery_code");
        }
        let (passkey_options, passkey_state) = passkey.unzip();
        let now = self.clock.now();
        let token = OpaqueSecret::generate(MFA_TOKEN_PREFIX);
        let record = MfaTokenRecord {
            token_hash: token.hash(),
            user_id: user.id,
            device: DeviceRecord::from(device),
            created_at: now,
            expires_at: now + MFA_TOKEN_TTL_SECS,
            attempts_left: MFA_TOKEN_ATTEMPTS,
            dpop_jkt,
            passkey_state,
        };
        self.store.create_mfa_token(&record, now).await?;
        self.metrics.event("mfa_challenge_issued");
        Ok(Some(MfaChallenge {
            mfa_required: true,
            mfa_token: token.expose().to_string(),
            mfa_methods: methods,
            expires_in: MFA_TOKEN_TTL_SECS,
            passkey_options,
        }))
    }

    /// `POST /v1/auth/mfa`: finishes a sign-in exactly like one without MFA.
    pub async fn finish_mfa_sign_in(
        &self,
        req: MfaSignInRequest,
        ip: IpAddr,
        user_agent: Option<&str>,
        dpop: &DpopInput,
    ) -> Result<SignedIn> {
        if req.code.is_some() == req.passkey.is_some() {
            return Err(Error::field(
                "code",
                "send either code (TOTP or recovery code) or passkey (an assertion)",
            ));
        }
        let presented = req.mfa_token.0.as_str();
        if !presented.starts_with(MFA_TOKEN_PREFIX) || presented.len() > 128 {
            return Err(Error::InvalidMfaToken);
        }
        let token_hash = sha256_hex(presented.as_bytes());
        let now = self.clock.now();
        let token = self
            .store
            .live_mfa_token(&token_hash, now)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        let user_id = token.user_id;
        // The key the password step proved must be proved again; a proof refused here costs
        // neither an attempt nor the user's failure budget, since it says nothing of the code.
        let dpop_jkt = match token.dpop_jkt.clone() {
            Some(jkt) => {
                self.token_endpoint_proof_by(dpop, &jkt).await?;
                Some(jkt)
            }
            None => self
                .token_endpoint_proof(dpop, self.settings.dpop_required)
                .await?
                .map(|proof| proof.jkt),
        };
        self.reserve_failure(user_id, now).await?;
        let Some(attempts_left) = self.store.spend_mfa_attempt(&token_hash, now).await? else {
            // Lost a race for the last attempt or the token itself.
            self.refund_failure(user_id).await;
            return Err(Error::InvalidMfaToken);
        };
        let proof = match (&req.code, &req.passkey) {
            (Some(code), None) => self.proof_for_sign_in(user_id, code, now).await?,
            (None, Some(credential)) => {
                self.passkey_mfa_proof(
                    user_id,
                    token.passkey_state.as_deref(),
                    credential,
                    ip,
                    user_agent,
                )
                .await?
            }
            // Refused before any attempt was spent (below, at the top of this function).
            _ => None,
        };
        let verified_passkey = matches!(proof, Some(MfaProof::Passkey(_)));
        let outcome = match proof {
            Some(proof) => {
                self.store
                    .complete_mfa(&token_hash, user_id, &proof, now)
                    .await?
            }
            None => MfaCompletion::ProofRejected,
        };
        match outcome {
            MfaCompletion::Completed => self.refund_failure(user_id).await,
            MfaCompletion::ProofRejected => {
                if verified_passkey {
                    // webauthn-rs accepted the assertion but the counter's compare-and-set did
                    // not: another use with a later counter came first, or a clone.
                    self.note_counter_regression(user_id, ip, user_agent).await;
                }
                self.metrics.event("mfa_code_rejected");
                self.audit(
                    AuditEvent::new("mfa.failed", "system")
                        .user(user_id)
                        .from(ip, user_agent)
                        .details(serde_json::json!({"attempts_left": attempts_left})),
                )
                .await;
                tracing::info!(user = %user_id, attempts_left, "wrong MFA code");
                return Err(Error::InvalidMfaCode {
                    attempts_left: u32::try_from(attempts_left).unwrap_or(0),
                });
            }
            MfaCompletion::TokenGone => {
                self.refund_failure(user_id).await;
                return Err(Error::InvalidMfaToken);
            }
        }
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        if user.disabled {
            return Err(Error::UserDisabled);
        }
        let mfa_row = AuditEvent::new("mfa.succeeded", format!("user:{}", user.id))
            .user(user.id)
            .from(ip, user_agent)
            .at(now);
        self.start_session(
            &user,
            &Device::from(token.device),
            ip,
            SessionAudit::new("password+mfa", user_agent).with(mfa_row),
            dpop_jkt,
        )
        .await
    }

    /// What `code` proves for the sign-in step: six digits are TOTP, anything else a recovery
    /// code. `None` when it cannot be right (no confirmed credential, no matching step).
    async fn proof_for_sign_in(
        &self,
        user: uuid::Uuid,
        code: &MfaCode,
        now: crate::clock::UnixTime,
    ) -> Result<Option<MfaProof>> {
        match code.totp_digits() {
            Some(digits) => self.totp_proof(user, &digits, now).await,
            None => Ok(Some(MfaProof::RecoveryCode(recovery::hash_code(
                user, &code.0,
            )))),
        }
    }

    /// Charges one attempt to the user's failure window, or refuses with 429 until it ends.
    /// Returns the attempts the window still allows after this one (`None`: no limit set).
    async fn reserve_failure(
        &self,
        user: uuid::Uuid,
        now: crate::clock::UnixTime,
    ) -> Result<Option<u32>> {
        let limit = self.settings.mfa_failures_per_user;
        if limit == 0 {
            return Ok(None);
        }
        match self
            .store
            .reserve_mfa_failure(user, now, FAILURE_WINDOW_SECS, limit)
            .await?
        {
            FailureBudget::Reserved { failures } => Ok(Some(
                u32::try_from(i64::from(limit) - failures).unwrap_or(0),
            )),
            FailureBudget::Exhausted { window_ends } => {
                self.metrics.event("mfa_rate_limited");
                tracing::warn!(user = %user, "per-user MFA failure limit reached");
                Err(Error::RateLimited {
                    retry_after_secs: u64::try_from(window_ends - now).unwrap_or(0).max(1),
                })
            }
        }
    }

    /// Gives back the attempt charged by [`Self::reserve_failure`] when it was not a failure.
    /// Best effort: a lost refund only makes the limit slightly stricter.
    async fn refund_failure(&self, user: uuid::Uuid) {
        if self.settings.mfa_failures_per_user == 0 {
            return;
        }
        if let Err(e) = self.store.refund_mfa_failure(user).await {
            tracing::warn!(user = %user, error = %e, "could not refund an MFA attempt");
        }
    }
}

crate::redacted_debug!(MfaSignInRequest);
