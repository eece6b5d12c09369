//! Contract section 3, `POST /v1/auth/sign_in`: rate limits first, then one password hash whether
//! or not the login exists, then either a session or (issue #3) an MFA challenge.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin::audit::AuditEvent;
use super::dpop::DpopInput;
use super::login::normalize_login;
use crate::crypto::password::{Password, MAX_PASSWORD_BYTES};
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{DeviceRecord, SessionRecord, UserRecord};
use serde_json::json;

/// The device a session belongs to, as the app describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Shown in the sessions list (1-100 characters).
    pub name: String,
    /// e.g. `ios`.
    #[serde(default)]
    pub platform: Option<String>,
    /// e.g. `4.2.0`.
    #[serde(default)]
    pub app_version: Option<String>,
    /// OAuth client id of the app; the `client_id` claim (default `tokend`).
    #[serde(default)]
    pub client_id: Option<String>,
}

/// What an mfa_token keeps of the device: the name trimmed, as the session will show it.
impl From<&Device> for DeviceRecord {
    fn from(device: &Device) -> Self {
        Self {
            name: device.name.trim().to_string(),
            platform: device.platform.clone(),
            app_version: device.app_version.clone(),
            client_id: device.client_id.clone(),
        }
    }
}

/// The device an mfa_token was issued for, given back to start its session.
impl From<DeviceRecord> for Device {
    fn from(record: DeviceRecord) -> Self {
        Self {
            name: record.name,
            platform: record.platform,
            app_version: record.app_version,
            client_id: record.client_id,
        }
    }
}

impl Device {
    /// Enforces the contract's length rules, naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        let len = self.name.trim().chars().count();
        if len == 0 || self.name.chars().count() > 100 {
            return Err(Error::field(
                "device.name",
                "device.name must be 1 to 100 characters",
            ));
        }
        if self.name.chars().any(char::is_control) {
            return Err(Error::field(
                "device.name",
                "device.name must not contain control characters",
            ));
        }
        for (field, value) in [
            ("device.platform", &self.platform),
            ("device.app_version", &self.app_version),
            ("device.client_id", &self.client_id),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().any(char::is_control))
            {
                return Err(Error::field(
                    field,
                    format!("{field} must not contain control characters"),
                ));
            }
            if value.as_ref().is_some_and(|v| v.chars().count() > 100) {
                return Err(Error::field(
                    field,
                    format!("{field} must be at most 100 characters"),
                ));
            }
        }
        Ok(())
    }
}

/// `POST /v1/auth/sign_in` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// Login as typed.
    pub login: String,
    /// Password as typed.
    pub password: Password,
    /// The device signing in.
    pub device: Device,
}

/// `user` object of a sign-in response.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// User uuid.
    pub uuid: Uuid,
    /// Normalised login.
    pub login: String,
}

/// One account the user can work on.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// Account uuid.
    pub uuid: Uuid,
    /// Account name.
    pub name: String,
    /// The user's role there.
    pub role: String,
    /// Scopes the role grants, sorted.
    pub scopes: Vec<String>,
}

/// A finished sign-in (with or without MFA).
#[derive(Serialize)]
pub struct SignedIn {
    /// The session's first refresh token.
    pub refresh_token: String,
    /// The new session.
    pub session_id: Uuid,
    /// Who signed in.
    pub user: UserView,
    /// Where they can work.
    pub accounts: Vec<AccountView>,
}

/// The MFA step a user with TOTP must still take.
#[derive(Serialize)]
pub struct MfaChallenge {
    /// Always true.
    pub mfa_required: bool,
    /// Single-use, short-lived; finishes the sign-in at `POST /v1/auth/mfa`.
    pub mfa_token: String,
    /// What the user can finish with: `totp`, `passkey`, `recovery_code`.
    pub mfa_methods: Vec<&'static str>,
    /// Seconds the mfa_token lives.
    pub expires_in: i64,
    /// With `passkey` among the methods: `{"publicKey": {…}}` for an assertion by one of the
    /// user's passkeys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey_options: Option<webauthn_rs::prelude::RequestChallengeResponse>,
}

/// Either outcome of a correct password.
#[derive(Serialize)]
#[serde(untagged)]
pub enum SignInOutcome {
    /// No MFA: signed in.
    Complete(SignedIn),
    /// MFA needed first.
    MfaRequired(MfaChallenge),
}

/// What a new session's audit rows say: how the user proved who they are, from which user agent,
/// and rows of the same sign-in written with it (the MFA success), all in the session's
/// transaction.
#[derive(Debug)]
pub struct SessionAudit<'a> {
    method: &'static str,
    user_agent: Option<&'a str>,
    before: Vec<crate::storage::AuditRecord>,
}

impl<'a> SessionAudit<'a> {
    /// A sign-in by `method` (`password`, `password+mfa`).
    pub fn new(method: &'static str, user_agent: Option<&'a str>) -> Self {
        Self {
            method,
            user_agent,
            before: Vec::new(),
        }
    }

    /// Adds a row to write with the session.
    pub fn with(mut self, row: crate::storage::AuditRecord) -> Self {
        self.before.push(row);
        self
    }
}

/// The domain error for a failed hash: `429 rate_limited` (retry in a second) when hashing is
/// saturated, since that says "too many sign-ins right now", not that anything broke.
pub(crate) fn hashing_error(e: anyhow::Error) -> Error {
    if e.is::<crate::crypto::password::HashQueueFull>() {
        Error::RateLimited {
            retry_after_secs: 1,
        }
    } else {
        Error::internal(e)
    }
}

impl Tokend {
    /// Checks limits and credentials, then signs in or asks for the second factor.
    pub async fn sign_in(
        &self,
        req: SignInRequest,
        ip: IpAddr,
        user_agent: Option<&str>,
        dpop: &DpopInput,
    ) -> Result<SignInOutcome> {
        req.device.validate()?;
        let login =
            normalize_login(&req.login).map_err(|e| Error::field("login", e.to_string()))?;
        let failed = |reason: &str| {
            AuditEvent::new("sign_in.failed", "system")
                .from(ip, user_agent)
                .details(json!({"reason": reason}))
        };
        if let Err(r) = self.sign_in_limiter.charge(ip, &login).await {
            self.metrics.event("sign_in_rate_limited");
            // A refusal costs no hash, so it must not cost a row each: at most one row per
            // address and per login per minute (both must be fresh, so rotating either side
            // of a flood still writes one row).
            let by_ip = self
                .audit_throttle
                .admit(&format!("ip:{ip}"), self.clock.now(), 60);
            let by_login =
                self.audit_throttle
                    .admit(&format!("login:{login}"), self.clock.now(), 60);
            if by_ip && by_login {
                self.audit(failed("rate_limited")).await;
            }
            return Err(Error::RateLimited {
                retry_after_secs: r.retry_after_secs,
            });
        }
        // After the limiter: with registered clients required, a flood of made-up client ids
        // must not buy database reads.
        self.check_device_client(&req.device).await?;
        // Before the hash: a bad proof must not cost a hash, and binds nothing.
        let dpop_jkt = self
            .token_endpoint_proof(dpop, self.settings.dpop_required)
            .await?
            .map(|proof| proof.jkt);
        if req.password.expose().len() > MAX_PASSWORD_BYTES {
            // Never hashed, never truncated; says nothing about whether the login exists.
            return Err(Error::InvalidCredentials);
        }
        let user = self.store.user_by_login(&login).await?;
        let verified = self
            .hasher
            .verify(
                &req.password,
                // A user created without a password matches nothing, at the full price of a hash.
                user.as_ref()
                    .map(|u| u.password_hash.as_str())
                    .filter(|h| *h != crate::crypto::password::NO_PASSWORD),
            )
            .await
            .map_err(hashing_error)?;
        let Some(mut user) = user.as_ref().filter(|_| verified.matches).cloned() else {
            self.metrics.event("sign_in_invalid_credentials");
            let event = match &user {
                Some(u) => failed("wrong_password").user(u.id),
                None => failed("unknown_login"),
            };
            self.audit(event).await;
            return Err(Error::InvalidCredentials);
        };
        if verified.needs_rehash {
            if let Some(upgraded) = self.rehash(&user, &req.password).await {
                user.password_hash = upgraded;
            }
        }
        if user.disabled {
            self.audit(failed("user_disabled").user(user.id)).await;
            return Err(Error::UserDisabled);
        }
        if let Some(challenge) = self
            .mfa_challenge_for(&user, &req.device, dpop_jkt.clone())
            .await?
        {
            return Ok(SignInOutcome::MfaRequired(challenge));
        }
        let signed_in = self
            .start_session(
                &user,
                &req.device,
                ip,
                SessionAudit::new("password", user_agent),
                dpop_jkt,
            )
            .await?;
        Ok(SignInOutcome::Complete(signed_in))
    }

    /// Upgrades the stored hash to the current parameters; returns the new hash if it was stored.
    async fn rehash(&self, user: &UserRecord, password: &Password) -> Option<String> {
        let hash = match self.hasher.hash(password).await {
            Ok(hash) => hash,
            Err(e) => {
                tracing::warn!(user = %user.id, error = %e, "password rehash failed");
                return None;
            }
        };
        match self
            .store
            .set_password_hash(user.id, &user.password_hash, &hash)
            .await
        {
            Ok(true) => Some(hash),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(user = %user.id, error = %e, "could not store the upgraded password hash");
                None
            }
        }
    }

    /// Creates a session at generation 0 and returns its first refresh token and the accounts.
    /// `dpop_jkt` binds the session to the DPoP key the sign-in proved (RFC 9449).
    pub async fn start_session(
        &self,
        user: &UserRecord,
        device: &Device,
        ip: IpAddr,
        audit: SessionAudit<'_>,
        dpop_jkt: Option<String>,
    ) -> Result<SignedIn> {
        let now = self.clock.now();
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            device_name: device.name.trim().to_string(),
            device_platform: device.platform.clone(),
            device_app_version: device.app_version.clone(),
            client_id: device.client_id.clone(),
            generation: 0,
            rotated_at: now,
            created_at: now,
            last_used_at: now,
            last_ip: Some(ip.to_string()),
            revoked_at: None,
            revoked_reason: None,
            dpop_jkt,
        };
        let mut rows = audit.before;
        rows.push(
            AuditEvent::new("sign_in.succeeded", format!("user:{}", user.id))
                .user(user.id)
                .from(ip, audit.user_agent)
                .details(json!({
                    "session": session.id,
                    "method": audit.method,
                    "dpop_bound": session.dpop_jkt.is_some(),
                }))
                .at(now),
        );
        if !self
            .store
            .create_session(&session, &user.password_hash, &rows)
            .await?
        {
            // The password changed or the user was disabled while this sign-in was hashing.
            return Err(Error::InvalidCredentials);
        }
        tracing::info!(user = %user.id, session = %session.id, "signed in");
        self.metrics.event("session_started");
        Ok(SignedIn {
            refresh_token: self
                .refresh_tokens
                .derive(session.id, 0)
                .expose()
                .to_string(),
            session_id: session.id,
            user: UserView {
                uuid: user.id,
                login: user.login.clone(),
            },
            accounts: self.accounts_of(user.id).await?,
        })
    }

    /// The user's accounts with role and scopes.
    pub async fn accounts_of(&self, user: Uuid) -> Result<Vec<AccountView>> {
        let memberships = self.store.memberships_of(user).await?;
        let mut accounts: Vec<AccountView> = memberships
            .into_iter()
            .map(|m| {
                let scopes = self
                    .vocabulary
                    .role(&m.role)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                AccountView {
                    uuid: m.account_id,
                    name: m.account_name,
                    role: m.role,
                    scopes,
                }
            })
            .collect();
        // Sorted here, not by SQL, so the order does not depend on the database's collation.
        accounts.sort_by(|a, b| (a.name.as_str(), a.uuid).cmp(&(b.name.as_str(), b.uuid)));
        Ok(accounts)
    }
}

crate::redacted_debug!(SignInRequest, SignedIn, MfaChallenge, SignInOutcome);
