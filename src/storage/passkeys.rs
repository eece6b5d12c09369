//! Persistence of passkeys and WebAuthn challenges (issue #13): the `passkeys` and
//! `webauthn_challenges` tables. One implementation for both backends, stamped out by
//! [`impl_passkey_store!`].

use async_trait::async_trait;
use uuid::Uuid;

use super::{AuditRecord, StorageResult};
use crate::clock::UnixTime;

/// A passkey as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRecord {
    /// The API's id of the passkey.
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// Its owner.
    #[sqlx(try_from = "String")]
    pub user_id: Uuid,
    /// base64url of the credential id the authenticator chose; unique across users.
    pub credential_id: String,
    /// The name its owner gave it.
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON (public key, counter, flags).
    pub passkey: String,
    /// The signature counter last seen.
    pub sign_count: i64,
    /// Whether the credential may be synced to other devices.
    pub backup_eligible: bool,
    /// Whether it is synced (backed up) now.
    pub backup_state: bool,
    /// Registration time.
    pub created_at: UnixTime,
    /// Last successful use, if any.
    pub last_used_at: Option<UnixTime>,
}

/// A WebAuthn ceremony in progress.
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    /// SHA-256 (hex) of the id handed to the client.
    pub id_hash: String,
    /// `registration` or `passwordless`.
    pub purpose: &'static str,
    /// The user a registration belongs to.
    pub user_id: Option<Uuid>,
    /// webauthn-rs's ceremony state, as JSON.
    pub state: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Dead from this time on.
    pub expires_at: UnixTime,
}

/// Passkeys and challenges.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores a new challenge.
    async fn create_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()>;
    /// Spends a live challenge of `purpose` (and of `user`, when given) and returns its state:
    /// one `DELETE … RETURNING`, so exactly one request, on any node, can finish a ceremony.
    async fn take_challenge(
        &self,
        id_hash: &str,
        purpose: &str,
        user: Option<Uuid>,
        now: UnixTime,
    ) -> StorageResult<Option<String>>;
    /// Deletes challenges past their expiry; returns how many.
    async fn purge_challenges(&self, now: UnixTime) -> StorageResult<u64>;
    /// Stores a passkey; `Conflict` when its credential id is registered already (to anyone).
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        audit: &[AuditRecord],
    ) -> StorageResult<()>;
    /// The passkey with this credential id (base64url), whoever it belongs to.
    async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StorageResult<Option<PasskeyRecord>>;
    /// Records a successful use: the updated credential, its counter and flags. A compare-and-set
    /// on the counter: false when the passkey is gone or its counter did not move forward (a
    /// cloned authenticator, or another request with a later counter won).
    async fn record_passkey_use(&self, used: &PasskeyUse) -> StorageResult<bool>;
    /// A user's passkeys, oldest first.
    async fn passkeys_of(&self, user: Uuid) -> StorageResult<Vec<PasskeyRecord>>;
    /// Deletes one of a user's passkeys; false when the user has no such passkey.
    async fn delete_passkey(
        &self,
        user: Uuid,
        id: Uuid,
        audit: &[AuditRecord],
    ) -> StorageResult<bool>;
}

/// A successful assertion, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The passkey.
    pub id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The updated credential JSON.
    pub passkey: String,
    /// The counter the authenticator reported (0 for authenticators without one).
    pub sign_count: i64,
    /// Backup eligibility now.
    pub backup_eligible: bool,
    /// Backup state now.
    pub backup_state: bool,
    /// When.
    pub at: UnixTime,
}

/// The compare-and-set of [`PasskeyStore::record_passkey_use`]: the counter must move forward,
/// unless the authenticator keeps none (0 before and after).
pub(crate) const RECORD_PASSKEY_USE_SQL: &str =
    "UPDATE passkeys SET passkey = $3, sign_count = $4, \
    backup_eligible = $5, backup_state = $6, last_used_at = $7 \
    WHERE id = $1 AND user_id = $2 AND (sign_count < $4 OR ($4 = 0 AND sign_count = 0))";

/// Columns of `passkeys` in the order of [`PasskeyRecord`].
pub(crate) const PASSKEY_COLUMNS: &str = "id, user_id, credential_id, name, passkey, sign_count, \
    backup_eligible, backup_state, created_at, last_used_at";

/// Implements [`PasskeyStore`] for a store with a `pool` field and `begin_write`.
macro_rules! impl_passkey_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::PasskeyStore for $store {
            async fn create_challenge(
                &self,
                c: &$crate::storage::ChallengeRecord,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "INSERT INTO webauthn_challenges (id_hash, purpose, user_id, state, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&c.id_hash)
                .bind(c.purpose)
                .bind(c.user_id.map(|u| u.to_string()))
                .bind(&c.state)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn take_challenge(
                &self,
                id_hash: &str,
                purpose: &str,
                user: Option<uuid::Uuid>,
                now: $crate::clock::UnixTime,
            ) -> $crate::storage::StorageResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as(
                    "DELETE FROM webauthn_challenges WHERE id_hash = $1 AND purpose = $2 \
                     AND expires_at > $3 AND (user_id = $4 OR $4 IS NULL) RETURNING state",
                )
                .bind(id_hash)
                .bind(purpose)
                .bind(now)
                .bind(user.map(|u| u.to_string()))
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(state,)| state))
            }

            async fn purge_challenges(
                &self,
                now: $crate::clock::UnixTime,
            ) -> $crate::storage::StorageResult<u64> {
                Ok(
                    sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await?
                        .rows_affected(),
                )
            }

            async fn insert_passkey(
                &self,
                p: &$crate::storage::PasskeyRecord,
                audit: &[$crate::storage::AuditRecord],
            ) -> $crate::storage::StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO passkeys ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    $crate::storage::passkeys::PASSKEY_COLUMNS
                ))
                .bind(p.id.to_string())
                .bind(p.user_id.to_string())
                .bind(&p.credential_id)
                .bind(&p.name)
                .bind(&p.passkey)
                .bind(p.sign_count)
                .bind(p.backup_eligible)
                .bind(p.backup_state)
                .bind(p.created_at)
                .bind(p.last_used_at)
                .execute(&mut *tx)
                .await?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn passkey_by_credential(
                &self,
                credential_id: &str,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::PasskeyRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM passkeys WHERE credential_id = $1",
                    $crate::storage::passkeys::PASSKEY_COLUMNS
                ))
                .bind(credential_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn record_passkey_use(
                &self,
                u: &$crate::storage::PasskeyUse,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = $crate::storage::passkeys::bind_passkey_use(
                    sqlx::query($crate::storage::passkeys::RECORD_PASSKEY_USE_SQL),
                    u,
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn passkeys_of(
                &self,
                user: uuid::Uuid,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::PasskeyRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
                    $crate::storage::passkeys::PASSKEY_COLUMNS
                ))
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn delete_passkey(
                &self,
                user: uuid::Uuid,
                id: uuid::Uuid,
                audit: &[$crate::storage::AuditRecord],
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(id.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(crate) use impl_passkey_store;

/// Binds a [`PasskeyUse`] to [`RECORD_PASSKEY_USE_SQL`], for either database.
pub(crate) fn bind_passkey_use<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    u: &'q PasskeyUse,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(u.id.to_string())
        .bind(u.user_id.to_string())
        .bind(u.passkey.as_str())
        .bind(u.sign_count)
        .bind(u.backup_eligible)
        .bind(u.backup_state)
        .bind(u.at)
}
