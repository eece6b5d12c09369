//! RFC 8693 token exchange: a service token becomes a short-lived JWT that resource APIs verify
//! offline, carrying the token's account, scopes, cap and allowlist; every way the service token
//! can be unusable refuses the exchange.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokend::clock::Clock;
use tokend_verify::{Verifier, VerifyError};

use super::{EXCHANGE, SERVICE_TOKEN_TYPE};
use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{create_token, delete_token, owner, patch_token};

both_backends!(
    exchanged_jwt_verifies_offline_and_carries_the_policy,
    unusable_service_tokens_are_refused,
    exchange_requests_are_checked
);

async fn exchange(
    app: &TestApp,
    client: (&str, &str),
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", token),
        ("subject_token_type", SERVICE_TOKEN_TYPE),
    ];
    form.extend_from_slice(extra);
    app.post_form("/oauth2/token", Some(client), &form).await
}

async fn jwks_text(app: &TestApp) -> String {
    app.client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn exchanged_jwt_verifies_offline_and_carries_the_policy(b: Backend) {
    let app = spawn_app(b).await;
    let (seeded, access) = owner(&app, "exchange@example.com").await;
    let (client, secret) = app.register_client(true, &[], &[]).await;
    let secret = secret.unwrap();
    let created = create_token(
        &app,
        &access,
        json!({"name": "worker", "scopes": ["photos:read", "photos:write"],
               "allowed_ips": ["127.0.0.1", "10.0.0.0/8"], "max_request_bytes": 4096}),
    )
    .await;
    let token = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();

    let r = exchange(&app, (&client, &secret), token, &[("scope", "photos:read")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 300,
        "TOKEND_EXCHANGED_TOKEN_TTL defaults to 5 minutes"
    );
    assert_eq!(body["scope"], "photos:read");
    let jwt = body["access_token"].as_str().unwrap();

    // tokend-verify, as a resource API would use it.
    let verifier =
        Verifier::from_jwks_json("http://tokend.test", "tokend", &jwks_text(&app).await).unwrap();
    let claims = verifier.verify_at(jwt, app.clock.now()).unwrap();
    assert!(claims.is_service());
    assert_eq!(claims.sub, format!("service_token:{id}"));
    assert_eq!(claims.account_uuid, seeded.account.to_string());
    assert_eq!(claims.scope, "photos:read");
    assert_eq!(claims.client_id, client);
    assert_eq!(claims.sid, None);
    assert_eq!(claims.max_request_bytes, Some(4096));
    let allowed: Vec<String> = serde_json::from_value(created["allowed_ips"].clone()).unwrap();
    assert_eq!(claims.allowed_ips.as_deref(), Some(allowed.as_slice()));

    // A plain JOSE check against the published JWKS, no tokend code involved.
    let jwks: JwkSet = serde_json::from_str(&jwks_text(&app).await).unwrap();
    let key = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["tokend"]);
    validation.set_issuer(&["http://tokend.test"]);
    let plain = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(plain["token_kind"], "service");
    assert_eq!(plain["max_request_bytes"], 4096);
    assert_eq!(
        plain["exp"].as_i64().unwrap() - plain["iat"].as_i64().unwrap(),
        300
    );

    // Introspection reports the exchanged JWT as a service token while the token lives.
    let (rs_id, rs_secret) = {
        let c = app.state.add_resource_server("Photos", None).await.unwrap();
        (c.client_id, c.client_secret.expose().to_string())
    };
    let introspect = |jwt: String| {
        let app = &app;
        let (rs_id, rs_secret) = (rs_id.clone(), rs_secret.clone());
        async move {
            let r = app
                .post_form(
                    "/v1/introspect",
                    Some((&rs_id, &rs_secret)),
                    &[("token", &jwt)],
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let live = introspect(jwt.to_string()).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["token_type"], "service_token");
    assert_eq!(live["max_request_bytes"], 4096);

    // The exchange is audited on the service token, naming the client.
    let audit = app
        .state
        .store
        .service_token_audit_of(seeded.account)
        .await
        .unwrap();
    let row = audit
        .iter()
        .find(|a| a.action == "exchanged")
        .expect("an exchanged row");
    assert_eq!(row.token_id.to_string(), id);
    assert_eq!(row.actor_user_id.to_string(), client);
    assert!(
        !row.detail.as_deref().unwrap_or("").contains(token),
        "never the token"
    );

    // Deleted: new exchanges fail at once, introspection stops at once, and a JWT issued before
    // the deletion keeps verifying offline only until it expires.
    assert_eq!(
        delete_token(&app, &access, id).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = exchange(&app, (&client, &secret), token, &[]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(introspect(jwt.to_string()).await, json!({"active": false}));
    assert!(verifier.verify_at(jwt, app.clock.now() + 299).is_ok());
    assert_eq!(
        verifier.verify_at(jwt, app.clock.now() + 300 + 60),
        Err(VerifyError::Expired)
    );
}

async fn unusable_service_tokens_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "refused@example.com").await;
    let (client, secret) = app.register_client(true, &[], &[]).await;
    let secret = secret.unwrap();
    let basic = (client.as_str(), secret.as_str());

    // Expiring in two minutes: the JWT lives no longer than the token, then exchange stops.
    let expires = chrono::DateTime::from_timestamp(app.clock.now() + 120, 0)
        .unwrap()
        .to_rfc3339();
    let short = create_token(
        &app,
        &access,
        json!({"name": "short", "scopes": ["photos:read"], "expires_at": expires}),
    )
    .await;
    let r = exchange(&app, basic, short["token"].as_str().unwrap(), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["expires_in"], 120,
        "capped at the service token's expiry"
    );

    // Deactivated.
    let inactive = create_token(
        &app,
        &access,
        json!({"name": "paused", "scopes": ["photos:read"]}),
    )
    .await;
    let r = patch_token(
        &app,
        &access,
        inactive["id"].as_str().unwrap(),
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Outside its allowlist (the test client is 127.0.0.1).
    let fenced = create_token(
        &app,
        &access,
        json!({"name": "fenced", "scopes": ["photos:read"], "allowed_ips": ["203.0.113.0/24"]}),
    )
    .await;
    // Garbage and a forged checksum.
    for token in [
        inactive["token"].as_str().unwrap().to_string(),
        fenced["token"].as_str().unwrap().to_string(),
        "tkd_live_garbage".to_string(),
        crate::service_tokens::tampered(short["token"].as_str().unwrap()),
    ] {
        let r = exchange(&app, basic, &token, &[]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    app.clock.advance(121);
    let r = exchange(&app, basic, short["token"].as_str().unwrap(), &[]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn exchange_requests_are_checked(b: Backend) {
    let app = spawn_app(b).await;
    let (seeded, access) = owner(&app, "checked@example.com").await;
    let created = create_token(
        &app,
        &access,
        json!({"name": "w", "scopes": ["photos:read"]}),
    )
    .await;
    let token = created["token"].as_str().unwrap();
    let (client, secret) = app.register_client(true, &[], &[]).await;
    let secret = secret.unwrap();
    let basic = (client.as_str(), secret.as_str());

    // A scope beyond the service token's.
    let r = exchange(&app, basic, token, &[("scope", "photos:write")]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // An unknown subject_token_type or requested_token_type; a missing subject_token.
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", token),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    let r = app.post_form("/oauth2/token", Some(basic), &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = exchange(
        &app,
        basic,
        token,
        &[(
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:refresh_token",
        )],
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token_type", SERVICE_TOKEN_TYPE),
    ];
    let r = app.post_form("/oauth2/token", Some(basic), &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A public client is not registered for the exchange grant by default.
    let (public, _) = app.register_client(false, &[], &[]).await;
    let form = [
        ("grant_type", EXCHANGE),
        ("client_id", public.as_str()),
        ("subject_token", token),
        ("subject_token_type", SERVICE_TOKEN_TYPE),
    ];
    let r = app.post_form("/oauth2/token", None, &form).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    // Nothing above wrote an exchange to the audit trail.
    let audit = app
        .state
        .store
        .service_token_audit_of(seeded.account)
        .await
        .unwrap();
    assert!(audit.iter().all(|a| a.action != "exchanged"));
}
