//! TOTP enrolment, confirmation and disabling (contract section 7); the code math is in
//! [`crate::crypto::totp`].
//!
//! Codes are checked for the steps t-1, t and t+1 only (RFC 6238 section 5.2 allows a small
//! window for clock drift; one step each way is what the contract accepts), comparing in
//! constant time, and only steps after the user's last accepted one are candidates. The step that
//! matched is then burnt in the database in one conditional `UPDATE`, which is what actually
//! stops a replay, also between concurrent requests and nodes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{mfa_state_error, recovery, wrong_code, MfaCode, PasswordAndCode};
use crate::clock::UnixTime;
use crate::crypto::password::Password;
use crate::crypto::totp::{self as otp, matching_step, new_secret};
use crate::domain::admin::audit::AuditEvent;
use crate::domain::principal::UserPrincipal;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::MfaProof;

/// Associated data a user's sealed secret is bound to.
fn sealing_aad(user: Uuid) -> String {
    format!("tokend:totp:v1:{user}")
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
        let secret = new_secret().map_err(Error::internal)?;
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
        let (secret, otpauth_uri) =
            otp::enrolment(&secret, &self.mfa.issuer_label, &account).map_err(Error::internal)?;
        tracing::info!(user = %user.id, "TOTP enrolment started");
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
        })
    }

    /// Confirms the pending secret with a code from the app: MFA is on from now, and the first
    /// recovery codes are returned (once).
    pub async fn confirm_totp(
        &self,
        caller: &UserPrincipal,
        req: ConfirmTotpRequest,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
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
            Some(digits) => {
                matching_step(secret.expose(), &digits, now, None).map_err(Error::internal)?
            }
            None => None,
        };
        let Some(step) = step else {
            return Err(wrong_code(attempts_left));
        };
        let (codes, hashes) = recovery::generate(caller.user);
        let audit = AuditEvent::new("mfa.enrolled", format!("user:{}", caller.user))
            .user(caller.user)
            .from(ip, user_agent)
            .details(serde_json::json!({"method": "totp"}))
            .at(now);
        if !self
            .store
            .confirm_totp(
                caller.user,
                &credential.sealed_secret,
                step,
                &hashes,
                now,
                &[audit],
            )
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
    pub async fn disable_totp(
        &self,
        caller: &UserPrincipal,
        req: PasswordAndCode,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
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
        let audit = AuditEvent::new("mfa.removed", format!("user:{}", user.id))
            .user(user.id)
            .from(ip, user_agent)
            .details(serde_json::json!({"by": "user"}))
            .at(now);
        let done = match proof {
            Some(proof) => {
                self.store
                    .disable_totp(user.id, &proof, now, &[audit])
                    .await?
            }
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
            matching_step(secret.expose(), digits, now, credential.last_accepted_step)
                .map_err(Error::internal)?
                .map(MfaProof::TotpStep),
        )
    }
}
