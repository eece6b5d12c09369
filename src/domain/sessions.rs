//! Contract section 3, `GET/DELETE /v1/auth/sessions` and section 7, `POST /v1/me/password`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::password_policy::check_password;
use super::principal::UserPrincipal;
use crate::clock::rfc3339;
use crate::crypto::password::{Password, MAX_PASSWORD_BYTES};
use crate::domain::admin::audit::AuditEvent;
use crate::domain::sign_in::hashing_error;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::UserRecord;

/// Device of a listed session.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    /// Name given at sign-in.
    pub name: String,
    /// Platform, if given.
    pub platform: Option<String>,
    /// App version, if given.
    pub app_version: Option<String>,
}

/// One live session.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Session id.
    pub id: Uuid,
    /// Device.
    pub device: DeviceView,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub last_used_at: String,
    /// Last client IP.
    pub last_ip: Option<String>,
    /// Whether this is the session of the calling token.
    pub current: bool,
    /// The RFC 7638 thumbprint of the DPoP key the session is bound to, or null for a bearer
    /// session: a key-bound session cannot be refreshed without that key.
    pub dpop_jkt: Option<String>,
}

/// `GET /v1/auth/sessions` body.
#[derive(Debug, Serialize)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// `POST /v1/me/password` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// Proof the caller knows the password.
    pub current_password: Password,
    /// The replacement, checked against the password policy.
    pub new_password: Password,
}

/// Maps the password policy to the contract's 400 with `details.reason`.
pub fn enforce_password_policy(field: &str, password: &Password) -> Result<()> {
    check_password(password.expose()).map_err(|e| Error::InvalidRequest {
        message: e.to_string(),
        field: Some(field.to_string()),
        reason: Some(e.reason()),
    })
}

/// The wire view of a session; `current` marks the caller's own.
pub(crate) fn session_view(s: crate::storage::SessionRecord, current: Option<Uuid>) -> SessionView {
    SessionView {
        current: Some(s.id) == current,
        id: s.id,
        device: DeviceView {
            name: s.device_name,
            platform: s.device_platform,
            app_version: s.device_app_version,
        },
        created_at: rfc3339(s.created_at),
        last_used_at: rfc3339(s.last_used_at),
        last_ip: s.last_ip,
        dpop_jkt: s.dpop_jkt,
    }
}

impl Tokend {
    /// The caller's live sessions.
    pub async fn list_sessions(&self, caller: &UserPrincipal) -> Result<SessionList> {
        let now = self.clock.now();
        let rows = self
            .store
            .live_sessions_of(caller.user, self.session_liveness(now))
            .await?;
        Ok(SessionList {
            sessions: rows
                .into_iter()
                .map(|s| session_view(s, Some(caller.session)))
                .collect(),
        })
    }

    /// Revokes one of the caller's own sessions; another user's is "not found".
    pub async fn revoke_own_session(
        &self,
        caller: &UserPrincipal,
        id: Uuid,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now();
        let audit = AuditEvent::new("session.revoked", format!("user:{}", caller.user))
            .user(caller.user)
            .from(ip, user_agent)
            .details(serde_json::json!({"by": "user", "session": id}))
            .at(now);
        if self
            .store
            .revoke_user_session(caller.user, id, "revoked_by_user", now, &[audit])
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Asks for the password again before sensitive changes (password, MFA), throttled like
    /// sign-in so a stolen access token cannot be used to guess it.
    pub(crate) async fn recheck_password(
        &self,
        caller: &UserPrincipal,
        password: &Password,
    ) -> Result<UserRecord> {
        self.sign_in_limiter
            .charge_login(&caller.login)
            .await
            .map_err(Error::from)?;
        let user = self
            .store
            .user_by_id(caller.user)
            .await?
            .ok_or(Error::Unauthorized {
                token_presented: true,
            })?;
        if password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(Error::InvalidCredentials);
        }
        let verified = self
            .hasher
            .verify(password, Some(&user.password_hash))
            .await
            .map_err(hashing_error)?;
        if !verified.matches {
            return Err(Error::InvalidCredentials);
        }
        Ok(user)
    }

    /// Changes the caller's password and revokes every other session of theirs.
    pub async fn change_password(
        &self,
        caller: &UserPrincipal,
        req: ChangePasswordRequest,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let user = self.recheck_password(caller, &req.current_password).await?;
        enforce_password_policy("new_password", &req.new_password)?;
        let hash = self
            .hasher
            .hash(&req.new_password)
            .await
            .map_err(hashing_error)?;
        let now = self.clock.now();
        let actor = format!("user:{}", user.id);
        let audit = [
            AuditEvent::new("password.changed", actor.clone())
                .user(user.id)
                .from(ip, user_agent)
                .at(now),
            AuditEvent::new("session.revoked", actor)
                .user(user.id)
                .from(ip, user_agent)
                .details(serde_json::json!({"by": "password_change", "all_but": caller.session}))
                .at(now),
        ];
        self.store
            .change_password(user.id, &hash, Some(caller.session), now, &audit)
            .await?;
        tracing::info!(user = %user.id, "password changed; other sessions revoked");
        Ok(())
    }
}
