//! RFC 7009 revocation that does what it says, on `/oauth2/revoke` and `/v1/revoke`: an access
//! token takes its session down at once at `/v1/me` and at introspection; a refresh token its
//! session; a service token is refused with `unsupported_token_type` and keeps working.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{me_with_api_key, owner, simple_token};

both_backends!(revoking_tokens_on_both_endpoints);

async fn introspect(app: &TestApp, rs: &(String, String), token: &str) -> Value {
    let r = app
        .post_form("/v1/introspect", Some((&rs.0, &rs.1)), &[("token", token)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn revoking_tokens_on_both_endpoints(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app.seed_user("revoke@example.com", "owner").await;
    let rs = app.state.add_resource_server("API", None).await.unwrap();
    let rs = (rs.client_id, rs.client_secret.expose().to_string());
    let (client, _) = app.register_client(false, &[], &[]).await;

    // Client authentication is required at /oauth2/revoke.
    let (access, _) = app.access_token(&seeded).await;
    let r = app
        .post_form("/oauth2/revoke", None, &[("token", &access)])
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(
        app.get_bearer("/v1/me", &access).await.status(),
        StatusCode::OK
    );
    // A missing token parameter.
    let r = app
        .post_form("/oauth2/revoke", None, &[("client_id", &client)])
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // An access token at /oauth2/revoke: /v1/me and introspection stop accepting it at once.
    assert_eq!(introspect(&app, &rs, &access).await["active"], true);
    let r = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[
                ("client_id", &client),
                ("token", &access),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        app.get_bearer("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        introspect(&app, &rs, &access).await,
        json!({"active": false})
    );

    // An access token at /v1/revoke: the same.
    let (access2, refresh2) = app.access_token(&seeded).await;
    let r = app.post("/v1/revoke", json!({"token": access2})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        app.get_bearer("/v1/me", &access2).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    app.assert_refresh_fails(&refresh2, seeded.account, "invalid_refresh_token")
        .await;

    // A refresh token at /oauth2/revoke revokes its session.
    let (access3, refresh3) = app.access_token(&seeded).await;
    let r = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[("client_id", &client), ("token", &refresh3)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_refresh_fails(&refresh3, seeded.account, "invalid_refresh_token")
        .await;
    assert_eq!(
        app.get_bearer("/v1/me", &access3).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Unknown tokens are fine (RFC 7009 section 2.2).
    let r = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[("client_id", &client), ("token", "nonsense")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Service tokens are refused on both endpoints and keep working.
    let (_, manager) = owner(&app, "svc-owner@example.com").await;
    let (_, service) = simple_token(&app, &manager, "worker").await;
    let r = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[("client_id", &client), ("token", &service)],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unsupported_token_type").await;
    let r = app.post("/v1/revoke", json!({"token": service})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "unsupported_token_type").await;
    assert_eq!(
        me_with_api_key(&app, &service).await.status(),
        StatusCode::OK
    );
    assert_eq!(introspect(&app, &rs, &service).await["active"], true);

    // A token of a session signed in with another registered client is not this client's to
    // revoke (RFC 7009 section 2.1): refused, and the session lives on.
    let (other, _) = app.register_client(false, &[], &[]).await;
    let others = app.refresh_token_for_client(&seeded, &other).await;
    let r = app
        .post_form(
            "/oauth2/revoke",
            None,
            &[("client_id", &client), ("token", &others)],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    assert_eq!(
        app.refresh(&others, seeded.account).await.status(),
        StatusCode::OK
    );

    // Other sessions of the user were not touched.
    let (access4, _) = app.access_token(&seeded).await;
    assert_eq!(
        app.get_bearer("/v1/me", &access4).await.status(),
        StatusCode::OK
    );
}

/// Introspection accepts `client_secret_post` as the metadata says, and refuses a wrong secret
/// sent that way.
#[tokio::test]
async fn introspection_accepts_client_secret_post() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(b).await;
        let seeded = app.seed_user("post@example.com", "owner").await;
        let (access, _) = app.access_token(&seeded).await;
        let rs = app.state.add_resource_server("API", None).await.unwrap();
        let secret = rs.client_secret.expose().to_string();
        let form = [
            ("client_id", rs.client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("token", access.as_str()),
        ];
        let r = app.post_form("/v1/introspect", None, &form).await;
        assert_eq!(r.status(), StatusCode::OK);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["active"], true);
        let wrong = format!("{secret}x");
        let form = [
            ("client_id", rs.client_id.as_str()),
            ("client_secret", wrong.as_str()),
            ("token", access.as_str()),
        ];
        let r = app.post_form("/v1/introspect", None, &form).await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tokend\"");
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
