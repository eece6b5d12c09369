//! The user flow: sign-in, token, sessions, password change, disable, memberships.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    sign_in_then_token_then_me,
    wrong_password_and_unknown_login_look_the_same,
    disabled_user_gets_403_only_after_correct_password_and_loses_sessions,
    non_member_and_removed_membership_get_403,
    scope_subset_and_escalation,
    sign_out_and_remote_session_revoke,
    password_change_revokes_other_sessions,
    login_is_normalised,
    rfc7009_revoke_accepts_form_and_json,
    session_paths_and_headers_edge_cases,
    sign_in_racing_a_password_change_leaves_no_session,
    dead_sessions_are_purged_after_retention,
    admin_commands_name_what_is_missing,
    password_hash_is_upgraded_on_sign_in,
);

async fn sign_in_then_token_then_me(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let r = app.sign_in("ana@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
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

async fn disabled_user_gets_403_only_after_correct_password_and_loses_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, refresh) = app.access_token(&ana).await;
    app.state
        .set_user_disabled("ana@example.com", true)
        .await
        .unwrap();

    assert_error(
        app.sign_in("ana@example.com", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        app.sign_in("ana@example.com", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "user_disabled",
    )
    .await;
    app.assert_refresh_fails(&refresh, ana.account, "invalid_refresh_token")
        .await;
    assert_error(
        app.get_bearer("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Enabling again does not resurrect the old sessions, but allows signing in.
    app.state
        .set_user_disabled("ana@example.com", false)
        .await
        .unwrap();
    app.assert_refresh_fails(&refresh, ana.account, "invalid_refresh_token")
        .await;
    app.signed_in(&ana).await;
}

async fn non_member_and_removed_membership_get_403(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let bob = app.seed_user("bob@example.com", "viewer").await;
    let body = app.signed_in(&ana).await;
    let rt = body["refresh_token"].as_str().unwrap();
    app.assert_refresh_fails(rt, bob.account, "account_access_denied")
        .await;
    // The 403 did not spend the token.
    let r = app.refresh(rt, ana.account).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next: Value = r.json().await.unwrap();

    app.state
        .remove_member("ana@example.com", ana.account)
        .await
        .unwrap();
    app.assert_refresh_fails(
        next["refresh_token"].as_str().unwrap(),
        ana.account,
        "account_access_denied",
    )
    .await;
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

async fn sign_out_and_remote_session_revoke(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let first = app.signed_in(&ana).await;
    let r = app
        .post(
            "/v1/auth/sign_out",
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_refresh_fails(
        first["refresh_token"].as_str().unwrap(),
        ana.account,
        "invalid_refresh_token",
    )
    .await;
    // Unknown and already revoked tokens also give 204.
    let r = app
        .post("/v1/auth/sign_out", json!({"refresh_token": "rt_nonsense"}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .post(
            "/v1/auth/sign_out",
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Two devices; the phone lists both and revokes the laptop.
    let (phone_access, _) = app.access_token(&ana).await;
    let laptop = app.signed_in(&ana).await;
    let list: Value = app
        .get_bearer("/v1/auth/sessions", &phone_access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["device"]["name"], "Test phone");
    let laptop_id = laptop["session_id"].as_str().unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/v1/auth/sessions/{laptop_id}")))
        .bearer_auth(&phone_access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_refresh_fails(
        laptop["refresh_token"].as_str().unwrap(),
        ana.account,
        "invalid_refresh_token",
    )
    .await;

    // Another user's session is "not found", and stays alive.
    let bob = app.seed_user("bob@example.com", "owner").await;
    let bobs = app.signed_in(&bob).await;
    let r = app
        .client
        .delete(app.url(&format!(
            "/v1/auth/sessions/{}",
            bobs["session_id"].as_str().unwrap()
        )))
        .bearer_auth(&phone_access)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.refresh(bobs["refresh_token"].as_str().unwrap(), bob.account)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn password_change_revokes_other_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, current_refresh) = app.access_token(&ana).await;
    let other = app.signed_in(&ana).await;

    let r = app
        .post_bearer(
            "/v1/me/password",
            &access,
            json!({"current_password": "wrong-one!", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = app
        .post_bearer(
            "/v1/me/password",
            &access,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "too_short");
    let r = app
        .post_bearer(
            "/v1/me/password",
            &access,
            json!({"current_password": PASSWORD, "new_password": "password123"}),
        )
        .await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["reason"], "too_common");
    // Nothing changed so far: the old password still works.
    app.signed_in(&ana).await;

    let r = app
        .post_bearer(
            "/v1/me/password",
            &access,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_refresh_fails(
        other["refresh_token"].as_str().unwrap(),
        ana.account,
        "invalid_refresh_token",
    )
    .await;
    assert_eq!(
        app.refresh(&current_refresh, ana.account).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.sign_in("ana@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.sign_in("ana@example.com", "a brand new passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

async fn login_is_normalised(b: Backend) {
    let app = spawn_app(b).await;
    app.seed_user("Ana@Example.com", "owner").await;
    let r = app.sign_in("  ANA@example.COM ", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["login"], "ana@example.com");
}

async fn rfc7009_revoke_accepts_form_and_json(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let one = app.signed_in(&ana).await;
    let two = app.signed_in(&ana).await;
    let r = app
        .client
        .post(app.url("/v1/revoke"))
        .form(&[("token", one["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .post("/v1/revoke", json!({"token": two["refresh_token"]}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for s in [&one, &two] {
        app.assert_refresh_fails(
            s["refresh_token"].as_str().unwrap(),
            ana.account,
            "invalid_refresh_token",
        )
        .await;
    }
    // Unknown tokens: 200 as RFC 7009 section 2.2 requires; a missing token is a 400.
    let r = app.post("/v1/revoke", json!({"token": "whatever"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.post("/v1/revoke", json!({})).await;
    let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(e["error"]["details"]["field"], "token");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tokend_events_total{event=\"session_started\"} 2"),
        "{metrics}"
    );
}

async fn password_hash_is_upgraded_on_sign_in(b: Backend) {
    use tokend::config::Argon2Params;
    use tokend::crypto::password::{Password, PasswordHasher};
    use tokend::storage::UserRecord;
    let app = spawn_app(b).await; // m_cost 256
    let old = PasswordHasher::new(
        &Argon2Params {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        },
        1,
    )
    .unwrap();
    let hash = old.hash(&Password::new(PASSWORD)).await.unwrap();
    let id = uuid::Uuid::now_v7();
    let user = UserRecord {
        id,
        login: "old@example.com".into(),
        password_hash: hash,
        disabled: false,
        created_at: 0,
    };
    app.state.store.create_user(&user).await.unwrap();
    assert_eq!(
        app.sign_in("old@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let stored = app
        .state
        .store
        .user_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        stored.starts_with("$argon2id$v=19$m=256,t=1,p=1$"),
        "{stored}"
    );
    // And the upgraded hash still verifies.
    assert_eq!(
        app.sign_in("old@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn session_paths_and_headers_edge_cases(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    for id in ["%FF", "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let r = app
            .client
            .delete(app.url(&format!("/v1/auth/sessions/{id}")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    // A proxy's Basic Authorization header does not hide the X-API-Key.
    let r = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .header("x-api-key", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn sign_in_racing_a_password_change_leaves_no_session(b: Backend) {
    use tokend::storage::SessionRecord;
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let user = app.state.store.user_by_id(ana.user).await.unwrap().unwrap();
    let session = |id| SessionRecord {
        id,
        user_id: ana.user,
        device_name: "phone".into(),
        device_platform: None,
        device_app_version: None,
        client_id: None,
        generation: 0,
        rotated_at: 0,
        created_at: 0,
        last_used_at: 0,
        last_ip: None,
        revoked_at: None,
        revoked_reason: None,
    };
    // A sign-in that verified an old hash cannot create a session once the hash moved on.
    let stale = session(uuid::Uuid::now_v7());
    assert!(!app
        .state
        .store
        .create_session(&stale, "$argon2id$stale")
        .await
        .unwrap());
    assert!(app
        .state
        .store
        .session_by_id(stale.id)
        .await
        .unwrap()
        .is_none());
    let fresh = session(uuid::Uuid::now_v7());
    assert!(app
        .state
        .store
        .create_session(&fresh, &user.password_hash)
        .await
        .unwrap());
    // Nor once the user is disabled.
    app.state
        .set_user_disabled("ana@example.com", true)
        .await
        .unwrap();
    let late = session(uuid::Uuid::now_v7());
    assert!(!app
        .state
        .store
        .create_session(&late, &user.password_hash)
        .await
        .unwrap());
}

async fn dead_sessions_are_purged_after_retention(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let dead = app.signed_in(&ana).await;
    let live = app.signed_in(&ana).await;
    let dead_id: uuid::Uuid = dead["session_id"].as_str().unwrap().parse().unwrap();
    let live_id: uuid::Uuid = live["session_id"].as_str().unwrap().parse().unwrap();
    app.post(
        "/v1/auth/sign_out",
        json!({"refresh_token": dead["refresh_token"]}),
    )
    .await;
    app.state.purge_dead_records().await;
    assert!(
        app.state
            .store
            .session_by_id(dead_id)
            .await
            .unwrap()
            .is_some(),
        "kept during retention"
    );
    app.clock.advance(tokend::app::DEAD_SESSION_RETENTION + 1);
    // Keep the live one in use.
    let t = app
        .refresh(live["refresh_token"].as_str().unwrap(), ana.account)
        .await;
    assert_eq!(t.status(), StatusCode::OK);
    app.state.purge_dead_records().await;
    assert!(
        app.state
            .store
            .session_by_id(dead_id)
            .await
            .unwrap()
            .is_none(),
        "purged"
    );
    assert!(
        app.state
            .store
            .session_by_id(live_id)
            .await
            .unwrap()
            .is_some(),
        "live session untouched"
    );
}

async fn admin_commands_name_what_is_missing(b: Backend) {
    use tokend::error::Error;
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "viewer").await;
    let field_of = |r: Result<(), Error>| match r {
        Err(Error::InvalidRequest { field, message, .. }) => (field.unwrap(), message),
        other => panic!("unexpected {other:?}"),
    };
    let (field, message) = field_of(
        app.state
            .add_member("nobody@example.com", ana.account, "owner")
            .await,
    );
    assert_eq!(field, "login");
    assert!(message.contains("nobody@example.com"));
    let (field, _) = field_of(
        app.state
            .add_member("ana@example.com", uuid::Uuid::new_v4(), "owner")
            .await,
    );
    assert_eq!(field, "account_uuid");
    let (field, message) = field_of(
        app.state
            .add_member("ana@example.com", ana.account, "boss")
            .await,
    );
    assert_eq!(field, "role");
    assert!(message.contains("viewer"));
    let other = app.state.add_account("Elsewhere").await.unwrap();
    let (field, _) = field_of(app.state.remove_member("ana@example.com", other).await);
    assert_eq!(field, "account_uuid");
    // A role change applies from the next refresh.
    let rt = app.first_refresh_token(&ana).await;
    app.state
        .add_member("ana@example.com", ana.account, "admin")
        .await
        .unwrap();
    let t: Value = app.refresh(&rt, ana.account).await.json().await.unwrap();
    assert!(
        t["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "photos:delete"),
        "{t}"
    );
    // Duplicate logins are refused whatever their case.
    assert!(app
        .state
        .add_user(
            "ANA@example.com",
            &tokend::crypto::password::Password::new(PASSWORD)
        )
        .await
        .is_err());
}
