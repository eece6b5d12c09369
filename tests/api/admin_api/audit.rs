//! The security audit trail: a row per event kind with the right fields, read through the API;
//! a flood of rate-limited sign-ins writes at most a few rows.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{admin, admin_key};
use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{delete_token, owner, patch_token, simple_token};

both_backends!(
    every_security_event_is_audited,
    mfa_disable_and_exchange_events_are_audited,
    rate_limited_floods_write_few_rows
);

async fn rows(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = admin(
        app,
        key,
        Method::GET,
        &format!("/v1/admin/audit?limit=200&{query}"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

async fn every_security_event_is_audited(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "auditor").await;
    let (seeded, access) = owner(&app, "audited@example.com").await;
    let ua = "AuditTest/1.0";
    let sign_in = |password: &'static str, login: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/sign_in"))
                .header("user-agent", ua)
                .json(&json!({"login": login, "password": password, "device": {"name": "d"}}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        sign_in("wrong-password-1", "audited@example.com")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in("wrong-password-1", "nobody@example.com")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Reuse: spend a token twice, well after the grace window.
    let first = app.first_refresh_token(&seeded).await;
    assert_eq!(
        app.refresh(&first, seeded.account).await.status(),
        StatusCode::OK
    );
    app.clock.advance(60);
    assert_eq!(
        app.refresh(&first, seeded.account).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Password change, service-token create/change/delete.
    let (id, _) = simple_token(&app, &access, "audit me").await;
    assert_eq!(
        patch_token(&app, &access, &id, json!({"active": false}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        delete_token(&app, &access, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = app
        .post_bearer(
            "/v1/me/password",
            &access,
            json!({"current_password": PASSWORD, "new_password": "another-long-passphrase-9"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A reset by the admin.
    let r = admin(
        &app,
        &key,
        Method::POST,
        &format!("/v1/admin/users/{}/password_reset", seeded.user),
        None,
    )
    .await;
    let ticket: Value = r.json().await.unwrap();
    let r = app
        .post(
            "/v1/auth/password_reset",
            json!({"ticket": ticket["ticket"], "new_password": "reset-passphrase-number-1"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        sign_in("reset-passphrase-number-1", "audited@example.com")
            .await
            .status(),
        StatusCode::OK
    );

    let all = rows(&app, &key, "").await;
    let kinds: Vec<&str> = all.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for kind in [
        "sign_in.failed",
        "sign_in.succeeded",
        "refresh_token.reused",
        "session.revoked",
        "password.changed",
        "password.reset",
        "service_token.created",
        "service_token.changed",
        "service_token.deleted",
        "admin.password_reset_issued",
    ] {
        assert!(kinds.contains(&kind), "no {kind} row in {kinds:?}");
    }
    let wrong = all
        .iter()
        .find(|r| r["kind"] == "sign_in.failed" && r["details"]["reason"] == "wrong_password")
        .unwrap();
    assert_eq!(wrong["user_uuid"], seeded.user.to_string());
    assert_eq!(wrong["ip"], "127.0.0.1");
    assert_eq!(wrong["user_agent"], ua);
    let unknown = all
        .iter()
        .find(|r| r["details"]["reason"] == "unknown_login")
        .unwrap();
    assert!(unknown["user_uuid"].is_null());
    let ok = all
        .iter()
        .find(|r| r["kind"] == "sign_in.succeeded" && r["user_agent"] == ua)
        .unwrap();
    assert_eq!(ok["actor"], format!("user:{}", seeded.user));
    let created = all
        .iter()
        .find(|r| r["kind"] == "service_token.created")
        .unwrap();
    assert_eq!(created["account_uuid"], seeded.account.to_string());
    let reuse = all
        .iter()
        .find(|r| r["kind"] == "session.revoked" && r["details"]["by"] == "reuse")
        .unwrap();
    assert_eq!(reuse["user_uuid"], seeded.user.to_string());
    assert!(all
        .iter()
        .any(|r| r["kind"] == "session.revoked" && r["details"]["by"] == "password_change"));
    // Filters.
    let by_kind = rows(&app, &key, "kind=password.reset").await;
    assert_eq!(by_kind.len(), 1);
    let by_user = rows(&app, &key, &format!("user_uuid={}", seeded.user)).await;
    assert!(by_user
        .iter()
        .all(|r| r["user_uuid"] == seeded.user.to_string()));
    let later = rows(&app, &key, "since=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    // Never a secret or a login anywhere in the trail.
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        PASSWORD,
        "wrong-password-1",
        "reset-passphrase-number-1",
        "audited@example.com",
        ticket["ticket"].as_str().unwrap(),
        first.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} reached the audit trail");
    }
}

async fn rate_limited_floods_write_few_rows(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "3")]).await;
    let key = admin_key(&app, "flood").await;
    app.seed_user("flooded@example.com", "owner").await;
    let mut limited = 0;
    for _ in 0..200 {
        if app
            .sign_in("flooded@example.com", "wrong-password-1")
            .await
            .status()
            == StatusCode::TOO_MANY_REQUESTS
        {
            limited += 1;
        }
    }
    assert!(limited >= 190, "{limited}");
    let rows = rows(&app, &key, "kind=sign_in.failed").await;
    let rate_limited = rows
        .iter()
        .filter(|r| r["details"]["reason"] == "rate_limited")
        .count();
    assert!(
        (1..=2).contains(&rate_limited),
        "{rate_limited} rows for {limited} refusals"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("tokend_events_total{event=\"sign_in_rate_limited\"}"));
}

async fn mfa_disable_and_exchange_events_are_audited(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "auditor").await;
    // MFA: enrolled, a wrong code, a right one (a sign-in by password and MFA), removed by an admin.
    let enrolled = app.enrolled("mfa-audit@example.com").await;
    let user = enrolled.seeded.user;
    let token = app.mfa_token(&enrolled.seeded).await;
    assert_eq!(
        app.mfa(&token, "000000").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let code = enrolled.code(&app, 0);
    assert_eq!(app.mfa(&token, &code).await.status(), StatusCode::OK);
    let r = admin(
        &app,
        &key,
        Method::DELETE,
        &format!("/v1/admin/users/{user}/mfa"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Disabled by an admin: every session revoked with it; then a refused sign-in.
    let r = admin(
        &app,
        &key,
        Method::POST,
        &format!("/v1/admin/users/{user}/disable"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.sign_in("mfa-audit@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A service token exchanged for a JWT.
    let (_, access) = owner(&app, "exchanger@example.com").await;
    let (_, service) = simple_token(&app, &access, "exchanged").await;
    let (client, secret) = app.register_client(true, &[], &[]).await;
    let r = app
        .post_form(
            "/oauth2/token",
            Some((&client, secret.as_deref().unwrap())),
            &[
                ("grant_type", crate::oauth2::EXCHANGE),
                ("subject_token", &service),
                ("subject_token_type", crate::oauth2::SERVICE_TOKEN_TYPE),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let all = rows(&app, &key, "").await;
    let find = |kind: &str| {
        all.iter()
            .filter(|r| r["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(find("mfa.enrolled")[0]["user_uuid"], user.to_string());
    assert_eq!(find("mfa.failed")[0]["user_uuid"], user.to_string());
    assert_eq!(find("mfa.succeeded")[0]["user_uuid"], user.to_string());
    assert!(find("sign_in.succeeded")
        .iter()
        .any(|r| r["details"]["method"] == "password+mfa"));
    let removed = &find("mfa.removed")[0];
    assert_eq!(removed["actor"], "admin_key:auditor");
    assert_eq!(removed["details"]["by"], "admin");
    assert!(find("admin.user_disabled")
        .iter()
        .any(|r| r["user_uuid"] == user.to_string()));
    assert!(find("session.revoked")
        .iter()
        .any(|r| r["details"]["by"] == "disable"));
    assert!(find("sign_in.failed")
        .iter()
        .any(|r| r["details"]["reason"] == "user_disabled"));
    let exchanged = &find("service_token.exchanged")[0];
    assert_eq!(exchanged["actor"], format!("client:{client}"));

    // Retention: rows older than TOKEND_AUDIT_RETENTION_DAYS go, in batches.
    app.clock.advance(366 * 86_400);
    app.state.prune_audit().await;
    let left = rows(&app, &key, "").await;
    assert!(left.iter().all(|r| r["kind"] == "admin.read"), "{left:?}");
}
