//! Managing the caller's second factor: `/v1/me/mfa/totp`, `/v1/me/mfa/totp/confirm` and
//! `/v1/me/mfa/recovery_codes`.

use serde_json::{json, Value};

use super::common::{
    empty, error, json_body, ok, responses, schema, shared, token_error, token_security, TOKEN_401,
    USER_403,
};
use crate::domain::mfa::recovery::RECOVERY_CODES;

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/me/mfa/totp": { "post": enrol(), "delete": disable() },
        "/v1/me/mfa/totp/confirm": { "post": confirm() },
        "/v1/me/mfa/recovery_codes": { "post": regenerate() },
    })
}

/// The 401 of the routes that check the password again.
fn password_401() -> Value {
    token_error(&format!(
        "{TOKEN_401} `invalid_credentials`: the password is wrong."
    ))
}

/// The 401 of the routes that check the password and a code.
fn code_401() -> Value {
    token_error(&format!(
        "{TOKEN_401} `invalid_credentials`: the password is wrong. `invalid_mfa_code`: the code \
         is wrong (`details.attempts_left`: what the per-user failure window still allows)."
    ))
}

fn enrol() -> Value {
    json!({
        "tags": ["MFA"],
        "operationId": "enrolTotp",
        "summary": "Start TOTP enrolment",
        "description": "Returns a fresh secret, pending until confirmed; calling again replaces a pending secret. The password is checked under the per-login sign-in limit.",
        "security": token_security(),
        "requestBody": json_body("PasswordRequest"),
        "responses": responses(json!({
            "200": ok("The secret, shown once.", schema("TotpEnrolment")),
            "400": error("`invalid_request` (`details.field`); `details.reason: mfa_already_enabled` while MFA is on."),
            "401": password_401(),
            "403": error(USER_403),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn confirm() -> Value {
    json!({
        "tags": ["MFA"],
        "operationId": "confirmTotp",
        "summary": "Confirm TOTP enrolment with a code; MFA is on from now",
        "security": token_security(),
        "requestBody": json_body("CodeRequest"),
        "responses": responses(json!({
            "200": ok("The first recovery codes, shown once.", schema("RecoveryCodes")),
            "400": error("`invalid_request` (`details.field`); `details.reason`: `mfa_already_enabled`, or `mfa_not_pending` (nothing to confirm, or the enrolment was replaced meanwhile)."),
            "401": token_error(&format!("{TOKEN_401} `invalid_mfa_code` (`details.attempts_left`).")),
            "403": error(USER_403),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn disable() -> Value {
    json!({
        "tags": ["MFA"],
        "operationId": "disableTotp",
        "summary": "Turn MFA off",
        "description": "Needs the password and a current TOTP code or an unused recovery code. The secret, the recovery codes and pending mfa_tokens are deleted together.",
        "security": token_security(),
        "requestBody": json_body("PasswordAndCode"),
        "responses": responses(json!({
            "204": empty("MFA is off."),
            "400": error("`invalid_request` (`details.field`); `details.reason: mfa_not_enabled`."),
            "401": code_401(),
            "403": error(USER_403),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn regenerate() -> Value {
    json!({
        "tags": ["MFA"],
        "operationId": "regenerateRecoveryCodes",
        "summary": "Replace the recovery codes",
        "description": "Needs the password and a current TOTP code (a recovery code is not accepted here). Every old code stops working.",
        "security": token_security(),
        "requestBody": json_body("PasswordAndCode"),
        "responses": responses(json!({
            "200": ok("The new recovery codes, shown once.", schema("RecoveryCodes")),
            "400": error("`invalid_request` (`details.field`); `details.reason: mfa_not_enabled`."),
            "401": code_401(),
            "403": error(USER_403),
            "429": shared("RateLimited"),
        }), true),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    json!({
        "PasswordRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["password"],
            "properties": { "password": { "type": "string" } },
        },
        "TotpEnrolment": {
            "type": "object",
            "required": ["secret", "otpauth_uri"],
            "properties": {
                "secret": { "type": "string", "description": "160 bits, base32 without padding." },
                "otpauth_uri": { "type": "string", "description": "`otpauth://totp/<issuer>:<login>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, to show as a QR code." },
            },
        },
        "CodeRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["code"],
            "properties": { "code": { "type": "string", "description": "Six digits from the authenticator app." } },
        },
        "PasswordAndCode": {
            "type": "object",
            "additionalProperties": false,
            "required": ["password", "code"],
            "properties": {
                "password": { "type": "string" },
                "code": { "type": "string", "description": "Six TOTP digits (or, to disable, a recovery code)." },
            },
        },
        "RecoveryCodes": {
            "type": "object",
            "required": ["recovery_codes"],
            "properties": {
                "recovery_codes": {
                    "type": "array",
                    "minItems": RECOVERY_CODES,
                    "maxItems": RECOVERY_CODES,
                    "items": { "type": "string", "description": "`xxxx-xxxx-xxxx-xxxx`; single-use." },
                },
            },
        },
    })
}
