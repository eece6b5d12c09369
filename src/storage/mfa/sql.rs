//! The one implementation of [`super::MfaStore`], run unchanged on SQLite and PostgreSQL (same
//! `$N` placeholders, `RETURNING` and `ON CONFLICT … DO UPDATE … WHERE` on both), stamped out per
//! pool type like `storage::sql`.

/// Implements [`super::MfaStore`] for a store with a `pool` field (see `storage::sql` for why a
/// macro).
macro_rules! impl_mfa_store {
    ($store:ty) => {
        impl $store {
            /// Burns a proof inside a transaction; true when exactly one row changed.
            async fn burn_mfa_proof(
                tx: &mut sqlx::Transaction<'static, <$store as HasDb>::Db>,
                user: Uuid,
                proof: &$crate::storage::MfaProof,
                now: UnixTime,
            ) -> StorageResult<bool> {
                use $crate::storage::MfaProof;
                let done = match proof {
                    MfaProof::TotpStep(step) => {
                        sqlx::query($crate::storage::mfa::BURN_STEP_SQL)
                            .bind(user.to_string())
                            .bind(*step)
                            .execute(&mut **tx)
                            .await?
                    }
                    MfaProof::RecoveryCode(hash) => {
                        sqlx::query($crate::storage::mfa::BURN_RECOVERY_CODE_SQL)
                            .bind(user.to_string())
                            .bind(hash)
                            .bind(now)
                            .execute(&mut **tx)
                            .await?
                    }
                    MfaProof::Passkey(used) if used.user_id == user => {
                        $crate::storage::passkeys::bind_passkey_use(
                            sqlx::query($crate::storage::passkeys::RECORD_PASSKEY_USE_SQL),
                            used,
                        )
                        .execute(&mut **tx)
                        .await?
                    }
                    MfaProof::Passkey(_) => return Ok(false),
                };
                Ok(done.rows_affected() == 1)
            }

            /// Replaces the user's recovery codes inside a transaction.
            async fn store_recovery_codes(
                tx: &mut sqlx::Transaction<'static, <$store as HasDb>::Db>,
                user: Uuid,
                hashes: &[String],
                now: UnixTime,
            ) -> StorageResult<()> {
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut **tx)
                    .await?;
                for hash in hashes {
                    sqlx::query(
                        "INSERT INTO recovery_codes (user_id, code_hash, created_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(user.to_string())
                    .bind(hash)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::storage::MfaStore for $store {
            async fn put_pending_totp(
                &self,
                user: Uuid,
                sealed_secret: &str,
                now: UnixTime,
            ) -> StorageResult<bool> {
                let row: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO totp_credentials (user_id, sealed_secret, confirmed, created_at) \
                     VALUES ($1, $2, FALSE, $3) \
                     ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                     created_at = excluded.created_at, last_accepted_step = NULL \
                     WHERE NOT totp_credentials.confirmed \
                     RETURNING user_id",
                )
                .bind(user.to_string())
                .bind(sealed_secret)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn totp_credential(
                &self,
                user: Uuid,
            ) -> StorageResult<Option<$crate::storage::TotpCredential>> {
                let row: Option<(String, bool, Option<i64>)> = sqlx::query_as(
                    "SELECT sealed_secret, confirmed, last_accepted_step \
                     FROM totp_credentials WHERE user_id = $1",
                )
                .bind(user.to_string())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(sealed_secret, confirmed, last_accepted_step)| {
                    $crate::storage::TotpCredential {
                        sealed_secret,
                        confirmed,
                        last_accepted_step,
                    }
                }))
            }

            async fn confirm_totp(
                &self,
                user: Uuid,
                sealed_secret: &str,
                step: i64,
                recovery_code_hashes: &[String],
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE totp_credentials SET confirmed = TRUE, confirmed_at = $4, \
                     last_accepted_step = $3 \
                     WHERE user_id = $1 AND sealed_secret = $2 AND NOT confirmed",
                )
                .bind(user.to_string())
                .bind(sealed_secret)
                .bind(step)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::store_recovery_codes(&mut tx, user, recovery_code_hashes, now).await?;
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn replace_recovery_codes(
                &self,
                user: Uuid,
                step: i64,
                recovery_code_hashes: &[String],
                now: UnixTime,
            ) -> StorageResult<bool> {
                use $crate::storage::MfaProof;
                let (_turn, mut tx) = self.begin_write().await?;
                if !Self::burn_mfa_proof(&mut tx, user, &MfaProof::TotpStep(step), now).await? {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::store_recovery_codes(&mut tx, user, recovery_code_hashes, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn disable_totp(
                &self,
                user: Uuid,
                proof: &$crate::storage::MfaProof,
                now: UnixTime,
                audit: &[$crate::storage::AuditRecord],
            ) -> StorageResult<bool> {
                let (_turn, mut tx) = self.begin_write().await?;
                if !Self::burn_mfa_proof(&mut tx, user, proof, now).await? {
                    tx.rollback().await?;
                    return Ok(false);
                }
                for table in ["recovery_codes", "mfa_tokens", "totp_credentials"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                insert_audits(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn purge_mfa_tokens(&self, now: UnixTime, window_secs: i64) -> StorageResult<u64> {
                let tokens = sqlx::query(
                    "DELETE FROM mfa_tokens \
                     WHERE expires_at <= $1 OR used_at IS NOT NULL OR attempts_left <= 0",
                )
                .bind(now)
                .execute(&self.pool)
                .await?;
                let windows = sqlx::query("DELETE FROM mfa_failures WHERE window_start <= $1")
                    .bind(now - window_secs)
                    .execute(&self.pool)
                    .await?;
                Ok(tokens.rows_affected() + windows.rows_affected())
            }

            async fn create_mfa_token(
                &self,
                t: &$crate::storage::MfaTokenRecord,
                now: UnixTime,
            ) -> StorageResult<()> {
                // Keeps the table at the user's live tokens; nothing dead is worth keeping.
                sqlx::query(
                    "DELETE FROM mfa_tokens WHERE user_id = $1 \
                     AND (expires_at <= $2 OR used_at IS NOT NULL OR attempts_left <= 0)",
                )
                .bind(t.user_id.to_string())
                .bind(now)
                .execute(&self.pool)
                .await?;
                sqlx::query(&format!(
                    "INSERT INTO mfa_tokens ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    $crate::storage::mfa::MFA_TOKEN_COLUMNS
                ))
                .bind(&t.token_hash)
                .bind(t.user_id.to_string())
                .bind(&t.device.name)
                .bind(&t.device.platform)
                .bind(&t.device.app_version)
                .bind(&t.device.client_id)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.attempts_left)
                .bind(&t.dpop_jkt)
                .bind(&t.passkey_state)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn live_mfa_token(
                &self,
                token_hash: &str,
                now: UnixTime,
            ) -> StorageResult<Option<$crate::storage::MfaTokenRecord>> {
                let row: Option<$crate::storage::mfa::MfaTokenRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM mfa_tokens WHERE token_hash = $1 AND used_at IS NULL \
                     AND expires_at > $2 AND attempts_left > 0",
                    $crate::storage::mfa::MFA_TOKEN_COLUMNS
                ))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::storage::mfa::mfa_token_from_row).transpose()
            }

            async fn spend_mfa_attempt(
                &self,
                token_hash: &str,
                now: UnixTime,
            ) -> StorageResult<Option<i64>> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "UPDATE mfa_tokens SET attempts_left = attempts_left - 1 \
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     AND attempts_left > 0 RETURNING attempts_left",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(left,)| left))
            }

            async fn reserve_mfa_failure(
                &self,
                user: Uuid,
                now: UnixTime,
                window: i64,
                limit: u32,
            ) -> StorageResult<$crate::storage::FailureBudget> {
                use $crate::storage::FailureBudget;
                // One statement: start a window, or count into the current one while it has
                // room. Every SET expression reads the row as it was before the update.
                let row: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO mfa_failures (user_id, window_start, failures) \
                     VALUES ($1, $2, 1) \
                     ON CONFLICT (user_id) DO UPDATE SET \
                     failures = CASE WHEN mfa_failures.window_start <= $3 THEN 1 \
                                ELSE mfa_failures.failures + 1 END, \
                     window_start = CASE WHEN mfa_failures.window_start <= $3 THEN $2 \
                                    ELSE mfa_failures.window_start END \
                     WHERE mfa_failures.window_start <= $3 OR mfa_failures.failures < $4 \
                     RETURNING failures",
                )
                .bind(user.to_string())
                .bind(now)
                .bind(now - window)
                .bind(i64::from(limit))
                .fetch_optional(&self.pool)
                .await?;
                if let Some((failures,)) = row {
                    return Ok(FailureBudget::Reserved { failures });
                }
                let start: Option<(i64,)> =
                    sqlx::query_as("SELECT window_start FROM mfa_failures WHERE user_id = $1")
                        .bind(user.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(FailureBudget::Exhausted {
                    window_ends: start.map_or(now, |(s,)| s) + window,
                })
            }

            async fn refund_mfa_failure(&self, user: Uuid) -> StorageResult<()> {
                sqlx::query(
                    "UPDATE mfa_failures SET failures = failures - 1 \
                     WHERE user_id = $1 AND failures > 0",
                )
                .bind(user.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn complete_mfa(
                &self,
                token_hash: &str,
                user: Uuid,
                proof: &$crate::storage::MfaProof,
                now: UnixTime,
            ) -> StorageResult<$crate::storage::MfaCompletion> {
                use $crate::storage::MfaCompletion;
                let (_turn, mut tx) = self.begin_write().await?;
                if !Self::burn_mfa_proof(&mut tx, user, proof, now).await? {
                    tx.rollback().await?;
                    return Ok(MfaCompletion::ProofRejected);
                }
                let consumed = sqlx::query(
                    "UPDATE mfa_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND user_id = $3 AND used_at IS NULL \
                     AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
                if consumed.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(MfaCompletion::TokenGone);
                }
                tx.commit().await?;
                Ok(MfaCompletion::Completed)
            }
        }
    };
}

pub(crate) use impl_mfa_store;
