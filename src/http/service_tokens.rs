//! Handlers of the service-token management API (contract section 5). Each extracts, calls the
//! domain and maps the result; the rules live in `domain::service_tokens`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::extract::{ClientIp, JsonBody, PathId, UserAgent, UserCaller};
use crate::app::AppState;
use crate::domain::service_tokens::{
    CreateServiceTokenRequest, CreatedServiceToken, ServiceTokenList, ServiceTokenView,
};
use crate::error::Result;

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
    UserAgent(user_agent): UserAgent,
    JsonBody(req): JsonBody<CreateServiceTokenRequest>,
) -> Result<(StatusCode, Json<CreatedServiceToken>)> {
    let created = state
        .create_service_token(&user, req, ip, user_agent.as_deref())
        .await?;
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
    PathId(id): PathId,
) -> Result<Json<ServiceTokenView>> {
    state.get_service_token(&user, id).await.map(Json)
}

/// `PATCH /v1/service_tokens/{id}`: `name` and `active` only.
pub async fn update_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    PathId(id): PathId,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<ServiceTokenView>> {
    state
        .update_service_token(&user, id, &body, ip, user_agent.as_deref())
        .await
        .map(Json)
}

/// `DELETE /v1/service_tokens/{id}` -> 204.
pub async fn delete_service_token(
    State(state): State<AppState>,
    UserCaller(user): UserCaller,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    PathId(id): PathId,
) -> Result<StatusCode> {
    state
        .delete_service_token(&user, id, ip, user_agent.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
