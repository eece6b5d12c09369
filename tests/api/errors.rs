//! Every failure speaks the contract's envelope, including axum's own rejections.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    envelope_for_routing_and_body_errors,
    envelope_for_missing_and_bad_tokens
);

async fn envelope_for_routing_and_body_errors(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.client.get(app.url("/v1/nope")).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .client
        .get(app.url("/v1/auth/sign_in"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let sign_in = app.url("/v1/auth/sign_in");
    let r = app
        .client
        .post(&sign_in)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Each bad body is a 400 naming the field at fault.
    for (path, body, field) in [
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x"}),
            "device",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {}}),
            "device.name",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": 42, "password": "x", "device": {"name": "p"}}),
            "login",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {"name": "p", "colour": "red"}}),
            "device.colour",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {"name": "p"}, "extra": 1}),
            "extra",
        ),
        // Control characters are refused up front, identically on both databases.
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {"name": "a\u{0}b"}}),
            "device.name",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {"name": "x".repeat(101)}}),
            "device.name",
        ),
        (
            "/v1/auth/token",
            json!({"refresh_token": "rt_x", "account_uuid": "not-a-uuid"}),
            "account_uuid",
        ),
        (
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": "x", "device": {"name": "p", "platform": "i\u{0}s"}}),
            "device.platform",
        ),
    ] {
        let e = assert_error(
            app.post(path, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(e["error"]["details"]["field"], field, "{body}");
    }

    let r = app
        .client
        .post(&sign_in)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let r = app.client.post(&sign_in).body("{}").send().await.unwrap();
    assert_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let huge = format!("{{\"login\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = app
        .client
        .post(&sign_in)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
    // Just under 1 MiB is read (and then refused for what it says, not for its size).
    let big = format!("{{\"login\": \"{}\"}}", "a".repeat(1024 * 1024 - 100));
    let r = app
        .client
        .post(&sign_in)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Password bodies never echo back.
    let r = app
        .post(
            "/v1/auth/sign_in",
            json!({"login": "a@b.c", "password": 12345678, "device": {"name": "p"}}),
        )
        .await;
    let text = r.text().await.unwrap();
    assert!(!text.contains("12345678"), "{text}");
}

async fn envelope_for_missing_and_bad_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.client.get(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.get_bearer("/v1/me", "not-a-token").await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .client
        .get(app.url("/v1/auth/sessions"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Operations endpoints.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tokend_http_requests_total{route=\"/v1/me\",status=\"401\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("not-a-token"));
}
