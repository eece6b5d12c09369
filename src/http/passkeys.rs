//! Routes of passkeys (issue #13): the caller's own (register, list, remove) and passwordless
//! sign-in. Extract, call the domain, map. Answer `404 not_found` while passkeys are off
//! (`TOKEND_WEBAUTHN_RP_ID` unset).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};

use super::extract::{ClientIp, Dpop, JsonBody, PathId, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::passkeys::{
    FinishRegistration, PasskeyList, PasskeyOptions, PasskeySignInRequest, PasskeyView,
    RegistrationStart, StartRegistration,
};
use crate::domain::sign_in::SignedIn;
use crate::error::Result;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me/passkeys/registration", post(start_registration))
        .route("/v1/me/passkeys", post(finish_registration).get(list))
        .route("/v1/me/passkeys/{id}", delete(remove))
        .route("/v1/auth/passkey/options", post(options))
        .route("/v1/auth/passkey/sign_in", post(sign_in))
}

/// `POST /v1/auth/passkey/options` (no body).
pub async fn options(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Json<PasskeyOptions>> {
    state.passkey_options(ip).await.map(Json)
}

/// `POST /v1/auth/passkey/sign_in`: the same 200 body as a password sign-in.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    JsonBody(req): JsonBody<PasskeySignInRequest>,
) -> Result<Json<SignedIn>> {
    state
        .passkey_sign_in(req, ip, user_agent.as_deref(), &dpop)
        .await
        .map(Json)
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
