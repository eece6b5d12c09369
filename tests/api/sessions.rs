//! Sessions after sign-in: sign-out, RFC 7009 revocation, remote revoke, password change,
//! and the races and housekeeping around them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    sign_out_and_remote_session_revoke,
    password_change_revokes_other_sessions,
    rfc7009_revoke_accepts_form_and_json,
    session_paths_and_headers_edge_cases,
    sign_in_racing_a_password_change_leaves_no_session,
    dead_sessions_are_purged_after_retention,
    password_hash_is_upgraded_on_sign_in,
);

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
    let laptop: Value = app
        .post(
            "/v1/auth/sign_in",
            json!({"login": ana.login, "password": ana.password, "device": {"name": "Laptop", "platform": "macos", "app_version": "1.2.3"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let list: Value = app
        .get_bearer("/v1/auth/sessions", &phone_access)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"]["name"], "Test phone");
    let listed_laptop = sessions
        .iter()
        .find(|s| s["id"] == laptop["session_id"])
        .unwrap();
    assert_eq!(listed_laptop["current"], false);
    assert_eq!(
        listed_laptop["device"],
        json!({"name": "Laptop", "platform": "macos", "app_version": "1.2.3"})
    );
    assert_eq!(listed_laptop["last_ip"], "127.0.0.1");
    let created = listed_laptop["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
        "{created}"
    );
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
    // Nothing changed so far: the old password still works and the other session is alive.
    app.signed_in(&ana).await;
    let other_rt = app
        .refresh(other["refresh_token"].as_str().unwrap(), ana.account)
        .await;
    assert_eq!(other_rt.status(), StatusCode::OK);
    let other: Value = other_rt.json().await.unwrap();

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
        dpop_jkt: None,
    };
    // A sign-in that verified an old hash cannot create a session once the hash moved on.
    let stale = session(uuid::Uuid::now_v7());
    assert!(!app
        .state
        .store
        .create_session(&stale, "$argon2id$stale", &[])
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
        .create_session(&fresh, &user.password_hash, &[])
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
        .create_session(&late, &user.password_hash, &[])
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
    app.clock
        .advance(tokend::domain::upkeep::DEAD_SESSION_RETENTION + 1);
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
    app.state.store.create_user(&user, &[]).await.unwrap();
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
