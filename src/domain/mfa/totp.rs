//! TOTP (RFC 6238 with the RFC 4226 truncation), as authenticator apps expect it: HMAC-SHA-1,
//! 6 digits, 30-second steps, 160-bit secrets (RFC 4226 section 4, R6). Enrolment, confirmation
//! and disabling (contract section 7).
//!
//! Codes are checked for the steps t-1, t and t+1 only (RFC 6238 section 5.2 allows a small
//! window for clock drift; one step each way is what the contract accepts), comparing in
//! constant time, and only steps after the user's last accepted one are candidates. The step that
//! matched is then burnt in the database in one conditional `UPDATE`, which is what actually
//! stops a replay, also between concurrent requests and nodes.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use super::model::MfaProof;
use super::{mfa_state_error, recovery, MfaCode, PasswordAndCode};
use crate::app::Tokend;
use crate::clock::UnixTime;
use crate::crypto::keys::random_bytes;
use crate::crypto::opaque::ct_eq;
use crate::crypto::password::Password;
use crate::domain::principal::UserPrincipal;
use crate::error::{Error, Result};

/// Seconds per time step (RFC 6238 `X`).
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a new secret: 160 bits, the HMAC-SHA-1 output size RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The issuer authenticator apps show above the code: the host of the configured issuer URL
/// (`https://auth.example.com` gives `auth.example.com`), so users of several tokend deployments
/// can tell them apart; `tokend` when the issuer has no usable host (e.g. an IPv6 literal, whose
/// colons the otpauth label cannot carry).
pub fn issuer_label(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = if host.starts_with('[') {
        ""
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        "tokend".to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

/// Associated data a user's sealed secret is bound to.
fn sealing_aad(user: Uuid) -> String {
    format!("tokend:totp:v1:{user}")
}

fn totp(secret: &[u8], issuer: Option<String>, account: String) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS as u64,
        secret.to_vec(),
        issuer,
        account,
    )
    .map_err(|e| Error::internal(format!("TOTP parameters: {e}")))
}

/// The step among t-1, t, t+1 (after `after`, if given) whose code is `digits`. Every candidate
/// is computed and compared in constant time, whichever matches.
pub fn matching_step(
    secret: &[u8],
    digits: &str,
    now: UnixTime,
    after: Option<i64>,
) -> Result<Option<i64>> {
    let totp = totp(secret, None, String::new())?;
    let current = now.div_euclid(STEP_SECS);
    let mut found = None;
    for step in current - 1..=current + 1 {
        let Ok(time) = u64::try_from(step * STEP_SECS) else {
            continue;
        };
        let matches = ct_eq(&totp.generate(time), digits);
        if matches && found.is_none() && after.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// `POST /v1/me/mfa/totp` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolTotpRequest {
    /// The user's password, checked again.
    pub password: Password,
}

/// `POST /v1/me/mfa/totp` response: shown once, to be scanned or typed into the app.
#[derive(Serialize)]
pub struct TotpEnrolment {
    /// The secret in base32 without padding (RFC 4648), for typing by hand.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<login>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`,
    /// to render as a QR code.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(***)")
    }
}

/// `POST /v1/me/mfa/totp/confirm` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// A current code from the app.
    pub code: MfaCode,
}

impl Tokend {
    /// Starts (or restarts) enrolment with a fresh secret; refused while MFA is on.
    pub async fn enrol_totp(
        &self,
        caller: &UserPrincipal,
        req: EnrolTotpRequest,
    ) -> Result<TotpEnrolment> {
        let user = self.recheck_password(caller, &req.password).await?;
        let secret: [u8; SECRET_BYTES] = random_bytes().map_err(Error::internal)?;
        let sealed = self
            .mfa
            .sealer
            .seal(&secret, sealing_aad(user.id).as_bytes())
            .map_err(Error::internal)?;
        if !self
            .store
            .put_pending_totp(user.id, &sealed, self.clock.now())
            .await?
        {
            return Err(mfa_state_error(
                "mfa_already_enabled",
                "MFA is already on; disable it before enrolling a new authenticator",
            ));
        }
        // The label may not contain a colon (it separates issuer and account); only display.
        let account = user.login.replace(':', "_");
        let totp = totp(&secret, Some(self.mfa.issuer_label.clone()), account)?;
        tracing::info!(user = %user.id, "TOTP enrolment started");
        Ok(TotpEnrolment {
            secret: totp.get_secret_base32(),
            // totp-rs leaves out parameters equal to the defaults; some apps guess otherwise.
            otpauth_uri: format!("{}&algorithm=SHA1&digits=6&period=30", totp.get_url()),
        })
    }

    /// Confirms the pending secret with a code from the app: MFA is on from now, and the first
    /// recovery codes are returned (once).
    pub async fn confirm_totp(
        &self,
        caller: &UserPrincipal,
        req: ConfirmTotpRequest,
    ) -> Result<recovery::RecoveryCodes> {
        let credential = match self.store.totp_credential(caller.user).await? {
            Some(c) if c.confirmed => {
                return Err(mfa_state_error("mfa_already_enabled", "MFA is already on"))
            }
            Some(c) => c,
            None => {
                return Err(mfa_state_error(
                    "mfa_not_pending",
                    "no enrolment to confirm",
                ))
            }
        };
        let now = self.clock.now();
        let attempts_left = self.reserve_failure(caller.user, now).await?;
        let secret = self
            .mfa
            .sealer
            .open(
                &credential.sealed_secret,
                sealing_aad(caller.user).as_bytes(),
            )
            .map_err(Error::internal)?;
        let step = match req.code.totp_digits() {
            Some(digits) => matching_step(secret.expose(), &digits, now, None)?,
            None => None,
        };
        let Some(step) = step else {
            return Err(wrong_code(attempts_left));
        };
        let (codes, hashes) = recovery::generate(caller.user);
        if !self
            .store
            .confirm_totp(caller.user, &credential.sealed_secret, step, &hashes, now)
            .await?
        {
            self.refund_failure(caller.user).await;
            return Err(mfa_state_error(
                "mfa_not_pending",
                "the enrolment changed meanwhile; scan the new code",
            ));
        }
        self.refund_failure(caller.user).await;
        tracing::info!(user = %caller.user, "MFA enabled");
        Ok(codes)
    }

    /// Turns MFA off: password and a current TOTP code (or, for a lost device, a recovery code).
    pub async fn disable_totp(&self, caller: &UserPrincipal, req: PasswordAndCode) -> Result<()> {
        let user = self.recheck_password(caller, &req.password).await?;
        self.require_mfa_on(user.id).await?;
        let now = self.clock.now();
        let attempts_left = self.reserve_failure(user.id, now).await?;
        let proof = match req.code.totp_digits() {
            Some(digits) => self.totp_proof(user.id, &digits, now).await?,
            None => Some(MfaProof::RecoveryCode(recovery::hash_code(
                user.id,
                &req.code.0,
            ))),
        };
        let done = match proof {
            Some(proof) => self.store.disable_totp(user.id, &proof, now).await?,
            None => false,
        };
        if !done {
            return Err(wrong_code(attempts_left));
        }
        self.refund_failure(user.id).await;
        tracing::info!(user = %user.id, "MFA disabled");
        Ok(())
    }

    /// Fails with 400 `mfa_not_enabled` unless the user has a confirmed credential.
    pub(super) async fn require_mfa_on(&self, user: Uuid) -> Result<()> {
        match self.store.totp_credential(user).await? {
            Some(c) if c.confirmed => Ok(()),
            _ => Err(mfa_state_error("mfa_not_enabled", "MFA is not on")),
        }
    }

    /// The TOTP step `digits` proves for a user with MFA on, if any.
    pub(super) async fn totp_proof(
        &self,
        user: Uuid,
        digits: &str,
        now: UnixTime,
    ) -> Result<Option<MfaProof>> {
        let Some(credential) = self
            .store
            .totp_credential(user)
            .await?
            .filter(|c| c.confirmed)
        else {
            return Ok(None);
        };
        let secret = self
            .mfa
            .sealer
            .open(&credential.sealed_secret, sealing_aad(user).as_bytes())
            .map_err(Error::internal)?;
        Ok(
            matching_step(secret.expose(), digits, now, credential.last_accepted_step)?
                .map(MfaProof::TotpStep),
        )
    }
}

/// `invalid_mfa_code` on the `/v1/me/mfa` endpoints: `attempts_left` counts what the user's
/// failure window still allows (no limit configured: `u32::MAX`).
pub(super) fn wrong_code(attempts_left: Option<u32>) -> Error {
    Error::InvalidMfaCode {
        attempts_left: attempts_left.unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 seed, last six of the eight digits.
    #[test]
    fn rfc6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(
                matching_step(seed, code, time, None).unwrap(),
                Some(time / STEP_SECS)
            );
        }
    }

    #[test]
    fn skew_is_one_step_and_steps_only_move_forward() {
        let seed = b"12345678901234567890";
        let t = 1_111_111_109;
        let code = "081804";
        assert!(matching_step(seed, code, t - 30, None).unwrap().is_some());
        assert!(matching_step(seed, code, t + 30, None).unwrap().is_some());
        assert!(matching_step(seed, code, t + 60, None).unwrap().is_none());
        assert!(matching_step(seed, code, t - 60, None).unwrap().is_none());
        let step = t / STEP_SECS;
        assert!(matching_step(seed, code, t, Some(step)).unwrap().is_none());
        assert!(matching_step(seed, code, t, Some(step - 1))
            .unwrap()
            .is_some());
    }

    #[test]
    fn issuer_label_is_the_host() {
        assert_eq!(
            issuer_label("https://Auth.Example.com/"),
            "auth.example.com"
        );
        assert_eq!(issuer_label("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(issuer_label("http://[::1]:8080"), "tokend");
        assert_eq!(issuer_label(""), "tokend");
        assert_eq!(issuer_label("http://tokend.test"), "tokend.test");
    }
}
