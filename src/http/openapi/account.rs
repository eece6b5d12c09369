//! The caller's own sessions, token and password: `/v1/auth/sessions`,
//! `/v1/auth/sessions/{id}`, `/v1/me` and `/v1/me/password`.

use serde_json::{json, Value};

use super::common::{
    empty, error, id_parameter, json_body, ok, responses, schema, shared, token_error,
    token_security, TOKEN_401, USER_403,
};
use crate::crypto::password::MAX_PASSWORD_BYTES;
use crate::domain::password_policy::MIN_PASSWORD_CHARS;

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/auth/sessions": { "get": list_sessions() },
        "/v1/auth/sessions/{id}": { "delete": delete_session() },
        "/v1/me": { "get": me() },
        "/v1/me/password": { "post": change_password() },
    })
}

fn list_sessions() -> Value {
    json!({
        "tags": ["Sessions"],
        "operationId": "listSessions",
        "summary": "List the caller's live sessions",
        "security": token_security(),
        "responses": responses(json!({
            "200": ok("Live sessions, newest first.", schema("SessionList")),
            "401": token_error(TOKEN_401),
            "403": error(USER_403),
        }), false),
    })
}

fn delete_session() -> Value {
    json!({
        "tags": ["Sessions"],
        "operationId": "deleteSession",
        "summary": "Revoke one of the caller's sessions",
        "description": "Every refresh token of the session stops working at once, and so do its access tokens at tokend's own endpoints.",
        "security": token_security(),
        "parameters": [id_parameter()],
        "responses": responses(json!({
            "204": empty("Revoked."),
            "401": token_error(TOKEN_401),
            "403": error(USER_403),
            "404": shared("NotFound"),
        }), false),
    })
}

fn me() -> Value {
    json!({
        "tags": ["Account"],
        "operationId": "me",
        "summary": "Describe the presented token",
        "description": "Either kind of token. For an access token the session must still be live and the user enabled. For a service token the allowlist is enforced and the use recorded in `last_used_at` / `last_used_ip`. JWTs exchanged for service tokens are refused here (`unauthorized`): present the service token itself. A DPoP-bound access token is accepted only as `Authorization: DPoP` with a proof carrying `ath` (as on every route that takes a user token).",
        "security": token_security(),
        "responses": responses(json!({
            "200": ok("The token's live capabilities. With a service token that has a `rate_limit`, also `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the budget is full) and `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds of that moment).", schema("Me")),
            "401": token_error(TOKEN_401),
            "403": error("`ip_not_allowed`: a service token used from outside its `allowed_ips`."),
            "413": shared("RequestTooLarge"),
            "429": shared("RateLimited"),
        }), false),
    })
}

fn change_password() -> Value {
    json!({
        "tags": ["Account"],
        "operationId": "changePassword",
        "summary": "Change the caller's password",
        "description": "Every other session of the user is revoked; the calling one survives. The current password is checked under the per-login sign-in limit.",
        "security": token_security(),
        "requestBody": json_body("ChangePasswordRequest"),
        "responses": responses(json!({
            "204": empty("Changed."),
            "400": error("`invalid_request` (`details.field`); for `new_password`, `details.reason` is `too_short`, `too_long` or `too_common`."),
            "401": token_error(&format!("{TOKEN_401} `invalid_credentials`: `current_password` is wrong.")),
            "403": error(USER_403),
            "429": shared("RateLimited"),
        }), true),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let time = |description: &str| json!({ "type": "string", "format": "date-time", "description": description });
    json!({
        "SessionDevice": {
            "type": "object",
            "required": ["name", "platform", "app_version"],
            "properties": {
                "name": { "type": "string" },
                "platform": { "type": ["string", "null"] },
                "app_version": { "type": ["string", "null"] },
            },
        },
        "Session": {
            "type": "object",
            "required": ["id", "device", "created_at", "last_used_at", "last_ip", "current", "dpop_jkt"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "device": schema("SessionDevice"),
                "created_at": time("Sign-in time."),
                "last_used_at": time("Last refresh."),
                "last_ip": { "type": ["string", "null"], "description": "Client address of the last sign-in or refresh." },
                "current": { "type": "boolean", "description": "Whether this is the calling token's session." },
                "dpop_jkt": { "type": ["string", "null"], "description": "The RFC 7638 thumbprint of the DPoP key the session is bound to (every refresh needs a proof by it); null for a bearer session." },
            },
        },
        "SessionList": {
            "type": "object",
            "required": ["sessions"],
            "properties": { "sessions": { "type": "array", "items": schema("Session") } },
        },
        "MeServiceToken": {
            "type": "object",
            "required": ["id", "name", "allowed_ips", "max_request_bytes"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "name": { "type": "string" },
                "allowed_ips": { "type": "array", "items": { "type": "string" }, "description": "Canonical entries; empty means any address." },
                "max_request_bytes": { "type": ["integer", "null"] },
            },
        },
        "Me": {
            "type": "object",
            "required": ["kind", "account_uuid", "scopes", "expires_at"],
            "properties": {
                "kind": { "enum": ["user", "service"] },
                "account_uuid": { "type": "string", "format": "uuid" },
                "scopes": { "type": "array", "items": { "type": "string" } },
                "expires_at": { "type": ["string", "null"], "format": "date-time", "description": "Null for a service token without expiry." },
                "user": { "$ref": "#/components/schemas/User", "description": "User tokens only." },
                "session_id": { "type": "string", "format": "uuid", "description": "User tokens only." },
                "service_token": { "$ref": "#/components/schemas/MeServiceToken", "description": "Service tokens only." },
            },
        },
        "ChangePasswordRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["current_password", "new_password"],
            "properties": {
                "current_password": { "type": "string" },
                "new_password": {
                    "type": "string",
                    "minLength": MIN_PASSWORD_CHARS,
                    "description": format!("At least {MIN_PASSWORD_CHARS} characters, at most {MAX_PASSWORD_BYTES} bytes, not a common password; no composition rules."),
                },
            },
        },
    })
}
