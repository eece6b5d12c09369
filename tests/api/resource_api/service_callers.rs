//! Service callers at the example API: opaque service tokens by introspection (scopes, local
//! checksum refusal, single flight, deletion within the TTL) and exchanged service-token JWTs
//! verified offline; allowlists and size caps, chunked bodies included, for both.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{photos_api, refused, served, service_token, stack, stack_with, PhotosApi};
use crate::oauth2::{EXCHANGE, SERVICE_TOKEN_TYPE};

const INTROSPECT: &str = "/v1/introspect";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tokens_are_introspected_once_per_burst_and_scoped() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("svc-owner@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let owner_ids = api.photo_ids(&owner_at).await;

    // A photos:read token sees its account's photos, and nothing it lacks the scope for.
    let (_, reader) = service_token(app, &owner_at, json!({"scopes": ["photos:read"]})).await;
    let r = api.get_with_key("/photos", &reader).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(api.photo_ids(&reader).await, owner_ids);
    let body = refused(
        api.get("/me", &reader).await,
        StatusCode::FORBIDDEN,
        "scope_required",
    )
    .await;
    assert_eq!(body["error"]["details"]["scope"], "customer:read");
    let r = api
        .send(
            "DELETE",
            &format!("/photos/{}", owner_ids[0]),
            &reader,
            None,
        )
        .await;
    let body = refused(r, StatusCode::FORBIDDEN, "scope_required").await;
    assert_eq!(body["error"]["details"]["scope"], "photos:delete");
    let (_, deleter) = service_token(
        app,
        &owner_at,
        json!({"scopes": ["photos:read", "photos:delete", "customer:read"]}),
    )
    .await;
    let me: Value = api.get("/me", &deleter).await.json().await.unwrap();
    assert_eq!(
        (me["kind"].as_str(), me["account_uuid"].as_str()),
        (Some("service"), Some(&*owner.account.to_string()))
    );
    let r = api
        .send(
            "DELETE",
            &format!("/photos/{}", owner_ids[0]),
            &deleter,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Another account's service token sees only its own account.
    let other = app.seed_user("svc-other@example.com", "owner").await;
    let (other_at, _) = app.access_token(&other).await;
    let (_, foreign) = service_token(app, &other_at, json!({"scopes": ["photos:read"]})).await;
    let foreign_ids = api.photo_ids(&foreign).await;
    assert!(foreign_ids.iter().all(|id| !owner_ids.contains(id)));
    let r = api
        .get(&format!("/photos/{}", owner_ids[1]), &foreign)
        .await;
    refused(r, StatusCode::NOT_FOUND, "not_found").await;

    // A typo (bad checksum) is refused without asking tokend; an unknown token after asking.
    let before = served(app, INTROSPECT).await;
    let typo = crate::service_tokens::tampered(&reader);
    refused(
        api.get("/photos", &typo).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(served(app, INTROSPECT).await, before);
    let unknown = tokend::crypto::service_token::generate("tkd_live");
    let r = api.get("/photos", unknown.expose()).await;
    refused(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(served(app, INTROSPECT).await, before + 1);

    // 100 concurrent requests with one fresh token: one introspection call.
    let (_, burst) = service_token(app, &owner_at, json!({"scopes": ["photos:read"]})).await;
    let before = served(app, INTROSPECT).await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (client, url, token) = (api.client.clone(), api.url("/photos"), burst.clone());
        requests.spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(served(app, INTROSPECT).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_service_token_is_refused_within_the_ttl() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("svc-delete@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let (id, token) = service_token(app, &owner_at, json!({"scopes": ["photos:read"]})).await;
    assert_eq!(api.get("/photos", &token).await.status(), StatusCode::OK);

    let r = crate::service_tokens::delete_token(app, &owner_at, &id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let deleted = Instant::now();
    // The default TTL is one second, counted from the answer tokend gave before the deletion:
    // a request sent later than that is refused, whatever the machine's load makes it wait.
    loop {
        let sent = deleted.elapsed();
        let r = api.get("/photos", &token).await;
        if r.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            sent < Duration::from_millis(1_100),
            "accepted {sent:?} after the deletion"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refused(
        api.get("/photos", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

/// Exchanges `token` for a JWT (RFC 8693) with a confidential client, from `ip` (tokend applies
/// the service token's allowlist to the exchange; this test is tokend's trusted proxy).
async fn exchanged(app: &crate::helpers::TestApp, token: &str, ip: &str) -> String {
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
        .header("x-forwarded-for", ip)
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
async fn allowlists_and_size_caps_hold_for_opaque_and_exchanged_tokens() {
    let s = stack_with(&[("TOKEND_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let (app, api) = (&s.tokend, &s.api);
    // A second instance behind a "proxy" on 127.0.0.1, which this test plays.
    let proxied = PhotosApi::start(&photos_api::Settings {
        trusted_proxies: "127.0.0.1".into(),
        ..s.settings.clone()
    })
    .await;
    let owner = app.seed_user("svc-limits@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;
    let photo = format!("/photos/{}", api.photo_ids(&owner_at).await[0]);

    let (_, far) = service_token(
        app,
        &owner_at,
        json!({"scopes": ["photos:read"], "allowed_ips": ["10.9.9.0/24"]}),
    )
    .await;
    let far_jwt = exchanged(app, &far, "10.9.9.7").await;
    let (_, capped) = service_token(
        app,
        &owner_at,
        json!({"scopes": ["photos:read", "photos:write"], "allowed_ips": ["127.0.0.1"], "max_request_bytes": 64}),
    )
    .await;
    let capped_jwt = exchanged(app, &capped, "127.0.0.1").await;

    for (kind, far, capped) in [
        ("opaque", &far, &capped),
        ("exchanged JWT", &far_jwt, &capped_jwt),
    ] {
        // Allowlist: the peer, or the right-most X-Forwarded-For entry behind a trusted proxy.
        let r = api.get("/photos", far).await;
        refused(r, StatusCode::FORBIDDEN, "ip_not_allowed").await;
        let from = |xff: &'static str| {
            proxied
                .client
                .get(proxied.url("/photos"))
                .bearer_auth(far)
                .header("x-forwarded-for", xff)
                .send()
        };
        assert_eq!(
            from("10.9.9.7").await.unwrap().status(),
            StatusCode::OK,
            "{kind}"
        );
        assert_eq!(
            from("10.9.9.7, 192.0.2.1").await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{kind}"
        );
        // Not believed from a peer that is not a trusted proxy.
        let r = api
            .client
            .get(api.url("/photos"))
            .bearer_auth(far)
            .header("x-forwarded-for", "10.9.9.7")
            .send();
        assert_eq!(r.await.unwrap().status(), StatusCode::FORBIDDEN, "{kind}");

        // Size cap: declared, and chunked without a length.
        let small = json!({"title": "ok"});
        assert_eq!(
            api.send("PATCH", &photo, capped, Some(small))
                .await
                .status(),
            StatusCode::OK,
            "{kind}"
        );
        let big = json!({"title": "x".repeat(200)});
        let body = refused(
            api.send("PATCH", &photo, capped, Some(big)).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        )
        .await;
        assert_eq!(body["error"]["details"]["limit"], 64, "{kind}");
        let (status, _) = api
            .patch_chunked(&photo, capped, &[br#"{"title":"#, br#""chunked ok"}"#])
            .await;
        assert_eq!(status, 200, "{kind}");
        let long = format!(r#""{}"}}"#, "y".repeat(100));
        let (status, body) = api
            .patch_chunked(&photo, capped, &[br#"{"title":"#, long.as_bytes()])
            .await;
        assert_eq!(status, 413, "{kind}: {body}");
        assert_eq!(body["error"]["code"], "request_too_large", "{kind}");
    }
    // The exchanged JWTs never needed tokend: only the opaque tokens were introspected.
    let before = served(app, INTROSPECT).await;
    assert_eq!(
        api.get("/photos", &capped_jwt).await.status(),
        StatusCode::OK
    );
    assert_eq!(served(app, INTROSPECT).await, before);
    let me = app
        .state
        .access_tokens
        .verify(&capped_jwt, tokend::clock::Clock::now(&app.clock))
        .unwrap();
    assert!(me.is_service());
}
