//! The extractor and its rejections, through a real axum `Router`, the `TokendAuth` layer with
//! fixed keys, and `oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use super::Principal;
use crate::rejection::{AuthRejection, ScopeRejection};
use crate::test_support::{claims, now, verifier, TestKey};
use crate::{Introspection, TokendAuth, VerifyError, TOKEN_TYPE_SERVICE};

async fn whoami(principal: Principal) -> String {
    principal.subject().to_owned()
}

async fn delete_photo(principal: Principal) -> Result<&'static str, ScopeRejection> {
    principal.require_scope("photos:delete")?;
    Ok("deleted")
}

async fn read_photo(principal: Principal) -> Result<&'static str, ScopeRejection> {
    principal.require_scope("photos:read")?;
    Ok("photo")
}

fn app(key: &TestKey) -> Router {
    Router::new()
        .route("/me", get(whoami))
        .route("/delete", get(delete_photo))
        .route("/read", get(read_photo))
        .layer(TokendAuth::new(verifier(&[key])).layer())
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn call(app: Router, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        challenge,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn bearer_in_any_case_and_x_api_key_are_accepted() {
    let key = TestKey::ed25519("k");
    let token = key.sign(&claims());
    for (name, value) in [
        ("authorization", format!("Bearer {token}")),
        ("authorization", format!("bearer {token}")),
        ("authorization", format!("BEARER  {token} ")),
        ("x-api-key", token.clone()),
    ] {
        let reply = call(app(&key), "/me", &[(name, &value)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {value:.30}");
        assert_eq!(reply.body, claims().sub);
    }
}

#[tokio::test]
async fn no_token_is_401_with_a_plain_challenge() {
    let key = TestKey::ed25519("k");
    for headers in [&[][..], &[("authorization", "Basic dXNlcjpwYXNz")][..]] {
        let reply = call(app(&key), "/me", headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.challenge.as_deref(), Some("Bearer"));
        assert_eq!(reply.code(), "unauthorized");
        assert!(reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with('.'));
    }
}

#[tokio::test]
async fn a_refused_token_is_401_invalid_token() {
    let key = TestKey::ed25519("k");
    let stranger = TestKey::ed25519("k");
    let forged = stranger.sign(&claims());
    let both = key.sign(&claims());
    let cases: [&[(&str, &str)]; 5] = [
        &[("authorization", "Bearer not-a-jwt")],
        &[("authorization", "Bearer ")],
        &[("authorization", "Bearer")],
        &[("x-api-key", &forged)],
        &[
            ("authorization", &format!("Bearer {both}")),
            ("x-api-key", &both),
        ],
    ];
    for headers in cases {
        let reply = call(app(&key), "/me", headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(
            reply.challenge.as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(reply.code(), "unauthorized");
        assert!(!reply.body.contains(&forged) && !reply.body.contains(&both));
    }
}

#[tokio::test]
async fn an_expired_token_is_401_token_expired() {
    let key = TestKey::ed25519("k");
    let mut c = claims();
    c.exp = now() - 5;
    let reply = call(
        app(&key),
        "/me",
        &[("authorization", &format!("Bearer {}", key.sign(&c)))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge.as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(reply.code(), "token_expired");
}

#[tokio::test]
async fn a_missing_scope_is_403_scope_required() {
    let key = TestKey::ed25519("k");
    let auth = format!("Bearer {}", key.sign(&claims()));
    let reply = call(app(&key), "/delete", &[("authorization", &auth)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let json = reply.json();
    assert_eq!(json["error"]["code"], "scope_required");
    assert_eq!(json["error"]["details"]["scope"], "photos:delete");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("photos:delete"));
    assert_eq!(
        reply.challenge.as_deref(),
        Some("Bearer error=\"insufficient_scope\", scope=\"photos:delete\"")
    );
    let reply = call(app(&key), "/read", &[("authorization", &auth)]).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "photo")
    );
}

#[tokio::test]
async fn without_the_layer_a_principal_is_never_conjured() {
    let key = TestKey::ed25519("k");
    let app = Router::new().route("/me", get(whoami));
    let auth = format!("Bearer {}", key.sign(&claims()));
    let reply = call(app, "/me", &[("authorization", &auth)]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code(), "unauthorized");
}

#[test]
fn principals_from_claims_and_from_introspection() {
    let p = Principal::from_claims(claims());
    assert_eq!(p.subject(), claims().sub);
    assert!(!p.is_service() && p.allowed_ips().is_empty());
    assert!(p.has_scope("photos:read") && !p.has_scope("photos:delete"));
    assert_eq!(p.claims(), Some(&claims()));

    let answer = Introspection {
        active: true,
        token_type: Some(TOKEN_TYPE_SERVICE.into()),
        scope: Some("photos:read tags:read".into()),
        account_uuid: Some("acc".into()),
        sub: Some("0193".into()),
        allowed_ips: Some(vec!["10.0.0.0/8".into()]),
        max_request_bytes: Some(10),
        ..Introspection::default()
    };
    let p = Principal::from_introspection(&answer).unwrap();
    assert_eq!(p.subject(), "service_token:0193");
    assert_eq!(p.account_uuid(), "acc");
    assert!(p.is_service() && p.has_scope("tags:read") && p.claims().is_none());
    assert_eq!(
        (p.allowed_ips().len(), p.max_request_bytes()),
        (1, Some(10))
    );
    let inactive = Introspection {
        active: false,
        ..answer.clone()
    };
    assert_eq!(Principal::from_introspection(&inactive), None);
    let user_token = Introspection {
        token_type: Some("access_token".into()),
        ..answer.clone()
    };
    assert_eq!(Principal::from_introspection(&user_token), None);
    let no_account = Introspection {
        account_uuid: None,
        ..answer
    };
    assert_eq!(Principal::from_introspection(&no_account), None);
}

#[test]
fn rejection_codes_follow_the_contract() {
    assert_eq!(AuthRejection::Missing.code(), "unauthorized");
    assert_eq!(
        AuthRejection::Invalid(VerifyError::BadSignature).code(),
        "unauthorized"
    );
    assert_eq!(
        AuthRejection::Invalid(VerifyError::Expired).code(),
        "token_expired"
    );
    for (rejection, status, code) in [
        (
            AuthRejection::Inactive,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            AuthRejection::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        ),
        (
            AuthRejection::IpNotAllowed,
            StatusCode::FORBIDDEN,
            "ip_not_allowed",
        ),
        (
            AuthRejection::TooLarge { limit: 1 },
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
        ),
    ] {
        assert_eq!((rejection.status(), rejection.code()), (status, code));
    }
}
