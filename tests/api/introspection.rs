//! `POST /v1/introspect` (RFC 7662) for resource servers: HTTP Basic credentials from
//! `tokend resource-server add`, both token kinds, and `{"active": false}` for anything invalid.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend::clock::Clock;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{
    challenge, create_token, delete_token, owner, patch_token, simple_token, tampered,
};

both_backends!(
    resource_server_cli_prints_working_credentials,
    introspection_needs_resource_server_credentials,
    introspects_access_tokens,
    introspects_service_tokens,
);

/// Credentials made through the domain (the CLI path is tested once, below).
async fn resource_server(app: &TestApp) -> (String, String) {
    let creds = app
        .state
        .add_resource_server("Photos API", None)
        .await
        .unwrap();
    (creds.client_id, creds.client_secret.expose().to_string())
}

async fn introspect_form(app: &TestApp, creds: Option<(&str, &str)>, token: &str) -> Response {
    let mut req = app
        .client
        .post(app.url("/v1/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"));
    if let Some((id, secret)) = creds {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

async fn introspect_json(app: &TestApp, (id, secret): (&str, &str), token: &str) -> Value {
    let r = app
        .client
        .post(app.url("/v1/introspect"))
        .basic_auth(id, Some(secret))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn assert_basic_challenge(r: Response) {
    assert_eq!(challenge(&r).as_deref(), Some("Basic realm=\"tokend\""));
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn resource_server_cli_prints_working_credentials(b: Backend) {
    let app = spawn_app(b).await;
    let env = base_settings(app.state.settings.database_url.expose(), app.dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["resource-server", "add", "Photos API"])
        .envs(env)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .to_string()
    };
    let (id, secret) = (line("client_id: "), line("client_secret: "));
    assert!(Uuid::parse_str(&id).is_ok(), "{stdout}");
    assert!(secret.len() >= 40, "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains(&secret),
        "the secret is printed once, to stdout only"
    );

    let r = introspect_form(&app, Some((&id, &secret)), "nonsense").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    let stored = app.state.store.resource_server(&id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Photos API");
    assert_ne!(stored.secret_hash, secret);
}

async fn introspection_needs_resource_server_credentials(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (_, service) = simple_token(&app, &access, "Integration").await;
    let (id, secret) = resource_server(&app).await;
    let (other_id, _) = resource_server(&app).await;
    for token in [access.as_str(), service.as_str()] {
        // None, wrong secret, another server's id with this secret, a bearer token instead.
        assert_basic_challenge(introspect_form(&app, None, token).await).await;
        assert_basic_challenge(introspect_form(&app, Some((&id, "wrong")), token).await).await;
        assert_basic_challenge(introspect_form(&app, Some((&other_id, &secret)), token).await)
            .await;
        assert_basic_challenge(introspect_form(&app, Some(("nobody", &secret)), token).await).await;
        // A NUL in the client id is a 401 on both databases, not a PostgreSQL 500.
        assert_basic_challenge(introspect_form(&app, Some(("a\u{0}b", &secret)), token).await)
            .await;
        let r = app
            .client
            .post(app.url("/v1/introspect"))
            .bearer_auth(token)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_basic_challenge(r).await;
        // The right ones.
        let r = introspect_form(&app, Some((&id, &secret)), token).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    }
    // Credentials are checked before the body: a bad body without them is still a 401.
    let r = app
        .client
        .post(app.url("/v1/introspect"))
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_basic_challenge(r).await;
    let r = app
        .client
        .post(app.url("/v1/introspect"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn introspects_access_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let signed_in = app.signed_in(&ana).await;
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": signed_in["refresh_token"], "account_uuid": ana.account,
                   "scope": "photos:read tags:read"}),
        )
        .await;
    let t: Value = r.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap();
    let (id, secret) = resource_server(&app).await;
    let creds = (id.as_str(), secret.as_str());

    let form: Value = introspect_form(&app, Some(creds), access)
        .await
        .json()
        .await
        .unwrap();
    let now = app.clock.now();
    assert_eq!(form["active"], true);
    assert_eq!(form["token_type"], "access_token");
    assert_eq!(form["scope"], "photos:read tags:read");
    assert_eq!(form["account_uuid"], ana.account.to_string());
    assert_eq!(form["sub"], ana.user.to_string());
    assert_eq!(form["client_id"], "tokend");
    assert_eq!(form["iss"], "http://tokend.test");
    assert_eq!(form["aud"], "tokend");
    assert_eq!(form["iat"], now);
    assert_eq!(form["exp"], now + 900);
    assert!(form["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(form.get("allowed_ips").is_none());
    assert_eq!(introspect_json(&app, creds, access).await, form);

    // Expired, then a revoked session: inactive, with nothing else said.
    app.clock.advance(901);
    assert_eq!(
        introspect_json(&app, creds, access).await,
        json!({"active": false})
    );
    app.clock.advance(-901);
    assert_eq!(introspect_json(&app, creds, access).await["active"], true);
    let r = app
        .post(
            "/v1/auth/sign_out",
            json!({"refresh_token": t["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        introspect_json(&app, creds, access).await,
        json!({"active": false})
    );
    let mut forged = access.to_string();
    forged.pop();
    assert_eq!(
        introspect_json(&app, creds, &forged).await,
        json!({"active": false})
    );
}

async fn introspects_service_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let (ana, access) = owner(&app, "ana@example.com").await;
    let expires = app.clock.now() + 7200;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Uploader", "scopes": ["photos:write", "photos:read"],
               "expires_at": tokend::clock::rfc3339(expires),
               "allowed_ips": ["203.0.113.0/24"], "max_request_bytes": 65536}),
    )
    .await;
    let (token_id, token) = (
        body["id"].as_str().unwrap(),
        body["token"].as_str().unwrap(),
    );
    let (id, secret) = resource_server(&app).await;
    let creds = (id.as_str(), secret.as_str());

    // Active even though the resource server calls from outside the token's allowlist: it gets
    // the list to enforce against its own client.
    let answer = introspect_json(&app, creds, token).await;
    assert_eq!(
        answer,
        json!({"active": true, "token_type": "service_token", "scope": "photos:read photos:write",
               "account_uuid": ana.account, "sub": token_id, "exp": expires,
               "iat": app.clock.now(), "jti": token_id, "allowed_ips": ["203.0.113.0/24"],
               "max_request_bytes": 65536, "iss": "http://tokend.test"})
    );
    let form: Value = introspect_form(&app, Some(creds), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(form, answer);
    // Introspection is not a use.
    let row = app
        .state
        .store
        .service_token_by_id(ana.account, Uuid::parse_str(token_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.last_used_at, row.last_used_ip), (None, None));
    assert!(app
        .state
        .service_tokens
        .pending(Uuid::parse_str(token_id).unwrap())
        .is_none());

    let inactive = json!({"active": false});
    assert_eq!(
        introspect_json(&app, creds, &tampered(token)).await,
        inactive
    );
    let unknown = tokend::crypto::service_token::generate("tkd_live");
    assert_eq!(
        introspect_json(&app, creds, unknown.expose()).await,
        inactive
    );
    // Deactivated, reactivated, expired, deleted.
    let r = patch_token(&app, &access, token_id, json!({"active": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect_json(&app, creds, token).await, inactive);
    let r = patch_token(&app, &access, token_id, json!({"active": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect_json(&app, creds, token).await["active"], true);
    app.clock.advance(7200);
    assert_eq!(introspect_json(&app, creds, token).await, inactive);
    app.clock.advance(-7200);
    let r = delete_token(&app, &access, token_id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(introspect_json(&app, creds, token).await, inactive);

    // A token without expiry or limits says so by omission (and an empty allowlist).
    let (_, open) = simple_token(&app, &access, "Open").await;
    let answer = introspect_json(&app, creds, &open).await;
    assert!(answer.get("exp").is_none() && answer.get("max_request_bytes").is_none());
    assert_eq!(answer["allowed_ips"], json!([]));
}
