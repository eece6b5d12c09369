//! Where a token may be used from (IPv4, IPv6, CIDR, IPv4-mapped; client IP per the trusted-proxy
//! rule), invalid allowlists, and the per-token request-size cap.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::both_backends;

both_backends!(
    allowlist_admits_and_refuses_by_client_address,
    forwarded_for_from_an_untrusted_peer_is_ignored,
    invalid_allowlist_entries_create_nothing,
    max_request_bytes_is_enforced,
);

async fn assert_from(app: &TestApp, token: &str, ip: &str, allowed: bool) {
    let r = me_from(app, token, ip).await;
    if allowed {
        assert_eq!(r.status(), StatusCode::OK, "{ip} should be allowed");
    } else {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{ip} should be refused");
        assert_error(r, StatusCode::FORBIDDEN, "ip_not_allowed").await;
    }
}

async fn allowlist_admits_and_refuses_by_client_address(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Office", "scopes": ["photos:read"],
               "allowed_ips": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7",
                               "::ffff:192.0.2.1", "2001:db8:ffff::1"]}),
    )
    .await;
    // IPv4-mapped entries are stored (and shown) as the IPv4 address they are.
    assert_eq!(
        body["allowed_ips"],
        json!([
            "203.0.113.0/24",
            "2001:db8::/32",
            "198.51.100.7",
            "192.0.2.1",
            "2001:db8:ffff::1"
        ])
    );
    let token = body["token"].as_str().unwrap();
    for (ip, allowed) in [
        ("203.0.113.9", true),          // IPv4 CIDR
        ("203.0.114.9", false),         // just outside it
        ("198.51.100.7", true),         // single IPv4 host
        ("198.51.100.8", false),        // its neighbour
        ("2001:db8:1::1", true),        // IPv6 CIDR
        ("2001:db9::1", false),         // outside it
        ("2001:db8:ffff::1", true),     // single IPv6 host (also in the CIDR)
        ("::ffff:203.0.113.10", true),  // mapped client, matched as IPv4
        ("::ffff:198.51.100.8", false), // mapped client cannot sneak past
        ("192.0.2.1", true),            // entry given as mapped, client plain IPv4
        ("::ffff:192.0.2.1", true),     // entry and client both mapped
        ("192.0.2.2", false),
        ("[2001:db8::5]:443", true), // proxies that append ports are tolerated
    ] {
        assert_from(&app, token, ip, allowed).await;
    }
    // The TCP peer itself (127.0.0.1, no header) is not on the list.
    let r = app.get_bearer("/v1/me", token).await;
    assert_error(r, StatusCode::FORBIDDEN, "ip_not_allowed").await;

    // `::/0` admits every IPv6 client but no IPv4 one, mapped or not.
    let v6 = create_token(
        &app,
        &access,
        json!({"name": "IPv6 only", "scopes": ["photos:read"], "allowed_ips": ["::/0"]}),
    )
    .await;
    let v6 = v6["token"].as_str().unwrap();
    assert_from(&app, v6, "2001:db8::5", true).await;
    assert_from(&app, v6, "::ffff:203.0.113.9", false).await;
    assert_from(&app, v6, "203.0.113.9", false).await;

    // An empty list means anywhere; /v1/me shows the list.
    let (_, open) = simple_token(&app, &access, "Open").await;
    assert_from(&app, &open, "8.8.8.8", true).await;
    let me: Value = me_from(&app, token, "203.0.113.1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["service_token"]["allowed_ips"], body["allowed_ips"]);
}

async fn forwarded_for_from_an_untrusted_peer_is_ignored(b: Backend) {
    let app = spawn_app(b).await; // trusts no proxy
    let (_, access) = owner(&app, "ana@example.com").await;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Office", "scopes": ["photos:read"], "allowed_ips": ["203.0.113.0/24"]}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    assert_from(&app, token, "203.0.113.9", false).await;
    let local = create_token(
        &app,
        &access,
        json!({"name": "Local", "scopes": ["photos:read"], "allowed_ips": ["127.0.0.0/8"]}),
    )
    .await;
    assert_from(&app, local["token"].as_str().unwrap(), "203.0.113.9", true).await;
}

async fn invalid_allowlist_entries_create_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (_, _) = simple_token(&app, &access, "Existing").await;
    for bad in [
        "203.0.113.0/33",
        "203.0.113.5/24", // host bits set
        "2001:db8::/129",
        "not-an-ip",
        "010.0.0.1", // leading zero
        "",
    ] {
        let r = post_token(
            &app,
            &access,
            json!({"name": "Bad", "scopes": ["photos:read"], "allowed_ips": ["198.51.100.7", bad]}),
        )
        .await;
        let e = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(e["error"]["details"]["field"], "allowed_ips");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }
    let list: Value = app
        .get_bearer("/v1/service_tokens", &access)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["service_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Existing"]);
}

async fn max_request_bytes_is_enforced(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let body = create_token(
        &app,
        &access,
        json!({"name": "Small", "scopes": ["photos:read"], "max_request_bytes": 100}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    let send = |len: usize| {
        app.client
            .get(app.url("/v1/me"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("x".repeat(len))
            .send()
    };
    assert_eq!(send(100).await.unwrap().status(), StatusCode::OK);
    let r = send(101).await.unwrap();
    let e = assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
    assert_eq!(e["error"]["details"]["limit"], 100);
    // Checked where the token is resolved, before any handler reads the body.
    let big = json!({"name": "x".repeat(200), "scopes": ["photos:read"]});
    let r = post_token(&app, token, big).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
    let r = post_token(&app, token, json!({})).await;
    assert_error(r, StatusCode::FORBIDDEN, "user_token_required").await;
    // User tokens have no such cap.
    let r = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&access)
        .body("x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
