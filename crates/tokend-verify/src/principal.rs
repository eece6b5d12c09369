//! The verified caller of a request (feature `axum`), as [`TokendAuth`](crate::TokendAuth)'s
//! layer leaves it for handlers.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};

use crate::rejection::{AuthRejection, ScopeRejection};
use crate::{AccessClaims, Introspection, RateLimit, VerifyError, TOKEN_TYPE_SERVICE};

/// The `X-API-Key` header, which tokend's contract (section 6) accepts wherever a bearer token is.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The verified caller of a request, so a handler that takes one cannot run unauthenticated.
///
/// A user (a JWT access token), or a machine: a service token checked by introspection, or one
/// exchanged for a JWT (RFC 8693, `token_kind` `service`). The layer of
/// [`TokendAuth`](crate::TokendAuth) verifies the token, applies a service token's allowlist,
/// rate limit and size cap, and stores the `Principal` in the request's extensions; extracting it there is
/// free. Without that layer extraction fails with 401, so a route that forgot it stays closed.
///
/// ```
/// use tokend_verify::{Principal, ScopeRejection};
///
/// async fn delete_photo(principal: Principal) -> Result<String, ScopeRejection> {
///     principal.require_scope("photos:delete")?;
///     Ok(format!("deleted for account {}", principal.account_uuid()))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: String,
    account_uuid: String,
    scope: String,
    service: bool,
    allowed_ips: Vec<String>,
    max_request_bytes: Option<u64>,
    rate_limit: Option<RateLimit>,
    claims: Option<AccessClaims>,
}

impl Principal {
    /// The caller of a verified JWT (a user token, or an exchanged service token).
    pub fn from_claims(claims: AccessClaims) -> Self {
        Self {
            subject: claims.sub.clone(),
            account_uuid: claims.account_uuid.clone(),
            scope: claims.scope.clone(),
            service: claims.is_service(),
            allowed_ips: claims.allowed_ips.clone().unwrap_or_default(),
            max_request_bytes: claims.max_request_bytes,
            rate_limit: claims.rate_limit.filter(|_| claims.is_service()),
            claims: Some(claims),
        }
    }

    /// The caller behind an introspection answer for a service token, or `None` unless the
    /// answer is active, for a service token, and names an account and a token id.
    ///
    /// The subject reads `service_token:<id>`, as in an exchanged service token's JWT.
    pub fn from_introspection(answer: &Introspection) -> Option<Self> {
        if !answer.active || answer.token_type.as_deref() != Some(TOKEN_TYPE_SERVICE) {
            return None;
        }
        let id = answer.sub.as_deref().filter(|s| !s.is_empty())?;
        let account = answer.account_uuid.as_deref().filter(|s| !s.is_empty())?;
        Some(Self {
            subject: format!("service_token:{id}"),
            account_uuid: account.to_owned(),
            scope: answer.scope.clone().unwrap_or_default(),
            service: true,
            allowed_ips: answer.allowed_ips.clone().unwrap_or_default(),
            max_request_bytes: answer.max_request_bytes,
            rate_limit: answer.rate_limit,
            claims: None,
        })
    }

    /// Who acts: the user's UUID, or `service_token:<id>` for a service caller.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The account (tenant) the token is bound to: scope every query by it.
    pub fn account_uuid(&self) -> &str {
        &self.account_uuid
    }

    /// Whether the caller is a service token rather than a signed-in user.
    pub fn is_service(&self) -> bool {
        self.service
    }

    /// The granted scopes one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted, compared exactly (see [`AccessClaims::has_scope`]).
    pub fn has_scope(&self, scope: &str) -> bool {
        !scope.is_empty() && self.scopes().any(|s| s == scope)
    }

    /// Refuses the request unless the token grants `scope`, so a handler states its need in one
    /// line: `principal.require_scope("photos:delete")?;`.
    ///
    /// # Errors
    /// [`ScopeRejection`], which renders 403 `scope_required`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ScopeRejection> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ScopeRejection {
                scope: scope.to_owned(),
            })
        }
    }

    /// A service token's IP allowlist (addresses and CIDRs); empty means any address.
    pub fn allowed_ips(&self) -> &[String] {
        &self.allowed_ips
    }

    /// A service token's cap on request bodies, in bytes.
    pub fn max_request_bytes(&self) -> Option<u64> {
        self.max_request_bytes
    }

    /// A service token's request budget, which the layer enforces per token; `None` for users
    /// and for service tokens without one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`), if any; the layer has
    /// then checked the request's proof against it.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.claims
            .as_ref()
            .and_then(|c| c.cnf.as_ref())
            .map(|cnf| cnf.jkt.as_str())
    }

    /// The JWT's claims, when the caller presented a JWT (not for introspected service tokens).
    pub fn claims(&self) -> Option<&AccessClaims> {
        self.claims.as_ref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(AuthRejection::Missing)
    }
}

/// The single token a request carries, if any.
///
/// A non-Bearer `Authorization` (say, Basic) counts as no token, as RFC 6750 section 3.1 asks.
/// Two tokens, or a repeated header, are refused: RFC 6750 section 2 forbids more than one
/// method per request, and guessing which one was meant invites confusion.
/// The one token a request presents, and whether it came with the `DPoP` scheme (RFC 9449
/// section 7.1) rather than `Bearer` or `X-API-Key`.
pub(crate) fn presented_credentials(headers: &HeaderMap) -> Result<(&str, bool), AuthRejection> {
    let malformed = AuthRejection::Invalid(VerifyError::Malformed);
    let mut authorization = None;
    for value in headers.get_all(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| malformed.clone())?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let dpop = scheme.eq_ignore_ascii_case("dpop");
        if scheme.eq_ignore_ascii_case("bearer") || dpop {
            if authorization.is_some() {
                return Err(malformed);
            }
            authorization = Some((rest.trim(), dpop));
        }
    }
    let mut api_keys = headers.get_all(&X_API_KEY).iter();
    let api_key = match (api_keys.next(), api_keys.next()) {
        (Some(value), None) => Some(value.to_str().map_err(|_| malformed.clone())?.trim()),
        (None, _) => None,
        (Some(_), Some(_)) => return Err(malformed),
    };
    match (authorization, api_key) {
        (None, None) => Err(AuthRejection::Missing),
        (Some(_), Some(_)) => Err(malformed),
        (Some(("", _)), None) | (None, Some("")) => Err(malformed),
        (Some(presented), None) => Ok(presented),
        (None, Some(token)) => Ok((token, false)),
    }
}

#[cfg(test)]
mod tests;
