//! Handlers of the user sign-in flow (contract section 3). Each extracts, calls the domain and
//! maps the result; nothing else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::extract::{ClientIp, Dpop, JsonBody, PathId, TokenParam, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::admin::reset::PasswordResetRequest;
use crate::domain::refresh::{TokenRequest, TokenResponse};
use crate::domain::sessions::SessionList;
use crate::domain::sign_in::{SignInOutcome, SignInRequest};
use crate::error::Result;

/// `POST /v1/auth/sign_in`.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    JsonBody(req): JsonBody<SignInRequest>,
) -> Result<Json<SignInOutcome>> {
    state
        .sign_in(req, ip, user_agent.as_deref(), &dpop)
        .await
        .map(Json)
}

/// `POST /v1/auth/password_reset`: 204, or one generic `invalid_reset_ticket`.
pub async fn password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<PasswordResetRequest>,
) -> Result<StatusCode> {
    state.reset_password(req, ip, user_agent.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/token`.
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Dpop(dpop): Dpop,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Json<TokenResponse>> {
    state.refresh(req, ip, &dpop).await.map(Json)
}

/// `POST /v1/auth/sign_out` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOutRequest {
    /// Any refresh token of the session to end.
    pub refresh_token: String,
}

/// `POST /v1/auth/sign_out`: always 204.
pub async fn sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    JsonBody(req): JsonBody<SignOutRequest>,
) -> Result<StatusCode> {
    state
        .revoke_refresh_token(&req.refresh_token, ip, user_agent.as_deref(), &dpop)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/revoke` (RFC 7009 section 2.2: 200 whether or not the token was known).
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    TokenParam(token): TokenParam,
) -> Result<StatusCode> {
    state
        .revoke_token(&token, None, ip, user_agent.as_deref(), &dpop)
        .await?;
    Ok(StatusCode::OK)
}

/// `GET /v1/auth/sessions`.
pub async fn list_sessions(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
) -> Result<Json<SessionList>> {
    state.list_sessions(&user).await.map(Json)
}

/// `DELETE /v1/auth/sessions/{id}`.
pub async fn delete_session(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    PathId(id): PathId,
) -> Result<StatusCode> {
    state
        .revoke_own_session(&user, id, ip, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

crate::redacted_debug!(SignOutRequest);
