//! Routes of the caller's passkeys (issue #13): extract, call the domain, map. Answer `404
//! not_found` while passkeys are off (`TOKEND_WEBAUTHN_RP_ID` unset).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};

use super::extract::{ClientIp, JsonBody, PathId, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::passkeys::{
    FinishRegistration, PasskeyList, PasskeyView, RegistrationStart, StartRegistration,
};
use crate::error::Result;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me/passkeys/registration", post(start_registration))
        .route("/v1/me/passkeys", post(finish_registration).get(list))
        .route("/v1/me/passkeys/{id}", delete(remove))
}

/// `POST /v1/me/passkeys/registration`.
pub async fn start_registration(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    JsonBody(req): JsonBody<StartRegistration>,
) -> Result<Json<RegistrationStart>> {
    state.start_passkey_registration(&user, req).await.map(Json)
}

/// `POST /v1/me/passkeys`: 201 with the new passkey.
pub async fn finish_registration(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<FinishRegistration>,
) -> Result<(StatusCode, Json<PasskeyView>)> {
    let view = state
        .finish_passkey_registration(&user, req, ip, user_agent.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/me/passkeys`.
pub async fn list(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
) -> Result<Json<PasskeyList>> {
    state.list_passkeys(&user).await.map(Json)
}

/// `DELETE /v1/me/passkeys/{id}`: 204.
pub async fn remove(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    PathId(id): PathId,
) -> Result<StatusCode> {
    state
        .delete_passkey(&user, id, ip, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
