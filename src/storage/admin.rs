//! Persistence of the admin API (issue #11): admin keys, listings with keyset pagination,
//! deletions, password-reset tickets and the security audit trail. One implementation for both
//! backends, stamped out by [`impl_admin_store!`]. Lists page with `WHERE (created_at, id) > …`,
//! never `OFFSET`, so a page boundary does not move when rows are inserted meanwhile.

use async_trait::async_trait;
use uuid::Uuid;

use super::{AccountRecord, StorageResult, UserRecord};
use crate::clock::UnixTime;

/// An admin key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminKeyRecord {
    /// Unique name, shown in the audit trail.
    pub name: String,
    /// SHA-256 hex of the key.
    pub key_hash: String,
    /// Creation time.
    pub created_at: UnixTime,
}

/// One security event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    /// UUIDv7 text (time-ordered).
    pub id: String,
    /// When.
    pub at: UnixTime,
    /// `sign_in.failed`, `admin.user_deleted`, …
    pub kind: String,
    /// The user concerned, by id only.
    pub user_id: Option<String>,
    /// The account concerned.
    pub account_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// `user:<uuid>`, `admin_key:<name>` or `system`.
    pub actor: String,
    /// JSON object; never a secret, never a login.
    pub details: String,
}

/// Where a page starts: after this `(time, id)`.
pub type Cursor = (UnixTime, String);

/// Filters of the user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Normalised-login prefix.
    pub login_prefix: Option<String>,
    /// Only disabled (true) or enabled (false) users.
    pub disabled: Option<bool>,
}

/// Filters of the audit list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Events of this user.
    pub user_id: Option<Uuid>,
    /// Events of this account.
    pub account_id: Option<Uuid>,
    /// Events of this kind.
    pub kind: Option<String>,
    /// Events at or after this time.
    pub since: Option<UnixTime>,
}

/// A member of an account, with the login to show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountMemberRecord {
    /// User uuid.
    #[sqlx(try_from = "String")]
    pub user_id: Uuid,
    /// Normalised login.
    pub login: String,
    /// Role.
    pub role: String,
}

/// How an account deletion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountDeletion {
    /// Gone, with its memberships (and service tokens when forced).
    Deleted,
    /// No such account.
    NotFound,
    /// Refused: it still has live service tokens and `force` was not given.
    HasServiceTokens,
}

/// Escapes `%`, `_` and `\` so a login prefix matches literally in `LIKE … ESCAPE '\'`.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Admin keys, listings, deletions, reset tickets and the audit trail.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Stores a new admin key; `Conflict` if the name exists.
    async fn create_admin_key(
        &self,
        key: &AdminKeyRecord,
        audit: &AuditRecord,
    ) -> StorageResult<()>;
    /// Looks a key up by hash.
    async fn admin_key_by_hash(&self, key_hash: &str) -> StorageResult<Option<AdminKeyRecord>>;
    /// Every admin key, by name.
    async fn admin_keys(&self) -> StorageResult<Vec<AdminKeyRecord>>;
    /// Removes a key; false if there was none.
    async fn remove_admin_key(&self, name: &str, audit: &AuditRecord) -> StorageResult<bool>;
    /// One page of users, ordered by `(created_at, id)`.
    async fn list_users(
        &self,
        filter: &UserFilter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> StorageResult<Vec<UserRecord>>;
    /// One page of accounts, ordered by `(created_at, id)`.
    async fn list_accounts(
        &self,
        after: Option<&Cursor>,
        limit: u32,
    ) -> StorageResult<Vec<AccountRecord>>;
    /// Renames an account; false if there is none.
    async fn rename_account(
        &self,
        id: Uuid,
        name: &str,
        audit: &AuditRecord,
    ) -> StorageResult<bool>;
    /// Deletes an account (see [`AccountDeletion`]), with its audit row, in one transaction.
    async fn delete_account(
        &self,
        id: Uuid,
        force: bool,
        audit: &AuditRecord,
    ) -> StorageResult<AccountDeletion>;
    /// Deletes a user and everything that is theirs (sessions, MFA, recovery codes,
    /// memberships, reset tickets), with its audit row, in one transaction; false if none.
    async fn delete_user(&self, id: Uuid, audit: &AuditRecord) -> StorageResult<bool>;
    /// Revokes every live session of a user with its audit row; how many.
    async fn revoke_sessions_of(
        &self,
        user: Uuid,
        reason: &str,
        now: UnixTime,
        audit: &AuditRecord,
    ) -> StorageResult<u64>;
    /// Removes the user's TOTP credential, recovery codes and pending mfa_tokens with its audit
    /// row; false if the user had none of them.
    async fn remove_user_mfa(&self, user: Uuid, audit: &AuditRecord) -> StorageResult<bool>;
    /// The members of an account, by login.
    async fn members_of_account(&self, account: Uuid) -> StorageResult<Vec<AccountMemberRecord>>;
    /// Stores the user's reset ticket, replacing (voiding) a previous one.
    async fn put_reset_ticket(
        &self,
        user: Uuid,
        ticket_hash: &str,
        expires_at: UnixTime,
        now: UnixTime,
        audit: &AuditRecord,
    ) -> StorageResult<()>;
    /// Spends a live ticket and, in the same transaction, sets the new password hash, revokes
    /// every session of the user and writes the audit row; the user, or `None` for a wrong,
    /// used or expired ticket. One statement takes the ticket, so of any number of concurrent
    /// redemptions exactly one wins.
    async fn redeem_reset_ticket(
        &self,
        ticket_hash: &str,
        new_password_hash: &str,
        now: UnixTime,
        audit: &AuditRecord,
    ) -> StorageResult<Option<Uuid>>;
    /// Appends one audit row.
    async fn append_audit(&self, event: &AuditRecord) -> StorageResult<()>;
    /// One page of audit rows, oldest first.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        after: Option<&Cursor>,
        limit: u32,
    ) -> StorageResult<Vec<AuditRecord>>;
    /// Deletes at most `batch` rows older than `before`; how many.
    async fn prune_audit(&self, before: UnixTime, batch: u32) -> StorageResult<u64>;
}

mod sql;

pub(crate) use sql::impl_admin_store;
