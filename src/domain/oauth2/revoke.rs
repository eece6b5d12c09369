//! RFC 7009 revocation, shared by `POST /oauth2/revoke` and `POST /v1/revoke`. A refresh token
//! revokes its session; an access token revokes the session it belongs to (its `sid`), so
//! `/v1/me` and introspection refuse it at once (both check the session on every call), while
//! resource APIs that verify offline stop at its expiry. Service tokens are refused with
//! `unsupported_token_type`: they are deleted through the management API, which audits who did
//! it. Anything else (unknown, malformed, expired) is accepted silently, as section 2.2 requires.

use uuid::Uuid;

use crate::crypto::service_token::looks_like_service_token;
use crate::domain::Tokend;
use crate::error::{Error, Result};

impl Tokend {
    /// Revokes whatever session `token` belongs to.
    pub async fn revoke_token(&self, token: &str) -> Result<()> {
        let token = token.trim();
        if looks_like_service_token(&self.settings.service_token_prefix, token) {
            return Err(Error::UnsupportedTokenType);
        }
        if self.refresh_tokens.open(token).is_some() {
            return self.revoke_refresh_token(token).await;
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
        if self
            .store
            .revoke_session(session, "access_token_revoked", now)
            .await?
        {
            tracing::info!(%session, "session revoked through its access token");
        }
        Ok(())
    }
}
