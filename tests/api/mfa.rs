//! MFA (issue #3): enrolment, the mfa_token step, guessing bounds, replay, recovery codes,
//! disabling, secrets at rest. Codes come from an independent RFC 6238 implementation
//! ([`support`]), never from the server's own code; time moves with the manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod at_rest;
mod bounds;
mod recovery;
pub(crate) mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokend::clock::Clock;

use self::support::*;
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    enrol_and_confirm_with_independent_totp,
    enrol_needs_the_password,
    confirm_rejects_a_wrong_code,
    mfa_sign_in_finishes_like_a_plain_sign_in,
    mfa_token_is_single_use,
    disable_turns_mfa_off,
    mfa_token_is_useless_elsewhere,
    disabled_user_cannot_finish_mfa,
);

async fn enrol_and_confirm_with_independent_totp(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;

    let first = app.enrol_totp(&access).await;
    let secret = first["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32 without padding");
    assert_eq!(base32_decode(secret).len(), 20);
    let uri = first["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/tokend.test:ana%40example.com?"),
        "{uri}"
    );
    for part in [
        &format!("secret={secret}"),
        "issuer=tokend.test",
        "algorithm=SHA1",
        "digits=6",
        "period=30",
    ] {
        assert!(uri.contains(part), "{uri} lacks {part}");
    }

    // Pending: sign-in still needs no second factor.
    assert!(app.signed_in(&ana).await["refresh_token"].is_string());

    // A new enrolment replaces the pending secret: the old secret's code no longer confirms.
    let second = app.enrol_totp(&access).await;
    assert_ne!(second["secret"], first["secret"]);
    let old_key = base32_decode(secret);
    let key = base32_decode(second["secret"].as_str().unwrap());
    let r = app
        .post_bearer(
            "/v1/me/mfa/totp/confirm",
            &access,
            json!({"code": totp_at(&old_key, app.clock.now(), 6)}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

    let r = app
        .post_bearer(
            "/v1/me/mfa/totp/confirm",
            &access,
            json!({"code": totp_at(&key, app.clock.now(), 6)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);

    // On now: sign-in asks for the second factor; a confirmed secret is not replaced by enrol.
    app.mfa_token(&ana).await;
    let r = app
        .post_bearer("/v1/me/mfa/totp", &access, json!({"password": PASSWORD}))
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "mfa_already_enabled");
    let r = app
        .post_bearer(
            "/v1/me/mfa/totp/confirm",
            &access,
            json!({"code": totp_at(&key, app.clock.now(), 6)}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "mfa_already_enabled");
}

async fn enrol_needs_the_password(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    let r = app
        .post_bearer(
            "/v1/me/mfa/totp",
            &access,
            json!({"password": "not-the-password"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app
        .post("/v1/me/mfa/totp", json!({"password": PASSWORD}))
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.post_bearer("/v1/me/mfa/totp", &access, json!({})).await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["field"], "password");
    // Nothing was enrolled, so there is nothing to confirm.
    let r = app
        .post_bearer(
            "/v1/me/mfa/totp/confirm",
            &access,
            json!({"code": "123456"}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "mfa_not_pending");
}

async fn confirm_rejects_a_wrong_code(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    let key = base32_decode(app.enrol_totp(&access).await["secret"].as_str().unwrap());
    let right = totp_at(&key, app.clock.now(), 6);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for code in [wrong, "12345", "abcdef", ""] {
        let r = app
            .post_bearer("/v1/me/mfa/totp/confirm", &access, json!({"code": code}))
            .await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    // Still off.
    assert!(app.signed_in(&ana).await["refresh_token"].is_string());
    let r = app
        .post_bearer("/v1/me/mfa/totp/confirm", &access, json!({"code": right}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn mfa_sign_in_finishes_like_a_plain_sign_in(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    let r = app.mfa(&token, &ana.code(&app, 0)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert!(body["session_id"].is_string());
    assert_eq!(body["user"]["login"], "ana@example.com");
    assert_eq!(body["user"]["uuid"], ana.seeded.user.to_string());
    assert_eq!(body["accounts"][0]["uuid"], ana.seeded.account.to_string());
    assert_eq!(body["accounts"][0]["role"], "owner");

    let r = app
        .refresh(body["refresh_token"].as_str().unwrap(), ana.seeded.account)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    // The session belongs to the device that signed in.
    let list: Value = app
        .get_bearer("/v1/auth/sessions", t["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let current = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["id"], body["session_id"]);
    assert_eq!(current["device"]["name"], "Test phone");
    assert_eq!(current["device"]["platform"], "ios");

    // Malformed bodies get the envelope.
    let r = app.post("/v1/auth/mfa", json!({"mfa_token": token})).await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["field"], "code");
    // A code sent as a number is refused without being quoted back.
    let r = app
        .post("/v1/auth/mfa", json!({"mfa_token": token, "code": 987_654}))
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["field"], "code");
    assert!(!e.to_string().contains("987654"), "{e}");
}

async fn mfa_token_is_single_use(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    assert_eq!(
        app.mfa(&token, &ana.code(&app, 0)).await.status(),
        StatusCode::OK
    );
    app.clock.advance(30);
    assert_error(
        app.mfa(&token, &ana.code(&app, 0)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    assert_error(
        app.mfa(&token, &ana.recovery_codes[0]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    // It also dies of old age: 5 minutes.
    let token = app.mfa_token(&ana.seeded).await;
    app.clock.advance(301);
    assert_error(
        app.mfa(&token, &ana.code(&app, 0)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
}

async fn disable_turns_mfa_off(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let pending = app.mfa_token(&ana.seeded).await;
    let path = "/v1/me/mfa/totp";
    let r = app
        .delete_bearer(
            path,
            &ana.access,
            json!({"password": "not-the-password", "code": ana.code(&app, 0)}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app
        .delete_bearer(
            path,
            &ana.access,
            json!({"password": PASSWORD, "code": ana.code(&app, 90)}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    // Neither failure turned MFA off: sign-in still asks for the second factor.
    let still_on: Value = app
        .sign_in(&ana.seeded.login, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still_on["mfa_required"], true, "{still_on}");
    let r = app
        .delete_bearer(
            path,
            &ana.access,
            json!({"password": PASSWORD, "code": ana.code(&app, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Off: the pending mfa_token died with it, sign-in needs the password only.
    assert_error(
        app.mfa(&pending, &ana.recovery_codes[0]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    assert!(app.signed_in(&ana.seeded).await["refresh_token"].is_string());
    let r = app
        .delete_bearer(
            path,
            &ana.access,
            json!({"password": PASSWORD, "code": ana.code(&app, 0)}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "mfa_not_enabled");
    // And a new authenticator can be enrolled.
    let again = app.enrol_totp(&ana.access).await;
    assert_ne!(again["secret"], json!(ana.secret));
}

async fn mfa_token_is_useless_elsewhere(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let bob = app.enrolled("bob@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;

    let r = app.get_bearer("/v1/me", &token).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.refresh(&token, ana.seeded.account).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    // Bound to Ana: Bob's codes do nothing for it.
    assert_wrong_code(app.mfa(&token, &bob.code(&app, 0)).await, 4).await;
    assert_wrong_code(app.mfa(&token, &bob.recovery_codes[0]).await, 3).await;
    // And other tokens are not mfa_tokens.
    let rt = app
        .signed_in(&app.seed_user("cy@example.com", "viewer").await)
        .await;
    assert_error(
        app.mfa(rt["refresh_token"].as_str().unwrap(), "123456")
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    // None of this hurt the token itself.
    assert_eq!(
        app.mfa(&token, &ana.code(&app, 0)).await.status(),
        StatusCode::OK
    );
}

async fn disabled_user_cannot_finish_mfa(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    app.state
        .set_user_disabled("ana@example.com", true)
        .await
        .unwrap();
    assert_error(
        app.mfa(&token, &ana.code(&app, 0)).await,
        StatusCode::FORBIDDEN,
        "user_disabled",
    )
    .await;
}
