//! Password-reset tickets. A product backend asks for a ticket (`POST
//! /v1/admin/users/{id}/password_reset` or `tokend user reset-password`) and delivers it to the
//! person its own way; `POST /v1/auth/password_reset` with the ticket and a new password sets it.
//! A ticket is shown once and stored hashed, lives `TOKEND_PASSWORD_RESET_TTL` seconds, is single
//! use (taken by one conditional `DELETE … RETURNING`), and a newer ticket voids the older. A
//! reset revokes every session of the user; MFA stays as it was, so the next sign-in still asks
//! for the second factor.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::AuditEvent;
use super::AdminCaller;
use crate::clock::rfc3339;
use crate::crypto::opaque::{sha256_hex, OpaqueSecret};
use crate::crypto::password::Password;
use crate::domain::refresh::secs;
use crate::domain::sessions::enforce_password_policy;
use crate::domain::sign_in::hashing_error;
use crate::domain::Tokend;
use crate::error::{Error, Result};

/// Prefix of reset tickets, so a leaked one is recognisable.
pub const RESET_TICKET_PREFIX: &str = "tkd_reset_";

/// A freshly issued ticket, shown once.
#[derive(Serialize)]
pub struct ResetTicket {
    /// The ticket.
    pub ticket: String,
    /// RFC 3339.
    pub expires_at: String,
}

crate::redacted_debug!(ResetTicket);

/// `POST /v1/auth/password_reset` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The ticket.
    pub ticket: String,
    /// The new password (the same policy as everywhere).
    pub new_password: Password,
}

crate::redacted_debug!(PasswordResetRequest);

impl Tokend {
    /// Issues a reset ticket for `user`, voiding any earlier one. `actor` is the audit actor.
    pub async fn issue_reset_ticket(
        &self,
        user: Uuid,
        actor: &str,
        from: Option<&AdminCaller>,
    ) -> Result<ResetTicket> {
        self.store.user_by_id(user).await?.ok_or(Error::NotFound)?;
        let ticket = OpaqueSecret::generate(RESET_TICKET_PREFIX);
        let now = self.clock.now();
        let expires_at = now + secs(self.settings.password_reset_ttl);
        let mut event = AuditEvent::new("admin.password_reset_issued", actor).user(user);
        if let Some(caller) = from {
            event = event.from(&caller.ip, caller.user_agent.as_deref());
        }
        self.store
            .put_reset_ticket(user, &ticket.hash(), expires_at, now, &event.at(now))
            .await?;
        Ok(ResetTicket {
            ticket: ticket.expose().to_string(),
            expires_at: rfc3339(expires_at),
        })
    }

    /// Redeems a ticket: sets the password, revokes every session, voids the ticket. Any wrong,
    /// used or expired ticket is the same `invalid_reset_ticket`.
    pub async fn reset_password(
        &self,
        req: PasswordResetRequest,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
        self.reset_limiter.charge(ip).await.map_err(|r| {
            self.metrics.event("password_reset_rate_limited");
            Error::from(r)
        })?;
        enforce_password_policy("new_password", &req.new_password)?;
        if !req.ticket.starts_with(RESET_TICKET_PREFIX) || req.ticket.len() > 200 {
            return Err(Error::InvalidResetTicket);
        }
        // Hash before the transaction: argon2 must not run while a write lock is held.
        let hash = self
            .hasher
            .hash(&req.new_password)
            .await
            .map_err(hashing_error)?;
        let now = self.clock.now();
        let event = AuditEvent::new("password.reset", "system")
            .from(ip, user_agent)
            .at(now);
        let Some(user) = self
            .store
            .redeem_reset_ticket(&sha256_hex(req.ticket.as_bytes()), &hash, now, &event)
            .await?
        else {
            return Err(Error::InvalidResetTicket);
        };
        self.audit(
            AuditEvent::new("session.revoked", format!("user:{user}"))
                .user(user)
                .from(ip, user_agent)
                .details(serde_json::json!({"by": "password_reset", "all": true})),
        )
        .await;
        tracing::info!(%user, "password reset; every session revoked");
        Ok(())
    }
}
