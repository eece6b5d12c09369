//! Persistence behind one trait, [`Store`], with a SQLite and a PostgreSQL implementation chosen
//! once by URL scheme. Both run the same SQL (see `sql.rs`); each owns its connection set-up, its
//! migrations and how it opens a write transaction. Every operation that must be atomic (spend a
//! refresh token, burn a TOTP step, use a recovery code) is one method, so each backend owns its
//! transaction and the domain never sees `sqlx::Error`.

mod admin;
mod clients;
mod dpop;
mod error;
mod mfa;
mod passkeys;
pub mod postgres;
mod records;
mod service_tokens;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::UnixTime;
pub use admin::{
    AccountDeletion, AccountMemberRecord, AdminKeyRecord, AdminStore, AuditFilter, AuditRecord,
    Cursor, UserFilter,
};
pub use clients::{ClientRecord, ClientStore, ExchangeAudit};
pub use dpop::DpopStore;
pub use error::{StorageError, StorageResult};
pub use mfa::{FailureBudget, MfaCompletion, MfaProof, MfaStore, MfaTokenRecord, TotpCredential};
pub use passkeys::{ChallengeRecord, PasskeyRecord, PasskeyStore, PasskeyUse};
pub use records::*;
pub use service_tokens::{
    AuditContext, CreateOutcome, ResourceServerRecord, ServiceTokenAuditRecord, ServiceTokenPatch,
    ServiceTokenRecord, ServiceTokenStore,
};

/// Cut-offs that decide whether a session is still alive, computed once by the domain.
#[derive(Debug, Clone, Copy)]
pub struct SessionLiveness {
    /// Sessions last used before this are idle-expired.
    pub idle_cutoff: UnixTime,
    /// Sessions created before this are past their absolute lifetime.
    pub absolute_cutoff: UnixTime,
}

/// A refresh's compare-and-swap with every check that decides it folded in: the session `id` at
/// `generation`, live, of an enabled user who is a member of `account` with one of `roles`
/// (any role when `None`), and bound to no DPoP key or to `proof_jkt`.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Session.
    pub id: Uuid,
    /// The generation the presented token stands for.
    pub generation: i64,
    /// The account asked for.
    pub account: Uuid,
    /// Roles whose scopes cover the request; `None` for any.
    pub roles: Option<Vec<String>>,
    /// The key of the request's valid DPoP proof, if it carried one.
    pub proof_jkt: Option<String>,
    /// Time of the rotation.
    pub now: UnixTime,
    /// Client address, recorded on the session.
    pub ip: String,
    /// Liveness cut-offs at `now`.
    pub liveness: SessionLiveness,
}

/// A session and the two facts about its user that every authenticated request needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionOfUser {
    /// The session.
    #[sqlx(flatten)]
    pub session: SessionRecord,
    /// The user's normalised login.
    pub user_login: String,
    /// Whether the user is disabled.
    pub user_disabled: bool,
}

/// What a successful [`Rotation`] returns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Rotated {
    /// The session after the rotation (its generation is the successor's).
    #[sqlx(flatten)]
    pub session: SessionRecord,
    /// The user's role in the account.
    pub role: String,
}

/// How full the connection pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
}

/// Everything tokend persists: one supertrait over one trait per aggregate.
pub trait Store:
    CoreStore + MfaStore + ServiceTokenStore + ClientStore + AdminStore + DpopStore + PasskeyStore
{
}

impl<T> Store for T where
    T: CoreStore
        + MfaStore
        + ServiceTokenStore
        + ClientStore
        + AdminStore
        + DpopStore
        + PasskeyStore
{
}

/// Users, accounts, memberships and sessions, plus the database's own lifecycle. Methods that
/// change something take the audit rows that record it (`&[]` for none) and write them in the
/// same transaction, so the trail can never miss a change that happened.
#[async_trait]
pub trait CoreStore: Send + Sync + std::fmt::Debug + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StorageResult<()>;
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StorageResult<()>;
    /// Flushes and closes connections (graceful shutdown).
    async fn close(&self);
    /// Connections open and idle in the pool, for `/metrics`.
    fn pool_status(&self) -> PoolStatus;

    // --- users, accounts, memberships ---
    /// Creates a user; `Conflict` when the normalised login exists.
    async fn create_user(&self, user: &UserRecord, audit: &[AuditRecord]) -> StorageResult<()>;
    /// Looks a user up by normalised login.
    async fn user_by_login(&self, login: &str) -> StorageResult<Option<UserRecord>>;
    /// Looks a user up by id.
    async fn user_by_id(&self, id: Uuid) -> StorageResult<Option<UserRecord>>;
    /// Disables or enables a user; disabling revokes every live session in the same transaction.
    async fn set_user_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: UnixTime,
        audit: &[AuditRecord],
    ) -> StorageResult<()>;
    /// Replaces a password hash with a rehash of the same password (new parameters), only if it
    /// is still `old_hash`: a concurrent password change must win.
    async fn set_password_hash(
        &self,
        id: Uuid,
        old_hash: &str,
        new_hash: &str,
    ) -> StorageResult<bool>;
    /// Changes the password and revokes every other live session of the user, atomically.
    async fn change_password(
        &self,
        id: Uuid,
        hash: &str,
        keep_session: Option<Uuid>,
        now: UnixTime,
        audit: &[AuditRecord],
    ) -> StorageResult<()>;
    /// Creates an account.
    async fn create_account(
        &self,
        account: &AccountRecord,
        audit: &[AuditRecord],
    ) -> StorageResult<()>;
    /// Looks an account up.
    async fn account_by_id(&self, id: Uuid) -> StorageResult<Option<AccountRecord>>;
    /// Adds a membership or changes its role.
    async fn upsert_membership(
        &self,
        user: Uuid,
        account: Uuid,
        role: &str,
        now: UnixTime,
        audit: &[AuditRecord],
    ) -> StorageResult<()>;
    /// Ends a membership; false when there was none.
    async fn remove_membership(
        &self,
        user: Uuid,
        account: Uuid,
        audit: &[AuditRecord],
    ) -> StorageResult<bool>;
    /// The user's role in one account, if a member.
    async fn membership_role(&self, user: Uuid, account: Uuid) -> StorageResult<Option<String>>;
    /// Every account of the user with its role, by account name.
    async fn memberships_of(&self, user: Uuid) -> StorageResult<Vec<MembershipRecord>>;

    // --- sessions and refresh-token state ---
    /// Starts a session at generation 0, only if the user still has `password_hash` and is not
    /// disabled: a sign-in racing a password change or a disable must not leave a live session.
    async fn create_session(
        &self,
        session: &SessionRecord,
        password_hash: &str,
        audit: &[AuditRecord],
    ) -> StorageResult<bool>;
    /// Reads a session, live or not.
    async fn session_by_id(&self, id: Uuid) -> StorageResult<Option<SessionRecord>>;
    /// Reads a session with the login and status of its user, in one statement: what every
    /// request with an access token checks at tokend's own endpoints.
    async fn session_with_user(&self, id: Uuid) -> StorageResult<Option<SessionOfUser>>;
    /// The compare-and-swap at the heart of rotation: moves a live session from `generation` to
    /// `generation + 1` in one conditional `UPDATE`; false when another request got there first,
    /// the session is revoked or expired, or the generation is not the live one.
    async fn advance_session(
        &self,
        id: Uuid,
        generation: i64,
        now: UnixTime,
        ip: &str,
        liveness: SessionLiveness,
    ) -> StorageResult<bool>;
    /// The whole of a common refresh in one statement (one round trip; on SQLite, one writer
    /// that commits several rotations with one fsync): see [`Rotation`]. `None` when any of its
    /// conditions fails; the caller then reads the session and decides why (spent within the
    /// grace window, reuse, expiry, membership, binding).
    async fn rotate_refresh(&self, rotation: &Rotation) -> StorageResult<Option<Rotated>>;
    /// Revokes one session; false when it was already revoked or does not exist.
    async fn revoke_session(
        &self,
        id: Uuid,
        reason: &str,
        now: UnixTime,
        audit: &[AuditRecord],
    ) -> StorageResult<bool>;
    /// Revokes one of `user`'s sessions; false when it is not theirs or not live.
    async fn revoke_user_session(
        &self,
        user: Uuid,
        id: Uuid,
        reason: &str,
        now: UnixTime,
        audit: &[AuditRecord],
    ) -> StorageResult<bool>;
    /// Deletes sessions revoked before `dead_before`, or idle or absolutely expired for longer
    /// than `liveness` (shifted back by the same retention); returns how many.
    async fn purge_sessions(
        &self,
        liveness: SessionLiveness,
        dead_before: UnixTime,
    ) -> StorageResult<u64>;
    /// The user's live sessions, newest first.
    async fn live_sessions_of(
        &self,
        user: Uuid,
        liveness: SessionLiveness,
    ) -> StorageResult<Vec<SessionRecord>>;
}

/// The store in use, shared by every request.
pub type DynStore = Arc<dyn Store>;

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`).
pub async fn connect(url: &str, max_connections: u32) -> StorageResult<DynStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(url, max_connections).await?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            postgres::PgStore::connect(url, max_connections).await?,
        ))
    } else {
        Err(StorageError::Other(
            "TOKEND_DATABASE_URL must start with sqlite:// or postgres://".into(),
        ))
    }
}
