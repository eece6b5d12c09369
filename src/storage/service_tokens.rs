//! Persistence of service tokens, their audit trail and resource-server credentials (issue #4).
//!
//! Every change to a token (create, rename, (de)activate, delete) writes its audit row in the same
//! transaction, so the trail can never miss a change that happened. Creation counts the account's
//! live tokens and inserts under a lock on the account (SQLite: the `BEGIN IMMEDIATE` write lock;
//! PostgreSQL: `SELECT … FOR UPDATE` on the account row), so parallel requests cannot overshoot
//! the cap. That lock clause is the only SQL that differs between the backends, and it is chosen
//! by the macro arm below rather than by an `if` in each query.

mod records;

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageResult;
use crate::clock::UnixTime;
pub(crate) use records::{patch_audit_entries, SERVICE_TOKEN_COLUMNS};
pub use records::{
    AuditContext, CreateOutcome, ResourceServerRecord, ServiceTokenAuditRecord, ServiceTokenPatch,
    ServiceTokenRecord,
};

/// Service tokens, their audit trail and resource servers.
#[async_trait]
pub trait ServiceTokenStore: Send + Sync {
    /// Inserts `token` and its `created` audit row unless the account already has `limit` live
    /// tokens; counting and inserting happen under one lock. `NotFound` if the account is gone.
    async fn create_service_token(
        &self,
        token: &ServiceTokenRecord,
        limit: u32,
        audit: &AuditContext,
        detail: &str,
    ) -> StorageResult<CreateOutcome>;
    /// Looks a token up by hash, deleted or not (a deleted token must say so).
    async fn service_token_by_hash(
        &self,
        token_hash: &str,
    ) -> StorageResult<Option<ServiceTokenRecord>>;
    /// One live (not deleted) token of an account.
    async fn service_token_by_id(
        &self,
        account: Uuid,
        id: Uuid,
    ) -> StorageResult<Option<ServiceTokenRecord>>;
    /// The account's live tokens, oldest first.
    async fn service_tokens_of(&self, account: Uuid) -> StorageResult<Vec<ServiceTokenRecord>>;
    /// Applies a rename and/or (de)activation with its audit rows; `None` if no such live token.
    async fn update_service_token(
        &self,
        account: Uuid,
        id: Uuid,
        patch: &ServiceTokenPatch,
        audit: &AuditContext,
    ) -> StorageResult<Option<ServiceTokenRecord>>;
    /// Soft-deletes a live token with its audit row; false if no such live token.
    async fn delete_service_token(
        &self,
        account: Uuid,
        id: Uuid,
        audit: &AuditContext,
    ) -> StorageResult<bool>;
    /// Records a use, never moving `last_used_at` backwards.
    async fn record_service_token_use(&self, id: Uuid, at: UnixTime, ip: &str)
        -> StorageResult<()>;
    /// The account's audit trail, oldest first.
    async fn service_token_audit_of(
        &self,
        account: Uuid,
    ) -> StorageResult<Vec<ServiceTokenAuditRecord>>;
    /// The account's default rate and ceiling for its tokens (`N/period` each), or `NotFound`.
    async fn account_rate_limits(
        &self,
        account: Uuid,
    ) -> StorageResult<(Option<String>, Option<String>)>;
    /// Sets the account's default rate and ceiling; false if there is no such account.
    async fn set_account_rate_limits(
        &self,
        account: Uuid,
        default: Option<&str>,
        max: Option<&str>,
    ) -> StorageResult<bool>;
    /// Registers a resource server; `Conflict` if the client_id exists.
    async fn create_resource_server(&self, server: &ResourceServerRecord) -> StorageResult<()>;
    /// Looks a resource server up by client_id.
    async fn resource_server(&self, client_id: &str)
        -> StorageResult<Option<ResourceServerRecord>>;
}

/// Implements [`ServiceTokenStore`] for a store with a `pool` field and a `begin_write` method (see
/// `sql.rs` for why a macro). The arm picks the lock clause that serialises per-account changes:
/// none on SQLite, where `BEGIN IMMEDIATE` already holds the database's write lock, and
/// `FOR UPDATE` on PostgreSQL, whose `BEGIN` locks nothing by itself.
macro_rules! impl_service_token_store {
    (SqliteStore) => {
        impl_service_token_store!(@impl SqliteStore, "");
    };
    (PgStore) => {
        impl_service_token_store!(@impl PgStore, " FOR UPDATE");
    };
    (@impl $store:ty, $for_update:literal) => {
        impl $store {
            async fn insert_service_token_audit(
                tx: &mut sqlx::Transaction<
                    'static,
                    <$store as $crate::storage::sql::HasDb>::Db,
                >,
                token: &$crate::storage::ServiceTokenRecord,
                audit: &$crate::storage::AuditContext,
                action: &str,
                detail: &str,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "INSERT INTO service_token_audit \
                     (token_id, account_id, actor_user_id, action, detail, client_ip, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(token.id.to_string())
                .bind(token.account_id.to_string())
                .bind(audit.actor.to_string())
                .bind(action)
                .bind(detail)
                .bind(&audit.client_ip)
                .bind(audit.at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::ServiceTokenStore for $store {
            async fn create_service_token(
                &self,
                t: &$crate::storage::ServiceTokenRecord,
                limit: u32,
                audit: &$crate::storage::AuditContext,
                detail: &str,
            ) -> $crate::storage::StorageResult<$crate::storage::CreateOutcome> {
                let (_turn, mut tx) = self.begin_write().await?;
                let account: Option<(String,)> = sqlx::query_as(concat!(
                    "SELECT id FROM accounts WHERE id = $1",
                    $for_update
                ))
                .bind(t.account_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                if account.is_none() {
                    return Err($crate::storage::StorageError::NotFound);
                }
                let (live,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM service_tokens \
                     WHERE account_id = $1 AND deleted_at IS NULL",
                )
                .bind(t.account_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if live >= i64::from(limit) {
                    tx.rollback().await?;
                    return Ok($crate::storage::CreateOutcome::LimitReached);
                }
                sqlx::query(&format!(
                    "INSERT INTO service_tokens ({}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS
                ))
                .bind(t.id.to_string())
                .bind(t.account_id.to_string())
                .bind(&t.token_hash)
                .bind(&t.name)
                .bind(&t.scopes)
                .bind(t.expires_at)
                .bind(&t.allowed_ips)
                .bind(t.max_request_bytes)
                .bind(t.active)
                .bind(t.created_at)
                .bind(t.created_by.to_string())
                .bind(t.last_used_at)
                .bind(&t.last_used_ip)
                .bind(t.deleted_at)
                .bind(&t.rate_limit)
                .execute(&mut *tx)
                .await?;
                Self::insert_service_token_audit(&mut tx, t, audit, "created", detail).await?;
                insert_audits(&mut tx, &audit.events).await?;
                tx.commit().await?;
                Ok($crate::storage::CreateOutcome::Created)
            }

            async fn service_token_by_hash(
                &self,
                token_hash: &str,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::ServiceTokenRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM service_tokens WHERE token_hash = $1",
                    $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS
                ))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn service_token_by_id(
                &self,
                account: ::uuid::Uuid,
                id: ::uuid::Uuid,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::ServiceTokenRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM service_tokens \
                     WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
                    $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS
                ))
                .bind(id.to_string())
                .bind(account.to_string())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn service_tokens_of(
                &self,
                account: ::uuid::Uuid,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::ServiceTokenRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM service_tokens \
                     WHERE account_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                    $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS
                ))
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_service_token(
                &self,
                account: ::uuid::Uuid,
                id: ::uuid::Uuid,
                patch: &$crate::storage::ServiceTokenPatch,
                audit: &$crate::storage::AuditContext,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::ServiceTokenRecord>> {
                let (_turn, mut tx) = self.begin_write().await?;
                let before: Option<$crate::storage::ServiceTokenRecord> =
                    sqlx::query_as(&format!(
                        "SELECT {} FROM service_tokens \
                         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL{}",
                        $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS,
                        $for_update
                    ))
                    .bind(id.to_string())
                    .bind(account.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(mut token) = before else {
                    return Ok(None);
                };
                let entries =
                    $crate::storage::service_tokens::patch_audit_entries(&token, patch);
                if entries.is_empty() {
                    tx.rollback().await?;
                    return Ok(Some(token));
                }
                if let Some(name) = &patch.name {
                    token.name = name.clone();
                }
                if let Some(active) = patch.active {
                    token.active = active;
                }
                sqlx::query("UPDATE service_tokens SET name = $3, active = $4 WHERE id = $1 AND account_id = $2")
                    .bind(id.to_string())
                    .bind(account.to_string())
                    .bind(&token.name)
                    .bind(token.active)
                    .execute(&mut *tx)
                    .await?;
                for (action, detail) in &entries {
                    Self::insert_service_token_audit(&mut tx, &token, audit, action, detail)
                        .await?;
                }
                if !entries.is_empty() {
                    insert_audits(&mut tx, &audit.events).await?;
                }
                tx.commit().await?;
                Ok(Some(token))
            }

            async fn delete_service_token(
                &self,
                account: ::uuid::Uuid,
                id: ::uuid::Uuid,
                audit: &$crate::storage::AuditContext,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let deleted: Option<$crate::storage::ServiceTokenRecord> =
                    sqlx::query_as(&format!(
                        "UPDATE service_tokens SET deleted_at = $3 \
                         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL RETURNING {}",
                        $crate::storage::service_tokens::SERVICE_TOKEN_COLUMNS
                    ))
                    .bind(id.to_string())
                    .bind(account.to_string())
                    .bind(audit.at)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(token) = deleted else {
                    return Ok(false);
                };
                Self::insert_service_token_audit(&mut tx, &token, audit, "deleted", "{}").await?;
                insert_audits(&mut tx, &audit.events).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn record_service_token_use(
                &self,
                id: ::uuid::Uuid,
                at: $crate::clock::UnixTime,
                ip: &str,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "UPDATE service_tokens SET last_used_at = $2, last_used_ip = $3 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2)",
                )
                .bind(id.to_string())
                .bind(at)
                .bind(ip)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn service_token_audit_of(
                &self,
                account: ::uuid::Uuid,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::ServiceTokenAuditRecord>>
            {
                Ok(sqlx::query_as(
                    "SELECT id, token_id, account_id, actor_user_id, action, detail, client_ip, at \
                     FROM service_token_audit WHERE account_id = $1 ORDER BY id",
                )
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn account_rate_limits(
                &self,
                account: ::uuid::Uuid,
            ) -> $crate::storage::StorageResult<(Option<String>, Option<String>)> {
                sqlx::query_as(
                    "SELECT default_rate_limit, max_rate_limit FROM accounts WHERE id = $1",
                )
                .bind(account.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::storage::StorageError::NotFound)
            }

            async fn set_account_rate_limits(
                &self,
                account: ::uuid::Uuid,
                default: Option<&str>,
                max: Option<&str>,
            ) -> $crate::storage::StorageResult<bool> {
                let done = sqlx::query(
                    "UPDATE accounts SET default_rate_limit = $2, max_rate_limit = $3 WHERE id = $1",
                )
                .bind(account.to_string())
                .bind(default)
                .bind(max)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_resource_server(
                &self,
                rs: &$crate::storage::ResourceServerRecord,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "INSERT INTO resource_servers \
                     (client_id, name, secret_hash, created_at, audience) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&rs.client_id)
                .bind(&rs.name)
                .bind(&rs.secret_hash)
                .bind(rs.created_at)
                .bind(&rs.audience)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn resource_server(
                &self,
                client_id: &str,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::ResourceServerRecord>> {
                Ok(sqlx::query_as(
                    "SELECT client_id, name, secret_hash, created_at, audience \
                     FROM resource_servers WHERE client_id = $1",
                )
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_service_token_store;
