//! `/v1/admin/users`: create, read, list, disable and enable, delete, sessions and MFA of users.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{page_of, AdminCaller, Page, PageRequest};
use crate::clock::rfc3339;
use crate::crypto::password::{Password, NO_PASSWORD};
use crate::domain::login::normalize_login;
use crate::domain::passkeys::PasskeyView;
use crate::domain::sessions::{enforce_password_policy, session_view, SessionView};
use crate::domain::sign_in::hashing_error;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{UserFilter, UserRecord};

/// `POST /v1/admin/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login (normalised like every login).
    pub login: String,
    /// Optional; without one the user signs in only after a password reset.
    #[serde(default)]
    pub password: Option<Password>,
}

crate::redacted_debug!(CreateUserRequest);

/// A user as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// User uuid.
    pub uuid: Uuid,
    /// Normalised login.
    pub login: String,
    /// Whether sign-in and refresh are refused.
    pub disabled: bool,
    /// Whether a confirmed second factor (TOTP) is required at sign-in.
    pub mfa_enabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// One membership of a user.
#[derive(Debug, Serialize)]
pub struct UserMembershipView {
    /// Account uuid.
    pub account_uuid: Uuid,
    /// Role.
    pub role: String,
}

impl Tokend {
    async fn user_view(&self, user: UserRecord) -> Result<UserView> {
        // MFA is on when a sign-in needs a second step: a confirmed TOTP or at least one passkey.
        let mfa_enabled = self
            .store
            .totp_credential(user.id)
            .await?
            .is_some_and(|c| c.confirmed)
            || self.has_passkey(user.id).await?;
        Ok(UserView {
            uuid: user.id,
            login: user.login,
            disabled: user.disabled,
            mfa_enabled,
            created_at: rfc3339(user.created_at),
        })
    }

    async fn existing_user(&self, id: Uuid) -> Result<UserRecord> {
        self.store.user_by_id(id).await?.ok_or(Error::NotFound)
    }

    /// Creates a user, with the password policy applied to a given password.
    pub async fn admin_create_user(
        &self,
        caller: &AdminCaller,
        req: CreateUserRequest,
    ) -> Result<UserView> {
        let login =
            normalize_login(&req.login).map_err(|e| Error::field("login", e.to_string()))?;
        let password_hash = match &req.password {
            Some(password) => {
                enforce_password_policy("password", password)?;
                self.hasher.hash(password).await.map_err(hashing_error)?
            }
            None => NO_PASSWORD.to_string(),
        };
        let user = UserRecord {
            id: Uuid::now_v7(),
            login,
            password_hash,
            disabled: false,
            created_at: self.clock.now(),
        };
        let audit = caller
            .event("user_created")
            .user(user.id)
            .details(json!({"with_password": req.password.is_some()}))
            .at(user.created_at);
        self.store
            .create_user(&user, &[audit])
            .await
            .map_err(|e| match e {
                crate::storage::StorageError::Conflict(_) => Error::InvalidRequest {
                    message: "a user with this login exists".into(),
                    field: Some("login".into()),
                    reason: Some("conflict"),
                },
                other => other.into(),
            })?;
        self.user_view(user).await
    }

    /// One user.
    pub async fn admin_user(&self, id: Uuid) -> Result<UserView> {
        let user = self.existing_user(id).await?;
        self.user_view(user).await
    }

    /// One page of users, oldest first, optionally by login prefix and disabled flag.
    pub async fn admin_list_users(
        &self,
        filter: UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserView>> {
        let (limit, cursor) = page.parse()?;
        let filter = UserFilter {
            login_prefix: filter
                .login_prefix
                .map(|p| normalize_login(&p).unwrap_or(p)),
            ..filter
        };
        let rows = self
            .store
            .list_users(&filter, cursor.as_ref(), limit + 1)
            .await?;
        let page = page_of(rows, limit, |u| (u.created_at, u.id.to_string()), |u| u);
        let mut items = Vec::with_capacity(page.items.len());
        for user in page.items {
            items.push(self.user_view(user).await?);
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Disables (revoking every session in the same transaction) or enables a user.
    pub async fn admin_set_disabled(
        &self,
        caller: &AdminCaller,
        id: Uuid,
        disabled: bool,
    ) -> Result<UserView> {
        let now = self.clock.now();
        let actor = format!("admin_key:{}", caller.key_name);
        let mut audit = crate::domain::accounts::disable_audit(id, disabled, &actor, now);
        for row in &mut audit {
            row.ip = Some(caller.ip.clone());
            row.user_agent = caller.user_agent.clone();
        }
        self.store
            .set_user_disabled(id, disabled, now, &audit)
            .await?;
        self.admin_user(id).await
    }

    /// Deletes a user and everything that is theirs, in one transaction; audit rows keep the id.
    pub async fn admin_delete_user(&self, caller: &AdminCaller, id: Uuid) -> Result<()> {
        let audit = caller.event("user_deleted").user(id).at(self.clock.now());
        if self.store.delete_user(id, &audit).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// The user's live sessions, newest first.
    pub async fn admin_user_sessions(&self, id: Uuid) -> Result<Page<SessionView>> {
        self.existing_user(id).await?;
        let now = self.clock.now();
        let rows = self
            .store
            .live_sessions_of(id, self.session_liveness(now))
            .await?;
        Ok(Page::whole(
            rows.into_iter().map(|s| session_view(s, None)).collect(),
        ))
    }

    /// Revokes every live session of the user.
    pub async fn admin_revoke_sessions(&self, caller: &AdminCaller, id: Uuid) -> Result<()> {
        self.existing_user(id).await?;
        let audit = caller
            .event("x")
            .user(id)
            .details(json!({"by": "admin", "all": true}))
            .rekind("session.revoked")
            .at(self.clock.now());
        self.store
            .revoke_sessions_of(id, "revoked_by_admin", self.clock.now(), &audit)
            .await?;
        Ok(())
    }

    /// Revokes one session of the user; `NotFound` if it is not theirs or not live.
    pub async fn admin_revoke_session(
        &self,
        caller: &AdminCaller,
        user: Uuid,
        session: Uuid,
    ) -> Result<()> {
        let now = self.clock.now();
        let audit = caller
            .event("x")
            .user(user)
            .details(json!({"by": "admin", "session": session}))
            .rekind("session.revoked")
            .at(now);
        if !self
            .store
            .revoke_user_session(user, session, "revoked_by_admin", now, &[audit])
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Removes the user's TOTP, recovery codes and pending mfa_tokens (the support path for a
    /// lost phone); `NotFound` for an unknown user. Idempotent for a user without MFA.
    pub async fn admin_remove_mfa(&self, caller: &AdminCaller, id: Uuid) -> Result<()> {
        self.existing_user(id).await?;
        let audit = caller
            .event("x")
            .user(id)
            .details(json!({"by": "admin"}))
            .rekind("mfa.removed")
            .at(self.clock.now());
        self.store.remove_user_mfa(id, &audit).await?;
        Ok(())
    }

    /// The user's passkeys (a support desk helping someone who lost a device).
    pub async fn admin_user_passkeys(&self, id: Uuid) -> Result<Page<PasskeyView>> {
        self.existing_user(id).await?;
        let rows = self.store.passkeys_of(id).await?;
        Ok(Page::whole(rows.iter().map(PasskeyView::from).collect()))
    }

    /// Removes one of the user's passkeys, at once; `NotFound` if it is not theirs.
    pub async fn admin_remove_passkey(
        &self,
        caller: &AdminCaller,
        user: Uuid,
        passkey: Uuid,
    ) -> Result<()> {
        let audit = caller
            .event("x")
            .user(user)
            .details(json!({"by": "admin", "passkey": passkey}))
            .rekind("passkey.removed")
            .at(self.clock.now());
        if self.store.delete_passkey(user, passkey, &[audit]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// The user's memberships.
    pub async fn admin_user_memberships(&self, id: Uuid) -> Result<Page<UserMembershipView>> {
        self.existing_user(id).await?;
        let rows = self.store.memberships_of(id).await?;
        Ok(Page::whole(
            rows.into_iter()
                .map(|m| UserMembershipView {
                    account_uuid: m.account_id,
                    role: m.role,
                })
                .collect(),
        ))
    }
}
