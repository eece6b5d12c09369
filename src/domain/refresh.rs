//! Contract section 3, `POST /v1/auth/token`: refresh-token rotation.
//!
//! A session's live refresh token is generation `g` (see [`crate::crypto::refresh`]). Presenting:
//! - `g`: membership and scope checks, then one conditional `UPDATE … WHERE generation = g` moves
//!   the session to `g + 1`; exactly one concurrent request can win it.
//! - `g - 1` within the grace window of its rotation: the same successor `g` again (re-derived,
//!   never stored), so a lost response or two tabs never sign anyone out and the chain never forks.
//! - anything older, or `g - 1` after the window (or with a window of 0): reuse; the whole session
//!   is revoked, the newest token included.
//!
//! Reuse is decided before any membership check, so a stolen old token cannot dodge detection by
//! asking for an account it has no access to. Checks that can fail without meaning theft run
//! before the spend, so a 403 never costs the caller their session.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dpop::DpopInput;
use super::scopes::{join_scopes, split_scopes};
use crate::crypto::jwt::AccessGrant;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{ClientRecord, Rotation, SessionLiveness, SessionRecord};

/// Default `client_id` claim when the device named none.
pub const DEFAULT_CLIENT_ID: &str = "tokend";

/// `POST /v1/auth/token` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The refresh token to spend.
    pub refresh_token: String,
    /// Account the access token is for.
    pub account_uuid: Uuid,
    /// Optional space-separated subset of the role's scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Optional RFC 8707 resource indicator: the `aud` of the access token.
    #[serde(default)]
    pub resource: Option<String>,
}

/// `POST /v1/auth/token` success body.
#[derive(Serialize)]
pub struct TokenResponse {
    /// RFC 9068 JWT.
    pub access_token: String,
    /// `Bearer`, or `DPoP` when the access token is bound to a key (RFC 9449 section 5).
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// The successor refresh token; the presented one is spent.
    pub refresh_token: String,
    /// Echo of the account.
    pub account_uuid: Uuid,
    /// Granted scopes, space-separated.
    pub scope: String,
}

enum Presented {
    Live,
    RecentlySpent,
    Reused,
}

impl Tokend {
    /// The liveness cut-offs of sessions at `now`.
    pub fn session_liveness(&self, now: i64) -> SessionLiveness {
        SessionLiveness {
            idle_cutoff: now - secs(self.settings.session_idle_ttl),
            absolute_cutoff: now - secs(self.settings.session_absolute_ttl),
        }
    }

    /// Whether a session is neither revoked nor expired at `now`.
    pub fn session_is_live(&self, s: &SessionRecord, now: i64) -> bool {
        let l = self.session_liveness(now);
        s.revoked_at.is_none()
            && s.last_used_at >= l.idle_cutoff
            && s.created_at >= l.absolute_cutoff
    }

    fn classify(&self, session: &SessionRecord, generation: i64, now: i64) -> Result<Presented> {
        let grace = secs(self.settings.refresh_grace);
        if generation == session.generation {
            Ok(Presented::Live)
        } else if generation == session.generation - 1
            && grace > 0
            && now - session.rotated_at <= grace
        {
            Ok(Presented::RecentlySpent)
        } else if generation < session.generation {
            Ok(Presented::Reused)
        } else {
            Err(Error::InvalidRefreshToken)
        }
    }

    /// Spends a refresh token and issues an access token for one account (`/v1/auth/token`).
    pub async fn refresh(
        &self,
        req: TokenRequest,
        ip: IpAddr,
        dpop: &DpopInput,
    ) -> Result<TokenResponse> {
        self.refresh_for(req, None, ip, dpop).await
    }

    /// The one rotation rule, for both token endpoints. `client` is the client authenticated at
    /// the standard endpoint: a refresh token works only for the client its session was signed in
    /// with (RFC 6749 section 6), and presenting it from another client changes nothing, neither
    /// spending it nor counting as reuse. A session bound to a DPoP key refreshes only with a
    /// proof by that key, checked before the token is classified (see [`super::dpop`]); a proof
    /// sent for a bearer session binds the access token alone.
    pub async fn refresh_for(
        &self,
        req: TokenRequest,
        client: Option<&ClientRecord>,
        ip: IpAddr,
        dpop: &DpopInput,
    ) -> Result<TokenResponse> {
        let claim = self
            .refresh_tokens
            .open(&req.refresh_token)
            .ok_or(Error::InvalidRefreshToken)?;
        let now = self.clock.now();
        // A proof is checked (and its jti spent) once, whichever path decides the refresh.
        let presented = self.token_endpoint_proof(dpop, false).await;
        if client.is_none() && req.resource.is_none() {
            if let Ok(proof) = &presented {
                let proof_jkt = proof.as_ref().map(|p| p.jkt.clone());
                if let Some(answer) = self.rotate_in_one(&req, &claim, proof_jkt, ip, now).await? {
                    return Ok(answer);
                }
            }
        }
        let mut session = self.live_session(claim.session, now).await?;
        if let Some(client) = client {
            if session.client_id.as_deref() != Some(client.client_id.as_str()) {
                return Err(Error::InvalidRefreshToken);
            }
        }
        // Before classifying: without the key, an old token must not even reveal reuse.
        let proof_key = match session.dpop_jkt.as_deref() {
            Some(jkt) => {
                self.bound_refresh_proof(presented, jkt, session.id, session.user_id, ip)
                    .await?;
                Some(jkt.to_string())
            }
            None => presented?.map(|proof| proof.jkt),
        };
        let mut attempt = self.classify(&session, claim.generation, now)?;
        if let Presented::Reused = attempt {
            return Err(self.revoke_for_reuse(&session, now).await);
        }
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        if user.disabled {
            return Err(Error::InvalidRefreshToken);
        }
        let role = self
            .store
            .membership_role(user.id, req.account_uuid)
            .await?
            .ok_or(Error::AccountAccessDenied)?;
        let scope = self.grant_scopes(&role, req.scope.as_deref())?;
        let audience = self
            .resolve_audience(
                req.resource.as_deref(),
                client,
                session.client_id.as_deref(),
            )
            .await?;

        if let Presented::Live = attempt {
            let liveness = self.session_liveness(now);
            if self
                .store
                .advance_session(session.id, claim.generation, now, &ip.to_string(), liveness)
                .await?
            {
                session.generation += 1;
            } else {
                // Another request spent it first (or it was revoked meanwhile): decide again.
                session = self.live_session(claim.session, now).await?;
                attempt = self.classify(&session, claim.generation, now)?;
                match attempt {
                    Presented::RecentlySpent => {}
                    _ => return Err(self.revoke_for_reuse(&session, now).await),
                }
            }
        }
        self.token_response(
            &session,
            &req,
            scope,
            audience.as_deref(),
            proof_key.as_deref(),
            now,
        )
    }

    /// The common refresh (the live token, no client or audience to check) in one statement:
    /// the rotation's `UPDATE` checks liveness, user, membership, role and DPoP binding itself.
    /// `None` when any check fails, for the full path to find out which and answer for it.
    async fn rotate_in_one(
        &self,
        req: &TokenRequest,
        claim: &crate::crypto::refresh::RefreshClaim,
        proof_jkt: Option<String>,
        ip: IpAddr,
        now: crate::clock::UnixTime,
    ) -> Result<Option<TokenResponse>> {
        // Only roles whose scopes cover the request may pass, so a refused scope never spends.
        let roles = match req.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(requested) => {
                let wanted = split_scopes(requested);
                let roles: Vec<String> = self
                    .vocabulary
                    .roles()
                    .filter(|role| {
                        let held = self.vocabulary.role(role).cloned().unwrap_or_default();
                        self.vocabulary.narrow(wanted.clone(), &held).is_ok()
                    })
                    .map(str::to_string)
                    .collect();
                if roles.is_empty() {
                    return Ok(None);
                }
                Some(roles)
            }
        };
        let rotation = Rotation {
            id: claim.session,
            generation: claim.generation,
            account: req.account_uuid,
            roles,
            proof_jkt,
            now,
            ip: ip.to_string(),
            liveness: self.session_liveness(now),
        };
        let rotated = match self.store.rotate_refresh(&rotation).await {
            Ok(Some(rotated)) => rotated,
            Ok(None) => return Ok(None),
            // Nothing was spent (the statement or its batch failed as a whole): the full path
            // tries again and answers for itself.
            Err(e) => {
                tracing::warn!(error = %e, "one-statement rotation failed; taking the full path");
                return Ok(None);
            }
        };
        let scope = self.grant_scopes(&rotated.role, req.scope.as_deref())?;
        let key = rotated.session.dpop_jkt.clone().or(rotation.proof_jkt);
        self.token_response(&rotated.session, req, scope, None, key.as_deref(), now)
            .map(Some)
    }

    /// The successor refresh token and a new access token for a session just rotated (or
    /// re-derived within the grace window).
    fn token_response(
        &self,
        session: &SessionRecord,
        req: &TokenRequest,
        scope: String,
        audience: Option<&str>,
        dpop_jkt: Option<&str>,
        now: crate::clock::UnixTime,
    ) -> Result<TokenResponse> {
        let successor = self.refresh_tokens.derive(session.id, session.generation);
        let client_id = session.client_id.as_deref().unwrap_or(DEFAULT_CLIENT_ID);
        let grant = AccessGrant {
            user: session.user_id,
            session: session.id,
            account: req.account_uuid,
            client_id,
            scope: &scope,
            audience,
            dpop_jkt,
        };
        let (access_token, _) = self
            .access_tokens
            .issue(&grant, now)
            .map_err(Error::internal)?;
        Ok(TokenResponse {
            access_token,
            token_type: if dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: self.access_tokens.ttl_secs(),
            refresh_token: successor.expose().to_string(),
            account_uuid: req.account_uuid,
            scope,
        })
    }

    async fn live_session(&self, id: Uuid, now: i64) -> Result<SessionRecord> {
        let session = self
            .store
            .session_by_id(id)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        if self.session_is_live(&session, now) {
            Ok(session)
        } else {
            Err(Error::InvalidRefreshToken)
        }
    }

    async fn revoke_for_reuse(&self, session: &SessionRecord, now: i64) -> Error {
        let audit: Vec<_> = [
            (
                "refresh_token.reused",
                serde_json::json!({"session": session.id}),
            ),
            (
                "session.revoked",
                serde_json::json!({"by": "reuse", "session": session.id}),
            ),
        ]
        .into_iter()
        .map(|(kind, details)| {
            crate::domain::admin::audit::AuditEvent::new(kind, "system")
                .user(session.user_id)
                .details(details)
                .at(now)
        })
        .collect();
        match self
            .store
            .revoke_session(session.id, "refresh_token_reused", now, &audit)
            .await
        {
            Ok(_) => {
                self.metrics.event("refresh_token_reused");
                tracing::warn!(session = %session.id, user = %session.user_id, "refresh token reused; session revoked");
                Error::RefreshTokenReused
            }
            Err(e) => e.into(),
        }
    }

    /// The scopes granted for `role`, narrowed to `requested` when given.
    pub fn grant_scopes(&self, role: &str, requested: Option<&str>) -> Result<String> {
        let held: BTreeSet<String> = self.vocabulary.role(role).cloned().unwrap_or_default();
        let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
            return Ok(join_scopes(&held));
        };
        let wanted = self
            .vocabulary
            .narrow(split_scopes(requested), &held)
            .map_err(|scope| Error::InvalidScope { scope })?;
        Ok(join_scopes(&wanted))
    }

    /// `POST /v1/auth/sign_out` and RFC 7009 revocation: revokes the token's session. Anything
    /// unknown is accepted silently, as both specs require. A DPoP-bound session is ended only
    /// with a proof by its key, so a stolen token without the key cannot even sign its owner
    /// out.
    pub async fn revoke_refresh_token(
        &self,
        token: &str,
        ip: IpAddr,
        user_agent: Option<&str>,
        dpop: &DpopInput,
    ) -> Result<()> {
        if let Some(claim) = self.refresh_tokens.open(token) {
            let Some(session) = self.store.session_by_id(claim.session).await? else {
                return Ok(());
            };
            if let Some(jkt) = session.dpop_jkt.as_deref() {
                self.token_endpoint_proof_by(dpop, jkt).await?;
            }
            let now = self.clock.now();
            let audit = crate::domain::admin::audit::AuditEvent::new(
                "session.revoked",
                format!("user:{}", session.user_id),
            )
            .user(session.user_id)
            .from(ip, user_agent)
            .details(serde_json::json!({"by": "user", "session": claim.session}))
            .at(now);
            if self
                .store
                .revoke_session(claim.session, "sign_out", now, &[audit])
                .await?
            {
                tracing::info!(session = %claim.session, "signed out");
            }
        }
        Ok(())
    }
}

/// A settings duration as signed seconds.
pub(crate) fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

crate::redacted_debug!(TokenRequest, TokenResponse);
