//! The user sign-in flow: `/v1/auth/sign_in`, `/v1/auth/mfa`, `/v1/auth/token`,
//! `/v1/auth/sign_out` and `/v1/revoke`.

use serde_json::{json, Value};

use super::common::{
    dpop_parameter, empty, error, json_body, ok, responses, schema, shared, with_dpop_nonce,
    DPOP_400,
};
use crate::crypto::password::MAX_PASSWORD_BYTES;
use crate::domain::login::MAX_LOGIN_CHARS;
use crate::domain::mfa::{MFA_TOKEN_ATTEMPTS, MFA_TOKEN_TTL_SECS};

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/auth/sign_in": { "post": sign_in() },
        "/v1/auth/mfa": { "post": mfa() },
        "/v1/auth/token": { "post": token() },
        "/v1/auth/sign_out": { "post": sign_out() },
        "/v1/revoke": { "post": revoke() },
        "/v1/auth/password_reset": { "post": password_reset() },
    })
}

fn password_reset() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "passwordReset",
        "summary": "Set a new password with a reset ticket",
        "description": "The ticket comes from `POST /v1/admin/users/{user_uuid}/password_reset` or `tokend user reset-password`. Every session of the user is revoked; MFA stays as it was. Rate-limited per client address (`TOKEND_PASSWORD_RESET_PER_IP_PER_MINUTE`).",
        "requestBody": json_body("PasswordResetRequest"),
        "responses": responses(json!({
            "204": empty("The password is set."),
            "400": error("`invalid_reset_ticket`: a wrong, used, voided or expired ticket (one answer for all). `invalid_request` (`details.field`); for `new_password`, `details.reason` is `too_short`, `too_long` or `too_common`."),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn sign_in() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "signIn",
        "summary": "Sign in with login and password",
        "description": "Rate-limited per client IP and per normalised login before the password is hashed. Without MFA the answer starts a session; with MFA (a confirmed TOTP secret, or, while passkeys are on, at least one passkey) it is a challenge to finish at `POST /v1/auth/mfa`. A valid `DPoP` proof (checked before the password) binds the session to its key: every refresh then needs a proof by that key, and access tokens carry `cnf.jkt`. With `TOKEND_DPOP_REQUIRED` a sign-in without a proof is refused.",
        "parameters": [dpop_parameter()],
        "requestBody": json_body("SignInRequest"),
        "responses": responses(json!({
            "200": with_dpop_nonce(ok("Signed in (`SignedIn`), or a second factor is needed (`MfaChallenge`).", schema("SignInResponse"))),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`): malformed JSON, a missing, ill-typed or unknown field, a bad `login` or `device` field, or (with `TOKEND_REQUIRE_REGISTERED_CLIENTS`) a `device.client_id` that names no registered client. {DPOP_400} With `TOKEND_DPOP_REQUIRED`, a sign-in without a proof is `invalid_dpop_proof`."))),
            "401": error("`invalid_credentials`: unknown login or wrong password (indistinguishable)."),
            "403": error("`user_disabled`: the password was right but the user is disabled."),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn mfa() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "finishMfaSignIn",
        "summary": "Finish a sign-in with a TOTP code, a recovery code or a passkey",
        "description": format!("Exactly one of `code` and `passkey`. The mfa_token lives {MFA_TOKEN_TTL_SECS} seconds, tolerates {MFA_TOKEN_ATTEMPTS} wrong codes and works once. A TOTP time step is accepted once per user, never an earlier one; one step of clock skew either way is accepted. A passkey assertion answers the challenge's `passkey_options`; a refused one (wrong origin, no user verification, a bad signature, a passkey deleted meanwhile, a counter that did not move forward) is a wrong code like any other: it costs an attempt and the user's failure budget. If the password step carried a `DPoP` proof, this step needs a proof by the same key (the session is bound to it); otherwise a proof here binds the session as at sign-in. A refused proof costs no attempt."),
        "parameters": [dpop_parameter()],
        "requestBody": json_body("MfaSignInRequest"),
        "responses": responses(json!({
            "200": with_dpop_nonce(ok("Signed in: the same body as a sign-in without MFA.", schema("SignedIn"))),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`); `details.field: code` when both or neither of `code` and `passkey` are sent (no attempt is spent). {DPOP_400}"))),
            "401": error("`invalid_mfa_token`: unknown, expired, used or out of attempts. `invalid_mfa_code`: wrong code, or a refused passkey assertion (`details.attempts_left`)."),
            "403": error("`user_disabled`."),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn token() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "refresh",
        "summary": "Spend a refresh token for an access token to one account",
        "description": "The presented refresh token is spent and its successor returned. Within `TOKEND_REFRESH_GRACE_SECONDS` of the spend, presenting it again returns the same successor; later, it revokes the whole session. `scope` narrows the role's scopes; `resource` (RFC 8707) sets the access token's `aud`. A session bound to a DPoP key refreshes only with a `DPoP` proof by that key, checked before the refresh token is looked at: without it nothing is spent and no reuse is detected. A proof sent with the refresh of an unbound session binds that one access token (`token_type: DPoP`); the session stays unbound.",
        "parameters": [dpop_parameter()],
        "requestBody": json_body("TokenRequest"),
        "responses": responses(json!({
            "200": with_dpop_nonce(ok("An access token and the successor refresh token.", schema("TokenResponse"))),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`). `invalid_scope` (`details.scope`): a scope outside the role. `invalid_target` (`details.resource`): an unknown resource, or one the session's client may not use. {DPOP_400}"))),
            "401": error("`invalid_refresh_token`: unknown, expired, its session revoked or its user disabled. `refresh_token_reused`: an already rotated token; the session is now revoked."),
            "403": error("`account_access_denied`: the user is not a member of `account_uuid` (the token is not spent)."),
        }), true),
    })
}

fn sign_out() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "signOut",
        "summary": "End the session of a refresh token",
        "parameters": [dpop_parameter()],
        "requestBody": json_body("SignOutRequest"),
        "responses": responses(json!({
            "204": empty("Signed out; also for an unknown or already revoked token."),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`). A DPoP-bound session is ended only with a proof by its key: {DPOP_400}"))),
        }), true),
    })
}

fn revoke() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "revoke",
        "summary": "Revoke the session of a refresh or access token (RFC 7009)",
        "description": "No client authentication. A refresh token or a user access token revokes its session; anything unknown, malformed or expired is accepted silently. Service tokens are deleted through the management API instead. A DPoP-bound session is revoked only with a proof by its key.",
        "parameters": [dpop_parameter()],
        "requestBody": {
            "required": true,
            "content": {
                "application/x-www-form-urlencoded": { "schema": schema("TokenParam") },
                "application/json": { "schema": schema("TokenParam") },
            },
        },
        "responses": responses(json!({
            "200": empty("Revoked, or nothing to revoke. Empty body."),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`: `token`). `unsupported_token_type`: a service token, or a JWT exchanged for one. {DPOP_400}"))),
        }), true),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let short = |description: &str| json!({ "type": ["string", "null"], "maxLength": 100, "description": description });
    json!({
        "Device": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "description": "The device a session belongs to. No field may contain control characters.",
            "properties": {
                "name": { "type": "string", "minLength": 1, "maxLength": 100, "description": "Shown in the sessions list; not blank." },
                "platform": short("e.g. `ios`."),
                "app_version": short("e.g. `4.2.0`."),
                "client_id": short("The app's OAuth client id: the `client_id` claim (default `tokend`), and the only client that may refresh the session at `/oauth2/token`."),
            },
        },
        "SignInRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["login", "password", "device"],
            "properties": {
                "login": { "type": "string", "description": format!("Compared after trimming, NFKC and case folding; at most {MAX_LOGIN_CHARS} characters.") },
                "password": { "type": "string", "description": format!("More than {MAX_PASSWORD_BYTES} bytes is `invalid_credentials`.") },
                "device": schema("Device"),
            },
        },
        "Account": {
            "type": "object",
            "required": ["uuid", "name", "role", "scopes"],
            "properties": {
                "uuid": { "type": "string", "format": "uuid" },
                "name": { "type": "string" },
                "role": { "type": "string" },
                "scopes": { "type": "array", "items": { "type": "string" }, "description": "What the role grants, sorted." },
            },
        },
        "SignedIn": {
            "type": "object",
            "required": ["refresh_token", "session_id", "user", "accounts"],
            "properties": {
                "refresh_token": { "type": "string", "description": "Opaque (`rt_…`); spend it at `/v1/auth/token`." },
                "session_id": { "type": "string", "format": "uuid" },
                "user": schema("User"),
                "accounts": { "type": "array", "items": schema("Account"), "description": "Sorted by name." },
            },
        },
        "MfaChallenge": {
            "type": "object",
            "required": ["mfa_required", "mfa_token", "mfa_methods", "expires_in"],
            "properties": {
                "mfa_required": { "const": true },
                "mfa_token": { "type": "string", "description": "Opaque (`mfa_…`), single-use." },
                "mfa_methods": { "type": "array", "items": { "enum": ["totp", "passkey", "recovery_code"] }, "description": "What the user can finish with, in this order: `totp` and `recovery_code` with a confirmed TOTP secret, `passkey` with at least one passkey while passkeys are on." },
                "expires_in": { "type": "integer", "description": "Seconds the mfa_token lives." },
                "passkey_options": { "$ref": "#/components/schemas/PasskeyRequestOptions", "description": "With `passkey` among the methods only: request options listing the user's passkeys in `allowCredentials`." },
            },
        },
        "SignInResponse": { "oneOf": [schema("SignedIn"), schema("MfaChallenge")] },
        "MfaSignInRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["mfa_token"],
            "description": "`mfa_token` and exactly one of `code` and `passkey`.",
            "properties": {
                "mfa_token": { "type": "string" },
                "code": { "type": "string", "description": "Six TOTP digits, or an unused recovery code (case, spaces and dashes ignored)." },
                "passkey": { "$ref": "#/components/schemas/AuthenticationCredential", "description": "An assertion for the challenge's `passkey_options`." },
            },
        },
        "TokenRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["refresh_token", "account_uuid"],
            "properties": {
                "refresh_token": { "type": "string" },
                "account_uuid": { "type": "string", "format": "uuid" },
                "scope": { "type": ["string", "null"], "description": "Space-separated subset of the role's scopes; absent or blank means all of them." },
                "resource": { "type": ["string", "null"], "description": "RFC 8707 resource indicator: `TOKEND_AUDIENCE` or a registered resource server's audience; becomes `aud`." },
            },
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "refresh_token", "account_uuid", "scope"],
            "properties": {
                "access_token": { "type": "string", "description": "An RFC 9068 JWT; with `cnf.jkt` when bound to a DPoP key." },
                "token_type": { "enum": ["Bearer", "DPoP"], "description": "`DPoP` when the access token is bound to the key of the request's proof (`cnf.jkt`): send it as `Authorization: DPoP` with a proof. `Bearer` otherwise." },
                "expires_in": { "type": "integer", "description": "Seconds (`TOKEND_ACCESS_TOKEN_TTL`)." },
                "refresh_token": { "type": "string", "description": "The successor; the presented token is spent." },
                "account_uuid": { "type": "string", "format": "uuid" },
                "scope": { "type": "string", "description": "Granted scopes, space-separated." },
            },
        },
        "SignOutRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["refresh_token"],
            "properties": { "refresh_token": { "type": "string" } },
        },
        "PasswordResetRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["ticket", "new_password"],
            "properties": {
                "ticket": { "type": "string", "description": "`tkd_reset_…`." },
                "new_password": { "type": "string", "description": "The password policy of `/v1/me/password`." },
            },
        },
        "TokenParam": {
            "type": "object",
            "required": ["token"],
            "properties": { "token": { "type": "string" } },
        },
    })
}
