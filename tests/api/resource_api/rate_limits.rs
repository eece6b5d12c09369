//! Per-token rate limits at the example API (issue #15): a 5/minute service token counts down in
//! both header families and is refused when spent, tokens have separate budgets, introspection
//! shows the rate without spending it, an exchanged JWT carries it and is limited offline, and
//! two instances sharing Redis hold one budget, falling back to their own when Redis stops.

use base64::Engine;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{photos_api, refused, served, service_token, stack, PhotosApi};
use crate::helpers::TestApp;
use crate::oauth2::{EXCHANGE, SERVICE_TOKEN_TYPE};
use crate::operations::OwnRedis;

const INTROSPECT: &str = "/v1/introspect";

fn header(r: &Response, name: &str) -> u64 {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One allowed call: both header families with `remaining`, consistent resets.
async fn passes(api: &PhotosApi, token: &str, limit: u64, remaining: u64) {
    let r = api.get_with_key("/photos", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    for family in ["ratelimit", "x-ratelimit"] {
        assert_eq!(header(&r, &format!("{family}-limit")), limit);
        assert_eq!(header(&r, &format!("{family}-remaining")), remaining);
    }
    let reset = header(&r, "ratelimit-reset");
    assert!((1..=60).contains(&reset), "{reset}");
    let epoch = header(&r, "x-ratelimit-reset");
    assert!(
        epoch.abs_diff(unix_now() + reset) <= 1,
        "{epoch} vs {reset}"
    );
}

/// A refused call: 429 `rate_limited` with `Retry-After`, returned in seconds.
async fn limited(api: &PhotosApi, token: &str) -> u64 {
    let r = api.get_with_key("/photos", token).await;
    let retry = header(&r, "retry-after");
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 0);
    let body = refused(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(body["error"]["details"]["retry_after"], retry);
    retry
}

/// tokend's `/v1/introspect` with the photo API's credentials.
async fn introspect(app: &TestApp, creds: &(String, String), token: &str) -> Value {
    let r = app
        .client
        .post(app.url(INTROSPECT))
        .basic_auth(&creds.0, Some(&creds.1))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

const FIVE_PER_MINUTE: &str = r#"{"requests": 5, "per": "minute"}"#;

fn five_per_minute() -> Value {
    serde_json::from_str(FIVE_PER_MINUTE).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_counts_down_at_the_api_and_introspection_shows_it_unspent() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let creds = s.settings.introspection.clone().unwrap();
    let owner = app.seed_user("api-rate@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let body = json!({"scopes": ["photos:read"], "rate_limit": five_per_minute()});
    let (_, token) = service_token(app, &owner_at, body.clone()).await;
    let (_, other) = service_token(app, &owner_at, body).await;
    let (_, open) = service_token(app, &owner_at, json!({"scopes": ["photos:read"]})).await;

    // Introspection reports the rate, and asking does not spend it (tokend's own count is whole).
    for _ in 0..3 {
        let answer = introspect(app, &creds, &token).await;
        assert_eq!(answer["rate_limit"], five_per_minute());
    }
    assert!(introspect(app, &creds, &open)
        .await
        .get("rate_limit")
        .is_none());

    for remaining in (0..5).rev() {
        passes(api, &token, 5, remaining).await;
    }
    let retry = limited(api, &token).await;
    assert!((1..=12).contains(&retry), "{retry}");
    // tokend's own budget for the token (at /v1/me) was never touched by introspection.
    let r = crate::service_tokens::me_with_api_key(app, &token).await;
    assert_eq!(header(&r, "ratelimit-remaining"), 4);
    // The other token of the account has its own budget.
    passes(api, &other, 5, 4).await;
    // A token without a rate, and a user, are not limited and get no headers.
    for bearer in [&open, &owner_at] {
        for _ in 0..7 {
            let r = api.get("/photos", bearer).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.headers().get("ratelimit-limit").is_none());
            assert!(r.headers().get("x-ratelimit-limit").is_none());
        }
    }
    // After the wait it passes again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let r = api.get_with_key("/photos", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Exchanges `token` for a JWT (RFC 8693) with a confidential client.
async fn exchanged(app: &TestApp, token: &str) -> String {
    let (client, secret) = app.register_client(true, &[], &[]).await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", token),
        ("subject_token_type", SERVICE_TOKEN_TYPE),
    ];
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(client, secret)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchanged_jwt_carries_the_rate_and_is_limited_offline() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let creds = s.settings.introspection.clone().unwrap();
    let owner = app.seed_user("jwt-rate@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let rate = json!({"requests": 3, "per": "minute"});
    let body = json!({"scopes": ["photos:read"], "rate_limit": rate});
    let (_, token) = service_token(app, &owner_at, body).await;
    let jwt = exchanged(app, &token).await;

    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["rate_limit"], rate);
    assert_eq!(introspect(app, &creds, &jwt).await["rate_limit"], rate);

    let before = served(app, INTROSPECT).await;
    for remaining in (0..3).rev() {
        let r = api.get("/photos", &jwt).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-limit"), 3);
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining);
    }
    let r = api.get("/photos", &jwt).await;
    assert!(header(&r, "retry-after") >= 1);
    refused(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Offline: the API never asked tokend about the JWT.
    assert_eq!(served(app, INTROSPECT).await, before);
    // The JWT stands for its service token: the opaque token shares the spent budget.
    limited(api, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_budget_through_redis_and_fall_back_without_it() {
    let s = stack().await;
    let app = &s.tokend;
    let redis = OwnRedis::start();
    let shared = photos_api::Settings {
        redis_url: Some(redis.url()),
        ..s.settings.clone()
    };
    let (a, b) = (
        PhotosApi::start(&shared).await,
        PhotosApi::start(&shared).await,
    );
    let owner = app.seed_user("redis-rate@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let body = json!({"scopes": ["photos:read"], "rate_limit": five_per_minute()});
    let (_, token) = service_token(app, &owner_at, body).await;

    // Alternating instances: one budget of five in all, counted down across both.
    for remaining in (0..5).rev() {
        let api = if remaining % 2 == 0 { &a } else { &b };
        passes(api, &token, 5, remaining).await;
    }
    limited(&a, &token).await;
    limited(&b, &token).await;

    // Redis stops: each instance falls back to its own in-process budget, never unlimited.
    drop(redis);
    for api in [&a, &b] {
        for remaining in (0..5).rev() {
            passes(api, &token, 5, remaining).await;
        }
        limited(api, &token).await;
    }
}
