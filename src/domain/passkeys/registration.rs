//! Registering, listing and removing the caller's passkeys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Credential, CredentialID, PasskeyRegistration,
    RegisterPublicKeyCredential, Webauthn,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{
    PasskeyList, PasskeyView, MAX_PASSKEYS_PER_USER, MAX_PASSKEY_NAME_CHARS, RECENT_SIGN_IN_SECS,
};
use crate::crypto::opaque::{sha256_hex, OpaqueSecret};
use crate::crypto::password::Password;
use crate::domain::admin::audit::AuditEvent;
use crate::domain::principal::UserPrincipal;
use crate::domain::refresh::secs;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{ChallengeRecord, PasskeyRecord, StorageError};

/// The prefix of registration ids, so one pasted in the wrong place is recognisable.
const REGISTRATION_PREFIX: &str = "wrg_";

/// `POST /v1/me/passkeys/registration` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    /// Needed when the session's sign-in is older than ten minutes.
    #[serde(default)]
    pub password: Option<Password>,
}

/// `POST /v1/me/passkeys/registration` answer.
#[derive(Serialize)]
pub struct RegistrationStart {
    /// Names this registration at `POST /v1/me/passkeys`; single use, short-lived.
    pub registration_id: String,
    /// `{"publicKey": {…}}`, for `navigator.credentials.create`, Credential Manager or
    /// AuthenticationServices.
    pub options: CreationChallengeResponse,
}

/// `POST /v1/me/passkeys` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    /// From the registration's start.
    pub registration_id: String,
    /// A name the user recognises ("iPhone", "YubiKey"), 1 to 64 characters.
    pub name: String,
    /// The authenticator's answer, in the W3C `PublicKeyCredential` JSON form.
    pub credential: RegisterPublicKeyCredential,
}

impl Tokend {
    fn webauthn(&self) -> Result<&Webauthn> {
        self.passkeys.webauthn.as_ref().ok_or(Error::NotFound)
    }

    /// Starts a registration: after a recent sign-in (or the password), excluding the
    /// credentials the user has, requiring user verification, asking for a discoverable
    /// credential where the authenticator can make one (so it also works without a login).
    pub async fn start_passkey_registration(
        &self,
        user: &UserPrincipal,
        req: StartRegistration,
    ) -> Result<RegistrationStart> {
        let webauthn = self.webauthn()?;
        let now = self.clock.now();
        self.check_presence(user, req.password.as_ref(), now)
            .await?;
        let existing = self.store.passkeys_of(user.user).await?;
        if existing.len() >= MAX_PASSKEYS_PER_USER {
            return Err(Error::PasskeyLimitReached {
                limit: MAX_PASSKEYS_PER_USER,
            });
        }
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .map(CredentialID::from)
            .collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(user.user, &user.login, &user.login, Some(exclude))
            .map_err(Error::internal)?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        let id = OpaqueSecret::generate(REGISTRATION_PREFIX);
        self.store
            .create_challenge(&ChallengeRecord {
                id_hash: id.hash(),
                purpose: "registration",
                user_id: Some(user.user),
                state: serde_json::to_string(&state).map_err(Error::internal)?,
                created_at: now,
                expires_at: now + secs(self.passkeys.challenge_ttl),
            })
            .await?;
        Ok(RegistrationStart {
            registration_id: id.expose().to_string(),
            options,
        })
    }

    /// A sign-in of the last ten minutes proves the user is present; past that, the password.
    async fn check_presence(
        &self,
        user: &UserPrincipal,
        password: Option<&Password>,
        now: crate::clock::UnixTime,
    ) -> Result<()> {
        let recent = self
            .store
            .session_by_id(user.session)
            .await?
            .is_some_and(|s| now - s.created_at <= RECENT_SIGN_IN_SECS);
        if recent && password.is_none() {
            return Ok(());
        }
        let Some(password) = password else {
            return Err(Error::InvalidRequest {
                message: "the session is older than 10 minutes: send the password to add a passkey"
                    .into(),
                field: Some("password".into()),
                reason: Some("password_required"),
            });
        };
        // Charged to the login's sign-in budget, like every other password re-entry, so a
        // stolen access token cannot guess the password here.
        self.recheck_password(user, password).await.map(|_| ())
    }

    /// Finishes a registration: the challenge is spent (once, on any node), the credential is
    /// checked by webauthn-rs and stored under the given name.
    pub async fn finish_passkey_registration(
        &self,
        user: &UserPrincipal,
        req: FinishRegistration,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) -> Result<PasskeyView> {
        let webauthn = self.webauthn()?;
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_PASSKEY_NAME_CHARS {
            return Err(Error::field(
                "name",
                format!("name must be 1 to {MAX_PASSKEY_NAME_CHARS} characters"),
            ));
        }
        let now = self.clock.now();
        let unknown = || {
            Error::field(
                "registration_id",
                "registration_id is unknown, used, expired or another user's: start again",
            )
        };
        if !req.registration_id.starts_with(REGISTRATION_PREFIX) || req.registration_id.len() > 128
        {
            return Err(unknown());
        }
        let state = self
            .store
            .take_challenge(
                &sha256_hex(req.registration_id.as_bytes()),
                "registration",
                Some(user.user),
                now,
            )
            .await?
            .ok_or_else(unknown)?;
        let state: PasskeyRegistration = serde_json::from_str(&state).map_err(Error::internal)?;
        let credential_id = URL_SAFE_NO_PAD.encode(req.credential.raw_id.as_slice());
        if self
            .store
            .passkeys_of(user.user)
            .await?
            .iter()
            .any(|p| p.credential_id == credential_id)
        {
            return Err(Error::PasskeyAlreadyRegistered);
        }
        let passkey = webauthn
            .finish_passkey_registration(&req.credential, &state)
            .map_err(|e| Error::InvalidRequest {
                message: format!("the authenticator's answer was refused: {e}"),
                field: Some("credential".into()),
                reason: Some("invalid_passkey"),
            })?;
        let credential = Credential::from(passkey.clone());
        let record = PasskeyRecord {
            id: Uuid::now_v7(),
            user_id: user.user,
            credential_id,
            name,
            passkey: serde_json::to_string(&passkey).map_err(Error::internal)?,
            sign_count: i64::from(credential.counter),
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            created_at: now,
            last_used_at: None,
        };
        let audit = AuditEvent::new("passkey.added", format!("user:{}", user.user))
            .user(user.user)
            .from(ip, user_agent)
            .details(serde_json::json!({"passkey": record.id, "name": record.name}))
            .at(now);
        match self.store.insert_passkey(&record, &[audit]).await {
            Ok(()) => {}
            Err(StorageError::Conflict(_)) => return Err(Error::PasskeyAlreadyRegistered),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user = %user.user, passkey = %record.id, "passkey added");
        Ok(PasskeyView::from(&record))
    }

    /// `GET /v1/me/passkeys`.
    pub async fn list_passkeys(&self, user: &UserPrincipal) -> Result<PasskeyList> {
        self.webauthn()?;
        let passkeys = self.store.passkeys_of(user.user).await?;
        Ok(PasskeyList {
            passkeys: passkeys.iter().map(PasskeyView::from).collect(),
        })
    }

    /// `DELETE /v1/me/passkeys/{id}`: at once; `not_found` for anything not the caller's.
    pub async fn delete_passkey(
        &self,
        user: &UserPrincipal,
        id: Uuid,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
        self.webauthn()?;
        let audit = AuditEvent::new("passkey.removed", format!("user:{}", user.user))
            .user(user.user)
            .from(ip, user_agent)
            .details(serde_json::json!({"passkey": id}))
            .at(self.clock.now());
        if self.store.delete_passkey(user.user, id, &[audit]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }
}
