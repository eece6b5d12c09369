//! The SQL of [`super::AdminStore`], stamped out per backend (see `storage/sql.rs` for why a
//! macro). Optional filters are written as `($n IS NULL OR …)` so each statement is one fixed,
//! greppable string on both databases.

/// Implements `AdminStore` for a store with a `pool` field and a `begin_write` method.
macro_rules! impl_admin_store {
    ($store:ty) => {
        /// Inserts one audit row with whatever executor the caller holds (a transaction, so the
        /// row commits or rolls back with the change it records).
        async fn insert_audit<'e, E>(
            executor: E,
            a: &$crate::storage::AuditRecord,
        ) -> $crate::storage::StorageResult<()>
        where
            E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
        {
            sqlx::query(
                "INSERT INTO audit_events (id, at, kind, user_id, account_id, ip, user_agent, \
                 actor, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&a.id)
            .bind(a.at)
            .bind(&a.kind)
            .bind(&a.user_id)
            .bind(&a.account_id)
            .bind(&a.ip)
            .bind(&a.user_agent)
            .bind(&a.actor)
            .bind(&a.details)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// Inserts every row of a change's audit trail inside its transaction.
        async fn insert_audits(
            tx: &mut sqlx::Transaction<'static, <$store as HasDb>::Db>,
            rows: &[$crate::storage::AuditRecord],
        ) -> $crate::storage::StorageResult<()> {
            for row in rows {
                insert_audit(&mut **tx, row).await?;
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::storage::AdminStore for $store {
            async fn create_admin_key(
                &self,
                key: &$crate::storage::AdminKeyRecord,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query("INSERT INTO admin_keys (name, key_hash, created_at) VALUES ($1, $2, $3)")
                    .bind(&key.name)
                    .bind(&key.key_hash)
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict(e, "admin key"))?;
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn admin_key_by_hash(
                &self,
                key_hash: &str,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::AdminKeyRecord>> {
                Ok(sqlx::query_as(
                    "SELECT name, key_hash, created_at FROM admin_keys WHERE key_hash = $1",
                )
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn admin_keys(
                &self,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::AdminKeyRecord>> {
                Ok(sqlx::query_as("SELECT name, key_hash, created_at FROM admin_keys ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn remove_admin_key(
                &self,
                name: &str,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM admin_keys WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn list_users(
                &self,
                filter: &$crate::storage::UserFilter,
                after: Option<&$crate::storage::Cursor>,
                limit: u32,
            ) -> $crate::storage::StorageResult<Vec<UserRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, login, password_hash, disabled, created_at FROM users \
                     WHERE ($1 IS NULL OR login LIKE $1 ESCAPE '\\') \
                     AND ($2 IS NULL OR disabled = $2) \
                     AND ($3 IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) \
                     ORDER BY created_at, id LIMIT $5",
                )
                .bind(filter.login_prefix.as_deref().map($crate::storage::admin::like_prefix))
                .bind(filter.disabled)
                .bind(after.map(|c| c.0))
                .bind(after.map(|c| c.1.clone()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn list_accounts(
                &self,
                after: Option<&$crate::storage::Cursor>,
                limit: u32,
            ) -> $crate::storage::StorageResult<Vec<AccountRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, name, created_at FROM accounts \
                     WHERE ($1 IS NULL OR created_at > $1 OR (created_at = $1 AND id > $2)) \
                     ORDER BY created_at, id LIMIT $3",
                )
                .bind(after.map(|c| c.0))
                .bind(after.map(|c| c.1.clone()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn rename_account(
                &self,
                id: Uuid,
                name: &str,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query("UPDATE accounts SET name = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_account(
                &self,
                id: Uuid,
                force: bool,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<$crate::storage::AccountDeletion> {
                use $crate::storage::AccountDeletion;
                let (_turn, mut tx) = self.begin_write().await?;
                let (live,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM service_tokens \
                     WHERE account_id = $1 AND deleted_at IS NULL",
                )
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if live > 0 && !force {
                    return Ok(AccountDeletion::HasServiceTokens);
                }
                sqlx::query("DELETE FROM service_tokens WHERE account_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(AccountDeletion::NotFound);
                }
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(AccountDeletion::Deleted)
            }

            async fn delete_user(
                &self,
                id: Uuid,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                // Foreign keys cascade to sessions, MFA, recovery codes, mfa_tokens, memberships
                // and reset tickets; the failure window is keyed by user id alone.
                sqlx::query("DELETE FROM mfa_failures WHERE user_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_sessions_of(
                &self,
                user: Uuid,
                reason: &str,
                now: UnixTime,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<u64> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
                     WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user.to_string())
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn remove_user_mfa(
                &self,
                user: Uuid,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let mut removed = 0;
                for sql in [
                    "DELETE FROM totp_credentials WHERE user_id = $1",
                    "DELETE FROM recovery_codes WHERE user_id = $1",
                    "DELETE FROM mfa_tokens WHERE user_id = $1",
                    "DELETE FROM passkeys WHERE user_id = $1",
                ] {
                    removed += sqlx::query(sql)
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                if removed == 0 {
                    return Ok(false);
                }
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn members_of_account(
                &self,
                account: Uuid,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::AccountMemberRecord>> {
                Ok(sqlx::query_as(
                    "SELECT m.user_id, u.login, m.role FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE m.account_id = $1 ORDER BY u.login",
                )
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn put_reset_ticket(
                &self,
                user: Uuid,
                ticket_hash: &str,
                expires_at: UnixTime,
                now: UnixTime,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO password_reset_tickets (user_id, ticket_hash, expires_at, \
                     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE \
                     SET ticket_hash = $2, expires_at = $3, created_at = $4",
                )
                .bind(user.to_string())
                .bind(ticket_hash)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn redeem_reset_ticket(
                &self,
                ticket_hash: &str,
                new_password_hash: &str,
                now: UnixTime,
                audit: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<Option<Uuid>> {
                let (_turn, mut tx) = self.begin_write().await?;
                let taken: Option<(String,)> = sqlx::query_as(
                    "DELETE FROM password_reset_tickets WHERE ticket_hash = $1 AND expires_at > $2 \
                     RETURNING user_id",
                )
                .bind(ticket_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user,)) = taken else {
                    return Ok(None);
                };
                let user = Uuid::parse_str(&user)
                    .map_err(|e| StorageError::Other(format!("reset ticket user: {e}")))?;
                sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(user.to_string())
                    .bind(new_password_hash)
                    .execute(&mut *tx)
                    .await?;
                revoke_all_sessions(&mut *tx, user, None, "password_reset", now).await?;
                let mut audit = audit.clone();
                audit.user_id = Some(user.to_string());
                audit.actor = format!("user:{user}");
                insert_audit(&mut *tx, &audit).await?;
                tx.commit().await?;
                Ok(Some(user))
            }

            async fn append_audit(
                &self,
                event: &$crate::storage::AuditRecord,
            ) -> $crate::storage::StorageResult<()> {
                insert_audit(&self.pool, event).await
            }

            async fn list_audit(
                &self,
                filter: &$crate::storage::AuditFilter,
                after: Option<&$crate::storage::Cursor>,
                limit: u32,
            ) -> $crate::storage::StorageResult<Vec<$crate::storage::AuditRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, at, kind, user_id, account_id, ip, user_agent, actor, details \
                     FROM audit_events \
                     WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR account_id = $2) \
                     AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR at >= $4) \
                     AND ($5 IS NULL OR at > $5 OR (at = $5 AND id > $6)) \
                     ORDER BY at, id LIMIT $7",
                )
                .bind(filter.user_id.map(|u| u.to_string()))
                .bind(filter.account_id.map(|a| a.to_string()))
                .bind(filter.kind.as_deref())
                .bind(filter.since)
                .bind(after.map(|c| c.0))
                .bind(after.map(|c| c.1.clone()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn prune_audit(
                &self,
                before: UnixTime,
                batch: u32,
            ) -> $crate::storage::StorageResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM audit_events WHERE id IN \
                     (SELECT id FROM audit_events WHERE at < $1 ORDER BY at, id LIMIT $2)",
                )
                .bind(before)
                .bind(i64::from(batch))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_admin_store;
