//! `POST /oauth2/token` spoken by hand: what a standard client sends wrong gets the RFC 6749
//! section 5.2 error, nothing is spent by a refused request, and rotation is one rule across the
//! standard and the `/v1` endpoint.

use reqwest::StatusCode;
use serde_json::{json, Value};

use tokend::clock::Clock;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    bad_requests_get_rfc6749_errors_and_spend_nothing,
    client_binding_grants_and_kinds,
    rotation_continues_across_both_endpoints,
    registered_clients_can_be_required_at_sign_in
);

async fn bad_requests_get_rfc6749_errors_and_spend_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app.seed_user("forms@example.com", "owner").await;
    let (client, _) = app.register_client(false, &[], &[]).await;
    let refresh = app.refresh_token_for_client(&seeded, &client).await;
    let account = seeded.account.to_string();

    // JSON instead of a form.
    let r = app
        .post(
            "/oauth2/token",
            json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client}),
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // No grant_type; a repeated parameter; no refresh_token; no or a bad account_uuid.
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", &client), ("refresh_token", &refresh)],
        vec![
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &refresh),
            ("account_uuid", &account),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("account_uuid", &account),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &refresh),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", &refresh),
            ("account_uuid", "not-a-uuid"),
        ],
    ];
    for form in &cases {
        let r = app.post_form("/oauth2/token", None, form).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    // No client at all, an unknown client, a public client sending a secret.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (basic, form_client) in [
        (None, None),
        (None, Some(unknown.as_str())),
        (Some((client.as_str(), "a-secret")), None),
    ] {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("account_uuid", account.as_str()),
        ];
        if let Some(c) = form_client {
            form.push(("client_id", c));
        }
        let r = app.post_form("/oauth2/token", basic, &form).await;
        assert!(r.headers().contains_key("www-authenticate"));
        assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // A garbage refresh token; an account the user is not in; a resource nobody registered.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("refresh_token", "garbage"),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let stranger = uuid::Uuid::new_v4().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("refresh_token", refresh.as_str()),
        ("account_uuid", stranger.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("refresh_token", refresh.as_str()),
        ("account_uuid", account.as_str()),
        ("resource", "https://nobody.example.com"),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;

    // After all of that, the very first refresh token is still live and unspent.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("refresh_token", refresh.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
}

async fn client_binding_grants_and_kinds(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app.seed_user("binding@example.com", "owner").await;
    let account = seeded.account.to_string();
    let (app_client, _) = app.register_client(false, &[], &[]).await;
    let (other_client, _) = app.register_client(false, &[], &[]).await;
    let refresh = app.refresh_token_for_client(&seeded, &app_client).await;

    // Another client presenting this session's token: invalid_grant, and nothing happens to the
    // session (neither spent nor treated as reuse).
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", other_client.as_str()),
        ("refresh_token", refresh.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // A session signed in without a registered client is refreshed at /v1 only.
    let plain = app.first_refresh_token(&seeded).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", app_client.as_str()),
        ("refresh_token", plain.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.refresh(&plain, seeded.account).await.status(),
        StatusCode::OK
    );

    // A client registered for token exchange only may not refresh.
    let (exchange_only, secret) = app.register_client(true, &[super::EXCHANGE], &[]).await;
    let secret = secret.unwrap();
    let bound = app.refresh_token_for_client(&seeded, &exchange_only).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", bound.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app
        .post_form("/oauth2/token", Some((&exchange_only, &secret)), &form)
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    // client_secret_post works as well as Basic, but not both at once.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", bound.as_str()),
        ("account_uuid", account.as_str()),
        ("client_id", exchange_only.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let r = app
        .post_form("/oauth2/token", Some((&exchange_only, &secret)), &form)
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    // The original session survived the other client's attempt.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", app_client.as_str()),
        ("refresh_token", refresh.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The access token's client_id is the registered client that obtained the session.
    let body: Value = r.json().await.unwrap();
    let introspected = app
        .state
        .access_tokens
        .verify(body["access_token"].as_str().unwrap(), app.clock.now())
        .unwrap();
    assert_eq!(introspected.client_id, app_client);
}

async fn rotation_continues_across_both_endpoints(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app.seed_user("both@example.com", "owner").await;
    let account = seeded.account.to_string();
    let (client, _) = app.register_client(false, &[], &[]).await;
    let mut token = app.refresh_token_for_client(&seeded, &client).await;
    let first = token.clone();
    for round in 0..4 {
        let body: Value = if round % 2 == 0 {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", client.as_str()),
                ("refresh_token", token.as_str()),
                ("account_uuid", account.as_str()),
            ];
            let r = app.post_form("/oauth2/token", None, &form).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json().await.unwrap()
        } else {
            let r = app.refresh(&token, seeded.account).await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json().await.unwrap()
        };
        let next = body["refresh_token"].as_str().unwrap().to_string();
        // A retry within the grace window on the *other* endpoint gets the same successor.
        if round == 0 {
            let again: Value = app
                .refresh(&token, seeded.account)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(again["refresh_token"], next.as_str());
        }
        token = next;
    }
    // Reuse detected on one endpoint revokes the session for the other.
    app.clock.advance(3600);
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("refresh_token", first.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    app.assert_refresh_fails(&token, seeded.account, "invalid_refresh_token")
        .await;
}

async fn registered_clients_can_be_required_at_sign_in(b: Backend) {
    let open = spawn_app(b).await;
    let seeded = open.seed_user("open@example.com", "owner").await;
    let r = open
        .post(
            "/v1/auth/sign_in",
            json!({"login": seeded.login, "password": PASSWORD,
                   "device": {"name": "Phone", "client_id": "ios-app"}}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "unregistered ids keep working by default"
    );

    let strict = spawn_app_with(b, &[("TOKEND_REQUIRE_REGISTERED_CLIENTS", "true")]).await;
    let seeded = strict.seed_user("strict@example.com", "owner").await;
    for device in [
        json!({"name": "Phone", "client_id": "ios-app"}),
        json!({"name": "Phone", "client_id": uuid::Uuid::new_v4()}),
        json!({"name": "Phone"}),
    ] {
        let r = strict
            .post(
                "/v1/auth/sign_in",
                json!({"login": seeded.login, "password": PASSWORD, "device": device}),
            )
            .await;
        let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], "device.client_id");
    }
    let liveness = strict.state.session_liveness(strict.clock.now());
    let sessions = strict
        .state
        .store
        .live_sessions_of(seeded.user, liveness)
        .await
        .unwrap();
    assert!(sessions.is_empty(), "no refused sign-in left a session");
    let (client, _) = strict.register_client(false, &[], &[]).await;
    let refresh = strict.refresh_token_for_client(&seeded, &client).await;
    assert_eq!(
        strict.refresh(&refresh, seeded.account).await.status(),
        StatusCode::OK
    );
}
