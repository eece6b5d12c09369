//! Discovery documents: the JWKS (RFC 7517) and authorization-server metadata (RFC 8414).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::crypto::keys::JWKS_MAX_AGE;
use crate::domain::oauth2::{GRANT_TYPES, TOKEN_TYPE_SERVICE_TOKEN};

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

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): exactly what works. The standard
/// endpoints are the advertised ones; tokend's own JSON endpoints are listed under `tokend_`
/// extension members, so a standard client never mistakes `/v1/auth/token` (JSON, the contract's
/// envelope) for an RFC 6749 token endpoint.
pub async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.settings.issuer;
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/v1/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "scopes_supported": state.vocabulary.scopes().collect::<Vec<_>>(),
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "resource_parameter_supported": true,
        "dpop_signing_alg_values_supported": tokend_verify::dpop::DPOP_ALGS,
        "token_endpoint_auth_signing_alg_values_supported": [],
        "tokend_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "tokend_subject_token_types_supported": [TOKEN_TYPE_SERVICE_TOKEN],
        "tokend_sign_in_endpoint": format!("{issuer}/v1/auth/sign_in"),
        "tokend_mfa_endpoint": format!("{issuer}/v1/auth/mfa"),
        "tokend_token_endpoint": format!("{issuer}/v1/auth/token"),
        "tokend_revocation_endpoint": format!("{issuer}/v1/revoke"),
        "tokend_sessions_endpoint": format!("{issuer}/v1/auth/sessions"),
        "tokend_userinfo_endpoint": format!("{issuer}/v1/me"),
        "tokend_service_tokens_endpoint": format!("{issuer}/v1/service_tokens"),
    }))
}

/// Client authentication at the token and revocation endpoints: public clients (`none`) and
/// confidential ones by either secret method.
const CLIENT_AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];
