//! RFC 8693 token exchange: a registered client trades a service token (the `subject_token`, of
//! type [`super::TOKEN_TYPE_SERVICE_TOKEN`]) for a short-lived JWT access token that resource APIs
//! verify offline. The JWT carries the service token's account, scopes (narrowable), allowlist
//! and request-size cap as claims; its lifetime is `TOKEND_EXCHANGED_TOKEN_TTL`, never past the
//! service token's own expiry. The exchange itself is a use of the service token: deleted,
//! expired, deactivated and out-of-allowlist tokens are refused exactly as at `/v1/me`, and each
//! exchange is written to the service token's audit trail.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::json;

use super::{GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_SERVICE_TOKEN};
use crate::crypto::jwt::ServiceGrant;
use crate::domain::refresh::secs;
use crate::domain::scopes::{join_scopes, split_scopes};
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{ClientRecord, ExchangeAudit};

/// The parameters of an exchange request (RFC 8693 section 2.1) that tokend reads.
#[derive(Clone, Default)]
pub struct ExchangeRequest {
    /// The service token.
    pub subject_token: String,
    /// Must be [`TOKEN_TYPE_SERVICE_TOKEN`].
    pub subject_token_type: String,
    /// Optional; only [`TOKEN_TYPE_ACCESS_TOKEN`] can be issued.
    pub requested_token_type: Option<String>,
    /// Optional narrowing of the service token's scopes.
    pub scope: Option<String>,
    /// Optional RFC 8707 resource indicator.
    pub resource: Option<String>,
}

crate::redacted_debug!(ExchangeRequest);

/// RFC 8693 section 2.2.1 success body.
#[derive(Serialize)]
pub struct ExchangeResponse {
    /// The JWT.
    pub access_token: String,
    /// Always [`TOKEN_TYPE_ACCESS_TOKEN`].
    pub issued_token_type: &'static str,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

crate::redacted_debug!(ExchangeResponse);

impl Tokend {
    /// Exchanges a service token presented by `client` from `ip` for a JWT.
    pub async fn exchange_service_token(
        &self,
        req: ExchangeRequest,
        client: &ClientRecord,
        ip: IpAddr,
    ) -> Result<ExchangeResponse> {
        if !client.allows_grant(GRANT_TOKEN_EXCHANGE) {
            return Err(Error::UnauthorizedClient);
        }
        if req.subject_token.is_empty() {
            return Err(Error::field("subject_token", "subject_token is required"));
        }
        if req.subject_token_type != TOKEN_TYPE_SERVICE_TOKEN {
            return Err(Error::field(
                "subject_token_type",
                format!("subject_token_type must be {TOKEN_TYPE_SERVICE_TOKEN}"),
            ));
        }
        if let Some(wanted) = req.requested_token_type.as_deref() {
            if wanted != TOKEN_TYPE_ACCESS_TOKEN {
                return Err(Error::field(
                    "requested_token_type",
                    format!("only {TOKEN_TYPE_ACCESS_TOKEN} can be issued"),
                ));
            }
        }
        let audience = self
            .resolve_audience(req.resource.as_deref(), Some(client), None)
            .await?;
        let principal = self
            .authenticate_service_token(&req.subject_token, ip)
            .await?;
        let held: BTreeSet<String> = principal.scopes.iter().cloned().collect();
        let scope = match req.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => join_scopes(&held),
            Some(requested) => join_scopes(
                &self
                    .vocabulary
                    .narrow(split_scopes(requested), &held)
                    .map_err(|scope| Error::InvalidScope { scope })?,
            ),
        };
        let now = self.clock.now();
        let mut ttl = secs(self.settings.exchanged_token_ttl);
        if let Some(expires) = principal.expires_at {
            ttl = ttl.min(expires - now);
        }
        if ttl <= 0 {
            return Err(Error::TokenExpired);
        }
        let grant = ServiceGrant {
            token_id: principal.token_id,
            account: principal.account,
            client_id: &client.client_id,
            scope: &scope,
            audience: audience.as_deref(),
            allowed_ips: (!principal.allowed_ips.is_empty()).then(|| principal.allowed_ips.clone()),
            max_request_bytes: principal.max_request_bytes,
            rate_limit: principal.rate_limit,
            ttl_secs: ttl,
        };
        let (access_token, claims) = self
            .access_tokens
            .issue_service(&grant, now)
            .map_err(Error::internal)?;
        let audit = ExchangeAudit {
            token_id: principal.token_id,
            account_id: principal.account,
            client_id: client.client_id.clone(),
            client_ip: ip.to_string(),
            detail:
                json!({"scope": scope, "aud": claims.aud, "exp": claims.exp, "jti": claims.jti})
                    .to_string(),
            at: now,
        };
        self.store.audit_service_token_exchange(&audit).await?;
        self.metrics.event("service_token_exchanged");
        self.audit(
            crate::domain::admin::audit::AuditEvent::new(
                "service_token.exchanged",
                format!("client:{}", client.client_id),
            )
            .account(principal.account)
            .from(ip, None)
            .details(json!({"service_token": principal.token_id, "jti": claims.jti})),
        )
        .await;
        Ok(ExchangeResponse {
            access_token,
            issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
        })
    }
}
