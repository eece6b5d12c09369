//! The SQL both backends run. SQLite and PostgreSQL accept the same statements here (`$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, ids as text, times as integer seconds), so the one
//! implementation is stamped out per pool type by [`impl_store!`] rather than written twice; only
//! connecting, the migrations folder and the statement that opens a write transaction differ
//! (SQLite needs `BEGIN IMMEDIATE`: a deferred transaction that upgrades to a write fails with
//! `SQLITE_BUSY` without waiting).

/// Session columns in the order of [`crate::storage::SessionRecord`].
pub(crate) const SESSION_COLUMNS: &str = "id, user_id, device_name, device_platform, \
    device_app_version, client_id, generation, rotated_at, created_at, last_used_at, last_ip, \
    revoked_at, revoked_reason, dpop_jkt";

/// The statement of a [`crate::storage::Rotation`] with `roles` role placeholders (`$9`…): the
/// conditional `UPDATE` of rotation with the session's liveness, the user, the membership and the
/// DPoP binding checked inside it, returning the session and the role.
pub(crate) fn rotation_sql(roles: usize) -> String {
    let role_filter = if roles == 0 {
        String::new()
    } else {
        let list: Vec<String> = (0..roles).map(|i| format!("${}", 9 + i)).collect();
        format!(" AND m.role IN ({})", list.join(", "))
    };
    format!(
        "UPDATE sessions SET generation = generation + 1, rotated_at = $3, last_used_at = $3, \
         last_ip = $4 \
         WHERE id = $1 AND generation = $2 AND revoked_at IS NULL \
         AND last_used_at >= $5 AND created_at >= $6 \
         AND (dpop_jkt IS NULL OR dpop_jkt = $7) \
         AND EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id AND NOT u.disabled) \
         AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = sessions.user_id \
         AND m.account_id = $8{role_filter}) \
         RETURNING {SESSION_COLUMNS}, (SELECT m.role FROM memberships m \
         WHERE m.user_id = sessions.user_id AND m.account_id = $8) AS role"
    )
}

/// The statement of `session_with_user`, built once from [`SESSION_COLUMNS`] (qualified by the
/// alias `s`), so a new session column reaches it by itself: it runs on every request with an
/// access token.
pub(crate) static SESSION_WITH_USER_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        let columns: Vec<String> = SESSION_COLUMNS
            .split(',')
            .map(|c| format!("s.{}", c.trim()))
            .collect();
        format!(
            "SELECT {}, u.login AS user_login, u.disabled AS user_disabled \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
            columns.join(", ")
        )
    });

/// A turn at writing. SQLite has one write lock per database, and a writer that finds it taken
/// sleeps in SQLite's busy handler, retrying on its own schedule (sleeps of up to 100 ms), so a
/// busy writer can starve the others: the SQLite store hands out turns first come, first served
/// (a fair async mutex shared with its rotation writer). PostgreSQL locks rows and needs none.
pub(crate) type WriteTurn = Option<tokio::sync::OwnedMutexGuard<()>>;

/// Implements [`crate::storage::Store`] for a struct with a `pool` field.
macro_rules! impl_store {
    ($store:ty, $migrations:literal, $begin_write:literal) => {
        impl $store {
            /// One statement for [`crate::storage::CoreStore::rotate_refresh`], on any executor
            /// (the pool, or the SQLite writer's transaction).
            pub(crate) async fn rotate_on<'e, E>(
                exec: E,
                r: &$crate::storage::Rotation,
            ) -> $crate::storage::StorageResult<Option<$crate::storage::Rotated>>
            where
                E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
            {
                let sql = $crate::storage::sql::rotation_sql(r.roles.as_ref().map_or(0, Vec::len));
                let mut q = sqlx::query_as::<_, $crate::storage::Rotated>(&sql)
                    .bind(r.id.to_string())
                    .bind(r.generation)
                    .bind(r.now)
                    .bind(&r.ip)
                    .bind(r.liveness.idle_cutoff)
                    .bind(r.liveness.absolute_cutoff)
                    .bind(&r.proof_jkt)
                    .bind(r.account.to_string());
                for role in r.roles.iter().flatten() {
                    q = q.bind(role);
                }
                Ok(q.fetch_optional(exec).await?)
            }

            /// A write transaction, and the backend's turn to write (see `write_turn`): drop both
            /// together, after the commit.
            async fn begin_write(
                &self,
            ) -> $crate::storage::StorageResult<(
                $crate::storage::sql::WriteTurn,
                sqlx::Transaction<'static, <$store as HasDb>::Db>,
            )> {
                let turn = self.write_turn().await;
                Ok((turn, self.pool.begin_with($begin_write).await?))
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::CoreStore for $store {
            async fn migrate(&self) -> $crate::storage::StorageResult<()> {
                sqlx::migrate!($migrations)
                    .run(&self.pool)
                    .await
                    .map_err(|e| $crate::storage::StorageError::Other(e.to_string()))
            }

            async fn ping(&self) -> $crate::storage::StorageResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            fn pool_status(&self) -> $crate::storage::PoolStatus {
                $crate::storage::PoolStatus {
                    size: self.pool.size(),
                    idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                }
            }

            async fn create_user(
                &self,
                u: &UserRecord,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO users (id, login, password_hash, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(u.id.to_string())
                .bind(&u.login)
                .bind(&u.password_hash)
                .bind(u.disabled)
                .bind(u.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, "a user with this login"))?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn user_by_login(&self, login: &str) -> StorageResult<Option<UserRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, login, password_hash, disabled, created_at FROM users WHERE login = $1",
                )
                .bind(login)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn user_by_id(&self, id: Uuid) -> StorageResult<Option<UserRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, login, password_hash, disabled, created_at FROM users WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn set_user_disabled(
                &self,
                id: Uuid,
                disabled: bool,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(disabled)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StorageError::NotFound);
                }
                if disabled {
                    revoke_all_sessions(&mut *tx, id, None, "user_disabled", now).await?;
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_password_hash(
                &self,
                id: Uuid,
                old_hash: &str,
                new_hash: &str,
            ) -> StorageResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                )
                .bind(id.to_string())
                .bind(old_hash)
                .bind(new_hash)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn change_password(
                &self,
                id: Uuid,
                hash: &str,
                keep_session: Option<Uuid>,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                revoke_all_sessions(&mut *tx, id, keep_session, "password_change", now).await?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_account(
                &self,
                a: &AccountRecord,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(a.id.to_string())
                    .bind(&a.name)
                    .bind(a.created_at)
                    .execute(&mut *tx)
                    .await?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn account_by_id(&self, id: Uuid) -> StorageResult<Option<AccountRecord>> {
                Ok(sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn upsert_membership(
                &self,
                user: Uuid,
                account: Uuid,
                role: &str,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<()> {
                let (_turn, mut tx) = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO memberships (user_id, account_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role",
                )
                .bind(user.to_string())
                .bind(account.to_string())
                .bind(role)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_membership(
                &self,
                user: Uuid,
                account: Uuid,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done =
                    sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND account_id = $2")
                        .bind(user.to_string())
                        .bind(account.to_string())
                        .execute(&mut *tx)
                        .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn membership_role(
                &self,
                user: Uuid,
                account: Uuid,
            ) -> StorageResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT role FROM memberships WHERE user_id = $1 AND account_id = $2",
                )
                .bind(user.to_string())
                .bind(account.to_string())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(role,)| role))
            }

            async fn memberships_of(&self, user: Uuid) -> StorageResult<Vec<MembershipRecord>> {
                Ok(sqlx::query_as(
                    "SELECT a.id AS account_id, a.name AS account_name, m.role \
                     FROM memberships m JOIN accounts a ON a.id = m.account_id \
                     WHERE m.user_id = $1 ORDER BY a.name, a.id",
                )
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_session(
                &self,
                s: &SessionRecord,
                password_hash: &str,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query(&format!(
                    "INSERT INTO sessions ({}) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15 \
                     WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND password_hash = $14 \
                     AND NOT disabled)",
                    SESSION_COLUMNS
                ))
                .bind(s.id.to_string())
                .bind(s.user_id.to_string())
                .bind(&s.device_name)
                .bind(&s.device_platform)
                .bind(&s.device_app_version)
                .bind(&s.client_id)
                .bind(s.generation)
                .bind(s.rotated_at)
                .bind(s.created_at)
                .bind(s.last_used_at)
                .bind(&s.last_ip)
                .bind(s.revoked_at)
                .bind(&s.revoked_reason)
                .bind(password_hash)
                .bind(&s.dpop_jkt)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn session_by_id(&self, id: Uuid) -> StorageResult<Option<SessionRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM sessions WHERE id = $1",
                    SESSION_COLUMNS
                ))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn session_with_user(
                &self,
                id: Uuid,
            ) -> StorageResult<Option<$crate::storage::SessionOfUser>> {
                Ok(sqlx::query_as(&$crate::storage::sql::SESSION_WITH_USER_SQL)
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn advance_session(
                &self,
                id: Uuid,
                generation: i64,
                now: UnixTime,
                ip: &str,
                liveness: SessionLiveness,
            ) -> StorageResult<bool> {
                let done = sqlx::query(
                    "UPDATE sessions SET generation = generation + 1, rotated_at = $3, \
                     last_used_at = $3, last_ip = $4 \
                     WHERE id = $1 AND generation = $2 AND revoked_at IS NULL \
                     AND last_used_at >= $5 AND created_at >= $6",
                )
                .bind(id.to_string())
                .bind(generation)
                .bind(now)
                .bind(ip)
                .bind(liveness.idle_cutoff)
                .bind(liveness.absolute_cutoff)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_refresh(
                &self,
                rotation: &$crate::storage::Rotation,
            ) -> StorageResult<Option<$crate::storage::Rotated>> {
                self.run_rotation(rotation).await
            }

            async fn revoke_session(
                &self,
                id: Uuid,
                reason: &str,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id.to_string())
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_user_session(
                &self,
                user: Uuid,
                id: Uuid,
                reason: &str,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
                     WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(id.to_string())
                .bind(user.to_string())
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn purge_sessions(
                &self,
                liveness: SessionLiveness,
                dead_before: UnixTime,
            ) -> StorageResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM sessions WHERE revoked_at < $1 OR last_used_at < $2 \
                     OR created_at < $3",
                )
                .bind(dead_before)
                .bind(liveness.idle_cutoff)
                .bind(liveness.absolute_cutoff)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn live_sessions_of(
                &self,
                user: Uuid,
                liveness: SessionLiveness,
            ) -> StorageResult<Vec<SessionRecord>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                     AND last_used_at >= $2 AND created_at >= $3 \
                     ORDER BY created_at DESC, id",
                    SESSION_COLUMNS
                ))
                .bind(user.to_string())
                .bind(liveness.idle_cutoff)
                .bind(liveness.absolute_cutoff)
                .fetch_all(&self.pool)
                .await?)
            }
        }

        async fn revoke_all_sessions<'e, E>(
            executor: E,
            user: Uuid,
            keep: Option<Uuid>,
            reason: &str,
            now: UnixTime,
        ) -> StorageResult<()>
        where
            E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
        {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2",
            )
            .bind(user.to_string())
            .bind(keep.map(|k| k.to_string()).unwrap_or_default())
            .bind(now)
            .bind(reason)
            .execute(executor)
            .await?;
            Ok(())
        }

        fn conflict(e: sqlx::Error, what: &'static str) -> StorageError {
            match StorageError::from(e) {
                StorageError::Conflict(_) => StorageError::Conflict(what),
                other => other,
            }
        }
    };
}

pub(crate) use impl_store;

/// Names the sqlx database type of a store, so the shared implementation can spell its
/// transaction and executor types.
pub(crate) trait HasDb {
    /// The sqlx database.
    type Db: sqlx::Database;
}
