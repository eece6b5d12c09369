//! Administration of users, accounts and memberships (the `tokend user|account|member` commands).

use uuid::Uuid;

use super::login::normalize_login;
use super::sessions::enforce_password_policy;
use crate::crypto::password::Password;
use crate::domain::admin::audit::AuditEvent;
use crate::domain::sign_in::hashing_error;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{AccountRecord, UserRecord};

/// The rows a disable (which revokes every session in the same transaction) or an enable writes.
pub(crate) fn disable_audit(
    user: Uuid,
    disabled: bool,
    actor: &str,
    now: crate::clock::UnixTime,
) -> Vec<crate::storage::AuditRecord> {
    let kind = if disabled {
        "admin.user_disabled"
    } else {
        "admin.user_enabled"
    };
    let mut rows = vec![AuditEvent::new(kind, actor).user(user).at(now)];
    if disabled {
        rows.push(
            AuditEvent::new("session.revoked", actor)
                .user(user)
                .details(serde_json::json!({"by": "disable", "all": true}))
                .at(now),
        );
    }
    rows
}

impl Tokend {
    /// Creates a user after the password policy; returns the uuid.
    pub async fn add_user(&self, login: &str, password: &Password) -> Result<Uuid> {
        let login = normalize_login(login).map_err(|e| Error::field("login", e.to_string()))?;
        enforce_password_policy("password", password)?;
        let hash = self.hasher.hash(password).await.map_err(hashing_error)?;
        let user = UserRecord {
            id: Uuid::now_v7(),
            login,
            password_hash: hash,
            disabled: false,
            created_at: self.clock.now(),
        };
        let audit = AuditEvent::new("admin.user_created", "system")
            .user(user.id)
            .at(user.created_at);
        self.store.create_user(&user, &[audit]).await?;
        Ok(user.id)
    }

    pub(crate) async fn user_named(&self, login: &str) -> Result<UserRecord> {
        let login = normalize_login(login).map_err(|e| Error::field("login", e.to_string()))?;
        self.store
            .user_by_login(&login)
            .await?
            .ok_or_else(|| Error::field("login", format!("no user with login {login:?}")))
    }

    /// Disables (revoking every session at once) or re-enables a user.
    pub async fn set_user_disabled(&self, login: &str, disabled: bool) -> Result<Uuid> {
        let user = self.user_named(login).await?;
        let now = self.clock.now();
        self.store
            .set_user_disabled(
                user.id,
                disabled,
                now,
                &disable_audit(user.id, disabled, "system", now),
            )
            .await?;
        Ok(user.id)
    }

    /// Creates an account; returns the uuid.
    pub async fn add_account(&self, name: &str) -> Result<Uuid> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::field(
                "name",
                "account name must be 1 to 200 characters",
            ));
        }
        let account = AccountRecord {
            id: Uuid::now_v7(),
            name: name.to_string(),
            created_at: self.clock.now(),
        };
        let audit = AuditEvent::new("admin.account_created", "system")
            .account(account.id)
            .at(account.created_at);
        self.store.create_account(&account, &[audit]).await?;
        Ok(account.id)
    }

    /// Adds a membership or changes its role (effective from the next refresh).
    pub async fn add_member(&self, login: &str, account: Uuid, role: &str) -> Result<()> {
        if self.vocabulary.role(role).is_none() {
            let known: Vec<&str> = self.vocabulary.roles().collect();
            return Err(Error::field(
                "role",
                format!("unknown role {role:?}; known roles: {}", known.join(", ")),
            ));
        }
        let user = self.user_named(login).await?;
        self.store
            .account_by_id(account)
            .await?
            .ok_or_else(|| Error::field("account_uuid", format!("no account {account}")))?;
        let now = self.clock.now();
        let audit = AuditEvent::new("admin.member_put", "system")
            .user(user.id)
            .account(account)
            .details(serde_json::json!({"role": role}))
            .at(now);
        self.store
            .upsert_membership(user.id, account, role, now, &[audit])
            .await?;
        Ok(())
    }

    /// Ends a membership: the next refresh for that account gets 403.
    pub async fn remove_member(&self, login: &str, account: Uuid) -> Result<()> {
        let user = self.user_named(login).await?;
        let audit = AuditEvent::new("admin.member_removed", "system")
            .user(user.id)
            .account(account)
            .at(self.clock.now());
        if self
            .store
            .remove_membership(user.id, account, &[audit])
            .await?
        {
            Ok(())
        } else {
            Err(Error::field(
                "account_uuid",
                format!("{login:?} is not a member of {account}"),
            ))
        }
    }
}
