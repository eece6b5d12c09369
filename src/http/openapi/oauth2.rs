//! The standard OAuth 2.0 endpoints: `/oauth2/token` (refresh and RFC 8693 token exchange) and
//! `/oauth2/revoke` (RFC 7009). Their bodies are forms and their errors RFC 6749 section 5.2
//! bodies, never the `/v1` envelope.

use serde_json::{json, Value};

use super::common::{dpop_parameter, empty, form_body, oauth_error, ok, schema, with_dpop_nonce};
use crate::domain::oauth2::{
    GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_SERVICE_TOKEN,
};

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/oauth2/token": { "post": token() },
        "/oauth2/revoke": { "post": revoke() },
    })
}

/// Client authentication, for both endpoints.
fn client_security() -> Value {
    json!([{ "client": [] }, {}])
}

/// `response` with one more header, a `$ref` to `#/components/headers/{component}`.
fn with_header(mut response: Value, name: &str, component: &str) -> Value {
    if let Some(headers) = response["headers"].as_object_mut() {
        let target = format!("#/components/headers/{component}");
        headers.insert(name.to_string(), json!({ "$ref": target }));
    }
    response
}

/// The answers both endpoints share.
fn shared_errors() -> Value {
    json!({
        "401": with_header(
            oauth_error("`invalid_client`: no client, an unknown one, a public client sending a secret, a confidential one without its secret or with a wrong one, malformed Basic credentials."),
            "WWW-Authenticate",
            "WwwAuthenticate",
        ),
        "413": oauth_error("`invalid_request`: the body is over `TOKEND_MAX_BODY_BYTES`."),
        "500": oauth_error("`server_error`."),
        "503": with_header(
            oauth_error("`temporarily_unavailable`: the database is down or overloaded."),
            "Retry-After",
            "RetryAfter",
        ),
    })
}

fn with_shared_errors(own: Value) -> Value {
    let mut all = shared_errors();
    if let (Some(all), Value::Object(own)) = (all.as_object_mut(), own) {
        all.extend(own);
    }
    all
}

fn token() -> Value {
    json!({
        "tags": ["OAuth 2.0"],
        "operationId": "oauthToken",
        "summary": "RFC 6749 token endpoint: refresh, or exchange a service token for a JWT",
        "description": "`refresh_token`: the `/v1/auth/token` rotation rule, for sessions signed in with this client as `device.client_id`, DPoP included (a bound session refreshes only with a `DPoP` proof by its key, whose `htu` is `TOKEND_ISSUER` + `/oauth2/token`). Token exchange (RFC 8693): a client registered for it (by default every confidential one) trades a service token for a short-lived JWT carrying its account, scopes, allowlist and size cap. `grant_type` is read first, then the client is authenticated, then the grant.",
        "security": client_security(),
        "parameters": [dpop_parameter()],
        "requestBody": form_body(json!({
            "oneOf": [schema("RefreshGrant"), schema("TokenExchangeGrant")],
            "discriminator": {
                "propertyName": "grant_type",
                "mapping": {
                    GRANT_REFRESH_TOKEN: "#/components/schemas/RefreshGrant",
                    GRANT_TOKEN_EXCHANGE: "#/components/schemas/TokenExchangeGrant",
                },
            },
        })),
        "responses": with_shared_errors(json!({
            "200": with_dpop_nonce(ok("The refresh grant answers `TokenResponse` (`token_type` `DPoP` when bound to a key); the exchange answers `ExchangeResponse`.", json!({
                "oneOf": [schema("TokenResponse"), schema("ExchangeResponse")],
            }))),
            "400": with_dpop_nonce(oauth_error("`invalid_request`: not a form, a repeated or missing parameter, a bad `account_uuid`, two client authentication methods, a wrong `subject_token_type` or `requested_token_type`. `invalid_grant`: the refresh token is unknown, expired, reused, of another client's session or for an account the user is not in; the service token is unknown, expired, deactivated, deleted or used from outside its allowlist. `unauthorized_client`: the client is not registered for the grant. `unsupported_grant_type`. `invalid_scope`. `invalid_target`: `resource` unknown or not allowed to the client. `invalid_dpop_proof`: the refresh of a DPoP-bound session without a valid proof by its key, or a refused proof (checked before the refresh token). `use_dpop_nonce`: with `TOKEND_DPOP_NONCE`, the proof lacks a current nonce; retry with the one in `DPoP-Nonce`.")),
        })),
    })
}

fn revoke() -> Value {
    json!({
        "tags": ["OAuth 2.0"],
        "operationId": "oauthRevoke",
        "summary": "RFC 7009 revocation endpoint",
        "description": "A refresh token or user access token revokes its session; anything unknown is accepted silently. Service tokens are refused: delete them through the management API.",
        "security": client_security(),
        "parameters": [dpop_parameter()],
        "requestBody": form_body(schema("RevocationForm")),
        "responses": with_shared_errors(json!({
            "200": empty("Revoked, or nothing to revoke. Empty body."),
            "400": with_dpop_nonce(oauth_error("`invalid_request`: not a form, `token` missing, a repeated parameter. `unsupported_token_type`: a service token, or a JWT exchanged for one. `invalid_dpop_proof`: the session is DPoP-bound and the request has no valid proof by its key; nothing is revoked. `use_dpop_nonce`: with `TOKEND_DPOP_NONCE`, retry with the nonce in `DPoP-Nonce`.")),
        })),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let client = || {
        json!({
            "client_id": { "type": "string", "description": "`client_secret_post` or `none`; must match Basic credentials if both are sent." },
            "client_secret": { "type": "string", "description": "`client_secret_post` only; never together with Basic." },
        })
    };
    let mut refresh = json!({
        "grant_type": { "const": GRANT_REFRESH_TOKEN },
        "refresh_token": { "type": "string" },
        "account_uuid": { "type": "string", "format": "uuid", "description": "Extension parameter (RFC 6749 section 8.2): the account the access token is for." },
        "scope": { "type": "string", "description": "Space-separated subset of the role's scopes." },
        "resource": { "type": "string", "description": "RFC 8707 resource indicator; becomes `aud`." },
    });
    let mut exchange = json!({
        "grant_type": { "const": GRANT_TOKEN_EXCHANGE },
        "subject_token": { "type": "string", "description": "The service token." },
        "subject_token_type": { "const": TOKEN_TYPE_SERVICE_TOKEN },
        "requested_token_type": { "const": TOKEN_TYPE_ACCESS_TOKEN },
        "scope": { "type": "string", "description": "Space-separated subset of the service token's scopes." },
        "resource": { "type": "string", "description": "RFC 8707 resource indicator; becomes `aud`." },
    });
    let mut revocation = json!({
        "token": { "type": "string" },
        "token_type_hint": { "type": "string", "description": "Accepted and ignored." },
    });
    for properties in [&mut refresh, &mut exchange, &mut revocation] {
        if let (Some(p), Value::Object(c)) = (properties.as_object_mut(), client()) {
            p.extend(c);
        }
    }
    json!({
        "RefreshGrant": {
            "type": "object",
            "required": ["grant_type", "refresh_token", "account_uuid"],
            "properties": refresh,
        },
        "TokenExchangeGrant": {
            "type": "object",
            "required": ["grant_type", "subject_token", "subject_token_type"],
            "properties": exchange,
        },
        "ExchangeResponse": {
            "type": "object",
            "required": ["access_token", "issued_token_type", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": { "type": "string", "description": "A JWT with `token_kind: service` (see `ExchangedTokenClaims`)." },
                "issued_token_type": { "const": TOKEN_TYPE_ACCESS_TOKEN },
                "token_type": { "const": "Bearer" },
                "expires_in": { "type": "integer", "description": "`TOKEND_EXCHANGED_TOKEN_TTL`, never past the service token's own expiry." },
                "scope": { "type": "string" },
            },
        },
        "RevocationForm": {
            "type": "object",
            "required": ["token"],
            "properties": revocation,
        },
    })
}
