//! Sign-in rate limits per client IP and per login, and who counts as the client.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    per_ip_limit,
    per_login_limit,
    spoofed_forwarded_for_is_ignored,
    trusted_proxy_forwarded_for_is_used
);

async fn sign_in_from(app: &TestApp, login: &str, xff: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/auth/sign_in"))
        .json(&serde_json::json!({
            "login": login, "password": "wrong-password", "device": {"name": "p"}
        }));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

async fn assert_limited(r: reqwest::Response) {
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let e = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(e["error"]["details"]["retry_after"], retry);
}

async fn per_ip_limit(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "3")]).await;
    for i in 0..3 {
        let r = sign_in_from(&app, &format!("user{i}@example.com"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_limited(sign_in_from(&app, "someone-else@example.com", None).await).await;
}

async fn per_login_limit(b: Backend) {
    let app = spawn_app_with(
        b,
        &[
            ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "2"),
            ("TOKEND_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(
            sign_in_from(&app, "ana@example.com", Some(ip))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // A third IP, and even the right password, hits the per-login limit (normalised login).
    let r = app
        .client
        .post(app.url("/v1/auth/sign_in"))
        .header("x-forwarded-for", "203.0.113.3")
        .json(&serde_json::json!({"login": " ANA@example.com", "password": ana.password, "device": {"name": "p"}}))
        .send()
        .await
        .unwrap();
    assert_limited(r).await;
    // Other logins are unaffected.
    assert_eq!(
        sign_in_from(&app, "bob@example.com", Some("203.0.113.3"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn spoofed_forwarded_for_is_ignored(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "2")]).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(
            sign_in_from(&app, &format!("{ip}@example.com"), Some(ip))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_limited(sign_in_from(&app, "x@example.com", Some("198.51.100.3")).await).await;
}

async fn trusted_proxy_forwarded_for_is_used(b: Backend) {
    let app = spawn_app_with(
        b,
        &[
            ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "1"),
            ("TOKEND_TRUSTED_PROXIES", "127.0.0.0/8"),
        ],
    )
    .await;
    // Each client behind the proxy has its own bucket; a client-supplied left-most entry is not believed.
    assert_eq!(
        sign_in_from(&app, "a@example.com", Some("1.1.1.1, 198.51.100.1"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in_from(&app, "b@example.com", Some("198.51.100.2"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_limited(sign_in_from(&app, "c@example.com", Some("2.2.2.2, 198.51.100.1")).await).await;
}
