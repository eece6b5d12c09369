//! Discovery documents: the JWKS (RFC 7517) and authorization-server metadata (RFC 8414).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::crypto::keys::JWKS_MAX_AGE;

/// `GET /.well-known/jwks.json`. Cacheable for less time than a new key waits before it signs.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CACHE_CONTROL,
                format!("public, max-age={JWKS_MAX_AGE}"),
            ),
        ],
        state.access_tokens.jwks_json().to_string(),
    )
}

/// `GET /.well-known/oauth-authorization-server`.
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.settings.issuer;
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/v1/auth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/v1/introspect"),
        "revocation_endpoint": format!("{issuer}/v1/revoke"),
        "scopes_supported": state.vocabulary.scopes().collect::<Vec<_>>(),
        "grant_types_supported": ["refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    }))
}
