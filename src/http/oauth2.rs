//! The standard OAuth 2.0 endpoints (issue #8): `POST /oauth2/token` (RFC 6749 section 6 refresh,
//! RFC 8693 token exchange, RFC 8707 `resource`) and `POST /oauth2/revoke` (RFC 7009).
//!
//! Off-the-shelf clients read these, so they speak exactly the RFCs: form-encoded bodies, errors
//! as `{"error", "error_description"}` with the RFC 6749 section 5.2 codes (not the `/v1`
//! envelope), `401` plus `WWW-Authenticate` for `invalid_client`, and `Cache-Control: no-store`.
//! Client authentication: `client_secret_basic`, `client_secret_post`, or `none` (public
//! clients, `client_id` alone), never two methods at once (RFC 6749 section 2.3).

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::extract::{basic_credentials, body_bytes, is_form, ClientIp, Dpop, UserAgent};
use crate::app::AppState;
use crate::domain::oauth2::clients::ClientAuth;
use crate::domain::oauth2::exchange::ExchangeRequest;
use crate::domain::oauth2::{GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};
use crate::domain::refresh::TokenRequest;
use crate::error::Error;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
}

/// An RFC 6749 section 5.2 error response.
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
    dpop_nonce: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after: None,
            dpop_nonce: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

/// The domain's errors in RFC 6749 terms. Every way a grant can be unusable (unknown, spent,
/// reused, expired, revoked, another client's, a deleted or out-of-allowlist service token) is
/// `invalid_grant`: section 5.2 names no finer code, and the description says which.
impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        let bad = StatusCode::BAD_REQUEST;
        let description = e.to_string();
        match e {
            Error::InvalidRequest { .. } | Error::UnsupportedMediaType => {
                Self::new(bad, "invalid_request", description)
            }
            Error::RequestTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                description,
            ),
            Error::InvalidScope { .. } => Self::new(bad, "invalid_scope", description),
            Error::InvalidTarget { .. } => Self::new(bad, "invalid_target", description),
            Error::InvalidClient => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
            }
            Error::UnauthorizedClient => Self::new(bad, "unauthorized_client", description),
            Error::UnsupportedGrantType => Self::new(bad, "unsupported_grant_type", description),
            Error::UnsupportedTokenType => Self::new(bad, "unsupported_token_type", description),
            Error::InvalidDpopProof { .. } => Self::new(bad, "invalid_dpop_proof", description),
            Error::UseDpopNonce { nonce, .. } => Self {
                dpop_nonce: Some(nonce),
                ..Self::new(bad, "use_dpop_nonce", description)
            },
            Error::RateLimited { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs.max(1)),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description)
            },
            Error::Unavailable => Self {
                retry_after: Some(5),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    description,
                )
            },
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
            _ => Self::new(bad, "invalid_grant", description),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tokend\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(value) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(super::error::DPOP_NONCE, value);
        }
        response
    }
}

/// A form body as single-valued parameters. RFC 6749 section 3.2: a parameter sent twice is an
/// error, not a choice for the server to make.
struct Form(HashMap<String, String>);

impl Form {
    async fn read(req: Request, state: &AppState) -> Result<(HeaderMap, Self), OAuthError> {
        if !is_form(req.headers()) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let headers = req.headers().clone();
        let bytes = body_bytes(req, state).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| OAuthError::invalid_request("the body is not a valid form"))?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if map.insert(key.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key:?} is repeated"
                )));
            }
        }
        Ok((headers, Self(map)))
    }

    fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).filter(|v| !v.is_empty())
    }

    fn require(&mut self, key: &str) -> Result<String, OAuthError> {
        self.take(key)
            .ok_or_else(|| OAuthError::invalid_request(format!("{key} is required")))
    }
}

/// The client's credentials from exactly one method.
fn client_auth(headers: &HeaderMap, form: &mut Form) -> Result<ClientAuth, OAuthError> {
    let posted_id = form.take("client_id");
    let posted_secret = form.take("client_secret");
    match basic_credentials(headers) {
        Some(basic) => {
            let (id, secret) = basic.ok_or_else(|| {
                OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "malformed Basic credentials",
                )
            })?;
            if posted_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and client_secret both",
                ));
            }
            if posted_id.as_deref().is_some_and(|p| p != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            Ok(ClientAuth {
                client_id: Some(id),
                client_secret: Some(secret),
            })
        }
        None => Ok(ClientAuth {
            client_id: posted_id,
            client_secret: posted_secret,
        }),
    }
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Dpop(dpop): Dpop,
    req: Request,
) -> Result<Response, OAuthError> {
    let (headers, mut form) = Form::read(req, &state).await?;
    let grant_type = form.require("grant_type")?;
    let auth = client_auth(&headers, &mut form)?;
    let client = state.authenticate_client(&auth).await?;
    match grant_type.as_str() {
        GRANT_REFRESH_TOKEN => {
            if !client.allows_grant(GRANT_REFRESH_TOKEN) {
                return Err(Error::UnauthorizedClient.into());
            }
            let refresh_token = form.require("refresh_token")?;
            let account = form.require("account_uuid")?;
            let account_uuid = uuid::Uuid::parse_str(&account)
                .map_err(|_| OAuthError::invalid_request("account_uuid must be a UUID"))?;
            let request = TokenRequest {
                refresh_token,
                account_uuid,
                scope: form.take("scope"),
                resource: form.take("resource"),
            };
            let answer = state.refresh_for(request, Some(&client), ip, &dpop).await?;
            Ok(Json(answer).into_response())
        }
        GRANT_TOKEN_EXCHANGE => {
            let request = ExchangeRequest {
                subject_token: form.require("subject_token")?,
                subject_token_type: form.require("subject_token_type")?,
                requested_token_type: form.take("requested_token_type"),
                scope: form.take("scope"),
                resource: form.take("resource"),
            };
            let answer = state.exchange_service_token(request, &client, ip).await?;
            Ok(Json(answer).into_response())
        }
        _ => Err(Error::UnsupportedGrantType.into()),
    }
}

/// `POST /oauth2/revoke` (RFC 7009): 200 with an empty body for every token that is not a
/// service token, known or not.
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    req: Request,
) -> Result<Response, OAuthError> {
    let (headers, mut form) = Form::read(req, &state).await?;
    let auth = client_auth(&headers, &mut form)?;
    let client = state.authenticate_client(&auth).await?;
    let token = form.require("token")?;
    state
        .revoke_token(&token, Some(&client), ip, user_agent.as_deref(), &dpop)
        .await?;
    Ok(StatusCode::OK.into_response())
}
