//! The OpenAPI 3.1 description of every route, served at `GET /openapi.json`.
//!
//! It is written next to the handlers, in their vocabulary (grant types, token types and limits
//! come from the domain's own constants), one file per route family under `openapi/`. The test
//! `tests/api/openapi.rs` checks that every route registered in `src/http/` is described and
//! every described route is registered, and that `docs/openapi.json` is this document for the
//! default issuer (`TOKEND_BLESS_OPENAPI=1 cargo test --test api openapi` rewrites it).

mod account;
mod admin_accounts;
mod admin_users;
mod common;
mod discovery;
mod mfa;
mod oauth2;
mod passkeys;
mod service_tokens;
mod sign_in;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::app::AppState;

/// The whole document, with `issuer` (`TOKEND_ISSUER`) as its only server.
pub fn document(issuer: &str) -> Value {
    let families = [
        (sign_in::paths(), sign_in::schemas()),
        (account::paths(), account::schemas()),
        (mfa::paths(), mfa::schemas()),
        (passkeys::paths(), passkeys::schemas()),
        (service_tokens::paths(), service_tokens::schemas()),
        (oauth2::paths(), oauth2::schemas()),
        (discovery::paths(), discovery::schemas()),
        (admin_users::paths(), admin_users::schemas()),
        (admin_accounts::paths(), admin_accounts::schemas()),
    ];
    let mut paths = Map::new();
    let mut schemas = object(common::schemas());
    for (family_paths, family_schemas) in families {
        paths.extend(object(family_paths));
        schemas.extend(object(family_schemas));
    }
    let mut components = common::components();
    components.insert("schemas".into(), Value::Object(schemas));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tokend",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Sign-in, rotating refresh tokens, JWT access tokens and service tokens.",
            "description": DESCRIPTION,
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": issuer }],
        "tags": [
            { "name": "Sign-in", "description": "Password and second factor, passkeys, refresh-token rotation, sign-out." },
            { "name": "Sessions", "description": "The signed-in user's devices." },
            { "name": "Account", "description": "The presented token and the user's password." },
            { "name": "MFA", "description": "TOTP enrolment and recovery codes." },
            { "name": "Passkeys", "description": "The signed-in user's passkeys (WebAuthn): adding, listing, deleting. Off (`404`) while `TOKEND_WEBAUTHN_RP_ID` is unset; signing in with them is under Sign-in." },
            { "name": "Service tokens", "description": "Long-lived API keys of an account; needs `tokens:manage`." },
            { "name": "Introspection", "description": "RFC 7662, for resource servers." },
            { "name": "OAuth 2.0", "description": "The standard endpoints, with form bodies and RFC 6749 errors." },
            { "name": "Discovery", "description": "Metadata, keys and this document." },
            { "name": "Operations", "description": "Health, readiness and metrics." },
            { "name": "Admin", "description": "Users, accounts, memberships, service tokens and the audit trail, for product backends holding an admin key." },
        ],
        "paths": paths,
        "components": components,
    })
}

/// The conventions every route shares, in the document's `info.description`.
const DESCRIPTION: &str = "JSON bodies (`application/json`, UTF-8) unless an operation says \
otherwise; unknown JSON fields are refused. Times are RFC 3339 UTC strings; ids are lower-case \
UUIDs. Every non-2xx answer outside `/oauth2` is the envelope \
`{\"error\": {\"code\", \"message\", \"details\"}}`, including unknown routes (404 `not_found`), \
wrong methods (405 `method_not_allowed`, with `Allow`), bodies over the limit (413 \
`request_too_large`) and wrong content types (415 `unsupported_media_type`). The `/oauth2` \
endpoints answer RFC 6749 section 5.2 bodies `{\"error\", \"error_description\"}`. Every answer \
of a `/v1` or `/oauth2` route carries `Cache-Control: no-store`. 401s carry \
`WWW-Authenticate`; 429s and 503s carry `Retry-After`. Every answer carries `X-Request-Id`: the \
request's own when it is 1 to 128 visible ASCII characters, else a fresh UUID.";

/// `GET /openapi.json`.
pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.settings.issuer))
}

/// The map inside a `json!` object literal.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
