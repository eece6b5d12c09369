//! Passkeys (WebAuthn): the caller's own (`/v1/me/passkeys/registration`, `/v1/me/passkeys`,
//! `/v1/me/passkeys/{id}`) and passwordless sign-in (`/v1/auth/passkey/options`,
//! `/v1/auth/passkey/sign_in`). Every route answers `404 not_found` while
//! `TOKEND_WEBAUTHN_RP_ID` is unset. The passkey as a second factor is part of `/v1/auth/mfa`
//! (`sign_in.rs`); the admin routes are in `admin_users.rs`.

use serde_json::{json, Value};

use super::common::{
    dpop_parameter, empty, error, id_parameter, json_body, ok, responses, schema, shared,
    token_error, token_security, with_dpop_nonce, DPOP_400, TOKEN_401, USER_403,
};
use crate::domain::passkeys::{MAX_PASSKEYS_PER_USER, MAX_PASSKEY_NAME_CHARS, RECENT_SIGN_IN_SECS};

/// The routes of this family.
pub(super) fn paths() -> Value {
    json!({
        "/v1/me/passkeys/registration": { "post": start_registration() },
        "/v1/me/passkeys": { "post": finish_registration(), "get": list() },
        "/v1/me/passkeys/{id}": { "delete": remove() },
        "/v1/auth/passkey/options": { "post": sign_in_options() },
        "/v1/auth/passkey/sign_in": { "post": sign_in() },
    })
}

/// The 404 every route of the family gives while passkeys are off.
fn off_404(also: &str) -> Value {
    error(&format!(
        "`not_found`: passkeys are off (`TOKEND_WEBAUTHN_RP_ID` is unset){also}."
    ))
}

fn start_registration() -> Value {
    let recent_minutes = RECENT_SIGN_IN_SECS / 60;
    json!({
        "tags": ["Passkeys"],
        "operationId": "startPasskeyRegistration",
        "summary": "Start adding a passkey: creation options for the platform",
        "description": format!("Needs a recent proof of presence: a session signed in (password, and second factor if any) at most {recent_minutes} minutes ago, or else `password`. When `password` is sent it is always checked. The options require user verification, prefer a discoverable credential (`residentKey: preferred`) and exclude the credentials the user already has. The `registration_id` works once, on any node, for `TOKEND_WEBAUTHN_CHALLENGE_TTL` seconds."),
        "security": token_security(),
        "requestBody": json_body("StartPasskeyRegistration"),
        "responses": responses(json!({
            "200": ok("The registration to finish at `POST /v1/me/passkeys`.", schema("PasskeyRegistrationStart")),
            "400": error(&format!("`invalid_request` (`details.field`); `details.field: password` with `details.reason: password_required` when the session's sign-in is older than {recent_minutes} minutes and no password was sent.")),
            "401": token_error(&format!("{TOKEN_401} `invalid_credentials`: the password is wrong.")),
            "403": error(USER_403),
            "404": off_404(""),
            "409": error(&format!("`passkey_limit_reached`: the user has {MAX_PASSKEYS_PER_USER} passkeys already (`details.limit`); delete one first.")),
            "429": shared("RateLimited"),
        }), true),
    })
}

fn finish_registration() -> Value {
    json!({
        "tags": ["Passkeys"],
        "operationId": "finishPasskeyRegistration",
        "summary": "Finish adding a passkey with the authenticator's answer",
        "description": "Spends the `registration_id` (whatever the outcome, except a body refused before it is read: a bad `name` or malformed JSON), has the credential checked (origin among `TOKEND_WEBAUTHN_ORIGINS`, RP ID hash, user verification, signature, challenge) and stores it under `name`. Writes the audit event `passkey.added`.",
        "security": token_security(),
        "requestBody": json_body("FinishPasskeyRegistration"),
        "responses": responses(json!({
            "201": ok("The new passkey.", schema("Passkey")),
            "400": error("`invalid_request` (`details.field`): `name` empty or too long; `registration_id` unknown, used, expired or another user's (start again); `credential` malformed (`details.field` names the member, e.g. `credential.id`), or refused by the ceremony checks (`details.field: credential`, `details.reason: invalid_passkey`: wrong origin or RP ID, no user verification, a bad signature, another challenge)."),
            "401": token_error(TOKEN_401),
            "403": error(USER_403),
            "404": off_404(""),
            "409": error("`passkey_already_registered`: this credential is registered already, to this user or another."),
        }), true),
    })
}

fn list() -> Value {
    json!({
        "tags": ["Passkeys"],
        "operationId": "listPasskeys",
        "summary": "List the caller's passkeys",
        "security": token_security(),
        "responses": responses(json!({
            "200": ok("The caller's passkeys, oldest first.", schema("PasskeyList")),
            "401": token_error(TOKEN_401),
            "403": error(USER_403),
            "404": off_404(""),
        }), false),
    })
}

fn remove() -> Value {
    json!({
        "tags": ["Passkeys"],
        "operationId": "deletePasskey",
        "summary": "Delete one of the caller's passkeys",
        "description": "At once, whatever the user's sign-in age; no password is asked. Writes the audit event `passkey.removed`. The credential stays on the user's devices: the platform's password manager removes it there.",
        "security": token_security(),
        "parameters": [id_parameter()],
        "responses": responses(json!({
            "204": empty("Deleted."),
            "401": token_error(TOKEN_401),
            "403": error(USER_403),
            "404": off_404("; or no such passkey of the caller: unknown, another user's, or `{id}` not a UUID"),
        }), false),
    })
}

fn sign_in_options() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "passkeySignInOptions",
        "summary": "Start a passwordless sign-in: request options for a discoverable passkey",
        "description": "No credentials and no body. The options name no user and no credential (`allowCredentials` is empty): the platform offers the passkeys it holds for the RP ID. The `challenge_id` works once, on any node, for `TOKEND_WEBAUTHN_CHALLENGE_TTL` seconds. Each call counts against the per-address sign-in budget (`TOKEND_SIGN_IN_PER_IP_PER_MINUTE`).",
        "responses": responses(json!({
            "200": ok("The challenge to answer at `POST /v1/auth/passkey/sign_in`.", schema("PasskeySignInStart")),
            "404": off_404(""),
            "429": shared("RateLimited"),
        }), false),
    })
}

fn sign_in() -> Value {
    json!({
        "tags": ["Sign-in"],
        "operationId": "passkeySignIn",
        "summary": "Sign in with a passkey, without a password",
        "description": "The assertion must answer the `challenge_id`'s options, come from one of `TOKEND_WEBAUTHN_ORIGINS`, carry user verification and the user handle, and be signed by a passkey the user still has, with a signature counter that moved forward (or stays 0 for authenticators without one). User verification stands in for the second factor: no MFA step follows, even for a user with TOTP. Answers exactly what a successful password sign-in answers. The `challenge_id` is spent whatever the outcome, unless the request is refused before (body, `device`, rate limit, `DPoP` proof). Each call counts against the per-address sign-in budget. A `DPoP` proof binds the session as at `POST /v1/auth/sign_in`; with `TOKEND_DPOP_REQUIRED` it is needed.",
        "parameters": [dpop_parameter()],
        "requestBody": json_body("PasskeySignInRequest"),
        "responses": responses(json!({
            "200": with_dpop_nonce(ok("Signed in.", schema("SignedIn"))),
            "400": with_dpop_nonce(error(&format!("`invalid_request` (`details.field`): malformed JSON, a missing, ill-typed or unknown field, a bad `device` field, or (with `TOKEND_REQUIRE_REGISTERED_CLIENTS`) a `device.client_id` that names no registered client. {DPOP_400}"))),
            "401": error("`invalid_passkey`: the `challenge_id` is unknown, used or expired, or the assertion is refused (unknown or deleted passkey, no user handle, wrong origin or RP ID, no user verification, a bad signature, a counter that did not move forward). One answer for all."),
            "403": error("`user_disabled`: the passkey was right but the user is disabled."),
            "404": off_404(""),
            "429": shared("RateLimited"),
        }), true),
    })
}

/// The request and response bodies of this family.
pub(super) fn schemas() -> Value {
    let b64url = |description: &str| json!({ "type": "string", "contentEncoding": "base64url", "description": description });
    json!({
        "StartPasskeyRegistration": {
            "type": "object",
            "additionalProperties": false,
            "description": "`{}` when the session's sign-in is recent.",
            "properties": {
                "password": { "type": "string", "description": format!("The user's password; needed when the session's sign-in is older than {} minutes.", RECENT_SIGN_IN_SECS / 60) },
            },
        },
        "PasskeyRegistrationStart": {
            "type": "object",
            "required": ["registration_id", "options"],
            "properties": {
                "registration_id": { "type": "string", "pattern": "^wrg_", "description": "Names this registration at `POST /v1/me/passkeys`; single use, valid for `TOKEND_WEBAUTHN_CHALLENGE_TTL` seconds." },
                "options": schema("PasskeyCreationOptions"),
            },
        },
        "PasskeyCreationOptions": {
            "type": "object",
            "description": "`CredentialCreationOptions` in the JSON form browsers take: binary members are base64url without padding. Give `publicKey` to `PublicKeyCredential.parseCreationOptionsFromJSON`, to Android's `CreatePublicKeyCredentialRequest` (as its `requestJson`), or read `challenge`, `user.id` and `rp.id` from it for AuthenticationServices.",
            "required": ["publicKey"],
            "properties": {
                "publicKey": {
                    "type": "object",
                    "description": "W3C `PublicKeyCredentialCreationOptionsJSON`.",
                    "required": ["rp", "user", "challenge", "pubKeyCredParams"],
                    "properties": {
                        "rp": {
                            "type": "object",
                            "required": ["id", "name"],
                            "properties": {
                                "id": { "type": "string", "description": "`TOKEND_WEBAUTHN_RP_ID`." },
                                "name": { "type": "string", "description": "`TOKEND_WEBAUTHN_RP_NAME`." },
                            },
                        },
                        "user": {
                            "type": "object",
                            "required": ["id", "name", "displayName"],
                            "properties": {
                                "id": b64url("The user handle: the 16 bytes of the user's uuid."),
                                "name": { "type": "string", "description": "The login." },
                                "displayName": { "type": "string", "description": "The login." },
                            },
                        },
                        "challenge": b64url("32 random bytes."),
                        "pubKeyCredParams": { "type": "array", "items": { "type": "object" }, "description": "ES256 (-7) and RS256 (-257)." },
                        "timeout": { "type": "integer", "description": "Milliseconds: `TOKEND_WEBAUTHN_CHALLENGE_TTL` x 1000." },
                        "excludeCredentials": { "type": "array", "items": { "type": "object" }, "description": "The user's passkeys, so an authenticator holding one declines." },
                        "authenticatorSelection": { "type": "object", "description": "`residentKey: preferred`, `userVerification: required`." },
                        "attestation": { "const": "none" },
                        "extensions": { "type": "object" },
                    },
                },
            },
        },
        "FinishPasskeyRegistration": {
            "type": "object",
            "additionalProperties": false,
            "required": ["registration_id", "name", "credential"],
            "properties": {
                "registration_id": { "type": "string", "description": "From `POST /v1/me/passkeys/registration`." },
                "name": { "type": "string", "minLength": 1, "maxLength": MAX_PASSKEY_NAME_CHARS, "description": format!("A name the user recognises (\"iPhone\", \"YubiKey\"): 1 to {MAX_PASSKEY_NAME_CHARS} characters once surrounding spaces are trimmed.") },
                "credential": schema("RegistrationCredential"),
            },
        },
        "RegistrationCredential": {
            "type": "object",
            "description": "The authenticator's answer in the W3C `PublicKeyCredential` JSON form (`RegistrationResponseJSON`): what `credential.toJSON()` gives in a browser and `registrationResponseJson` on Android. Other members (`authenticatorAttachment`, `response.publicKey`, …) are ignored.",
            "required": ["id", "rawId", "type", "response"],
            "properties": {
                "id": { "type": "string", "description": "The credential id, base64url." },
                "rawId": b64url("The credential id."),
                "type": { "const": "public-key" },
                "response": {
                    "type": "object",
                    "required": ["attestationObject", "clientDataJSON"],
                    "properties": {
                        "attestationObject": b64url("The CBOR attestation object."),
                        "clientDataJSON": b64url("The client data the authenticator signed."),
                        "transports": { "type": "array", "items": { "type": "string" } },
                    },
                },
                "clientExtensionResults": { "type": "object" },
            },
        },
        "PasskeyRequestOptions": {
            "type": "object",
            "description": "`CredentialRequestOptions` in the JSON form browsers take: binary members base64url without padding. Give `publicKey` to `PublicKeyCredential.parseRequestOptionsFromJSON`, to Android's `GetPublicKeyCredentialOption` (as its `requestJson`), or read `challenge` (and `allowCredentials`) from it for AuthenticationServices.",
            "required": ["publicKey"],
            "properties": {
                "publicKey": {
                    "type": "object",
                    "description": "W3C `PublicKeyCredentialRequestOptionsJSON`.",
                    "required": ["challenge", "rpId", "allowCredentials", "userVerification"],
                    "properties": {
                        "challenge": b64url("32 random bytes."),
                        "timeout": { "type": "integer", "description": "Milliseconds: `TOKEND_WEBAUTHN_CHALLENGE_TTL` x 1000." },
                        "rpId": { "type": "string", "description": "`TOKEND_WEBAUTHN_RP_ID`." },
                        "allowCredentials": { "type": "array", "items": { "type": "object" }, "description": "At `/v1/auth/mfa`: the user's passkeys. Passwordless: empty." },
                        "userVerification": { "const": "required" },
                        "extensions": { "type": "object" },
                    },
                },
            },
        },
        "AuthenticationCredential": {
            "type": "object",
            "description": "An assertion in the W3C `PublicKeyCredential` JSON form (`AuthenticationResponseJSON`): what `credential.toJSON()` gives in a browser and `authenticationResponseJson` on Android. Other members are ignored.",
            "required": ["id", "rawId", "type", "response"],
            "properties": {
                "id": { "type": "string", "description": "The credential id, base64url." },
                "rawId": b64url("The credential id."),
                "type": { "const": "public-key" },
                "response": {
                    "type": "object",
                    "required": ["authenticatorData", "clientDataJSON", "signature"],
                    "properties": {
                        "authenticatorData": b64url("The authenticator data."),
                        "clientDataJSON": b64url("The client data the authenticator signed."),
                        "signature": b64url("The signature."),
                        "userHandle": { "type": ["string", "null"], "contentEncoding": "base64url", "description": "The user handle the passkey was made with (the 16 bytes of the user's uuid); needed for a passwordless sign-in." },
                    },
                },
                "clientExtensionResults": { "type": "object" },
            },
        },
        "PasskeySignInStart": {
            "type": "object",
            "required": ["challenge_id", "options"],
            "properties": {
                "challenge_id": { "type": "string", "pattern": "^wpk_", "description": "Names this sign-in at `POST /v1/auth/passkey/sign_in`; single use, valid for `TOKEND_WEBAUTHN_CHALLENGE_TTL` seconds." },
                "options": schema("PasskeyRequestOptions"),
            },
        },
        "PasskeySignInRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["challenge_id", "credential", "device"],
            "properties": {
                "challenge_id": { "type": "string", "description": "From `POST /v1/auth/passkey/options`." },
                "credential": schema("AuthenticationCredential"),
                "device": schema("Device"),
            },
        },
        "Passkey": {
            "type": "object",
            "required": ["id", "name", "created_at", "last_used_at", "backed_up"],
            "properties": {
                "id": { "type": "string", "format": "uuid", "description": "For `DELETE /v1/me/passkeys/{id}`." },
                "name": { "type": "string" },
                "created_at": { "type": "string", "format": "date-time" },
                "last_used_at": { "type": ["string", "null"], "format": "date-time", "description": "The last sign-in with it (passwordless or as the second factor); null before the first." },
                "backed_up": { "type": "boolean", "description": "Whether the platform syncs it to the user's other devices (the authenticator's backup-state flag)." },
            },
        },
        "PasskeyList": {
            "type": "object",
            "required": ["passkeys"],
            "properties": {
                "passkeys": { "type": "array", "maxItems": MAX_PASSKEYS_PER_USER, "items": schema("Passkey"), "description": "Oldest first." },
            },
        },
    })
}
