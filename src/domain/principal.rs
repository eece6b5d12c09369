//! Who is calling: the bearer token or API key of a request, validated. Access tokens are checked
//! offline (signature, `typ`, `iss`, `aud`, `exp`, `nbf`) and then against the database, so a
//! revoked session or a disabled user stops at once on tokend's own endpoints (contract section 6).
//! Service tokens are told apart by their prefix and checked against their row on every request
//! (see [`super::service_tokens`]), so deleting or deactivating one takes effect at once.

use serde::Serialize;
use tokend_verify::{AccessClaims, VerifyError};
use uuid::Uuid;

use crate::clock::{rfc3339, UnixTime};
use crate::crypto::service_token::looks_like_service_token;
use crate::domain::Tokend;
use crate::error::{Error, Result};

/// A signed-in user acting on one account through an access token.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    /// The verified claims.
    pub claims: AccessClaims,
    /// `sub`.
    pub user: Uuid,
    /// `sid`.
    pub session: Uuid,
    /// `account_uuid`.
    pub account: Uuid,
    /// The user's normalised login.
    pub login: String,
}

impl UserPrincipal {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.has_scope(scope)
    }

    /// Fails with `scope_required` unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Error::ScopeRequired {
                scope: scope.to_string(),
            })
        }
    }
}

/// An integration acting on one account through a service token (an API key).
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// The token's id (never the token itself).
    pub token_id: Uuid,
    /// The account the token acts for.
    pub account: Uuid,
    /// The token's name, shown by `/v1/me`.
    pub name: String,
    /// Granted scopes, sorted.
    pub scopes: Vec<String>,
    /// Expiry, if any.
    pub expires_at: Option<UnixTime>,
    /// Canonical allowlist entries; empty means any address.
    pub allowed_ips: Vec<String>,
    /// Request-body cap in bytes, if any.
    pub max_request_bytes: Option<u64>,
    /// The request budget that applies, if any.
    pub rate_limit: Option<crate::limits::rate::RateLimit>,
}

impl ServicePrincipal {
    /// Whether the token carries `scope` (whole names, case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user's access token.
    User(Box<UserPrincipal>),
    /// A service token.
    Service(ServicePrincipal),
}

impl Principal {
    /// The user behind the call, or `user_token_required` for a service token, so endpoints only
    /// a signed-in person may call (token management, MFA, password) refuse integrations.
    pub fn into_user(self) -> Result<UserPrincipal> {
        match self {
            Principal::User(u) => Ok(*u),
            Principal::Service(_) => Err(Error::UserTokenRequired),
        }
    }

    /// The body-size cap of a service token, if it has one; the HTTP layer enforces it on the
    /// streamed body as well, since a chunked body declares no length.
    pub fn request_size_cap(&self) -> Option<u64> {
        match self {
            Principal::Service(s) => s.max_request_bytes,
            Principal::User(_) => None,
        }
    }

    /// Enforces a service token's `max_request_bytes` against the request's declared body size
    /// (`Content-Length`), before any handler reads the body. User tokens have no per-token cap;
    /// the server-wide body limit still applies to every request.
    pub fn check_request_size(&self, content_length: Option<u64>) -> Result<()> {
        match (self, content_length) {
            (Principal::Service(s), Some(len)) => match s.max_request_bytes {
                Some(limit) if len > limit => Err(Error::RequestTooLarge { limit: Some(limit) }),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// `GET /v1/me` body.
#[derive(Debug, Serialize)]
pub struct MeResponse {
    /// `user` or `service`.
    pub kind: &'static str,
    /// The account the token acts on.
    pub account_uuid: String,
    /// Scopes, in token order.
    pub scopes: Vec<String>,
    /// RFC 3339, or null for a service token without expiry.
    pub expires_at: Option<String>,
    /// For user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<super::sign_in::UserView>,
    /// For user tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// For service tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_token: Option<ServiceTokenMe>,
}

/// The `service_token` member of `GET /v1/me`: what limits the token carries.
#[derive(Debug, Serialize)]
pub struct ServiceTokenMe {
    /// Token id.
    pub id: Uuid,
    /// Token name.
    pub name: String,
    /// Canonical allowlist entries; empty means any address.
    pub allowed_ips: Vec<String>,
    /// Request-body cap in bytes, or null.
    pub max_request_bytes: Option<u64>,
}

impl Tokend {
    /// Validates a presented token (`None` when the request carried none). Service tokens are
    /// recognised by their prefix alone and checked against their row, the allowlist (`ip` is the
    /// client address per the trusted-proxy rule) and recorded as used; anything else must be an
    /// access token.
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        ip: std::net::IpAddr,
    ) -> Result<Principal> {
        let token = token.ok_or(Error::Unauthorized {
            token_presented: false,
        })?;
        if looks_like_service_token(&self.settings.service_token_prefix, token) {
            return self
                .authenticate_service_token(token, ip)
                .await
                .map(Principal::Service);
        }
        self.authenticate_access_token(token)
            .await
            .map(|u| Principal::User(Box::new(u)))
    }

    /// Validates an access token for tokend's own API (its `aud` must be the default audience:
    /// a token issued for another resource server is not for tokend, RFC 8707) and its
    /// session's liveness.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<UserPrincipal> {
        let now = self.clock.now();
        let claims = self.access_tokens.verify(token, now).map_err(|e| match e {
            VerifyError::Expired => Error::TokenExpired,
            _ => Error::Unauthorized {
                token_presented: true,
            },
        })?;
        self.user_principal(claims, now).await
    }

    /// Like [`Self::authenticate_access_token`] for any audience tokend issues for: what
    /// introspection describes to the resource server that asks.
    pub async fn describe_access_token(&self, token: &str) -> Result<UserPrincipal> {
        let now = self.clock.now();
        let claims =
            self.access_tokens
                .verify_issued(token, now)
                .map_err(|_| Error::Unauthorized {
                    token_presented: true,
                })?;
        self.user_principal(claims, now).await
    }

    /// The user behind verified claims, if their session and user are still live.
    async fn user_principal(
        &self,
        claims: tokend_verify::AccessClaims,
        now: i64,
    ) -> Result<UserPrincipal> {
        let bad = || Error::Unauthorized {
            token_presented: true,
        };
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| bad())?;
        if claims.is_service() {
            // An exchanged service-token JWT is for resource APIs; tokend's own endpoints take
            // the service token itself.
            return Err(bad());
        }
        let session_id = claims
            .sid
            .as_deref()
            .and_then(|sid| Uuid::parse_str(sid).ok())
            .ok_or_else(bad)?;
        let account = Uuid::parse_str(&claims.account_uuid).map_err(|_| bad())?;
        let found = self
            .store
            .session_with_user(session_id)
            .await?
            .ok_or_else(bad)?;
        if found.session.user_id != user_id
            || !self.session_is_live(&found.session, now)
            || found.user_disabled
        {
            return Err(bad());
        }
        Ok(UserPrincipal {
            claims,
            user: user_id,
            session: session_id,
            account,
            login: found.user_login,
        })
    }

    /// `GET /v1/me`: the live capabilities of the caller's token.
    pub fn describe(&self, principal: &Principal) -> MeResponse {
        match principal {
            Principal::User(u) => MeResponse {
                kind: "user",
                account_uuid: u.account.to_string(),
                scopes: u.claims.scopes().map(str::to_string).collect(),
                expires_at: Some(rfc3339(u.claims.exp)),
                user: Some(super::sign_in::UserView {
                    uuid: u.user,
                    login: u.login.clone(),
                }),
                session_id: Some(u.session.to_string()),
                service_token: None,
            },
            Principal::Service(s) => MeResponse {
                kind: "service",
                account_uuid: s.account.to_string(),
                scopes: s.scopes.clone(),
                expires_at: s.expires_at.map(rfc3339),
                user: None,
                session_id: None,
                service_token: Some(ServiceTokenMe {
                    id: s.token_id,
                    name: s.name.clone(),
                    allowed_ips: s.allowed_ips.clone(),
                    max_request_bytes: s.max_request_bytes,
                }),
            },
        }
    }
}
