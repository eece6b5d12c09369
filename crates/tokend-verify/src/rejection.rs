//! Refusals of the `axum` integration, rendered in tokend's error envelope
//! (`{"error":{"code","message","details"}}`) with the RFC 6750 section 3 `WWW-Authenticate`
//! header, so clients see the same errors from tokend and from every API that trusts it.

use std::fmt;

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::dpop::DpopError;
use crate::VerifyError;

/// Why a request was refused before its handler ran.
///
/// Public so an application can match on it (to log, say) before letting it render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// No token was presented: 401 `unauthorized`, `WWW-Authenticate: Bearer` without an error.
    Missing,
    /// A JWT was presented and refused: 401 `unauthorized` (`token_expired` when expired),
    /// `error="invalid_token"`.
    Invalid(VerifyError),
    /// A service token tokend does not vouch for (unknown, expired, deactivated, deleted,
    /// malformed): 401 `unauthorized`.
    Inactive,
    /// tokend could not be asked about a service token: 503 `unavailable` with `Retry-After`.
    /// The request is refused, never let through.
    Unavailable,
    /// The client address is outside the service token's allowlist: 403 `ip_not_allowed`.
    IpNotAllowed,
    /// The body is larger than the service token's `max_request_bytes`: 413
    /// `request_too_large`, with the cap in `details.limit`.
    TooLarge {
        /// The token's cap in bytes.
        limit: u64,
    },
    /// The service token's `rate_limit` is spent: 429 `rate_limited`, with `Retry-After` and
    /// `details.retry_after` (seconds).
    RateLimited {
        /// Seconds until the next request is allowed.
        retry_after: u64,
    },
    /// A DPoP-bound token came with a missing or failing proof: 401 `invalid_dpop_proof`, with
    /// `WWW-Authenticate: DPoP error="invalid_dpop_proof"` (RFC 9449 section 7.1).
    Dpop(DpopError),
    /// A DPoP-bound token sent as `Bearer`, or a bearer token sent with the `DPoP` scheme: 401
    /// `unauthorized`, `WWW-Authenticate: DPoP error="invalid_token"`.
    DpopScheme,
}

impl AuthRejection {
    /// The contract's error code, so a client can tell "refresh and retry" from "sign in again".
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(VerifyError::Expired) => "token_expired",
            Self::Missing | Self::Invalid(_) | Self::Inactive => "unauthorized",
            Self::Unavailable => "unavailable",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::TooLarge { .. } => "request_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Dpop(_) => "invalid_dpop_proof",
            Self::DpopScheme => "unauthorized",
        }
    }

    /// The HTTP status this refusal renders with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing
            | Self::Invalid(_)
            | Self::Inactive
            | Self::Dpop(_)
            | Self::DpopScheme => StatusCode::UNAUTHORIZED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("A bearer token is required."),
            Self::Invalid(err) => err.fmt(f),
            Self::Inactive => f.write_str("The token is not active."),
            Self::Unavailable => f.write_str("The token cannot be checked right now; retry later."),
            Self::IpNotAllowed => f.write_str("The token may not be used from this address."),
            Self::TooLarge { limit } => {
                write!(
                    f,
                    "The request body exceeds the token's limit of {limit} bytes."
                )
            }
            Self::RateLimited { retry_after } => write!(
                f,
                "The token's request budget is spent; retry in {retry_after} seconds."
            ),
            Self::Dpop(err) => err.fmt(f),
            Self::DpopScheme => f.write_str(
                "The token and the scheme disagree: a DPoP-bound token is sent as \
                 `Authorization: DPoP` with a proof, any other as `Bearer`.",
            ),
        }
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut details = Map::new();
        match self {
            Self::TooLarge { limit } => {
                details.insert("limit".into(), json!(limit));
            }
            Self::RateLimited { retry_after } => {
                details.insert("retry_after".into(), json!(retry_after));
            }
            _ => {}
        }
        let mut response = envelope(self.status(), self.code(), &self.to_string(), details);
        let headers = response.headers_mut();
        match self {
            Self::Missing => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Invalid(_) | Self::Inactive => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::RateLimited { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Self::Dpop(_) => {
                headers.insert(WWW_AUTHENTICATE, dpop_challenge("invalid_dpop_proof"));
            }
            Self::DpopScheme => {
                headers.insert(WWW_AUTHENTICATE, dpop_challenge("invalid_token"));
            }
            Self::IpNotAllowed | Self::TooLarge { .. } => {}
        }
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
        let mut details = Map::new();
        details.insert("scope".into(), json!(self.scope));
        let mut response = envelope(
            StatusCode::FORBIDDEN,
            "scope_required",
            &self.to_string(),
            details,
        );
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

/// The `WWW-Authenticate: DPoP` challenge, naming the algorithms proofs may use.
fn dpop_challenge(error: &str) -> HeaderValue {
    let algs = crate::dpop::DPOP_ALGS.join(" ");
    HeaderValue::from_str(&format!("DPoP error=\"{error}\", algs=\"{algs}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
}

/// `{"error":{"code","message","details"}}`, `details` only when it has members.
fn envelope(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Map<String, Value>,
) -> Response {
    let mut error = Map::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if !details.is_empty() {
        error.insert("details".into(), Value::Object(details));
    }
    (status, Json(json!({ "error": error }))).into_response()
}
