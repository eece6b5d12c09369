//! Who may call `/v1/admin`: only a live admin key; a user or service token gets 403
//! `admin_key_required`, nothing or a wrong or removed key 401; an admin key is worth nothing
//! anywhere else.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{admin, admin_key};
use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{owner, simple_token};

both_backends!(every_admin_route_checks_its_caller);

async fn every_admin_route_checks_its_caller(b: Backend) {
    let app = spawn_app(b).await;
    let (seeded, user_token) = owner(&app, "access@example.com").await;
    let (_, service_token) = simple_token(&app, &user_token, "svc").await;
    let key = admin_key(&app, "support").await;
    let removed = admin_key(&app, "old").await;
    app.state.remove_admin_key("old").await.unwrap();
    let (u, a) = (seeded.user, seeded.account);
    let s = uuid::Uuid::new_v4();
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/v1/admin/users".into()),
        (Method::GET, "/v1/admin/users".into()),
        (Method::GET, format!("/v1/admin/users/{u}")),
        (Method::POST, format!("/v1/admin/users/{u}/disable")),
        (Method::POST, format!("/v1/admin/users/{u}/enable")),
        (Method::GET, format!("/v1/admin/users/{u}/sessions")),
        (Method::DELETE, format!("/v1/admin/users/{u}/sessions/{s}")),
        (Method::DELETE, format!("/v1/admin/users/{u}/mfa")),
        (Method::GET, format!("/v1/admin/users/{u}/memberships")),
        (Method::POST, format!("/v1/admin/users/{u}/password_reset")),
        (Method::POST, "/v1/admin/accounts".into()),
        (Method::GET, "/v1/admin/accounts".into()),
        (Method::GET, format!("/v1/admin/accounts/{a}")),
        (Method::PATCH, format!("/v1/admin/accounts/{a}")),
        (Method::GET, format!("/v1/admin/accounts/{a}/members")),
        (Method::PUT, format!("/v1/admin/accounts/{a}/members/{u}")),
        (
            Method::GET,
            format!("/v1/admin/accounts/{a}/service_tokens"),
        ),
        (
            Method::DELETE,
            format!("/v1/admin/accounts/{a}/service_tokens/{s}"),
        ),
        (Method::GET, "/v1/admin/audit".into()),
        // Destructive ones last, so the valid-key pass does not remove what others need.
        (
            Method::DELETE,
            format!("/v1/admin/accounts/{a}/members/{u}"),
        ),
        (Method::DELETE, format!("/v1/admin/users/{u}/sessions")),
        (Method::DELETE, format!("/v1/admin/accounts/{a}?force=true")),
        (Method::DELETE, format!("/v1/admin/users/{u}")),
    ];
    for (method, path) in &routes {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for wrong in [removed.as_str(), "tkd_admin_nonsense"] {
            let r = admin(&app, wrong, method.clone(), path, None).await;
            assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        for token in [user_token.as_str(), service_token.as_str()] {
            let r = admin(&app, token, method.clone(), path, None).await;
            assert_error(r, StatusCode::FORBIDDEN, "admin_key_required").await;
        }
    }
    for (method, path) in &routes {
        let body = match (method.as_str(), path.as_str()) {
            ("POST", "/v1/admin/users") => Some(json!({"login": "made@example.com"})),
            ("POST", "/v1/admin/accounts") | ("PATCH", _) => Some(json!({"name": "Renamed"})),
            ("PUT", _) => Some(json!({"role": "viewer"})),
            _ => None,
        };
        let r = admin(&app, &key, method.clone(), path, body).await;
        let status = r.status();
        assert!(
            status.is_success() || status == StatusCode::NOT_FOUND,
            "{method} {path}: {status} {}",
            r.text().await.unwrap()
        );
    }
    // An admin key anywhere else is not a credential.
    let r = app.get_bearer("/v1/me", &key).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.get_bearer("/v1/service_tokens", &key).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Every admin call above is audited with the key's name.
    let audit = admin(
        &app,
        &key,
        Method::GET,
        "/v1/admin/audit?kind=admin.user_deleted",
        None,
    )
    .await;
    let audit: serde_json::Value = audit.json().await.unwrap();
    assert_eq!(audit["items"][0]["actor"], "admin_key:support");
    assert_eq!(audit["items"][0]["ip"], "127.0.0.1");
}
