//! Handlers of the service-token management API (contract section 5). Each extracts, calls the
//! domain and maps the result; the rules live in `domain::service_tokens`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::extract::{ClientIp, JsonBody, UserCaller};
use crate::app::AppState;
use crate::domain::service_tokens::{
    CreateServiceTokenRequest, CreatedServiceToken, ServiceTokenList, ServiceTokenView,
};
use crate::error::{Error, Result};

/// The `{id}` segment; one that cannot even be decoded is as unknown as any other bad id.
fn token_id(path: std::result::Result<Path<String>, PathRejection>) -> Result<String> {
    path.map(|Path(id)| id).map_err(|_| Error::NotFound)
}

/// The routes this module serves.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/service_tokens",
            get(list_service_tokens).post(create_service_token),
        )
        .route(
            "/v1/service_tokens/{id}",
            get(get_service_token)
                .patch(update_service_token)
                .delete(delete_service_token),
        )
}

/// `POST /v1/service_tokens` -> 201 with the token, shown this once.
pub async fn create_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<CreateServiceTokenRequest>,
) -> Result<(StatusCode, Json<CreatedServiceToken>)> {
    let created = state.create_service_token(&user, req, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/service_tokens`.
pub async fn list_service_tokens(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
) -> Result<Json<ServiceTokenList>> {
    state.list_service_tokens(&user).await.map(Json)
}

/// `GET /v1/service_tokens/{id}`.
pub async fn get_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<ServiceTokenView>> {
    state
        .get_service_token(&user, &token_id(id)?)
        .await
        .map(Json)
}

/// `PATCH /v1/service_tokens/{id}`: `name` and `active` only.
pub async fn update_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    id: std::result::Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<ServiceTokenView>> {
    state
        .update_service_token(&user, &token_id(id)?, &body, ip)
        .await
        .map(Json)
}

/// `DELETE /v1/service_tokens/{id}` -> 204.
pub async fn delete_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<StatusCode> {
    state
        .delete_service_token(&user, &token_id(id)?, ip)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
