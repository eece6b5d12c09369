//! Create, show once, list/get, /v1/me, expiry, deactivate/reactivate, immutable fields, delete,
//! the per-account cap and the audit trail.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokend::clock::{rfc3339, Clock};
use tokend::crypto::service_token::check_format;

use super::*;
use crate::both_backends;

both_backends!(
    create_shows_the_token_once,
    me_works_with_bearer_and_x_api_key,
    expired_tokens_get_token_expired,
    deactivate_then_reactivate,
    patch_cannot_change_scopes_or_limits,
    delete_takes_effect_on_the_next_request,
    eleventh_token_is_refused_until_one_is_deleted,
    cap_holds_under_parallel_creates,
    audit_trail_records_every_change,
);

async fn create_shows_the_token_once(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let expires = rfc3339(app.clock.now() + 86_400);
    let body = create_token(
        &app,
        &access,
        json!({"name": "CI Pipeline", "scopes": ["tags:read", "photos:read", "photos:read"],
               "expires_at": expires, "allowed_ips": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"],
               "max_request_bytes": 4096}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with(PREFIX), "{token}");
    assert_eq!(token.len(), PREFIX.len() + BODY_LEN);
    assert!(token[PREFIX.len()..]
        .bytes()
        .all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(check_format("tkd_live", token), Ok(()));
    let id = body["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(body["name"], "CI Pipeline");
    assert_eq!(body["scopes"], json!(["photos:read", "tags:read"]));
    assert_eq!(body["expires_at"], expires);
    assert_eq!(
        body["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"])
    );
    assert_eq!(body["max_request_bytes"], 4096);
    assert_eq!(body["active"], true);
    assert_eq!(body["created_at"], rfc3339(app.clock.now()));
    assert_eq!(body["last_used_at"], Value::Null);
    assert_eq!(body["last_used_ip"], Value::Null);

    // Never again: neither the list nor the single view carries it, in any field.
    let r = app.get_bearer("/v1/service_tokens", &access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(token) && !text.contains(&token[PREFIX.len()..]));
    let list: Value = serde_json::from_str(&text).unwrap();
    let listed = &list["service_tokens"].as_array().unwrap()[0];
    assert!(listed.get("token").is_none());
    assert_eq!(listed["id"], id);
    assert_eq!(listed["scopes"], body["scopes"]);

    let r = app
        .get_bearer(&format!("/v1/service_tokens/{id}"), &access)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(token));
    let one: Value = serde_json::from_str(&text).unwrap();
    assert!(one.get("token").is_none());
    assert_eq!(&one, listed);

    // Two tokens are never alike.
    let (_, other) = simple_token(&app, &access, "Second").await;
    assert_ne!(other, token);
}

async fn me_works_with_bearer_and_x_api_key(b: Backend) {
    let app = spawn_app(b).await;
    let (ana, access) = owner(&app, "ana@example.com").await;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Backup", "scopes": ["photos:read"], "max_request_bytes": 2048}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    for r in [
        app.get_bearer("/v1/me", token).await,
        me_with_api_key(&app, token).await,
    ] {
        assert_eq!(r.status(), StatusCode::OK);
        let me: Value = r.json().await.unwrap();
        assert_eq!(
            me,
            json!({"kind": "service", "account_uuid": ana.account, "scopes": ["photos:read"],
                   "expires_at": null,
                   "service_token": {"id": body["id"], "name": "Backup", "allowed_ips": [],
                                     "max_request_bytes": 2048}})
        );
    }
    // Unknown but well-formed, and garbage with the prefix: 401 with a Bearer challenge.
    let unknown = tokend::crypto::service_token::generate("tkd_live");
    let r = app.get_bearer("/v1/me", unknown.expose()).await;
    assert_eq!(
        challenge(&r).as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = me_with_api_key(&app, "tkd_live_nope").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn expired_tokens_get_token_expired(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let expires = app.clock.now() + 3600;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Short", "scopes": ["photos:read"], "expires_at": rfc3339(expires)}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    let me: Value = app.get_bearer("/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["expires_at"], rfc3339(expires));
    app.clock.advance(3599);
    assert_eq!(
        app.get_bearer("/v1/me", token).await.status(),
        StatusCode::OK
    );
    app.clock.advance(1);
    let r = app.get_bearer("/v1/me", token).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "token_expired").await;

    // Creating one that is already expired, or with a malformed time, is a 400 naming the field.
    let (_, access) = owner(&app, "bo@example.com").await;
    for bad in [rfc3339(app.clock.now()), "tomorrow".to_string()] {
        let r = post_token(
            &app,
            &access,
            json!({"name": "x", "scopes": ["photos:read"], "expires_at": bad}),
        )
        .await;
        let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(e["error"]["details"]["field"], "expires_at");
    }
    let list: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["service_tokens"], json!([]), "nothing was created");
}

async fn deactivate_then_reactivate(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Toggle").await;
    let r = patch_token(&app, &access, &id, json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["active"], false);
    assert!(view.get("token").is_none());

    let r = app.get_bearer("/v1/me", &token).await;
    let e = assert_error(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(e["error"]["details"]["reason"], "inactive");
    let r = me_with_api_key(&app, &token).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "token_revoked").await;

    let r = patch_token(&app, &access, &id, json!({"active": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.get_bearer("/v1/me", &token).await.status(),
        StatusCode::OK
    );
}

async fn patch_cannot_change_scopes_or_limits(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Fixed").await;
    for (field, value) in [
        ("scopes", json!(["photos:read", "photos:delete"])),
        ("allowed_ips", json!([])),
        ("max_request_bytes", json!(10)),
        ("expires_at", json!(null)),
    ] {
        let r = patch_token(
            &app,
            &access,
            &id,
            json!({ field: value, "name": "Renamed" }),
        )
        .await;
        let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(e["error"]["details"]["field"], field);
    }
    let r = patch_token(&app, &access, &id, json!({"token": "x"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = patch_token(&app, &access, &id, json!({"name": ""})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Nothing changed, not even the name sent alongside.
    let view: Value = app
        .get_bearer(&format!("/v1/service_tokens/{id}"), &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["scopes"], json!(["photos:read"]));
    assert_eq!(view["name"], "Fixed");
    let me: Value = app.get_bearer("/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["scopes"], json!(["photos:read"]));

    let r = patch_token(&app, &access, &id, json!({"name": "Renamed"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["name"], "Renamed");
    assert_eq!(view["scopes"], json!(["photos:read"]));
}

async fn delete_takes_effect_on_the_next_request(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Doomed").await;
    let (_, keep) = simple_token(&app, &access, "Kept").await;
    assert_eq!(
        app.get_bearer("/v1/me", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        delete_token(&app, &access, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = app.get_bearer("/v1/me", &token).await;
    let e = assert_error(r, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(e["error"]["details"]["reason"], "deleted");

    // Gone from management too; the other token is untouched.
    let list = assert_token_out_of_reach(&app, &access, &id).await;
    assert_eq!(list["service_tokens"].as_array().unwrap().len(), 1);
    assert_eq!(list["service_tokens"][0]["name"], "Kept");
    assert_eq!(
        app.get_bearer("/v1/me", &keep).await.status(),
        StatusCode::OK
    );
}

async fn eleventh_token_is_refused_until_one_is_deleted(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(simple_token(&app, &access, &format!("Token {i}")).await.0);
    }
    let r = post_token(
        &app,
        &access,
        json!({"name": "Eleventh", "scopes": ["photos:read"]}),
    )
    .await;
    let e = assert_error(r, StatusCode::CONFLICT, "token_limit_reached").await;
    assert_eq!(e["error"]["details"]["limit"], 10);

    // Deactivated tokens still count; deleted ones do not.
    let r = patch_token(&app, &access, &ids[0], json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_token(
        &app,
        &access,
        json!({"name": "Again", "scopes": ["photos:read"]}),
    )
    .await;
    assert_error(r, StatusCode::CONFLICT, "token_limit_reached").await;
    assert_eq!(
        delete_token(&app, &access, &ids[0]).await.status(),
        StatusCode::NO_CONTENT
    );
    simple_token(&app, &access, "Replacement").await;
    let r = post_token(
        &app,
        &access,
        json!({"name": "Twelfth", "scopes": ["photos:read"]}),
    )
    .await;
    assert_error(r, StatusCode::CONFLICT, "token_limit_reached").await;

    // The cap is per account: another account starts from zero.
    let (_, other) = owner(&app, "bo@example.com").await;
    simple_token(&app, &other, "Bo's first").await;
}

async fn cap_holds_under_parallel_creates(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_MAX_SERVICE_TOKENS", "3")]).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (client, url, access) = (
            app.client.clone(),
            app.url("/v1/service_tokens"),
            access.clone(),
        );
        set.spawn(async move {
            client
                .post(url)
                .bearer_auth(access)
                .json(&json!({"name": format!("Racer {i}"), "scopes": ["photos:read"]}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = set.join_all().await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (3, 9), "{statuses:?}");
    let list: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["service_tokens"].as_array().unwrap().len(), 3);
}

async fn audit_trail_records_every_change(b: Backend) {
    let app = spawn_app(b).await;
    let (ana, access) = owner(&app, "ana@example.com").await;
    let (id, _) = simple_token(&app, &access, "Audited").await;
    let steps = [
        json!({"name": "Audited twice"}),
        json!({"active": false}),
        json!({"active": false}), // no change: no row
        json!({"active": true}),
    ];
    for body in steps {
        app.clock.advance(1);
        let r = patch_token(&app, &access, &id, body).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.clock.advance(1);
    assert_eq!(
        delete_token(&app, &access, &id).await.status(),
        StatusCode::NO_CONTENT
    );

    let rows = app
        .state
        .store
        .service_token_audit_of(ana.account)
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "renamed", "deactivated", "activated", "deleted"]
    );
    for row in &rows {
        assert_eq!(row.token_id.to_string(), id);
        assert_eq!(row.account_id, ana.account);
        assert_eq!(row.actor_user_id, ana.user);
        assert_eq!(row.client_ip, "127.0.0.1");
    }
    assert!(rows.windows(2).all(|w| w[0].at <= w[1].at));
    let renamed: Value = serde_json::from_str(rows[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(renamed, json!({"from": "Audited", "to": "Audited twice"}));
    let created: Value = serde_json::from_str(rows[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(created["scopes"], json!(["photos:read"]));
}
