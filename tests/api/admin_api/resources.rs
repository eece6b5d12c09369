//! The admin resources: users (create with and without a password, list with filters and
//! pagination, disable, delete leaving nothing that names the login), accounts (refused delete
//! with service tokens), memberships, sessions and MFA removal.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{admin, admin_key};
use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{owner, simple_token};

both_backends!(
    users_accounts_and_memberships,
    pagination_is_stable_under_inserts,
    deleting_a_user_leaves_nothing_that_names_them,
    bad_admin_requests_change_nothing
);

async fn users_accounts_and_memberships(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "backend").await;
    let r = admin(
        &app,
        &key,
        Method::POST,
        "/v1/admin/users",
        Some(json!({"login": "Nora@Example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let nora: Value = r.json().await.unwrap();
    assert_eq!(nora["login"], "nora@example.com");
    assert_eq!(nora["disabled"], false);
    assert_eq!(nora["mfa_enabled"], false);
    let nora_id = nora["uuid"].as_str().unwrap().to_string();
    // Without a password: no password signs them in, not even an empty one.
    let r = admin(
        &app,
        &key,
        Method::POST,
        "/v1/admin/users",
        Some(json!({"login": "nopass@example.com"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_error(
        app.sign_in("nopass@example.com", "!").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        app.sign_in("nopass@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    let r = admin(
        &app,
        &key,
        Method::POST,
        "/v1/admin/accounts",
        Some(json!({"name": "Studio"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.unwrap();
    let acct = account["uuid"].as_str().unwrap().to_string();
    let r = admin(
        &app,
        &key,
        Method::PUT,
        &format!("/v1/admin/accounts/{acct}/members/{nora_id}"),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let members: Value = admin(
        &app,
        &key,
        Method::GET,
        &format!("/v1/admin/accounts/{acct}/members"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        members["items"],
        json!([{"user_uuid": nora_id, "login": "nora@example.com", "role": "owner"}])
    );
    let memberships: Value = admin(
        &app,
        &key,
        Method::GET,
        &format!("/v1/admin/users/{nora_id}/memberships"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        memberships["items"],
        json!([{"account_uuid": acct, "role": "owner"}])
    );
    let r = admin(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/admin/accounts/{acct}"),
        Some(json!({"name": "Studio Nora"})),
    )
    .await;
    let renamed: Value = r.json().await.unwrap();
    assert_eq!(renamed["name"], "Studio Nora");

    // Nora signs in; the admin sees the session, revokes it, and her refresh stops.
    let body = app
        .signed_in(&Seeded {
            login: "nora@example.com".into(),
            password: PASSWORD.into(),
            user: uuid::Uuid::parse_str(&nora_id).unwrap(),
            account: uuid::Uuid::parse_str(&acct).unwrap(),
        })
        .await;
    let sessions: Value = admin(
        &app,
        &key,
        Method::GET,
        &format!("/v1/admin/users/{nora_id}/sessions"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
    let sid = sessions["items"][0]["id"].as_str().unwrap();
    let r = admin(
        &app,
        &key,
        Method::DELETE,
        &format!("/v1/admin/users/{nora_id}/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_refresh_fails(
        body["refresh_token"].as_str().unwrap(),
        uuid::Uuid::parse_str(&acct).unwrap(),
        "invalid_refresh_token",
    )
    .await;

    // Disable revokes everything and refuses sign-in; enable lets her back.
    let token = app
        .first_refresh_token(&Seeded {
            login: "nora@example.com".into(),
            password: PASSWORD.into(),
            user: uuid::Uuid::nil(),
            account: uuid::Uuid::nil(),
        })
        .await;
    let r = admin(
        &app,
        &key,
        Method::POST,
        &format!("/v1/admin/users/{nora_id}/disable"),
        None,
    )
    .await;
    let disabled: Value = r.json().await.unwrap();
    assert_eq!(disabled["disabled"], true);
    app.assert_refresh_fails(
        &token,
        uuid::Uuid::parse_str(&acct).unwrap(),
        "invalid_refresh_token",
    )
    .await;
    let listed: Value = admin(
        &app,
        &key,
        Method::GET,
        "/v1/admin/users?disabled=true",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let r = admin(
        &app,
        &key,
        Method::POST,
        &format!("/v1/admin/users/{nora_id}/enable"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.sign_in("nora@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );

    // An account with service tokens is not deleted unless forced, which deletes them too.
    let (svc_owner, access) = owner(&app, "svc@example.com").await;
    let (_, service) = simple_token(&app, &access, "worker").await;
    let path = format!("/v1/admin/accounts/{}", svc_owner.account);
    let tokens: Value = admin(
        &app,
        &key,
        Method::GET,
        &format!("{path}/service_tokens"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tokens["items"].as_array().unwrap().len(), 1);
    assert!(
        tokens["items"][0].get("token").is_none(),
        "never the secret"
    );
    let r = admin(&app, &key, Method::DELETE, &path, None).await;
    assert_error(r, StatusCode::CONFLICT, "account_has_service_tokens").await;
    assert_eq!(
        crate::service_tokens::me_with_api_key(&app, &service)
            .await
            .status(),
        StatusCode::OK
    );
    let r = admin(
        &app,
        &key,
        Method::DELETE,
        &format!("{path}?force=true"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        crate::service_tokens::me_with_api_key(&app, &service)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = admin(&app, &key, Method::GET, &path, None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

async fn pagination_is_stable_under_inserts(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "pager").await;
    for i in 0..5 {
        app.state
            .add_user(
                &format!("page{i}@example.com"),
                &tokend::crypto::password::Password::new(PASSWORD),
            )
            .await
            .unwrap();
        app.clock.advance(1);
    }
    let first: Value = admin(
        &app,
        &key,
        Method::GET,
        "/v1/admin/users?limit=2&login_prefix=page",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    // Inserted between pages: it lands after what is already listed, so nothing repeats or
    // goes missing.
    app.state
        .add_user(
            "page9@example.com",
            &tokend::crypto::password::Password::new(PASSWORD),
        )
        .await
        .unwrap();
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    let mut cursor = Some(cursor);
    while let Some(c) = cursor {
        let page: Value = admin(
            &app,
            &key,
            Method::GET,
            &format!("/v1/admin/users?limit=2&login_prefix=page&cursor={c}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["login"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(
        seen,
        [
            "page0@example.com",
            "page1@example.com",
            "page2@example.com",
            "page3@example.com",
            "page4@example.com",
            "page9@example.com"
        ]
    );
    // The prefix matches literally: `%` and `_` are not wildcards.
    let none: Value = admin(
        &app,
        &key,
        Method::GET,
        "/v1/admin/users?login_prefix=%25",
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(none["items"], json!([]));
}

async fn deleting_a_user_leaves_nothing_that_names_them(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "gdpr").await;
    // Not `seed_user`: its account is named after the login, and accounts are not the user's.
    let user = app
        .state
        .add_user(
            "forget.me@example.com",
            &tokend::crypto::password::Password::new(PASSWORD),
        )
        .await
        .unwrap();
    let account = app.state.add_account("Neutral Inc").await.unwrap();
    app.state
        .add_member("forget.me@example.com", account, "owner")
        .await
        .unwrap();
    let seeded = Seeded {
        login: "forget.me@example.com".into(),
        password: PASSWORD.into(),
        user,
        account,
    };
    app.signed_in(&seeded).await;
    assert_eq!(
        app.sign_in("forget.me@example.com", "wrong-password-1")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = admin(
        &app,
        &key,
        Method::POST,
        &format!("/v1/admin/users/{}/password_reset", seeded.user),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = admin(
        &app,
        &key,
        Method::DELETE,
        &format!("/v1/admin/users/{}", seeded.user),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.sign_in("forget.me@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let r = admin(
        &app,
        &key,
        Method::DELETE,
        &format!("/v1/admin/users/{}", seeded.user),
        None,
    )
    .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // Every text column of every table: nothing names the login any more; audit rows keep the id.
    let db = app.env_value("TOKEND_DATABASE_URL");
    let found = dump_contains(b, &db, "forget.me").await;
    assert!(found.is_empty(), "rows still name the login: {found:?}");
    assert!(
        !dump_contains(b, &db, &seeded.user.to_string())
            .await
            .is_empty(),
        "audit rows keep the id"
    );
}

async fn bad_admin_requests_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "strict").await;
    let seeded = app.seed_user("keep@example.com", "owner").await;
    for (method, path, body, field) in [
        (
            Method::POST,
            "/v1/admin/users".to_string(),
            json!({"login": ""}),
            Some("login"),
        ),
        (
            Method::POST,
            "/v1/admin/users".to_string(),
            json!({"login": "keep@example.com", "password": PASSWORD}),
            Some("login"),
        ),
        (
            Method::POST,
            "/v1/admin/users".to_string(),
            json!({"login": "weak@example.com", "password": "short"}),
            Some("password"),
        ),
        (
            Method::POST,
            "/v1/admin/users".to_string(),
            json!({"login": "x@example.com", "extra": 1}),
            None,
        ),
        (
            Method::POST,
            "/v1/admin/accounts".to_string(),
            json!({"name": " "}),
            Some("name"),
        ),
        (
            Method::PUT,
            format!(
                "/v1/admin/accounts/{}/members/{}",
                seeded.account, seeded.user
            ),
            json!({"role": "emperor"}),
            Some("role"),
        ),
    ] {
        let r = admin(&app, &key, method, &path, Some(body)).await;
        let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        if let Some(field) = field {
            assert_eq!(body["error"]["details"]["field"], field, "{body}");
        }
    }
    for q in ["limit=0", "limit=201", "cursor=garbage", "disabled=perhaps"] {
        let r = admin(
            &app,
            &key,
            Method::GET,
            &format!("/v1/admin/users?{q}"),
            None,
        )
        .await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let users: Value = admin(&app, &key, Method::GET, "/v1/admin/users", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
    let members: Value = admin(
        &app,
        &key,
        Method::GET,
        &format!("/v1/admin/accounts/{}/members", seeded.account),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        members["items"][0]["role"], "owner",
        "the role is unchanged"
    );
}

/// The tables and text columns that contain `needle`, read straight from the database.
async fn dump_contains(b: Backend, url: &str, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let tables: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'").fetch_all(&pool).await.unwrap();
            for (table,) in tables {
                let cols: Vec<(i64, String, String, i64, Option<String>, i64)> =
                    sqlx::query_as(&format!("PRAGMA table_info({table})"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                for (_, col, _, _, _, _) in cols {
                    let (n,): (i64,) = sqlx::query_as(&format!(
                        "SELECT COUNT(*) FROM {table} WHERE CAST({col} AS TEXT) LIKE $1"
                    ))
                    .bind(format!("%{needle}%"))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    if n > 0 {
                        hits.push(format!("{table}.{col}"));
                    }
                }
            }
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let cols: Vec<(String, String)> = sqlx::query_as("SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'").fetch_all(&pool).await.unwrap();
            for (table, col) in cols {
                let (n,): (i64,) = sqlx::query_as(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE CAST({col} AS TEXT) LIKE $1"
                ))
                .bind(format!("%{needle}%"))
                .fetch_one(&pool)
                .await
                .unwrap();
                if n > 0 {
                    hits.push(format!("{table}.{col}"));
                }
            }
        }
    }
    hits
}
