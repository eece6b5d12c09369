//! The admin API's accounts, memberships and service tokens under `/v1/admin/accounts`, and the
//! security audit trail at `/v1/admin/audit`.

use serde_json::{json, Value};

use super::common::{
    admin_security, bearer_error, empty, error, json_body, ok, responses, schema, shared,
    ADMIN_401, ADMIN_403,
};

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/admin/accounts": { "post": create(), "get": list() },
        "/v1/admin/accounts/{account_uuid}": { "get": get(), "patch": rename(), "delete": delete() },
        "/v1/admin/accounts/{account_uuid}/rate_limit": { "put": put_rate_limit() },
        "/v1/admin/accounts/{account_uuid}/members": { "get": members() },
        "/v1/admin/accounts/{account_uuid}/members/{user_uuid}": { "put": put_member(), "delete": remove_member() },
        "/v1/admin/accounts/{account_uuid}/service_tokens": { "get": service_tokens() },
        "/v1/admin/accounts/{account_uuid}/service_tokens/{id}": { "delete": delete_service_token() },
        "/v1/admin/audit": { "get": audit() },
    })
}

fn parameter(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

/// An admin operation: its security, path parameters, and the answers every one shares.
fn operation(id: &str, summary: &str, parameters: &[&str], own: Value, reads_body: bool) -> Value {
    let mut all = json!({
        "401": bearer_error(ADMIN_401),
        "403": error(ADMIN_403),
    });
    if !parameters.is_empty() {
        all["404"] = shared("NotFound");
    }
    if let (Some(all), Value::Object(own)) = (all.as_object_mut(), own) {
        all.extend(own);
    }
    let parameters: Vec<Value> = parameters.iter().map(|p| parameter(p)).collect();
    json!({
        "tags": ["Admin"],
        "operationId": id,
        "summary": summary,
        "security": admin_security(),
        "parameters": parameters,
        "responses": responses(all, reads_body),
    })
}

fn create() -> Value {
    let mut op = operation(
        "adminCreateAccount",
        "Create an account",
        &[],
        json!({
            "201": ok("Created.", schema("AdminAccount")),
            "400": error("`invalid_request` (`details.field: name`)."),
        }),
        true,
    );
    op["requestBody"] = json_body("AdminAccountName");
    op
}

fn list() -> Value {
    let mut op = operation(
        "adminListAccounts",
        "List accounts, oldest first",
        &[],
        json!({
            "200": ok("One page.", schema("AdminAccountPage")),
            "400": error("`invalid_request`: an unknown or malformed query parameter, `limit` out of range, a bad `cursor`."),
        }),
        false,
    );
    op["parameters"] = json!([parameter("Limit"), parameter("Cursor")]);
    op
}

fn get() -> Value {
    operation(
        "adminGetAccount",
        "Show an account",
        &["AccountUuid"],
        json!({ "200": ok("The account.", schema("AdminAccount")) }),
        false,
    )
}

fn rename() -> Value {
    let mut op = operation(
        "adminRenameAccount",
        "Rename an account",
        &["AccountUuid"],
        json!({
            "200": ok("The account, renamed.", schema("AdminAccount")),
            "400": error("`invalid_request` (`details.field: name`)."),
        }),
        true,
    );
    op["requestBody"] = json_body("AdminAccountName");
    op
}

fn delete() -> Value {
    let mut op = operation(
        "adminDeleteAccount",
        "Delete an account",
        &["AccountUuid"],
        json!({
            "204": empty("Deleted (with `force=true`, its service tokens too)."),
            "409": error("`account_has_service_tokens`: the account still has service tokens and `force=true` was not given."),
        }),
        false,
    );
    if let Some(parameters) = op["parameters"].as_array_mut() {
        parameters.push(json!({
            "name": "force", "in": "query", "schema": { "type": "boolean", "default": false },
            "description": "Delete the account's service tokens too.",
        }));
    }
    op
}

fn put_rate_limit() -> Value {
    let mut op = operation(
        "adminPutAccountRateLimit",
        "Set the default rate of the account's new service tokens and their ceiling",
        &["AccountUuid"],
        json!({
            "200": ok("What is set now.", schema("AdminAccountRateLimit")),
            "400": error("`invalid_request` (`details.field`: `rate_limit`, `max_rate_limit`): out of bounds, or a default above the ceiling."),
        }),
        true,
    );
    op["requestBody"] = json_body("AdminAccountRateLimitRequest");
    op
}

fn members() -> Value {
    operation(
        "adminListAccountMembers",
        "List an account's members, by login",
        &["AccountUuid"],
        json!({ "200": ok("Every member.", schema("AdminMemberItems")) }),
        false,
    )
}

fn put_member() -> Value {
    let mut op = operation(
        "adminPutMember",
        "Add a member or change their role (from their next refresh)",
        &["AccountUuid", "UserUuid"],
        json!({
            "200": ok("The membership.", schema("AdminMember")),
            "400": error("`invalid_request` (`details.field: role`): a role the vocabulary does not have."),
        }),
        true,
    );
    op["requestBody"] = json_body("AdminMemberRole");
    op
}

fn remove_member() -> Value {
    operation(
        "adminRemoveMember",
        "End a membership",
        &["AccountUuid", "UserUuid"],
        json!({ "204": empty("Removed; the next refresh for the account is `403 account_access_denied`.") }),
        false,
    )
}

fn service_tokens() -> Value {
    operation(
        "adminListAccountServiceTokens",
        "List an account's service tokens (never the tokens themselves)",
        &["AccountUuid"],
        json!({ "200": ok("Every live token, oldest first.", schema("AdminServiceTokenItems")) }),
        false,
    )
}

fn delete_service_token() -> Value {
    operation(
        "adminDeleteServiceToken",
        "Delete a service token of an account",
        &["AccountUuid", "Id"],
        json!({ "204": empty("Deleted; effective on the next request.") }),
        false,
    )
}

fn audit() -> Value {
    let mut op = operation(
        "adminListAudit",
        "Read the security audit trail, oldest first",
        &[],
        json!({
            "200": ok("One page.", schema("AuditPage")),
            "400": error("`invalid_request`: an unknown or malformed query parameter, `since` not RFC 3339, `limit` out of range, a bad `cursor`."),
        }),
        false,
    );
    let filter = |name: &str, format: Option<&str>, description: &str| {
        let mut schema = json!({ "type": "string" });
        if let Some(format) = format {
            schema["format"] = json!(format);
        }
        json!({ "name": name, "in": "query", "schema": schema, "description": description })
    };
    op["parameters"] = json!([
        parameter("Limit"),
        parameter("Cursor"),
        filter("user_uuid", Some("uuid"), "Only rows about this user."),
        filter(
            "account_uuid",
            Some("uuid"),
            "Only rows about this account."
        ),
        filter(
            "kind",
            None,
            "Only rows of this kind, e.g. `sign_in.failed`."
        ),
        filter(
            "since",
            Some("date-time"),
            "Only rows at or after this RFC 3339 time."
        ),
    ]);
    op
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let items = |item: &str| {
        json!({
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": { "type": "array", "items": schema(item) },
                "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last (always null for lists that are never paged)." },
            },
        })
    };
    json!({
        "AdminAccountName": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": { "name": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Trimmed; no control characters." } },
        },
        "AdminAccount": {
            "type": "object",
            "required": ["uuid", "name", "created_at"],
            "properties": {
                "uuid": { "type": "string", "format": "uuid" },
                "name": { "type": "string" },
                "created_at": { "type": "string", "format": "date-time" },
            },
        },
        "AdminAccountPage": items("AdminAccount"),
        "AdminAccountRateLimitRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "rate_limit": { "oneOf": [schema("RateLimit"), { "type": "null" }], "description": "Copied into new tokens created without one; null or absent: none." },
                "max_rate_limit": { "oneOf": [schema("RateLimit"), { "type": "null" }], "description": "The most a new token may ask for; null or absent: no ceiling." },
            },
        },
        "AdminAccountRateLimit": {
            "type": "object",
            "required": ["account_uuid", "rate_limit", "max_rate_limit"],
            "properties": {
                "account_uuid": { "type": "string", "format": "uuid" },
                "rate_limit": { "oneOf": [schema("RateLimit"), { "type": "null" }] },
                "max_rate_limit": { "oneOf": [schema("RateLimit"), { "type": "null" }] },
            },
        },
        "AdminMemberRole": {
            "type": "object",
            "additionalProperties": false,
            "required": ["role"],
            "properties": { "role": { "type": "string", "description": "A role of the scope vocabulary." } },
        },
        "AdminMember": {
            "type": "object",
            "required": ["user_uuid", "login", "role"],
            "properties": {
                "user_uuid": { "type": "string", "format": "uuid" },
                "login": { "type": "string" },
                "role": { "type": "string" },
            },
        },
        "AdminMemberItems": items("AdminMember"),
        "AdminServiceTokenItems": items("ServiceToken"),
        "AuditEvent": {
            "type": "object",
            "required": ["id", "at", "kind", "user_uuid", "account_uuid", "ip", "user_agent", "actor", "details"],
            "properties": {
                "id": { "type": "string" },
                "at": { "type": "string", "format": "date-time" },
                "kind": { "type": "string", "description": "`sign_in.succeeded`, `sign_in.failed`, `mfa.succeeded`, `mfa.failed`, `mfa.enrolled`, `mfa.removed`, `refresh_token.reused`, `session.revoked`, `password.changed`, `password.reset`, `service_token.created`, `service_token.changed`, `service_token.deleted`, `service_token.exchanged`, `passkey.added`, `passkey.removed`, `passkey.refused`, `admin.<action>`, `signing_key.generated`." },
                "user_uuid": { "type": ["string", "null"], "format": "uuid" },
                "account_uuid": { "type": ["string", "null"], "format": "uuid" },
                "ip": { "type": ["string", "null"] },
                "user_agent": { "type": ["string", "null"] },
                "actor": { "type": "string", "description": "`user:<uuid>`, `admin_key:<name>` or `system`." },
                "details": { "description": "Depends on `kind`; never a secret." },
            },
        },
        "AuditPage": items("AuditEvent"),
    })
}
