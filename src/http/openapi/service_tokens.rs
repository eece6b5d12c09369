//! Service tokens and their validation by resource servers: `/v1/service_tokens`,
//! `/v1/service_tokens/{id}` and `/v1/introspect`.

use serde_json::{json, Value};

use super::common::{
    empty, error, id_parameter, json_body, ok, responses, schema, shared, token_error,
    token_security, TOKEN_401,
};
use crate::domain::allowlist::MAX_ALLOWLIST_ENTRIES;

/// The 403 of every management route.
const MANAGE_403: &str = "`scope_required` (`details.scope: tokens:manage`): the access token, or \
    the caller's current role, lacks `tokens:manage`. `account_access_denied`: the caller is no \
    longer a member of the token's account. `user_token_required`: a service token was presented. \
    `ip_not_allowed`: a service token used from outside its allowlist.";

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/service_tokens": { "get": list(), "post": create() },
        "/v1/service_tokens/{id}": { "get": get(), "patch": update(), "delete": delete() },
        "/v1/introspect": { "post": introspect() },
    })
}

fn create() -> Value {
    json!({
        "tags": ["Service tokens"],
        "operationId": "createServiceToken",
        "summary": "Create a service token for the caller's account",
        "description": "Every scope must be in the vocabulary and held by the caller's access token and current role; `tokens:manage` is never granted. The token is in this answer only.",
        "security": token_security(),
        "requestBody": json_body("CreateServiceTokenRequest"),
        "responses": responses(json!({
            "201": ok("Created; `token` is shown this once.", schema("CreatedServiceToken")),
            "400": error("`invalid_request` (`details.field`: `name`, `scopes`, `expires_at`, `allowed_ips`, `max_request_bytes`, `rate_limit.requests`, or an unknown field; `details.field: rate_limit` with `details.reason: above_account_ceiling`). `invalid_scope` (`details.scope`): unknown, not held by the caller, or `tokens:manage`."),
            "401": token_error(TOKEN_401),
            "403": error(MANAGE_403),
            "409": error("`token_limit_reached` (`details.limit`): the account has `TOKEND_MAX_SERVICE_TOKENS` live tokens (deactivated ones count)."),
        }), true),
    })
}

fn list() -> Value {
    json!({
        "tags": ["Service tokens"],
        "operationId": "listServiceTokens",
        "summary": "List the caller's account's service tokens",
        "security": token_security(),
        "responses": responses(json!({
            "200": ok("Live (not deleted) tokens, oldest first, without `token`.", schema("ServiceTokenList")),
            "401": token_error(TOKEN_401),
            "403": error(MANAGE_403),
        }), false),
    })
}

fn get() -> Value {
    json!({
        "tags": ["Service tokens"],
        "operationId": "getServiceToken",
        "summary": "Show one service token",
        "security": token_security(),
        "parameters": [id_parameter()],
        "responses": responses(json!({
            "200": ok("The token, without `token`.", schema("ServiceToken")),
            "401": token_error(TOKEN_401),
            "403": error(MANAGE_403),
            "404": shared("NotFound"),
        }), false),
    })
}

fn update() -> Value {
    json!({
        "tags": ["Service tokens"],
        "operationId": "updateServiceToken",
        "summary": "Rename, deactivate or reactivate a service token",
        "description": "Only `name` and `active` can change; scopes, allowlist, cap and expiry are fixed at creation (rotate instead). Takes effect on the next request.",
        "security": token_security(),
        "parameters": [id_parameter()],
        "requestBody": json_body("ServiceTokenPatch"),
        "responses": responses(json!({
            "200": ok("The token after the change.", schema("ServiceToken")),
            "400": error("`invalid_request` (`details.field`): an immutable field (`scopes`, `allowed_ips`, `max_request_bytes`, `expires_at`) or any other but `name` and `active` (`rate_limit` included), a bad `name`, a non-boolean `active`."),
            "401": token_error(TOKEN_401),
            "403": error(MANAGE_403),
            "404": shared("NotFound"),
        }), true),
    })
}

fn delete() -> Value {
    json!({
        "tags": ["Service tokens"],
        "operationId": "deleteServiceToken",
        "summary": "Delete a service token",
        "description": "Effective on the very next request on every node; there is no grace period.",
        "security": token_security(),
        "parameters": [id_parameter()],
        "responses": responses(json!({
            "204": empty("Deleted."),
            "401": token_error(TOKEN_401),
            "403": error(MANAGE_403),
            "404": shared("NotFound"),
        }), false),
    })
}

fn introspect() -> Value {
    json!({
        "tags": ["Introspection"],
        "operationId": "introspect",
        "summary": "Describe a token to a resource server (RFC 7662)",
        "description": "Credentials are checked before the token is looked at. With HTTP Basic the body is a form or JSON; with `client_secret_post` it is a form carrying `client_id`, `client_secret` and `token`. Introspection neither applies a service token's allowlist nor counts as a use, nor spends its `rate_limit`. A DPoP-bound access token is reported with `cnf`; introspection does not check proofs, the resource API does.",
        "security": [{ "resourceServer": [] }, {}],
        "requestBody": {
            "required": true,
            "content": {
                "application/x-www-form-urlencoded": { "schema": schema("IntrospectionForm") },
                "application/json": { "schema": schema("TokenParam") },
            },
        },
        "responses": responses(json!({
            "200": ok("`{\"active\": false}` for anything unknown, malformed, expired, revoked or deactivated.", schema("Introspection")),
            "400": error("`invalid_request` (`details.field: token`)."),
            "401": {
                "description": "`unauthorized`: missing or wrong resource-server credentials.",
                "headers": { "WWW-Authenticate": { "$ref": "#/components/headers/WwwAuthenticate" } },
                "content": { "application/json": { "schema": schema("Error") } },
            },
        }), true),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let time = |description: &str| json!({ "type": ["string", "null"], "format": "date-time", "description": description });
    let strings = || json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "CreateServiceTokenRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name", "scopes"],
            "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Trimmed; no control characters." },
                "scopes": { "type": "array", "minItems": 1, "items": { "type": "string" } },
                "expires_at": { "type": ["string", "null"], "format": "date-time", "description": "RFC 3339, in the future. Absent: never expires." },
                "allowed_ips": {
                    "type": ["array", "null"],
                    "maxItems": MAX_ALLOWLIST_ENTRIES,
                    "items": { "type": "string" },
                    "description": "IPv4/IPv6 addresses and CIDRs, strictly parsed (no leading zeros, no host bits). Absent or empty: any address.",
                },
                "max_request_bytes": { "type": ["integer", "null"], "minimum": 1, "description": "Cap on `Content-Length`; lowered to `TOKEND_MAX_BODY_BYTES` if above it." },
                "rate_limit": {
                    "oneOf": [schema("RateLimit"), { "type": "null" }],
                    "description": "Request budget at tokend; within the account's ceiling. Absent: the account's default at creation time.",
                },
            },
        },
        "RateLimit": {
            "type": "object",
            "additionalProperties": false,
            "required": ["requests", "per"],
            "properties": {
                "requests": { "type": "integer", "minimum": 1, "maximum": 1_000_000_000 },
                "per": { "enum": ["second", "minute", "hour", "day"] },
            },
        },
        "ServiceToken": {
            "type": "object",
            "required": ["id", "name", "scopes", "expires_at", "allowed_ips", "max_request_bytes", "rate_limit", "active", "created_at", "last_used_at", "last_used_ip"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "name": { "type": "string" },
                "scopes": strings(),
                "expires_at": time("Null: never expires."),
                "allowed_ips": strings(),
                "max_request_bytes": { "type": ["integer", "null"] },
                "rate_limit": {
                    "oneOf": [schema("RateLimit"), { "type": "null" }],
                    "description": "The budget that applies now: the token's own (or the account default copied at creation), else `TOKEND_SERVICE_TOKEN_DEFAULT_RATE_LIMIT`; null for none.",
                },
                "active": { "type": "boolean" },
                "created_at": { "type": "string", "format": "date-time" },
                "last_used_at": time("Last successful use, or null."),
                "last_used_ip": { "type": ["string", "null"] },
            },
        },
        "CreatedServiceToken": {
            "allOf": [
                schema("ServiceToken"),
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": { "token": { "type": "string", "description": "`<prefix>_` + 32 base62 characters + a 6-character checksum." } },
                },
            ],
        },
        "ServiceTokenList": {
            "type": "object",
            "required": ["service_tokens"],
            "properties": { "service_tokens": { "type": "array", "items": schema("ServiceToken") } },
        },
        "ServiceTokenPatch": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                "active": { "type": "boolean" },
            },
        },
        "IntrospectionForm": {
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": { "type": "string" },
                "client_id": { "type": "string", "description": "`client_secret_post` only." },
                "client_secret": { "type": "string", "description": "`client_secret_post` only." },
            },
        },
        "Introspection": {
            "type": "object",
            "required": ["active"],
            "description": "Members other than `active` appear only when active, and only those that apply.",
            "properties": {
                "active": { "type": "boolean" },
                "token_type": { "enum": ["access_token", "service_token"] },
                "scope": { "type": "string" },
                "account_uuid": { "type": "string", "format": "uuid" },
                "sub": { "type": "string", "description": "The user; a service token's id; `service_token:<id>` for an exchanged JWT." },
                "exp": { "type": "integer", "description": "Unix seconds; absent for a service token without expiry." },
                "iat": { "type": "integer" },
                "jti": { "type": "string" },
                "allowed_ips": strings(),
                "max_request_bytes": { "type": "integer" },
                "rate_limit": { "allOf": [schema("RateLimit")], "description": "A service token's effective rate (or an exchanged JWT's claim), only when one applies; the resource API counts it (introspecting does not spend it)." },
                "cnf": { "allOf": [schema("Confirmation")], "description": "A DPoP-bound access token only: the key it is bound to. The resource API must then require `Authorization: DPoP` and a proof by the key whose RFC 7638 thumbprint is `cnf.jkt`." },
                "client_id": { "type": "string" },
                "iss": { "type": "string" },
                "aud": { "type": "string" },
            },
        },
    })
}
