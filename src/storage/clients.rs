//! Persistence of registered OAuth 2.0 clients and of resource servers by audience (issue #8):
//! the `oauth_clients` table, `resource_servers.audience`, and the audit row of a token exchange.
//! One implementation for both backends, stamped out by [`impl_client_store!`].

use async_trait::async_trait;
use uuid::Uuid;

use super::StorageResult;
use crate::clock::UnixTime;

/// A registered client as stored. Lists are space-separated columns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRecord {
    /// Public identifier (a UUID).
    pub client_id: String,
    /// Human label.
    pub name: String,
    /// Whether it authenticates with a secret.
    pub confidential: bool,
    /// SHA-256 hex of the secret (confidential clients only).
    pub secret_hash: Option<String>,
    /// RFC 6749 grant type strings it may use, space-separated.
    pub grant_types: String,
    /// Audiences it may obtain tokens for, space-separated; empty means any.
    pub audiences: String,
    /// Creation time.
    pub created_at: UnixTime,
}

/// Who exchanged which service token, for the service-token audit trail.
#[derive(Debug, Clone)]
pub struct ExchangeAudit {
    /// The service token exchanged.
    pub token_id: Uuid,
    /// Its account.
    pub account_id: Uuid,
    /// The client that exchanged it (a UUID; stored as the actor).
    pub client_id: String,
    /// Caller address.
    pub client_ip: String,
    /// JSON detail (scope, audience, lifetime; never a token).
    pub detail: String,
    /// When.
    pub at: UnixTime,
}

/// Registered clients and resource-server audiences.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client; `Conflict` if the client_id exists.
    async fn create_client(&self, client: &ClientRecord) -> StorageResult<()>;
    /// One client by id.
    async fn client(&self, client_id: &str) -> StorageResult<Option<ClientRecord>>;
    /// Every client, oldest first.
    async fn clients(&self) -> StorageResult<Vec<ClientRecord>>;
    /// Removes a client; false if there was none.
    async fn remove_client(&self, client_id: &str) -> StorageResult<bool>;
    /// Whether a resource server with this audience is registered.
    async fn audience_registered(&self, audience: &str) -> StorageResult<bool>;
    /// Every resource server, oldest first (secrets are hashes; callers never show them).
    async fn resource_servers(&self) -> StorageResult<Vec<super::ResourceServerRecord>>;
    /// Removes a resource server; false if there was none.
    async fn remove_resource_server(&self, client_id: &str) -> StorageResult<bool>;
    /// Appends the `exchanged` row to the service-token audit trail.
    async fn audit_service_token_exchange(&self, audit: &ExchangeAudit) -> StorageResult<()>;
}

/// Implements [`ClientStore`] for a store with a `pool` field.
macro_rules! impl_client_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::storage::ClientStore for $store {
            async fn create_client(
                &self,
                c: &$crate::storage::ClientRecord,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "INSERT INTO oauth_clients (client_id, name, confidential, secret_hash, \
                     grant_types, audiences, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&c.client_id)
                .bind(&c.name)
                .bind(c.confidential)
                .bind(&c.secret_hash)
                .bind(&c.grant_types)
                .bind(&c.audiences)
                .bind(c.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::ClientRecord>> {
                Ok(sqlx::query_as(
                    "SELECT client_id, name, confidential, secret_hash, grant_types, audiences, \
                     created_at FROM oauth_clients WHERE client_id = $1",
                )
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn clients(
                &self,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::ClientRecord>> {
                Ok(sqlx::query_as(
                    "SELECT client_id, name, confidential, secret_hash, grant_types, audiences, \
                     created_at FROM oauth_clients ORDER BY created_at, client_id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn remove_client(&self, client_id: &str) -> $crate::storage::StorageResult<bool> {
                let done = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn audience_registered(
                &self,
                audience: &str,
            ) -> $crate::storage::StorageResult<bool> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT client_id FROM resource_servers WHERE audience = $1")
                        .bind(audience)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.is_some())
            }

            async fn resource_servers(
                &self,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::ResourceServerRecord>> {
                Ok(sqlx::query_as(
                    "SELECT client_id, name, secret_hash, created_at, audience \
                     FROM resource_servers ORDER BY created_at, client_id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn remove_resource_server(
                &self,
                client_id: &str,
            ) -> $crate::storage::StorageResult<bool> {
                let done = sqlx::query("DELETE FROM resource_servers WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn audit_service_token_exchange(
                &self,
                a: &$crate::storage::ExchangeAudit,
            ) -> $crate::storage::StorageResult<()> {
                sqlx::query(
                    "INSERT INTO service_token_audit (token_id, account_id, actor_user_id, \
                     action, detail, client_ip, at) VALUES ($1, $2, $3, 'exchanged', $4, $5, $6)",
                )
                .bind(a.token_id.to_string())
                .bind(a.account_id.to_string())
                .bind(&a.client_id)
                .bind(&a.detail)
                .bind(&a.client_ip)
                .bind(a.at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_client_store;
