//! Operations endpoints (contract section 8): liveness, readiness, metrics.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::error::{Error, Result};

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and a signing key is loaded.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unreachable");
        Error::Unavailable
    })?;
    let signing_kid = state.access_tokens.signing_kid(state.clock.now());
    Ok(Json(json!({"status": "ready", "signing_kid": signing_kid})))
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Counts every response by route template, and marks every API response `no-store`: all of
/// them carry tokens or account data that no cache should keep (RFC 6749 section 5.1).
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let mut response = next.run(req).await;
    if route.starts_with("/v1/") || route.starts_with("/oauth2/") {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
            .headers_mut()
            .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    }
    state
        .metrics
        .observe_request(&route, response.status().as_u16());
    response
}

/// Fallback for unknown routes.
pub async fn not_found() -> Error {
    Error::NotFound
}

/// Fallback for known routes with the wrong method.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
