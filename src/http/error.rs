//! The one mapping from [`Error`] to the contract's envelope
//! `{"error":{"code","message","details"}}` (section 2), with `Retry-After` on 429 and 503 and
//! `WWW-Authenticate: Bearer` on 401 (RFC 6750 section 3). 5xx bodies say nothing of internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::error::{DpopAt, Error};

impl Error {
    /// HTTP status and contract code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use Error::*;
        match self {
            InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            InvalidScope { .. } => (StatusCode::BAD_REQUEST, "invalid_scope"),
            InvalidTarget { .. } => (StatusCode::BAD_REQUEST, "invalid_target"),
            InvalidResetTicket => (StatusCode::BAD_REQUEST, "invalid_reset_ticket"),
            AdminKeyRequired => (StatusCode::FORBIDDEN, "admin_key_required"),
            AccountHasServiceTokens => (StatusCode::CONFLICT, "account_has_service_tokens"),
            UnsupportedTokenType => (StatusCode::BAD_REQUEST, "unsupported_token_type"),
            InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
            UnauthorizedClient => (StatusCode::BAD_REQUEST, "unauthorized_client"),
            UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            InvalidMfaToken => (StatusCode::UNAUTHORIZED, "invalid_mfa_token"),
            InvalidMfaCode { .. } => (StatusCode::UNAUTHORIZED, "invalid_mfa_code"),
            InvalidRefreshToken => (StatusCode::UNAUTHORIZED, "invalid_refresh_token"),
            RefreshTokenReused => (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
            TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
            InvalidDpopProof { at, .. } => (dpop_status(*at), "invalid_dpop_proof"),
            UseDpopNonce { at, .. } => (dpop_status(*at), "use_dpop_nonce"),
            DpopBoundToken => (StatusCode::UNAUTHORIZED, "unauthorized"),
            PasskeyLimitReached { .. } => (StatusCode::CONFLICT, "passkey_limit_reached"),
            PasskeyAlreadyRegistered => (StatusCode::CONFLICT, "passkey_already_registered"),
            InvalidPasskey => (StatusCode::UNAUTHORIZED, "invalid_passkey"),
            TokenRevoked { .. } => (StatusCode::UNAUTHORIZED, "token_revoked"),
            AccountAccessDenied => (StatusCode::FORBIDDEN, "account_access_denied"),
            ScopeRequired { .. } => (StatusCode::FORBIDDEN, "scope_required"),
            IpNotAllowed => (StatusCode::FORBIDDEN, "ip_not_allowed"),
            UserTokenRequired => (StatusCode::FORBIDDEN, "user_token_required"),
            UserDisabled => (StatusCode::FORBIDDEN, "user_disabled"),
            NotFound => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            TokenLimitReached { .. } => (StatusCode::CONFLICT, "token_limit_reached"),
            RequestTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            Error::InvalidRequest { field, reason, .. } => {
                if let Some(f) = field {
                    d.insert("field".into(), json!(f));
                }
                if let Some(r) = reason {
                    d.insert("reason".into(), json!(r));
                }
            }
            Error::InvalidScope { scope } | Error::ScopeRequired { scope } => {
                d.insert("scope".into(), json!(scope));
            }
            Error::InvalidTarget { resource } => {
                d.insert("resource".into(), json!(resource));
            }
            Error::InvalidMfaCode { attempts_left } => {
                d.insert("attempts_left".into(), json!(attempts_left));
            }
            Error::TokenRevoked { reason } => {
                d.insert("reason".into(), json!(reason.as_str()));
            }
            Error::TokenLimitReached { limit } => {
                d.insert("limit".into(), json!(limit));
            }
            Error::PasskeyLimitReached { limit } => {
                d.insert("limit".into(), json!(limit));
            }
            Error::RequestTooLarge { limit: Some(limit) } => {
                d.insert("limit".into(), json!(limit));
            }
            Error::RateLimited { retry_after_secs } => {
                d.insert("retry_after".into(), json!(retry_after_secs));
            }
            _ => {}
        }
        d
    }
}

fn dpop_status(at: DpopAt) -> StatusCode {
    match at {
        DpopAt::TokenEndpoint => StatusCode::BAD_REQUEST,
        DpopAt::Resource => StatusCode::UNAUTHORIZED,
    }
}

/// The `WWW-Authenticate: DPoP` challenge of RFC 9449 section 7.1, naming the algorithms proofs
/// may use.
pub(crate) fn dpop_challenge(error: &str) -> HeaderValue {
    let algs = tokend_verify::dpop::DPOP_ALGS.join(" ");
    HeaderValue::from_str(&format!("DPoP error=\"{error}\", algs=\"{algs}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
}

/// The `DPoP-Nonce` response header (RFC 9449 section 8).
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Error::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut error = Map::new();
        error.insert("code".into(), json!(code));
        error.insert("message".into(), json!(self.to_string()));
        let details = self.details();
        if !details.is_empty() {
            error.insert("details".into(), Value::Object(details));
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        match &self {
            Error::RateLimited { retry_after_secs } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from((*retry_after_secs).max(1)),
                );
            }
            Error::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Error::InvalidDpopProof {
                at: DpopAt::Resource,
                ..
            } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    dpop_challenge("invalid_dpop_proof"),
                );
            }
            Error::UseDpopNonce { nonce, at } => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    headers.insert(DPOP_NONCE, value);
                }
                if *at == DpopAt::Resource {
                    headers.insert(header::WWW_AUTHENTICATE, dpop_challenge("use_dpop_nonce"));
                }
            }
            Error::DpopBoundToken => {
                headers.insert(header::WWW_AUTHENTICATE, dpop_challenge("invalid_token"));
            }
            Error::Unauthorized {
                token_presented: false,
            } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::Unauthorized {
                token_presented: true,
            }
            | Error::TokenExpired
            | Error::TokenRevoked { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
