//! RFC 7009 revocation, shared by `POST /oauth2/revoke` and `POST /v1/revoke`. A refresh token
//! revokes its session; an access token revokes the session it belongs to (its `sid`), so
//! `/v1/me` and introspection refuse it at once (both check the session on every call), while
//! resource APIs that verify offline stop at its expiry. Service tokens are refused with
//! `unsupported_token_type`: they are deleted through the management API, which audits who did
//! it. Anything else (unknown, malformed, expired) is accepted silently, as section 2.2 requires.

use uuid::Uuid;

use crate::crypto::service_token::looks_like_service_token;
use crate::domain::dpop::DpopInput;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::ClientRecord;

impl Tokend {
    /// A session signed in with a registered client other than `client` is not `client`'s to
    /// revoke; sessions without one (or an unknown one) belong to no standard client.
    async fn check_session_client(&self, session: Uuid, client: &ClientRecord) -> Result<()> {
        let owner = self
            .store
            .session_by_id(session)
            .await?
            .and_then(|s| s.client_id);
        match owner {
            Some(owner)
                if owner != client.client_id && self.store.client(&owner).await?.is_some() =>
            {
                Err(Error::UnauthorizedClient)
            }
            _ => Ok(()),
        }
    }

    /// Revokes whatever session `token` belongs to. `client` is the authenticated client at
    /// `/oauth2/revoke` (RFC 7009 section 2.1): a token of a session signed in with another
    /// registered client is refused with `unauthorized_client` and nothing is revoked.
    pub async fn revoke_token(
        &self,
        token: &str,
        client: Option<&ClientRecord>,
        ip: std::net::IpAddr,
        user_agent: Option<&str>,
        dpop: &DpopInput,
    ) -> Result<()> {
        let token = token.trim();
        if looks_like_service_token(&self.settings.service_token_prefix, token) {
            return Err(Error::UnsupportedTokenType);
        }
        if let Some(claim) = self.refresh_tokens.open(token) {
            if let Some(client) = client {
                self.check_session_client(claim.session, client).await?;
            }
            return self.revoke_refresh_token(token, ip, user_agent, dpop).await;
        }
        let now = self.clock.now();
        let Ok(claims) = self.access_tokens.verify_issued(token, now) else {
            return Ok(());
        };
        if claims.is_service() {
            return Err(Error::UnsupportedTokenType);
        }
        let Some(session) = claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Ok(());
        };
        if let Some(client) = client {
            self.check_session_client(session, client).await?;
        }
        if let Some(jkt) = claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str()) {
            self.token_endpoint_proof_by(dpop, jkt).await?;
        }
        let user = Uuid::parse_str(&claims.sub).ok();
        let mut event = crate::domain::admin::audit::AuditEvent::new(
            "session.revoked",
            user.map_or_else(|| "system".to_string(), |u| format!("user:{u}")),
        )
        .from(ip, user_agent)
        .details(serde_json::json!({"by": "user", "session": session, "via": "access_token"}));
        if let Some(user) = user {
            event = event.user(user);
        }
        if self
            .store
            .revoke_session(session, "access_token_revoked", now, &[event.at(now)])
            .await?
        {
            tracing::info!(%session, "session revoked through its access token");
        }
        Ok(())
    }
}
