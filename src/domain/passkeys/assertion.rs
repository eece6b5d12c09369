//! Signing in with a passkey: as the second factor after the password, and without a password
//! (discoverable credentials). webauthn-rs checks the assertion; here the passkey is re-read from
//! the database (a deleted one is refused even if the ceremony's state still lists it) and its
//! counter is moved forward with a compare-and-set, so a cloned authenticator is refused and
//! audited.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PublicKeyCredential, RequestChallengeResponse, WebauthnError,
};

use crate::crypto::opaque::{sha256_hex, OpaqueSecret};
use crate::domain::admin::audit::AuditEvent;
use crate::domain::dpop::DpopInput;
use crate::domain::refresh::secs;
use crate::domain::sign_in::{Device, SessionAudit, SignedIn};
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{ChallengeRecord, PasskeyRecord, PasskeyUse};

/// The prefix of passwordless challenge ids.
const CHALLENGE_PREFIX: &str = "wpk_";

/// `POST /v1/auth/passkey/options` answer.
#[derive(Serialize)]
pub struct PasskeyOptions {
    /// Names this sign-in at `POST /v1/auth/passkey/sign_in`; single use, short-lived.
    pub challenge_id: String,
    /// `{"publicKey": {…}}` with no `allowCredentials`: the authenticator offers the passkeys
    /// it holds for this RP ID.
    pub options: RequestChallengeResponse,
}

/// `POST /v1/auth/passkey/sign_in` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    /// From `POST /v1/auth/passkey/options`.
    pub challenge_id: String,
    /// The assertion, in the W3C `PublicKeyCredential` JSON form.
    pub credential: PublicKeyCredential,
    /// The same device object as a password sign-in.
    pub device: Device,
}

impl Tokend {
    /// The passkey part of an MFA challenge for `user`: request options for their passkeys and
    /// the state to keep with the mfa_token. `None` when passkeys are off or they have none.
    pub(crate) async fn passkey_step(
        &self,
        user: Uuid,
    ) -> Result<Option<(RequestChallengeResponse, String)>> {
        let Some(webauthn) = self.passkeys.webauthn.as_ref() else {
            return Ok(None);
        };
        let records = self.store.passkeys_of(user).await?;
        let passkeys: Vec<Passkey> = records
            .iter()
            .filter_map(|r| serde_json::from_str(&r.passkey).ok())
            .collect();
        if passkeys.is_empty() {
            return Ok(None);
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(Error::internal)?;
        let state = serde_json::to_string(&state).map_err(Error::internal)?;
        Ok(Some((options, state)))
    }

    /// Whether `user` holds a passkey (and passkeys are on): part of "MFA enabled".
    pub(crate) async fn has_passkey(&self, user: Uuid) -> Result<bool> {
        Ok(self.passkeys.webauthn.is_some() && !self.store.passkeys_of(user).await?.is_empty())
    }

    /// The proof an MFA step's assertion gives, to burn with the mfa_token; `None` when it is
    /// refused (a wrong code, as far as the caller is concerned).
    pub(crate) async fn passkey_mfa_proof(
        &self,
        user: Uuid,
        state: Option<&str>,
        credential: &PublicKeyCredential,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) -> Result<Option<crate::storage::MfaProof>> {
        let (Some(webauthn), Some(state)) = (self.passkeys.webauthn.as_ref(), state) else {
            return Ok(None);
        };
        let state: PasskeyAuthentication = serde_json::from_str(state).map_err(Error::internal)?;
        let result = match webauthn.finish_passkey_authentication(credential, &state) {
            Ok(result) => result,
            Err(e) => {
                self.note_refused_assertion(Some(user), &e, ip, user_agent)
                    .await;
                return Ok(None);
            }
        };
        let Some(record) = self
            .passkey_of(user, &URL_SAFE_NO_PAD.encode(result.cred_id().as_slice()))
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .updated_use(&record, &result)
            .map(crate::storage::MfaProof::Passkey))
    }

    /// `POST /v1/auth/passkey/options`: a short-lived, single-use challenge for a discoverable
    /// credential. Rate limited per client address, like sign-in.
    pub async fn passkey_options(&self, ip: std::net::IpAddr) -> Result<PasskeyOptions> {
        let webauthn = self.passkeys.webauthn.as_ref().ok_or(Error::NotFound)?;
        self.charge_passkey_sign_in(ip).await?;
        let (mut options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(Error::internal)?;
        // A modal "sign in with a passkey", not only the autofill (conditional) mediation
        // webauthn-rs asks for; browsers may still pass `mediation: "conditional"` themselves.
        options.mediation = None;
        let now = self.clock.now();
        let id = OpaqueSecret::generate(CHALLENGE_PREFIX);
        self.store
            .create_challenge(&ChallengeRecord {
                id_hash: id.hash(),
                purpose: "passwordless",
                user_id: None,
                state: serde_json::to_string(&state).map_err(Error::internal)?,
                created_at: now,
                expires_at: now + secs(self.passkeys.challenge_ttl),
            })
            .await?;
        Ok(PasskeyOptions {
            challenge_id: id.expose().to_string(),
            options,
        })
    }

    /// `POST /v1/auth/passkey/sign_in`: a verified discoverable passkey signs its owner in, with
    /// no second step (user verification is required), answering exactly as a password sign-in.
    pub async fn passkey_sign_in(
        &self,
        req: PasskeySignInRequest,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
        dpop: &DpopInput,
    ) -> Result<SignedIn> {
        let webauthn = self.passkeys.webauthn.as_ref().ok_or(Error::NotFound)?;
        req.device.validate()?;
        self.charge_passkey_sign_in(ip).await?;
        self.check_device_client(&req.device).await?;
        let dpop_jkt = self
            .token_endpoint_proof(dpop, self.settings.dpop_required)
            .await?
            .map(|proof| proof.jkt);
        let now = self.clock.now();
        if !req.challenge_id.starts_with(CHALLENGE_PREFIX) || req.challenge_id.len() > 128 {
            return Err(Error::InvalidPasskey);
        }
        let state = self
            .store
            .take_challenge(
                &sha256_hex(req.challenge_id.as_bytes()),
                "passwordless",
                None,
                now,
            )
            .await?
            .ok_or(Error::InvalidPasskey)?;
        let state: DiscoverableAuthentication =
            serde_json::from_str(&state).map_err(Error::internal)?;
        let (user_id, credential_id) = webauthn
            .identify_discoverable_authentication(&req.credential)
            .map_err(|_| Error::InvalidPasskey)?;
        let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
        let Some(record) = self.passkey_of(user_id, &credential_id).await? else {
            return Err(Error::InvalidPasskey);
        };
        let passkey: Passkey = serde_json::from_str(&record.passkey).map_err(Error::internal)?;
        let result = match webauthn.finish_discoverable_authentication(
            &req.credential,
            state,
            &[DiscoverableKey::from(&passkey)],
        ) {
            Ok(result) => result,
            Err(e) => {
                self.note_refused_assertion(Some(user_id), &e, ip, user_agent)
                    .await;
                return Err(Error::InvalidPasskey);
            }
        };
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(Error::InvalidPasskey)?;
        // Refused after the assertion (so nobody learns who is disabled), before its use counts.
        if user.disabled {
            return Err(Error::UserDisabled);
        }
        let used = self
            .updated_use(&record, &result)
            .ok_or(Error::InvalidPasskey)?;
        if !self.store.record_passkey_use(&used).await? {
            self.note_counter_regression(user_id, ip, user_agent).await;
            return Err(Error::InvalidPasskey);
        }
        self.start_session(
            &user,
            &req.device,
            ip,
            SessionAudit::new("passkey", user_agent),
            dpop_jkt,
        )
        .await
    }

    async fn charge_passkey_sign_in(&self, ip: std::net::IpAddr) -> Result<()> {
        self.sign_in_limiter.charge_ip(ip).await.map_err(|r| {
            self.metrics.event("sign_in_rate_limited");
            Error::from(r)
        })
    }

    /// The user's passkey with this credential id, read now (not from a ceremony's snapshot).
    async fn passkey_of(&self, user: Uuid, credential_id: &str) -> Result<Option<PasskeyRecord>> {
        Ok(self
            .store
            .passkey_by_credential(credential_id)
            .await?
            .filter(|r| r.user_id == user))
    }

    /// The record's credential after this assertion (counter, flags), to store.
    fn updated_use(
        &self,
        record: &PasskeyRecord,
        result: &AuthenticationResult,
    ) -> Option<PasskeyUse> {
        let mut passkey: Passkey = serde_json::from_str(&record.passkey).ok()?;
        passkey.update_credential(result)?;
        Some(PasskeyUse {
            id: record.id,
            user_id: record.user_id,
            passkey: serde_json::to_string(&passkey).ok()?,
            sign_count: i64::from(result.counter()),
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
            at: self.clock.now(),
        })
    }

    /// Audits an assertion webauthn-rs refused when the refusal says something about the
    /// credential (a counter that did not move forward: a cloned authenticator).
    async fn note_refused_assertion(
        &self,
        user: Option<Uuid>,
        error: &WebauthnError,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) {
        tracing::info!(error = %error, "passkey assertion refused");
        if let (WebauthnError::CredentialPossibleCompromise, Some(user)) = (error, user) {
            self.note_counter_regression(user, ip, user_agent).await;
        }
    }

    pub(crate) async fn note_counter_regression(
        &self,
        user: Uuid,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) {
        self.metrics.event("passkey_counter_regression");
        tracing::warn!(%user, "passkey counter went backwards: a cloned authenticator?");
        self.audit(
            AuditEvent::new("passkey.refused", "system")
                .user(user)
                .from(ip, user_agent)
                .details(serde_json::json!({"reason": "passkey_counter_regression"})),
        )
        .await;
    }
}
