//! Checking a presented service token (contract section 6), on every request and without a cache.
//!
//! Order: the shape and CRC32 checksum first, with no database read, so junk, typos and most
//! forgeries cost nothing; then the row by SHA-256 hash, compared again in constant time
//! (CVE-2026-23996); then deletion, expiry and deactivation; then, for requests (not for
//! introspection), the IP allowlist and the use record.

use std::net::IpAddr;

use super::{split_column, stored_cap};
use crate::crypto::service_token::{check_format, ServiceTokenHash};
use crate::domain::allowlist;
use crate::domain::principal::ServicePrincipal;
use crate::domain::Tokend;
use crate::error::{Error, Result, RevokedReason};
use crate::storage::ServiceTokenRecord;

fn unknown() -> Error {
    Error::Unauthorized {
        token_presented: true,
    }
}

impl Tokend {
    /// The row of a token that is well-formed, known, not deleted, not expired and active. Shared
    /// by request authentication and introspection, which differ only in what follows.
    pub async fn validate_service_token(&self, token: &str) -> Result<ServiceTokenRecord> {
        if let Err(reason) = check_format(&self.settings.service_token_prefix, token) {
            // The reason names no part of the token, so it is safe to log.
            tracing::debug!(%reason, "service token refused before any lookup");
            return Err(unknown());
        }
        let presented = ServiceTokenHash::of(token);
        let row = self
            .store
            .service_token_by_hash(&presented.to_hex())
            .await?
            .ok_or_else(unknown)?;
        // The lookup matched on the hash already; comparing again in constant time keeps a
        // database whose index compares early-exit from mattering.
        let stored = ServiceTokenHash::from_hex(&row.token_hash).ok_or_else(unknown)?;
        if !stored.ct_eq(&presented) {
            return Err(unknown());
        }
        if row.deleted_at.is_some() {
            return Err(Error::TokenRevoked {
                reason: RevokedReason::Deleted,
            });
        }
        if row
            .expires_at
            .is_some_and(|expires| self.clock.now() >= expires)
        {
            return Err(Error::TokenExpired);
        }
        if !row.active {
            return Err(Error::TokenRevoked {
                reason: RevokedReason::Inactive,
            });
        }
        Ok(row)
    }

    /// Authenticates a request made with a service token from client address `ip`: validates it,
    /// enforces its allowlist, and records the use (coalesced).
    pub async fn authenticate_service_token(
        &self,
        token: &str,
        ip: IpAddr,
    ) -> Result<ServicePrincipal> {
        let row = self.validate_service_token(token).await?;
        let allowed_ips = split_column(&row.allowed_ips);
        // Stored entries were validated at creation; one that no longer parses fails closed.
        let allowlist = allowlist::parse(&allowed_ips)
            .map_err(|e| Error::internal(format!("stored allowlist of {}: {e}", row.id)))?;
        if !allowlist.allows(ip) {
            tracing::info!(token = %row.id, %ip, "service token used from outside its allowlist");
            return Err(Error::IpNotAllowed);
        }
        self.note_service_token_use(&row, ip, self.clock.now())
            .await;
        Ok(ServicePrincipal {
            token_id: row.id,
            account: row.account_id,
            name: row.name,
            scopes: split_column(&row.scopes),
            expires_at: row.expires_at,
            allowed_ips,
            max_request_bytes: stored_cap(row.max_request_bytes),
            rate_limit: self.effective_rate(row.rate_limit.as_deref()),
        })
    }
}
