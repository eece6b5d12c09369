//! Service-token tests (issue #4): management, validation, allowlists, secrecy, usage records.
//! The helpers here are shared with `introspection.rs`.

mod access;
mod lifecycle;
mod network;
mod rate;
mod secrecy;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The default prefix and the length of a token after it (32 random + 6 checksum characters).
pub const PREFIX: &str = "tkd_live_";
pub const BODY_LEN: usize = 38;

/// An owner of a fresh account with an access token carrying every owner scope.
pub async fn owner(app: &TestApp, login: &str) -> (Seeded, String) {
    let seeded = app.seed_user(login, "owner").await;
    let (access, _) = app.access_token(&seeded).await;
    (seeded, access)
}

/// An access token down-scoped to `scope` (space-separated).
pub async fn scoped_access_token(app: &TestApp, seeded: &Seeded, scope: &str) -> String {
    let signed_in = app.signed_in(seeded).await;
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": signed_in["refresh_token"], "account_uuid": seeded.account,
                   "scope": scope}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// `POST /v1/service_tokens` with a user access token.
pub async fn post_token(app: &TestApp, access: &str, body: Value) -> Response {
    app.post_bearer("/v1/service_tokens", access, body).await
}

/// Creates a token, asserting 201; returns the body (with `token`).
pub async fn create_token(app: &TestApp, access: &str, body: Value) -> Value {
    let r = post_token(app, access, body).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    r.json().await.unwrap()
}

/// Creates a `photos:read` token named `name`; returns (id, token).
pub async fn simple_token(app: &TestApp, access: &str, name: &str) -> (String, String) {
    let body = create_token(
        app,
        access,
        json!({"name": name, "scopes": ["photos:read"]}),
    )
    .await;
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

pub async fn patch_token(app: &TestApp, access: &str, id: &str, body: Value) -> Response {
    app.client
        .patch(app.url(&format!("/v1/service_tokens/{id}")))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn delete_token(app: &TestApp, access: &str, id: &str) -> Response {
    app.client
        .delete(app.url(&format!("/v1/service_tokens/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

/// `GET /v1/me` with `X-API-Key`.
pub async fn me_with_api_key(app: &TestApp, token: &str) -> Response {
    app.client
        .get(app.url("/v1/me"))
        .header("X-API-Key", token)
        .send()
        .await
        .unwrap()
}

/// `GET /v1/me` as if from `ip` (the app must trust 127.0.0.1 as a proxy for this to count).
pub async fn me_from(app: &TestApp, token: &str, ip: &str) -> Response {
    app.client
        .get(app.url("/v1/me"))
        .bearer_auth(token)
        .header("X-Forwarded-For", ip)
        .send()
        .await
        .unwrap()
}

/// The token with one character of its random part changed, so the checksum no longer matches.
/// Asserts that `access`'s account cannot see, change or delete token `id` (404 each time),
/// and returns the list `access` does see.
pub async fn assert_token_out_of_reach(app: &TestApp, access: &str, id: &str) -> Value {
    let r = app
        .get_bearer(&format!("/v1/service_tokens/{id}"), access)
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    for active in [false, true] {
        let r = patch_token(app, access, id, json!({"active": active})).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = delete_token(app, access, id).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    app.get_bearer("/v1/service_tokens", access)
        .await
        .json()
        .await
        .unwrap()
}

pub fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = PREFIX.len() + 5;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// The `WWW-Authenticate` header of a response, if any.
pub fn challenge(r: &Response) -> Option<String> {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
}
