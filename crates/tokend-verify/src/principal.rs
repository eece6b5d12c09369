//! The axum extractor resource APIs put in their handlers' arguments (feature `axum`).
//!
//! Failures render tokend's error envelope (`{"error":{"code","message","details"}}`) with the
//! RFC 6750 section 3 `WWW-Authenticate` header, so clients see the same errors from tokend and
//! from every API that trusts it.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::{AccessClaims, Verifier, VerifyError};

/// The `X-API-Key` header, which tokend's contract (section 6) accepts wherever a bearer token is.
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The verified caller of a request, so a handler that takes one cannot run unauthenticated.
///
/// Extraction reads `Authorization: Bearer <token>` (scheme in any case) or `X-API-Key: <token>`
/// and verifies it with the [`Verifier`] obtained from the router state through
/// `Arc<Verifier>: FromRef<S>`. If the state *is* an `Arc<Verifier>`, that holds already; an
/// application state implements it (cloning an `Arc`, or reading the current one out of an
/// `RwLock` when the JWKS is refreshed in the background) like this:
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use axum::extract::FromRef;
/// use tokend_verify::Verifier;
///
/// #[derive(Clone)]
/// struct AppState {
///     verifier: Arc<RwLock<Arc<Verifier>>>,
/// }
///
/// impl FromRef<AppState> for Arc<Verifier> {
///     fn from_ref(state: &AppState) -> Self {
///         // A poisoned lock still holds a complete Arc, so recover it rather than panic.
///         Arc::clone(&state.verifier.read().unwrap_or_else(|e| e.into_inner()))
///     }
/// }
/// ```
///
/// Only JWT access tokens are accepted: an opaque service token needs tokend's
/// `POST /v1/introspect`, and gets a 401 here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's verified claims.
    pub claims: AccessClaims,
}

impl Principal {
    /// Refuses the request unless the token grants `scope`, so a handler states its need in one
    /// line: `principal.require_scope("photos:delete")?;`.
    ///
    /// # Errors
    /// [`ScopeRejection`], which renders 403 `scope_required`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ScopeRejection> {
        if self.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(ScopeRejection {
                scope: scope.to_owned(),
            })
        }
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = presented_token(&parts.headers)?;
        let verifier = Arc::<Verifier>::from_ref(state);
        let claims = verifier.verify(token).map_err(AuthRejection::Invalid)?;
        Ok(Self { claims })
    }
}

/// The single token a request carries, if any.
///
/// A non-Bearer `Authorization` (say, Basic) counts as no token, as RFC 6750 section 3.1 asks.
/// Two tokens, or a repeated header, are refused: RFC 6750 section 2 forbids more than one
/// method per request, and guessing which one was meant invites confusion.
fn presented_token(headers: &HeaderMap) -> Result<&str, AuthRejection> {
    let malformed = AuthRejection::Invalid(VerifyError::Malformed);
    let mut bearer = None;
    for value in headers.get_all(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| malformed.clone())?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            if bearer.is_some() {
                return Err(malformed);
            }
            bearer = Some(rest.trim());
        }
    }
    let mut api_keys = headers.get_all(&X_API_KEY).iter();
    let api_key = match (api_keys.next(), api_keys.next()) {
        (Some(value), None) => Some(value.to_str().map_err(|_| malformed.clone())?.trim()),
        (None, _) => None,
        (Some(_), Some(_)) => return Err(malformed),
    };
    match (bearer, api_key) {
        (None, None) => Err(AuthRejection::Missing),
        (Some(_), Some(_)) => Err(malformed),
        (Some(""), None) | (None, Some("")) => Err(malformed),
        (Some(token), None) | (None, Some(token)) => Ok(token),
    }
}

/// Why [`Principal`] extraction failed; renders 401 in tokend's error envelope.
///
/// Public so an application can match on it (say, to log [`VerifyError::UnknownKey`] and
/// trigger a JWKS refetch) before letting it render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// No token was presented: `WWW-Authenticate: Bearer` without an error, per RFC 6750.
    Missing,
    /// A token was presented and refused: `error="invalid_token"`.
    Invalid(VerifyError),
}

impl AuthRejection {
    /// The contract's error code, so a client can tell "refresh and retry" from "sign in again".
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(VerifyError::Expired) => "token_expired",
            _ => "unauthorized",
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("A bearer token is required."),
            Self::Invalid(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = match self {
            Self::Missing => "Bearer",
            Self::Invalid(_) => "Bearer error=\"invalid_token\"",
        };
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }
}

/// A valid token lacking a scope the endpoint needs; renders 403 `scope_required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRejection {
    /// The missing scope, echoed in `details.scope` so the client knows what to ask for.
    pub scope: String,
}

impl fmt::Display for ScopeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "The token lacks the scope {}.", self.scope)
    }
}

impl std::error::Error for ScopeRejection {}

impl IntoResponse for ScopeRejection {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": "scope_required",
            "message": self.to_string(),
            "details": {"scope": self.scope},
        }});
        let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
        // RFC 6750 section 3.1; skipped for a scope name that could not be quoted safely.
        let safe = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
        if !self.scope.is_empty() && self.scope.chars().all(safe) {
            let challenge = format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                self.scope
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests;
