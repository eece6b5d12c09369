//! Who is calling: the bearer token or API key of a request, validated. Access tokens are checked
//! offline (signature, `typ`, `iss`, `aud`, `exp`, `nbf`) and then against the database, so a
//! revoked session or a disabled user stops at once on tokend's own endpoints (contract section 6).

use serde::Serialize;
use tokend_verify::{AccessClaims, VerifyError};
use uuid::Uuid;

use crate::app::Tokend;
use crate::clock::rfc3339;
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

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user's access token.
    User(UserPrincipal),
}

impl Principal {
    /// The user behind the call, or `user_token_required`.
    pub fn into_user(self) -> Result<UserPrincipal> {
        match self {
            Principal::User(u) => Ok(u),
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
}

impl Tokend {
    /// Validates a presented token (`None` when the request carried none).
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        _ip: std::net::IpAddr,
    ) -> Result<Principal> {
        let token = token.ok_or(Error::Unauthorized {
            token_presented: false,
        })?;
        self.authenticate_access_token(token)
            .await
            .map(Principal::User)
    }

    /// Validates an access token and its session's liveness.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<UserPrincipal> {
        let now = self.clock.now();
        let claims = self.access_tokens.verify(token, now).map_err(|e| match e {
            VerifyError::Expired => Error::TokenExpired,
            _ => Error::Unauthorized {
                token_presented: true,
            },
        })?;
        let bad = || Error::Unauthorized {
            token_presented: true,
        };
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| bad())?;
        let session_id = Uuid::parse_str(&claims.sid).map_err(|_| bad())?;
        let account = Uuid::parse_str(&claims.account_uuid).map_err(|_| bad())?;
        let session = self
            .store
            .session_by_id(session_id)
            .await?
            .ok_or_else(bad)?;
        if session.user_id != user_id || !self.session_is_live(&session, now) {
            return Err(bad());
        }
        let user = self.store.user_by_id(user_id).await?.ok_or_else(bad)?;
        if user.disabled {
            return Err(bad());
        }
        Ok(UserPrincipal {
            claims,
            user: user_id,
            session: session_id,
            account,
            login: user.login,
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
            },
        }
    }
}
