//! The user flow: sign-in, token, /v1/me, login normalisation, scope narrowing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    sign_in_then_token_then_me,
    wrong_password_and_unknown_login_look_the_same,
    scope_subset_and_escalation,
    login_is_normalised,
);

async fn sign_in_then_token_then_me(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let r = app.sign_in("ana@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    assert_eq!(body["user"]["login"], "ana@example.com");
    assert_eq!(body["user"]["uuid"], ana.user.to_string());
    assert_eq!(body["accounts"][0]["uuid"], ana.account.to_string());
    assert_eq!(body["accounts"][0]["role"], "owner");
    assert!(body["accounts"][0]["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("tokens:manage")));
    assert!(body.get("mfa_required").is_none());

    let r = app
        .refresh(body["refresh_token"].as_str().unwrap(), ana.account)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert_eq!(t["account_uuid"], ana.account.to_string());
    assert_ne!(t["refresh_token"], body["refresh_token"]);
    let access = t["access_token"].as_str().unwrap();

    let me: Value = app.get_bearer("/v1/me", access).await.json().await.unwrap();
    assert_eq!(me["kind"], "user");
    assert_eq!(me["account_uuid"], ana.account.to_string());
    assert_eq!(me["user"]["login"], "ana@example.com");
    assert_eq!(me["session_id"], body["session_id"]);
    assert!(me["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("photos:read")));

    // X-API-Key works as well as Bearer.
    let r = app
        .client
        .get(app.url("/v1/me"))
        .header("X-API-Key", access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

async fn wrong_password_and_unknown_login_look_the_same(b: Backend) {
    let app = spawn_app(b).await;
    app.seed_user("ana@example.com", "owner").await;
    let wrong = app.sign_in("ana@example.com", "not-the-password").await;
    let unknown = app.sign_in("nobody@example.com", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let a: Value = wrong.json().await.unwrap();
    let b: Value = unknown.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["error"]["code"], "invalid_credentials");
}

async fn scope_subset_and_escalation(b: Backend) {
    let app = spawn_app(b).await;
    let vic = app.seed_user("vic@example.com", "viewer").await;
    let body = app.signed_in(&vic).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": rt, "account_uuid": vic.account, "scope": "photos:write"}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    assert_eq!(e["error"]["details"]["scope"], "photos:write");
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": rt, "account_uuid": vic.account, "scope": "made:up"}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // An ill-typed scope or account is a 400 naming the field, and spends nothing either.
    for (body, field) in [
        (
            json!({"refresh_token": rt, "account_uuid": vic.account, "scope": 5}),
            "scope",
        ),
        (
            json!({"refresh_token": rt, "account_uuid": 7}),
            "account_uuid",
        ),
    ] {
        let e = assert_error(
            app.post("/v1/auth/token", body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(e["error"]["details"]["field"], field);
    }
    // Neither failure spent the token; a subset works.
    let r = app
        .post("/v1/auth/token", json!({"refresh_token": rt, "account_uuid": vic.account, "scope": "tags:read photos:read"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "photos:read tags:read");
    let me: Value = app
        .get_bearer("/v1/me", t["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["scopes"], json!(["photos:read", "tags:read"]));
}

async fn login_is_normalised(b: Backend) {
    let app = spawn_app(b).await;
    app.seed_user("Ana@Example.com", "owner").await;
    let r = app.sign_in("  ANA@example.COM ", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["login"], "ana@example.com");
}
