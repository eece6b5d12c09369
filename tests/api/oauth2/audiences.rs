//! RFC 8707 resource indicators: `resource` picks the access token's `aud` on both token
//! endpoints; unknown ones and ones outside a client's list are `invalid_target`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokend::clock::Clock;

use crate::both_backends;
use crate::helpers::*;

both_backends!(resource_sets_the_audience_on_both_endpoints);

const PHOTOS: &str = "https://photos.example.com";
const BILLING: &str = "https://billing.example.com";

fn aud_of(app: &TestApp, jwt: &str) -> String {
    app.state
        .access_tokens
        .verify_issued(jwt, app.clock.now())
        .unwrap()
        .aud
}

async fn resource_sets_the_audience_on_both_endpoints(b: Backend) {
    let app = spawn_app(b).await;
    let seeded = app.seed_user("aud@example.com", "owner").await;
    let account = seeded.account.to_string();
    let photos = app
        .state
        .add_resource_server("Photos", Some(PHOTOS))
        .await
        .unwrap();
    app.state
        .add_resource_server("Billing", Some(BILLING))
        .await
        .unwrap();
    // The same audience twice is refused.
    assert!(app
        .state
        .add_resource_server("Photos again", Some(PHOTOS))
        .await
        .is_err());

    // /v1/auth/token: without resource the default audience, with it the resource's.
    let refresh = app.first_refresh_token(&seeded).await;
    let r = app.refresh(&refresh, seeded.account).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        aud_of(&app, body["access_token"].as_str().unwrap()),
        "tokend"
    );
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": body["refresh_token"], "account_uuid": account, "resource": PHOTOS}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let photos_jwt = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(aud_of(&app, &photos_jwt), PHOTOS);
    // An unknown resource: invalid_target in the envelope, and the token is not spent.
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": body["refresh_token"], "account_uuid": account,
                   "resource": "https://unknown.example.com"}),
        )
        .await;
    let err = assert_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    assert_eq!(
        err["error"]["details"]["resource"],
        "https://unknown.example.com"
    );
    let r = app
        .refresh(body["refresh_token"].as_str().unwrap(), seeded.account)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the refused request spent nothing"
    );

    // A token for the photos API is not a token for tokend's own API, but the photos API's
    // introspection describes it.
    let r = app.get_bearer("/v1/me", &photos_jwt).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post_form(
            "/v1/introspect",
            Some((&photos.client_id, photos.client_secret.expose())),
            &[("token", &photos_jwt)],
        )
        .await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["aud"], PHOTOS);

    // /oauth2/token with a client limited to the photos API.
    let (limited, _) = app.register_client(false, &[], &[PHOTOS]).await;
    let mut token = app.refresh_token_for_client(&seeded, &limited).await;
    let form = |token: &str, resource: Option<&str>| {
        let mut f = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("client_id".to_string(), limited.clone()),
            ("refresh_token".to_string(), token.to_string()),
            ("account_uuid".to_string(), account.clone()),
        ];
        if let Some(r) = resource {
            f.push(("resource".to_string(), r.to_string()));
        }
        f
    };
    let post = |f: Vec<(String, String)>| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/oauth2/token"))
                .form(&f)
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(form(&token, Some(BILLING))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    let r = post(form(&token, Some("https://unknown.example.com"))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    let r = post(form(&token, Some(PHOTOS))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(aud_of(&app, body["access_token"].as_str().unwrap()), PHOTOS);
    token = body["refresh_token"].as_str().unwrap().to_string();
    // The limit holds on /v1/auth/token too, for the session of the limited client.
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": token, "account_uuid": account, "resource": BILLING}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
}
