//! The admin API's users: `/v1/admin/users` and everything under `/v1/admin/users/{user_uuid}`
//! (sessions, MFA, passkeys, memberships, password-reset tickets).

use serde_json::{json, Value};

use super::common::{
    admin_security, bearer_error, empty, error, json_body, ok, responses, schema, shared,
    ADMIN_401, ADMIN_403,
};

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/admin/users": { "post": create(), "get": list() },
        "/v1/admin/users/{user_uuid}": { "get": get(), "delete": delete() },
        "/v1/admin/users/{user_uuid}/disable": { "post": set_disabled(true) },
        "/v1/admin/users/{user_uuid}/enable": { "post": set_disabled(false) },
        "/v1/admin/users/{user_uuid}/sessions": { "get": sessions(), "delete": revoke_sessions() },
        "/v1/admin/users/{user_uuid}/sessions/{id}": { "delete": revoke_session() },
        "/v1/admin/users/{user_uuid}/mfa": { "delete": remove_mfa() },
        "/v1/admin/users/{user_uuid}/passkeys": { "get": passkeys() },
        "/v1/admin/users/{user_uuid}/passkeys/{id}": { "delete": remove_passkey() },
        "/v1/admin/users/{user_uuid}/memberships": { "get": memberships() },
        "/v1/admin/users/{user_uuid}/password_reset": { "post": password_reset() },
    })
}

/// An admin operation on one user: its security, `{user_uuid}`, and the answers it shares.
fn on_user(id: &str, summary: &str, own: Value, reads_body: bool) -> Value {
    let mut all = json!({
        "401": bearer_error(ADMIN_401),
        "403": error(ADMIN_403),
        "404": shared("NotFound"),
    });
    if let (Some(all), Value::Object(own)) = (all.as_object_mut(), own) {
        all.extend(own);
    }
    json!({
        "tags": ["Admin"],
        "operationId": id,
        "summary": summary,
        "security": admin_security(),
        "parameters": [{ "$ref": "#/components/parameters/UserUuid" }],
        "responses": responses(all, reads_body),
    })
}

fn create() -> Value {
    json!({
        "tags": ["Admin"],
        "operationId": "adminCreateUser",
        "summary": "Create a user",
        "description": "Without `password` the user cannot sign in until a password-reset ticket is redeemed.",
        "security": admin_security(),
        "requestBody": json_body("AdminCreateUserRequest"),
        "responses": responses(json!({
            "201": ok("Created.", schema("AdminUser")),
            "400": error("`invalid_request` (`details.field`): a bad `login`, a password against the policy (`details.reason`), or a login that exists (`details.reason: conflict`)."),
            "401": bearer_error(ADMIN_401),
            "403": error(ADMIN_403),
        }), true),
    })
}

fn list() -> Value {
    json!({
        "tags": ["Admin"],
        "operationId": "adminListUsers",
        "summary": "List users, oldest first",
        "security": admin_security(),
        "parameters": [
            { "$ref": "#/components/parameters/Limit" },
            { "$ref": "#/components/parameters/Cursor" },
            { "name": "login_prefix", "in": "query", "schema": { "type": "string" }, "description": "Only logins starting with this." },
            { "name": "disabled", "in": "query", "schema": { "type": "boolean" }, "description": "Only disabled (`true`) or enabled (`false`) users." },
        ],
        "responses": responses(json!({
            "200": ok("One page.", schema("AdminUserPage")),
            "400": error("`invalid_request`: an unknown or malformed query parameter, `limit` out of range, a bad `cursor` (`details.field`)."),
            "401": bearer_error(ADMIN_401),
            "403": error(ADMIN_403),
        }), false),
    })
}

fn get() -> Value {
    on_user(
        "adminGetUser",
        "Show a user",
        json!({ "200": ok("The user.", schema("AdminUser")) }),
        false,
    )
}

fn delete() -> Value {
    on_user(
        "adminDeleteUser",
        "Delete a user and everything that is theirs",
        json!({ "204": empty("Deleted; audit rows keep the id.") }),
        false,
    )
}

fn set_disabled(disabled: bool) -> Value {
    if disabled {
        on_user(
            "adminDisableUser",
            "Disable a user, revoking every session at once",
            json!({ "200": ok("The user, disabled.", schema("AdminUser")) }),
            false,
        )
    } else {
        on_user(
            "adminEnableUser",
            "Enable a user",
            json!({ "200": ok("The user, enabled.", schema("AdminUser")) }),
            false,
        )
    }
}

fn sessions() -> Value {
    on_user(
        "adminListUserSessions",
        "List a user's live sessions, newest first",
        json!({ "200": ok("Every live session (`current` is always false).", schema("AdminSessionItems")) }),
        false,
    )
}

fn revoke_sessions() -> Value {
    on_user(
        "adminRevokeUserSessions",
        "Revoke every session of a user",
        json!({ "204": empty("Revoked.") }),
        false,
    )
}

fn revoke_session() -> Value {
    let mut op = on_user(
        "adminRevokeUserSession",
        "Revoke one session of a user",
        json!({ "204": empty("Revoked; `404 not_found` if it is not the user's or not live.") }),
        false,
    );
    if let Some(parameters) = op["parameters"].as_array_mut() {
        parameters.push(json!({ "$ref": "#/components/parameters/Id" }));
    }
    op
}

fn remove_mfa() -> Value {
    on_user(
        "adminRemoveUserMfa",
        "Remove a user's second factors: TOTP, recovery codes, passkeys and pending mfa_tokens",
        json!({ "204": empty("Removed (also when the user had no MFA); the password alone signs in again. Written to the audit trail as `mfa.removed`.") }),
        false,
    )
}

fn passkeys() -> Value {
    on_user(
        "adminListUserPasskeys",
        "List a user's passkeys, oldest first",
        json!({ "200": ok("Every passkey, as `GET /v1/me/passkeys` shows them; also while passkeys are off.", schema("AdminPasskeyItems")) }),
        false,
    )
}

fn remove_passkey() -> Value {
    let mut op = on_user(
        "adminRemoveUserPasskey",
        "Remove one of a user's passkeys",
        json!({ "204": empty("Removed at once; `404 not_found` if it is not the user's. Written to the audit trail as `passkey.removed` (`details.by: admin`).") }),
        false,
    );
    if let Some(parameters) = op["parameters"].as_array_mut() {
        parameters.push(json!({ "$ref": "#/components/parameters/Id" }));
    }
    op
}

fn memberships() -> Value {
    on_user(
        "adminListUserMemberships",
        "List a user's memberships",
        json!({ "200": ok("Every membership.", schema("AdminMembershipItems")) }),
        false,
    )
}

fn password_reset() -> Value {
    on_user(
        "adminIssuePasswordReset",
        "Issue a password-reset ticket",
        json!({ "201": ok("The ticket, shown once; a newer ticket voids this one. Redeem it at `POST /v1/auth/password_reset`.", schema("ResetTicket")) }),
        false,
    )
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let items = |item: &str| {
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema(item) },
                "next_cursor": { "type": "null", "description": "Always null: one page holds all." },
            },
        })
    };
    json!({
        "AdminCreateUserRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["login"],
            "properties": {
                "login": { "type": "string", "description": "Normalised as at sign-in; unique." },
                "password": { "type": ["string", "null"], "description": "Optional; the password policy of `/v1/me/password` applies." },
            },
        },
        "AdminUser": {
            "type": "object",
            "required": ["uuid", "login", "disabled", "mfa_enabled", "created_at"],
            "properties": {
                "uuid": { "type": "string", "format": "uuid" },
                "login": { "type": "string" },
                "disabled": { "type": "boolean" },
                "mfa_enabled": { "type": "boolean", "description": "Whether a sign-in asks for a second step: a confirmed TOTP secret, or, while passkeys are on, at least one passkey." },
                "created_at": { "type": "string", "format": "date-time" },
            },
        },
        "AdminUserPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema("AdminUser") },
                "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last." },
            },
        },
        "AdminSessionItems": items("Session"),
        "AdminMembership": {
            "type": "object",
            "required": ["account_uuid", "role"],
            "properties": {
                "account_uuid": { "type": "string", "format": "uuid" },
                "role": { "type": "string" },
            },
        },
        "AdminMembershipItems": items("AdminMembership"),
        "AdminPasskeyItems": items("Passkey"),
        "ResetTicket": {
            "type": "object",
            "required": ["ticket", "expires_at"],
            "properties": {
                "ticket": { "type": "string", "description": "`tkd_reset_…`, single-use." },
                "expires_at": { "type": "string", "format": "date-time", "description": "`TOKEND_PASSWORD_RESET_TTL` from now." },
            },
        },
    })
}
