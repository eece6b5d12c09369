//! The pieces every route family shares: the two error bodies (the `/v1` envelope and RFC 6749
//! section 5.2), the reusable responses, headers and parameters, the security schemes, and the
//! small builders the route files use so each operation reads as a short `json!` literal.

use serde_json::{json, Map, Value};

/// Every `code` the envelope can carry (`Error::status_and_code`); `invalid_client`,
/// `unauthorized_client` and `unsupported_grant_type` arise only at `/oauth2`, in RFC 6749 bodies.
const ENVELOPE_CODES: &[&str] = &[
    "invalid_request",
    "invalid_scope",
    "invalid_target",
    "invalid_reset_ticket",
    "admin_key_required",
    "account_has_service_tokens",
    "unsupported_token_type",
    "unauthorized",
    "invalid_credentials",
    "invalid_mfa_token",
    "invalid_mfa_code",
    "invalid_passkey",
    "invalid_refresh_token",
    "refresh_token_reused",
    "token_expired",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "token_revoked",
    "account_access_denied",
    "scope_required",
    "ip_not_allowed",
    "user_token_required",
    "user_disabled",
    "not_found",
    "method_not_allowed",
    "token_limit_reached",
    "passkey_limit_reached",
    "passkey_already_registered",
    "request_too_large",
    "unsupported_media_type",
    "rate_limited",
    "unavailable",
    "internal",
];

/// Every `error` the standard endpoints answer (`OAuthError`).
const OAUTH_CODES: [&str; 12] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "unsupported_token_type",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "temporarily_unavailable",
    "server_error",
];

/// `{"$ref": "#/components/schemas/NAME"}`.
pub(super) fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `{"$ref": "#/components/responses/NAME"}`.
pub(super) fn shared(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The `{id}` path parameter.
pub(super) fn id_parameter() -> Value {
    json!({ "$ref": "#/components/parameters/Id" })
}

/// A required JSON request body.
pub(super) fn json_body(name: &str) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": schema(name) } },
    })
}

/// A required `application/x-www-form-urlencoded` request body.
pub(super) fn form_body(form: Value) -> Value {
    json!({
        "required": true,
        "content": { "application/x-www-form-urlencoded": { "schema": form } },
    })
}

/// A JSON success response of a `/v1` or `/oauth2` route (which all carry `no-store`).
pub(super) fn ok(description: &str, body: Value) -> Value {
    json!({
        "description": description,
        "headers": no_store(),
        "content": { "application/json": { "schema": body } },
    })
}

/// A success response without a body, of a `/v1` or `/oauth2` route.
pub(super) fn empty(description: &str) -> Value {
    json!({ "description": description, "headers": no_store() })
}

fn no_store() -> Value {
    json!({
        "Cache-Control": { "$ref": "#/components/headers/CacheControl" },
        "Pragma": { "$ref": "#/components/headers/Pragma" },
    })
}

/// An error response in the `/v1` envelope; `description` names its codes.
pub(super) fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema("Error") } },
    })
}

/// A 401 in the envelope with its `WWW-Authenticate: Bearer` challenge.
pub(super) fn bearer_error(description: &str) -> Value {
    json!({
        "description": description,
        "headers": { "WWW-Authenticate": { "$ref": "#/components/headers/WwwAuthenticate" } },
        "content": { "application/json": { "schema": schema("Error") } },
    })
}

/// The 401 of a route that takes a user access token: [`bearer_error`] plus the `DPoP-Nonce` a
/// `use_dpop_nonce` refusal carries.
pub(super) fn token_error(description: &str) -> Value {
    with_dpop_nonce(bearer_error(description))
}

/// The `DPoP` request header of the token endpoints (RFC 9449 section 4).
pub(super) fn dpop_parameter() -> Value {
    json!({ "$ref": "#/components/parameters/DPoP" })
}

/// `response` with the `DPoP-Nonce` header (RFC 9449 section 8), sent when
/// `TOKEND_DPOP_NONCE` is on.
pub(super) fn with_dpop_nonce(mut response: Value) -> Value {
    if let Some(response) = response.as_object_mut() {
        let headers = response
            .entry("headers")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert(
                "DPoP-Nonce".into(),
                json!({ "$ref": "#/components/headers/DpopNonce" }),
            );
        }
    }
    response
}

/// The errors a token endpoint gives for a refused DPoP proof, in the `/v1` envelope.
pub(super) const DPOP_400: &str = "`invalid_dpop_proof`: the `DPoP` proof is malformed, not \
    ES256 or EdDSA, carries a private key, does not verify, names another method or URL, has an \
    `iat` outside the window, was used before, or is by another key than the session is bound \
    to; also a missing proof where one is needed. `use_dpop_nonce`: with `TOKEND_DPOP_NONCE`, \
    the proof lacks a current server nonce: retry with the one in `DPoP-Nonce`.";

/// An RFC 6749 section 5.2 error response.
pub(super) fn oauth_error(description: &str) -> Value {
    json!({
        "description": description,
        "headers": no_store(),
        "content": { "application/json": { "schema": schema("OAuthError") } },
    })
}

/// The 401 of a route that takes a bearer token or API key.
pub(super) const TOKEN_401: &str = "`unauthorized`: no token, or a malformed, unknown or revoked \
    one (with a token: `WWW-Authenticate: Bearer error=\"invalid_token\"`). `token_expired`: past \
    its expiry. `token_revoked`: a deleted or deactivated service token (`details.reason`: \
    `deleted` or `inactive`). A DPoP-bound access token (`cnf.jkt`) sent as `Bearer` or in \
    `X-API-Key`, or a bearer token sent as `DPoP`: `unauthorized` (a bound token gets \
    `WWW-Authenticate: DPoP error=\"invalid_token\", algs=\"ES256 EdDSA\"`). \
    `invalid_dpop_proof`: a bound token sent as `Authorization: DPoP` without a valid proof by \
    its key carrying `ath` (`WWW-Authenticate: DPoP error=\"invalid_dpop_proof\"`). \
    `use_dpop_nonce`: with `TOKEND_DPOP_NONCE`, the proof lacks a current server nonce \
    (`DPoP-Nonce` carries one).";

/// The 403 of a route only a signed-in user may call.
pub(super) const USER_403: &str = "`user_token_required`: a service token was presented. \
    `ip_not_allowed`: a service token used from outside its `allowed_ips`.";

/// The 401 of the admin API.
pub(super) const ADMIN_401: &str = "`unauthorized`: no admin key, or a malformed, unknown or \
    removed one.";

/// The 403 of the admin API.
pub(super) const ADMIN_403: &str = "`admin_key_required`: a user access token or a service token \
    was presented.";

/// Security of the admin API.
pub(super) fn admin_security() -> Value {
    json!([{ "adminKey": [] }])
}

/// Adds what a route answers besides its own responses: 413 and 415 when it reads a body, and
/// 500 and 503 always. `own` must be an object.
pub(super) fn responses(own: Value, reads_body: bool) -> Value {
    let mut map = match own {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut add = |status: &str, response: &str| {
        map.entry(status.to_string())
            .or_insert_with(|| shared(response));
    };
    if reads_body {
        add("413", "RequestTooLarge");
        add("415", "UnsupportedMediaType");
    }
    add("500", "Internal");
    add("503", "Unavailable");
    Value::Object(map)
}

/// Security of routes that take any token: a bearer token, `X-API-Key`, or a DPoP-bound user
/// access token with its proof.
pub(super) fn token_security() -> Value {
    json!([{ "bearer": [] }, { "apiKey": [] }, { "dpop": [] }])
}

/// The error bodies and the user objects several families return.
pub(super) fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "description": "The envelope of every non-2xx answer outside `/oauth2`.",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "enum": ENVELOPE_CODES },
                        "message": {
                            "type": "string",
                            "description": "A human sentence; never contains secrets or internals.",
                        },
                        "details": schema("ErrorDetails"),
                    },
                },
            },
        },
        "ErrorDetails": {
            "type": "object",
            "description": "Omitted when empty. Which members appear depends on `code`.",
            "properties": {
                "field": {
                    "type": "string",
                    "description": "`invalid_request`: the offending field, dotted for nested ones (`device.name`).",
                },
                "reason": {
                    "type": "string",
                    "description": "`invalid_request`: `too_short`, `too_long`, `too_common` (password policy), `mfa_already_enabled`, `mfa_not_pending`, `mfa_not_enabled`, `conflict` (a login that exists), `above_account_ceiling` (a service token's `rate_limit`), `password_required` (adding a passkey long after sign-in), `invalid_passkey` (an authenticator's answer refused). `token_revoked`: `deleted` or `inactive`.",
                },
                "scope": {
                    "type": "string",
                    "description": "`invalid_scope`, `scope_required`: the scope at fault.",
                },
                "resource": {
                    "type": "string",
                    "description": "`invalid_target`: the refused resource indicator.",
                },
                "attempts_left": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "`invalid_mfa_code`: wrong codes still tolerated.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "`token_limit_reached`: the per-account cap. `passkey_limit_reached`: the per-user cap. `request_too_large`: the byte limit exceeded.",
                },
                "retry_after": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "`rate_limited`: seconds to wait, as in `Retry-After`.",
                },
            },
        },
        "OAuthError": {
            "type": "object",
            "description": "RFC 6749 section 5.2 error body of the `/oauth2` endpoints.",
            "required": ["error", "error_description"],
            "properties": {
                "error": { "type": "string", "enum": OAUTH_CODES },
                "error_description": { "type": "string" },
            },
        },
        "Confirmation": {
            "type": "object",
            "description": "The key a DPoP-bound token is bound to (RFC 9449 section 6).",
            "required": ["jkt"],
            "properties": {
                "jkt": { "type": "string", "description": "The RFC 7638 SHA-256 thumbprint of the proof key, base64url without padding." },
            },
        },
        "User": {
            "type": "object",
            "required": ["uuid", "login"],
            "properties": {
                "uuid": { "type": "string", "format": "uuid" },
                "login": { "type": "string", "description": "The normalised login." },
            },
        },
    })
}

/// Reusable responses, headers, parameters and security schemes.
pub(super) fn components() -> Map<String, Value> {
    let parts = json!({
        "responses": {
            "NotFound": error("`not_found`: no such resource (an id that is not a UUID, or another user's or account's, is not found either)."),
            "RequestTooLarge": error("`request_too_large`: the body is over `TOKEND_MAX_BODY_BYTES`, or over a service token's `max_request_bytes` (`details.limit`)."),
            "UnsupportedMediaType": error("`unsupported_media_type`: the body is not of an accepted content type."),
            "RateLimited": {
                "description": "`rate_limited`: too many attempts (`details.retry_after`).",
                "headers": { "Retry-After": { "$ref": "#/components/headers/RetryAfter" } },
                "content": { "application/json": { "schema": schema("Error") } },
            },
            "Internal": error("`internal`: an unexpected failure; the message says nothing more."),
            "Unavailable": {
                "description": "`unavailable`: the database is down or overloaded.",
                "headers": { "Retry-After": { "$ref": "#/components/headers/RetryAfter" } },
                "content": { "application/json": { "schema": schema("Error") } },
            },
        },
        "headers": {
            "CacheControl": {
                "description": "`no-store` on every answer of a `/v1` or `/oauth2` route.",
                "schema": { "type": "string", "const": "no-store" },
            },
            "Pragma": {
                "description": "`no-cache`, beside `Cache-Control: no-store`, for HTTP/1.0 caches.",
                "schema": { "type": "string", "const": "no-cache" },
            },
            "RetryAfter": {
                "description": "Whole seconds to wait, at least 1.",
                "schema": { "type": "integer", "minimum": 1 },
            },
            "WwwAuthenticate": {
                "description": "`Bearer` without a token, `Bearer error=\"invalid_token\"` with a refused one; `DPoP error=\"invalid_token\" | \"invalid_dpop_proof\" | \"use_dpop_nonce\", algs=\"ES256 EdDSA\"` for a DPoP-bound access token sent as `Bearer` or with a refused proof (RFC 9449 section 7.1); `Basic realm=\"tokend\"` at `/v1/introspect` and `/oauth2`.",
                "schema": { "type": "string" },
            },
            "DpopNonce": {
                "description": "With `TOKEND_DPOP_NONCE`: a fresh server nonce for the next DPoP proof's `nonce` claim (RFC 9449 section 8), on every answer to a request that carried a `DPoP` header and on every `use_dpop_nonce` refusal. Any node accepts any node's nonce for 2 to 4 minutes.",
                "schema": { "type": "string" },
            },
        },
        "parameters": {
            "DPoP": {
                "name": "DPoP",
                "in": "header",
                "description": "A DPoP proof (RFC 9449): a JWT with header `typ: dpop+jwt`, `alg` `ES256` or `EdDSA` and the public `jwk`, and claims `jti`, `htm` (the method), `htu` (`TOKEND_ISSUER` + the path), `iat` (at most 60 s old, 5 s ahead) and, with `TOKEND_DPOP_NONCE`, the server's `nonce`. At sign-in it binds the new session to the key; a bound session refreshes only with a proof by its key. One header at most.",
                "schema": { "type": "string" },
            },
            "UserUuid": {
                "name": "user_uuid",
                "in": "path",
                "required": true,
                "description": "A user's uuid; anything else, or an unknown user, is `404 not_found`.",
                "schema": { "type": "string", "format": "uuid" },
            },
            "AccountUuid": {
                "name": "account_uuid",
                "in": "path",
                "required": true,
                "description": "An account's uuid; anything else, or an unknown account, is `404 not_found`.",
                "schema": { "type": "string", "format": "uuid" },
            },
            "Limit": {
                "name": "limit",
                "in": "query",
                "description": "Page size, 1 to 200 (default 50).",
                "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 },
            },
            "Cursor": {
                "name": "cursor",
                "in": "query",
                "description": "The `next_cursor` of the previous page.",
                "schema": { "type": "string" },
            },
            "Id": {
                "name": "id",
                "in": "path",
                "required": true,
                "description": "A lower-case hyphenated UUID; anything else is `404 not_found`.",
                "schema": { "type": "string", "format": "uuid" },
            },
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <token>`: a user access token (a JWT from `/v1/auth/token` or `/oauth2/token`) or a service token (`tkd_live_…`).",
            },
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same tokens as `bearer`, in `X-API-Key`; used when no `Authorization: Bearer` is sent.",
            },
            "dpop": {
                "type": "http",
                "scheme": "DPoP",
                "description": "`Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449 section 7): how a DPoP-bound user access token (one with `cnf.jkt`, `token_type: DPoP`) must be sent. The proof is signed by the token's key, names the method and `TOKEND_ISSUER` + the path, and carries `ath`, the base64url SHA-256 of the token.",
            },
            "adminKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An admin key (`tkd_admin_…`, from `tokend admin-key add`), as `Authorization: Bearer` or in `X-API-Key`.",
            },
            "resourceServer": {
                "type": "http",
                "scheme": "basic",
                "description": "Resource-server credentials from `tokend resource-server add`; or `client_id` and `client_secret` as form parameters (`client_secret_post`).",
            },
            "client": {
                "type": "http",
                "scheme": "basic",
                "description": "A confidential client's id and secret (`client_secret_basic`); or `client_id` and `client_secret` as form parameters (`client_secret_post`); or, for a public client, `client_id` alone (`none`).",
            },
        },
    });
    match parts {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
