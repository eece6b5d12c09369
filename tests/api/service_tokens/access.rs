//! Who may manage tokens, and what they may grant: `tokens:manage`, no escalation, users only,
//! one account only, and field validation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;

both_backends!(
    members_and_admins_without_tokens_manage_get_403,
    escalation_is_refused,
    service_tokens_cannot_manage_tokens,
    another_accounts_token_is_not_found,
    bad_fields_are_named,
);

async fn members_and_admins_without_tokens_manage_get_403(b: Backend) {
    let app = spawn_app(b).await;
    let (_, owner_access) = owner(&app, "owner@example.com").await;
    let (id, _) = simple_token(&app, &owner_access, "Owner's").await;
    for (login, role) in [("mia@example.com", "member"), ("al@example.com", "admin")] {
        let seeded = app.seed_user(login, role).await;
        let (access, _) = app.access_token(&seeded).await;
        let r = post_token(
            &app,
            &access,
            json!({"name": "x", "scopes": ["photos:read"]}),
        )
        .await;
        let e = assert_error(r, StatusCode::FORBIDDEN, "scope_required").await;
        assert_eq!(e["error"]["details"]["scope"], "tokens:manage");
        let r = app.get_bearer("/v1/service_tokens", &access).await;
        assert_error(r, StatusCode::FORBIDDEN, "scope_required").await;
        let r = delete_token(&app, &access, &id).await;
        assert_error(r, StatusCode::FORBIDDEN, "scope_required").await;
    }
    // An owner who down-scoped tokens:manage away cannot manage either.
    let seeded = app.seed_user("down@example.com", "owner").await;
    let access = scoped_access_token(&app, &seeded, "photos:read").await;
    let r = app.get_bearer("/v1/service_tokens", &access).await;
    let e = assert_error(r, StatusCode::FORBIDDEN, "scope_required").await;
    assert_eq!(e["error"]["details"]["scope"], "tokens:manage");
    // Without any token at all: 401.
    let r = app
        .client
        .get(app.url("/v1/service_tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge(&r).as_deref(), Some("Bearer"));
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn escalation_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let access = scoped_access_token(&app, &ana, "photos:read tokens:manage").await;
    for scope in [
        "photos:write",  // the role has it, the down-scoped access token does not
        "photos:delete", // likewise
        "tokens:manage", // never grantable
        "made:up",       // not in the vocabulary
        "Photos:Read",   // not even a valid name
    ] {
        let r = post_token(
            &app,
            &access,
            json!({"name": "Greedy", "scopes": ["photos:read", scope]}),
        )
        .await;
        let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
        assert_eq!(e["error"]["details"]["scope"], scope, "{e}");
    }
    // Nothing was created by the refused attempts; what the caller holds is fine.
    let list: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["service_tokens"], json!([]));
    let body = create_token(
        &app,
        &access,
        json!({"name": "Fine", "scopes": ["photos:read"]}),
    )
    .await;
    assert_eq!(body["scopes"], json!(["photos:read"]));

    // A full owner token may grant every scope but tokens:manage.
    let (full, _) = app.access_token(&ana).await;
    let r = post_token(
        &app,
        &full,
        json!({"name": "All", "scopes": ["customer:read", "photos:read", "photos:write",
                                         "photos:delete", "tags:read", "tags:write"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post_token(
        &app,
        &full,
        json!({"name": "Manager", "scopes": ["tokens:manage"]}),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

async fn service_tokens_cannot_manage_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Integration").await;
    let attempts = [
        post_token(
            &app,
            &token,
            json!({"name": "x", "scopes": ["photos:read"]}),
        )
        .await,
        app.get_bearer("/v1/service_tokens", &token).await,
        app.get_bearer(&format!("/v1/service_tokens/{id}"), &token)
            .await,
        patch_token(&app, &token, &id, json!({"active": false})).await,
        delete_token(&app, &token, &id).await,
        app.client
            .get(app.url("/v1/service_tokens"))
            .header("X-API-Key", &token)
            .send()
            .await
            .unwrap(),
    ];
    for r in attempts {
        assert_error(r, StatusCode::FORBIDDEN, "user_token_required").await;
    }
    // Nor the other user-only endpoints.
    let r = app.get_bearer("/v1/auth/sessions", &token).await;
    assert_error(r, StatusCode::FORBIDDEN, "user_token_required").await;
    // The token itself is untouched.
    assert_eq!(
        app.get_bearer("/v1/me", &token).await.status(),
        StatusCode::OK
    );
}

async fn another_accounts_token_is_not_found(b: Backend) {
    let app = spawn_app(b).await;
    let (_, ana) = owner(&app, "ana@example.com").await;
    let (_, bo) = owner(&app, "bo@example.com").await;
    let (id, token) = simple_token(&app, &ana, "Ana's").await;
    let list = assert_token_out_of_reach(&app, &bo, &id).await;
    assert_eq!(list["service_tokens"], json!([]));
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "%FF"] {
        let r = app
            .get_bearer(&format!("/v1/service_tokens/{bad}"), &ana)
            .await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Ana's token still works and is still active.
    assert_eq!(
        app.get_bearer("/v1/me", &token).await.status(),
        StatusCode::OK
    );
    let view: Value = app
        .get_bearer(&format!("/v1/service_tokens/{id}"), &ana)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["active"], true);
}

async fn bad_fields_are_named(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let long = "n".repeat(101);
    for (body, field) in [
        (json!({"scopes": ["photos:read"]}), "name"),
        (json!({"name": "", "scopes": ["photos:read"]}), "name"),
        (json!({"name": long, "scopes": ["photos:read"]}), "name"),
        (json!({"name": "x"}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": "photos:read"}), "scopes"),
        (
            json!({"name": "x", "scopes": ["photos:read"], "max_request_bytes": 0}),
            "max_request_bytes",
        ),
        (
            json!({"name": "x", "scopes": ["photos:read"], "max_request_bytes": -5}),
            "max_request_bytes",
        ),
        (
            json!({"name": "x", "scopes": ["photos:read"], "allowed_ips": "10.0.0.0/8"}),
            "allowed_ips",
        ),
    ] {
        let r = post_token(&app, &access, body.clone()).await;
        let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(e["error"]["details"]["field"], field, "{body}: {e}");
    }
    // Unknown fields are refused too (`active` is only for PATCH).
    let r = post_token(
        &app,
        &access,
        json!({"name": "x", "scopes": ["photos:read"], "active": false}),
    )
    .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["field"], "active");
    let list: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["service_tokens"], json!([]));
    // A cap above the server's own body limit is capped to it.
    let body = create_token(
        &app,
        &access,
        json!({"name": "Big", "scopes": ["photos:read"], "max_request_bytes": 10_000_000_000u64}),
    )
    .await;
    assert_eq!(body["max_request_bytes"], 1024 * 1024);
}
