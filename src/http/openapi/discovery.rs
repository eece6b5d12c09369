//! Discovery and operations: `/.well-known/oauth-authorization-server`, `/.well-known/jwks.json`,
//! `/openapi.json`, `/healthz`, `/readyz` and `/metrics`; and the claims of the JWTs tokend
//! signs, which resource APIs check with the published keys.

use serde_json::{json, Value};

use super::common::{schema, shared};
use crate::crypto::keys::JWKS_MAX_AGE;

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/.well-known/oauth-authorization-server": { "get": metadata() },
        "/.well-known/jwks.json": { "get": jwks() },
        "/openapi.json": { "get": openapi() },
        "/healthz": { "get": healthz() },
        "/readyz": { "get": readyz() },
        "/metrics": { "get": metrics() },
    })
}

/// A 200 outside `/v1` and `/oauth2`: no `no-store`.
fn plain(description: &str, media_type: &str, body: Value) -> Value {
    json!({ "description": description, "content": { media_type: { "schema": body } } })
}

fn metadata() -> Value {
    json!({
        "tags": ["Discovery"],
        "operationId": "authorizationServerMetadata",
        "summary": "RFC 8414 authorization-server metadata",
        "responses": { "200": plain("What works, with URLs under the issuer.", "application/json", schema("AuthorizationServerMetadata")) },
    })
}

fn jwks() -> Value {
    json!({
        "tags": ["Discovery"],
        "operationId": "jwks",
        "summary": "The public keys that verify access tokens (RFC 7517)",
        "description": "Every key in the keys directory, each with `kid`, `alg` and `use: sig`. A key is published five minutes before it signs.",
        "responses": {
            "200": {
                "description": "The key set.",
                "headers": {
                    "Cache-Control": {
                        "description": format!("`public, max-age={JWKS_MAX_AGE}`."),
                        "schema": { "type": "string" },
                    },
                },
                "content": { "application/json": { "schema": schema("Jwks") } },
            },
        },
    })
}

fn openapi() -> Value {
    json!({
        "tags": ["Discovery"],
        "operationId": "openapi",
        "summary": "This document (OpenAPI 3.1)",
        "responses": { "200": plain("The document, with the issuer as its server.", "application/json", json!({ "type": "object" })) },
    })
}

fn healthz() -> Value {
    json!({
        "tags": ["Operations"],
        "operationId": "healthz",
        "summary": "Liveness: the process is up",
        "responses": { "200": plain("Always `{\"status\": \"ok\"}`.", "application/json", schema("Health")) },
    })
}

fn readyz() -> Value {
    json!({
        "tags": ["Operations"],
        "operationId": "readyz",
        "summary": "Readiness: the database answers and a signing key is loaded",
        "responses": {
            "200": plain("Ready.", "application/json", schema("Ready")),
            "503": shared("Unavailable"),
        },
    })
}

fn metrics() -> Value {
    json!({
        "tags": ["Operations"],
        "operationId": "metrics",
        "summary": "Prometheus counters",
        "description": "`tokend_http_requests_total{route, status}` by route template, and `tokend_events_total{event}` for security-relevant events.",
        "responses": { "200": plain("Text exposition format 0.0.4.", "text/plain", json!({ "type": "string" })) },
    })
}

/// The bodies of this family, and the JWT claims.
pub(super) fn schemas() -> Value {
    let url = || json!({ "type": "string", "format": "uri" });
    let strings = || json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "AuthorizationServerMetadata": {
            "type": "object",
            "required": ["issuer", "token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint", "scopes_supported", "grant_types_supported"],
            "properties": {
                "issuer": url(),
                "token_endpoint": url(),
                "jwks_uri": url(),
                "introspection_endpoint": url(),
                "revocation_endpoint": url(),
                "scopes_supported": strings(),
                "grant_types_supported": strings(),
                "response_types_supported": { "type": "array", "maxItems": 0 },
                "token_endpoint_auth_methods_supported": strings(),
                "revocation_endpoint_auth_methods_supported": strings(),
                "introspection_endpoint_auth_methods_supported": strings(),
                "resource_parameter_supported": { "const": true },
                "dpop_signing_alg_values_supported": { "type": "array", "items": { "enum": ["ES256", "EdDSA"] }, "description": "The algorithms DPoP proofs may use (RFC 9449 section 5.1)." },
                "token_endpoint_auth_signing_alg_values_supported": { "type": "array", "maxItems": 0 },
                "tokend_signing_alg_values_supported": strings(),
                "tokend_subject_token_types_supported": strings(),
                "tokend_sign_in_endpoint": url(),
                "tokend_mfa_endpoint": url(),
                "tokend_token_endpoint": url(),
                "tokend_revocation_endpoint": url(),
                "tokend_sessions_endpoint": url(),
                "tokend_userinfo_endpoint": url(),
                "tokend_service_tokens_endpoint": url(),
            },
        },
        "Jwks": {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kty", "kid", "alg", "use"],
                        "properties": {
                            "kty": { "enum": ["OKP", "EC", "RSA"] },
                            "kid": { "type": "string" },
                            "alg": { "enum": ["EdDSA", "ES256", "RS256"] },
                            "use": { "const": "sig" },
                        },
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": { "status": { "const": "ok" } },
        },
        "Ready": {
            "type": "object",
            "required": ["status", "signing_kid", "details"],
            "properties": {
                "status": { "const": "ready" },
                "signing_kid": { "type": "string", "description": "The key that signs now." },
                "details": {
                    "type": "object",
                    "required": ["database", "rate_limits"],
                    "properties": {
                        "database": { "const": "ok" },
                        "rate_limits": {
                            "enum": ["in_process", "redis", "in_process_fallback"],
                            "description": "Where the sign-in budgets live: this node (no Redis configured), Redis, or this node while the configured Redis does not answer.",
                        },
                    },
                },
            },
        },
        "AccessTokenClaims": {
            "type": "object",
            "description": "Claims of a user access token (RFC 9068; JOSE header `typ: at+jwt`, `kid`, `alg`).",
            "required": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "sid", "account_uuid", "scope"],
            "properties": {
                "iss": { "type": "string", "description": "`TOKEND_ISSUER`." },
                "sub": { "type": "string", "format": "uuid", "description": "The user." },
                "aud": { "type": "string", "description": "`TOKEND_AUDIENCE`, or the requested `resource`." },
                "exp": { "type": "integer" },
                "iat": { "type": "integer" },
                "nbf": { "type": "integer" },
                "jti": { "type": "string" },
                "client_id": { "type": "string", "description": "The session's `device.client_id`, else `tokend`." },
                "sid": { "type": "string", "format": "uuid", "description": "The session." },
                "account_uuid": { "type": "string", "format": "uuid" },
                "scope": { "type": "string" },
                "cnf": { "allOf": [schema("Confirmation")], "description": "Only on a DPoP-bound token (`token_type: DPoP`): the key every request with it must prove (RFC 9449 section 6.1)." },
            },
        },
        "ExchangedTokenClaims": {
            "type": "object",
            "description": "Claims of a JWT a service token was exchanged for at `/oauth2/token`. No `sid`.",
            "required": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "account_uuid", "scope", "token_kind"],
            "properties": {
                "iss": { "type": "string" },
                "sub": { "type": "string", "description": "`service_token:<id>`." },
                "aud": { "type": "string" },
                "exp": { "type": "integer" },
                "iat": { "type": "integer" },
                "nbf": { "type": "integer" },
                "jti": { "type": "string" },
                "client_id": { "type": "string", "description": "The client that exchanged." },
                "account_uuid": { "type": "string", "format": "uuid" },
                "scope": { "type": "string" },
                "token_kind": { "const": "service" },
                "allowed_ips": { "type": "array", "items": { "type": "string" }, "description": "Only when the service token has an allowlist." },
                "max_request_bytes": { "type": "integer", "description": "Only when the service token has a cap." },
                "rate_limit": { "allOf": [schema("RateLimit")], "description": "Only when a rate applies to the service token; the resource API enforces it per token." },
            },
        },
    })
}
