//! The `oauth2` crate, the standard Rust OAuth 2.0 client, configured from the RFC 8414 metadata
//! alone, refreshes through tokend the way AppAuth or openid-client would.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    ClientId, ClientSecret, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    refresh_chain_reuse_and_errors_through_the_oauth2_crate,
    confidential_client_with_a_bad_secret_is_invalid_client
);

async fn token_endpoint(app: &TestApp) -> String {
    let m: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        m["issuer"], app.base,
        "the issuer is where the server listens"
    );
    m["token_endpoint"].as_str().unwrap().to_string()
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn server_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> BasicErrorResponseType {
    match e {
        RequestTokenError::ServerResponse(r) => r.error().clone(),
        other => panic!("expected an RFC 6749 error response, got {other:?}"),
    }
}

async fn refresh_chain_reuse_and_errors_through_the_oauth2_crate(b: Backend) {
    let app = spawn_app_live_issuer(b, &[]).await;
    let seeded = app.seed_user("oauth@example.com", "owner").await;
    let (client_id, _) = app.register_client(false, &[], &[]).await;
    let mut refresh = app.refresh_token_for_client(&seeded, &client_id).await;
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_token_uri(TokenUrl::new(token_endpoint(&app).await).unwrap());
    let http = http();
    let account = seeded.account.to_string();

    let first = refresh.clone();
    for _ in 0..5 {
        let token = client
            .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
            .add_extra_param("account_uuid", &account)
            .request_async(&http)
            .await
            .unwrap();
        let next = token.refresh_token().unwrap().secret().clone();
        assert_ne!(next, refresh, "every refresh rotates the refresh token");
        let me = app
            .get_bearer("/v1/me", token.access_token().secret())
            .await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["account_uuid"], account);
        assert!(token.expires_in().is_some());
        refresh = next;
    }

    // Down-scoping through the standard `scope` parameter.
    let narrowed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .add_extra_param("account_uuid", &account)
        .add_scope(Scope::new("photos:read".into()))
        .request_async(&http)
        .await
        .unwrap();
    let scopes: Vec<String> = narrowed
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["photos:read"]);
    refresh = narrowed.refresh_token().unwrap().secret().clone();

    // An unknown scope: invalid_scope, and the token is not spent.
    let err = client
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .add_extra_param("account_uuid", &account)
        .add_scope(Scope::new("no:such".into()))
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(err), BasicErrorResponseType::InvalidScope);

    // A grant tokend does not implement.
    let err = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(
        server_error(err),
        BasicErrorResponseType::UnsupportedGrantType
    );

    // The first token of the chain, long spent: invalid_grant, and the whole session is revoked,
    // the newest token included.
    app.clock.advance(60);
    let err = client
        .exchange_refresh_token(&RefreshToken::new(first))
        .add_extra_param("account_uuid", &account)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(err), BasicErrorResponseType::InvalidGrant);
    let err = client
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .add_extra_param("account_uuid", &account)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(err), BasicErrorResponseType::InvalidGrant);
}

async fn confidential_client_with_a_bad_secret_is_invalid_client(b: Backend) {
    let app = spawn_app_live_issuer(b, &[]).await;
    let seeded = app.seed_user("server@example.com", "owner").await;
    let (client_id, secret) = app.register_client(true, &[], &[]).await;
    let secret = secret.unwrap();
    let refresh = app.refresh_token_for_client(&seeded, &client_id).await;
    let endpoint = TokenUrl::new(token_endpoint(&app).await).unwrap();
    let http = http();
    let account = seeded.account.to_string();

    let wrong = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new(format!("{secret}x")))
        .set_token_uri(endpoint.clone());
    let err = wrong
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .add_extra_param("account_uuid", &account)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(err), BasicErrorResponseType::InvalidClient);

    // No secret at all from a confidential client: refused the same way.
    let missing =
        BasicClient::new(ClientId::new(client_id.clone())).set_token_uri(endpoint.clone());
    let err = missing
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .add_extra_param("account_uuid", &account)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(server_error(err), BasicErrorResponseType::InvalidClient);

    // Nothing was spent by the refused attempts: the right secret works with the same token.
    let right = BasicClient::new(ClientId::new(client_id))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(endpoint);
    let token = right
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .add_extra_param("account_uuid", &account)
        .request_async(&http)
        .await
        .unwrap();
    assert!(token.refresh_token().is_some());
}
