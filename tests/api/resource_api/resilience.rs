//! The example API while tokend changes under it: a key rotation picked up without a restart,
//! and tokend stopped (JWTs still verify from the keys held, service tokens are refused).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokend::clock::Clock;
use tokend::crypto::keys::{generate_key, KeyAlg, ACTIVATION_DELAY};

use super::{refused, served, service_token, stack};

const JWKS: &str = "/.well-known/jwks.json";

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_picked_up_without_restart_and_old_tokens_keep_working() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("rotation@example.com", "owner").await;
    let (old_token, _) = app.access_token(&owner).await;
    assert_eq!(
        api.get("/photos", &old_token).await.status(),
        StatusCode::OK
    );
    let fetches = served(app, JWKS).await;
    assert_eq!(fetches, 1, "fetched once at start");

    // An ES256 key, created ACTIVATION_DELAY ago so that it signs at once, is loaded by tokend
    // as its minute-by-minute reload would; the API has never seen it.
    let keys_dir = app.dir.path().join("keys");
    let now = app.clock.now();
    let new_kid = generate_key(&keys_dir, KeyAlg::Es256, now - ACTIVATION_DELAY).unwrap();
    assert!(app.state.access_tokens.reload(&keys_dir).unwrap());
    assert_eq!(app.state.access_tokens.signing_kid(now), new_kid);
    let (new_token, _) = app.access_token(&owner).await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert_ne!(kid_of(&old_token), new_kid);

    // The unknown kid makes the running API refetch once, and the token is accepted.
    assert_eq!(
        api.get("/photos", &new_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(served(app, JWKS).await, fetches + 1);
    // The old key is still published, so its tokens still work; no further fetches.
    assert_eq!(
        api.get("/photos", &old_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api.get("/photos", &new_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(served(app, JWKS).await, fetches + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokend_stopped_jwts_verify_and_service_tokens_are_refused() {
    let s = stack().await;
    let (app, api) = (s.tokend, &s.api);
    let owner = app.seed_user("outage@example.com", "owner").await;
    let (user_jwt, _) = app.access_token(&owner).await;
    let (_, used) = service_token(&app, &user_jwt, json!({"scopes": ["photos:read"]})).await;
    let (_, unused) = service_token(&app, &user_jwt, json!({"scopes": ["photos:read"]})).await;
    assert_eq!(api.get("/photos", &user_jwt).await.status(), StatusCode::OK);
    assert_eq!(api.get("/photos", &used).await.status(), StatusCode::OK);

    app.stop().await;

    // JWTs: verified offline with the keys already fetched, as often as asked.
    for _ in 0..3 {
        assert_eq!(api.get("/photos", &user_jwt).await.status(), StatusCode::OK);
    }
    // Service tokens: tokend cannot vouch for them, so they are refused, never let through.
    let r = api.get("/photos", &unused).await;
    assert_eq!(r.headers()["retry-after"], "5");
    refused(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = api.get("/photos", &used).await;
    refused(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(api.get("/photos", &user_jwt).await.status(), StatusCode::OK);
}
