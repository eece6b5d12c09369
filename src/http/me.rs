//! Handlers for the caller's own token and account (contract sections 6 and 7).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::extract::{Caller, CheckedBody, ClientIp, JsonBody, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::principal::MeResponse;
use crate::domain::sessions::ChangePasswordRequest;
use crate::error::Result;

/// `GET /v1/me`.
pub async fn me(
    State(state): State<AppState>,
    Caller(principal): Caller,
    _body: CheckedBody,
) -> Json<MeResponse> {
    Json(state.describe(&principal))
}

/// `POST /v1/me/password`.
pub async fn change_password(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode> {
    state
        .change_password(&user, req, ip, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
