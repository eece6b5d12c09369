//! `/v1/admin/accounts`: create, read, list, rename and delete accounts, their members, and the
//! support path to their service tokens (listed and deleted, never shown).

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{page_of, AdminCaller, Page, PageRequest};
use crate::clock::rfc3339;
use crate::domain::service_tokens::ServiceTokenView;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{AccountDeletion, AccountRecord, AuditContext};

/// `POST /v1/admin/accounts` and `PATCH /v1/admin/accounts/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountNameRequest {
    /// Display name, 1 to 200 characters.
    pub name: String,
}

/// `PUT /v1/admin/accounts/{id}/members/{user}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRoleRequest {
    /// A role of the scope vocabulary.
    pub role: String,
}

/// An account as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct AccountView {
    /// Account uuid.
    pub uuid: Uuid,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<AccountRecord> for AccountView {
    fn from(a: AccountRecord) -> Self {
        Self {
            uuid: a.id,
            name: a.name,
            created_at: rfc3339(a.created_at),
        }
    }
}

/// A member of an account.
#[derive(Debug, Serialize)]
pub struct MemberView {
    /// User uuid.
    pub user_uuid: Uuid,
    /// Login.
    pub login: String,
    /// Role.
    pub role: String,
}

fn valid_account_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::field(
            "name",
            "account name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

impl Tokend {
    async fn existing_account(&self, id: Uuid) -> Result<AccountRecord> {
        self.store.account_by_id(id).await?.ok_or(Error::NotFound)
    }

    /// Creates an account.
    pub async fn admin_create_account(
        &self,
        caller: &AdminCaller,
        req: AccountNameRequest,
    ) -> Result<AccountView> {
        let account = AccountRecord {
            id: Uuid::now_v7(),
            name: valid_account_name(&req.name)?,
            created_at: self.clock.now(),
        };
        let audit = caller
            .event("account_created")
            .account(account.id)
            .at(account.created_at);
        self.store.create_account(&account, &[audit]).await?;
        Ok(account.into())
    }

    /// One account.
    pub async fn admin_account(&self, id: Uuid) -> Result<AccountView> {
        Ok(self.existing_account(id).await?.into())
    }

    /// One page of accounts, oldest first.
    pub async fn admin_list_accounts(&self, page: &PageRequest) -> Result<Page<AccountView>> {
        let (limit, cursor) = page.parse()?;
        let rows = self.store.list_accounts(cursor.as_ref(), limit + 1).await?;
        Ok(page_of(
            rows,
            limit,
            |a| (a.created_at, a.id.to_string()),
            AccountView::from,
        ))
    }

    /// Renames an account.
    pub async fn admin_rename_account(
        &self,
        caller: &AdminCaller,
        id: Uuid,
        req: AccountNameRequest,
    ) -> Result<AccountView> {
        let name = valid_account_name(&req.name)?;
        let audit = caller
            .event("account_renamed")
            .account(id)
            .at(self.clock.now());
        if !self.store.rename_account(id, &name, &audit).await? {
            return Err(Error::NotFound);
        }
        self.admin_account(id).await
    }

    /// Deletes an account; refused (409) while it has service tokens unless `force`, which
    /// deletes them too.
    pub async fn admin_delete_account(
        &self,
        caller: &AdminCaller,
        id: Uuid,
        force: bool,
    ) -> Result<()> {
        let audit = caller
            .event("account_deleted")
            .account(id)
            .details(json!({"force": force}))
            .at(self.clock.now());
        match self.store.delete_account(id, force, &audit).await? {
            AccountDeletion::Deleted => Ok(()),
            AccountDeletion::NotFound => Err(Error::NotFound),
            AccountDeletion::HasServiceTokens => Err(Error::AccountHasServiceTokens),
        }
    }

    /// The account's members, by login.
    pub async fn admin_account_members(&self, id: Uuid) -> Result<Page<MemberView>> {
        self.existing_account(id).await?;
        let rows = self.store.members_of_account(id).await?;
        Ok(Page::whole(
            rows.into_iter()
                .map(|m| MemberView {
                    user_uuid: m.user_id,
                    login: m.login,
                    role: m.role,
                })
                .collect(),
        ))
    }

    /// Adds a membership or changes its role (effective from the next refresh).
    pub async fn admin_put_member(
        &self,
        caller: &AdminCaller,
        account: Uuid,
        user: Uuid,
        req: MemberRoleRequest,
    ) -> Result<MemberView> {
        if self.vocabulary.role(&req.role).is_none() {
            let known: Vec<&str> = self.vocabulary.roles().collect();
            return Err(Error::field(
                "role",
                format!(
                    "unknown role {:?}; known roles: {}",
                    req.role,
                    known.join(", ")
                ),
            ));
        }
        self.existing_account(account).await?;
        let record = self.store.user_by_id(user).await?.ok_or(Error::NotFound)?;
        let now = self.clock.now();
        let audit = caller
            .event("member_put")
            .user(user)
            .account(account)
            .details(json!({"role": req.role}))
            .at(now);
        self.store
            .upsert_membership(user, account, &req.role, now, &[audit])
            .await?;
        Ok(MemberView {
            user_uuid: user,
            login: record.login,
            role: req.role,
        })
    }

    /// Ends a membership.
    pub async fn admin_remove_member(
        &self,
        caller: &AdminCaller,
        account: Uuid,
        user: Uuid,
    ) -> Result<()> {
        let audit = caller
            .event("member_removed")
            .user(user)
            .account(account)
            .at(self.clock.now());
        if !self
            .store
            .remove_membership(user, account, &[audit])
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// The account's live service tokens (never the token itself).
    pub async fn admin_service_tokens(&self, account: Uuid) -> Result<Page<ServiceTokenView>> {
        self.existing_account(account).await?;
        let rows = self.store.service_tokens_of(account).await?;
        Ok(Page::whole(
            rows.iter().map(|r| self.service_token_view(r)).collect(),
        ))
    }

    /// Deletes one service token of the account: it stops at once on every node.
    pub async fn admin_delete_service_token(
        &self,
        caller: &AdminCaller,
        account: Uuid,
        id: Uuid,
    ) -> Result<()> {
        // The service-token trail names a user as actor; an admin key has none, so the nil uuid
        // stands for "an admin" there and the audit trail names the key.
        let now = self.clock.now();
        let context = AuditContext {
            actor: Uuid::nil(),
            client_ip: caller.ip.clone(),
            at: now,
            events: vec![caller
                .event("x")
                .account(account)
                .details(json!({"service_token": id}))
                .rekind("service_token.deleted")
                .at(now)],
        };
        if !self
            .store
            .delete_service_token(account, id, &context)
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
