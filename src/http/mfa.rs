//! Routes of the second factor (contract section 3 `POST /v1/auth/mfa` and section 7): extract,
//! call the domain, map. Codes, secrets and tokens travel in redacting types and are never logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use super::extract::{ClientIp, Dpop, JsonBody, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::mfa::recovery::RecoveryCodes;
use crate::domain::mfa::totp::{ConfirmTotpRequest, EnrolTotpRequest, TotpEnrolment};
use crate::domain::mfa::{MfaSignInRequest, PasswordAndCode};
use crate::domain::sign_in::SignedIn;
use crate::error::Result;

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/mfa", post(finish_mfa_sign_in))
        .route("/v1/me/mfa/totp", post(enrol_totp).delete(disable_totp))
        .route("/v1/me/mfa/totp/confirm", post(confirm_totp))
        .route("/v1/me/mfa/recovery_codes", post(regenerate_recovery_codes))
}

/// `POST /v1/auth/mfa`: the same 200 body as a sign-in without MFA.
pub async fn finish_mfa_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    Dpop(dpop): Dpop,
    JsonBody(req): JsonBody<MfaSignInRequest>,
) -> Result<Json<SignedIn>> {
    state
        .finish_mfa_sign_in(req, ip, user_agent.as_deref(), &dpop)
        .await
        .map(Json)
}

/// `POST /v1/me/mfa/totp`.
pub async fn enrol_totp(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    JsonBody(req): JsonBody<EnrolTotpRequest>,
) -> Result<Json<TotpEnrolment>> {
    state.enrol_totp(&user, req).await.map(Json)
}

/// `POST /v1/me/mfa/totp/confirm`.
pub async fn confirm_totp(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<ConfirmTotpRequest>,
) -> Result<Json<RecoveryCodes>> {
    state
        .confirm_totp(&user, req, ip, user_agent.as_deref())
        .await
        .map(Json)
}

/// `DELETE /v1/me/mfa/totp` (with a JSON body): 204.
pub async fn disable_totp(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<PasswordAndCode>,
) -> Result<StatusCode> {
    state
        .disable_totp(&user, req, ip, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/me/mfa/recovery_codes`.
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    JsonBody(req): JsonBody<PasswordAndCode>,
) -> Result<Json<RecoveryCodes>> {
    state.regenerate_recovery_codes(&user, req).await.map(Json)
}
