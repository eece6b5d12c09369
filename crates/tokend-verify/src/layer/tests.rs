//! The layer's own checks (allowlist, size cap, `RequireScope`) with fixed keys and exchanged
//! service-token JWTs, through a real axum `Router` and `oneshot`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::handler::Handler;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use http_body::Frame;
use serde_json::Value;
use tower::ServiceExt;

use crate::test_support::{claims, service_claims, verifier, TestKey};
use crate::{Principal, RequireScope, TokendAuth, TrustedProxies};

/// A chunked body: frames with no length known up front, as from `Transfer-Encoding: chunked`.
struct Chunked(VecDeque<Bytes>);

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn chunked(chunks: usize, size: usize) -> Body {
    Body::new(Chunked(
        (0..chunks).map(|_| Bytes::from(vec![b'x'; size])).collect(),
    ))
}

struct Fixture {
    key: TestKey,
    calls: Arc<AtomicUsize>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            key: TestKey::ed25519("k"),
            calls: Arc::default(),
        }
    }

    fn app(&self, proxies: &str) -> Router {
        let calls = Arc::clone(&self.calls);
        let upload = move |_: Principal, body: Bytes| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            format!("{} bytes", body.len())
        };
        let auth = TokendAuth::new(verifier(&[&self.key]))
            .with_trusted_proxies(TrustedProxies::parse(proxies).unwrap());
        Router::new()
            .route(
                "/read",
                get((|| async { "ok" }).layer(RequireScope("photos:read"))),
            )
            .route(
                "/delete",
                get(|| async { "deleted" }).route_layer(RequireScope("photos:delete")),
            )
            .route("/upload", post(upload))
            .layer(auth.layer())
    }

    fn bearer(&self, claims: &crate::AccessClaims) -> String {
        format!("Bearer {}", self.key.sign(claims))
    }
}

async fn send(app: Router, request: Request<Body>, peer: &str) -> (StatusCode, Value) {
    let mut request = request;
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

fn get_req(path: &str, auth: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", auth)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn require_scope_answers_403_with_the_scope() {
    let f = Fixture::new();
    let auth = f.bearer(&claims());
    let (status, body) = send(f.app(""), get_req("/read", &auth), "127.0.0.1").await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    let (status, body) = send(f.app(""), get_req("/delete", &auth), "127.0.0.1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "scope_required");
    assert_eq!(body["error"]["details"]["scope"], "photos:delete");
    // A route layer alone, with no TokendAuth outside it, refuses rather than lets through.
    let bare = Router::new().route(
        "/read",
        get((|| async { "ok" }).layer(RequireScope("photos:read"))),
    );
    let (status, body) = send(bare, get_req("/read", &auth), "127.0.0.1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
}

#[tokio::test]
async fn service_jwt_allowlist_uses_peer_or_trusted_forwarded_for() {
    let f = Fixture::new();
    let auth = f.bearer(&service_claims(&["203.0.113.0/24", "127.0.0.1"], None));
    let from = |peer: &'static str, xff: Option<&'static str>, proxies: &'static str| {
        let mut request = get_req("/read", &auth);
        if let Some(xff) = xff {
            request
                .headers_mut()
                .insert("x-forwarded-for", xff.parse().unwrap());
        }
        send(f.app(proxies), request, peer)
    };
    assert_eq!(from("127.0.0.1", None, "").await.0, StatusCode::OK);
    assert_eq!(from("203.0.113.7", None, "").await.0, StatusCode::OK);
    let (status, body) = from("198.51.100.1", None, "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_not_allowed"))
    );
    // A header from an untrusted peer is ignored, in both directions.
    assert_eq!(
        from("198.51.100.1", Some("203.0.113.7"), "").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        from("127.0.0.1", Some("198.51.100.1"), "").await.0,
        StatusCode::OK
    );
    // Behind a trusted proxy the right-most untrusted entry counts.
    assert_eq!(
        from("10.0.0.2", Some("1.1.1.1, 203.0.113.7"), "10.0.0.0/8")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        from("10.0.0.2", Some("203.0.113.7, 198.51.100.1"), "10.0.0.0/8")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Without the peer address (no connect info), a token with an allowlist is refused.
    let response = f.app("").oneshot(get_req("/read", &auth)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // User tokens and allowlist-free service tokens are not bound to an address.
    assert_eq!(
        send(
            f.app(""),
            get_req("/read", &f.bearer(&claims())),
            "198.51.100.1"
        )
        .await
        .0,
        StatusCode::OK
    );
    let open = f.bearer(&service_claims(&[], None));
    assert_eq!(
        send(f.app(""), get_req("/read", &open), "198.51.100.1")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn service_jwt_size_cap_holds_for_declared_and_chunked_bodies() {
    let f = Fixture::new();
    let auth = f.bearer(&service_claims(&[], Some(100)));
    let upload = |body: Body, length: Option<usize>| {
        let mut request = Request::post("/upload").header("authorization", &auth);
        if let Some(length) = length {
            request = request.header("content-length", length);
        }
        send(f.app(""), request.body(body).unwrap(), "127.0.0.1")
    };
    let (status, body) = upload(Body::from(vec![b'x'; 100]), Some(100)).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String("100 bytes".into()))
    );
    let (status, body) = upload(chunked(4, 25), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String("100 bytes".into()))
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);

    // Declared too large: refused before the handler runs.
    let (status, body) = upload(Body::from(vec![b'x'; 101]), Some(101)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "request_too_large");
    assert_eq!(body["error"]["details"]["limit"], 100);
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    // Chunked, no length: stopped while streaming, whatever the handler made of the error.
    let (status, body) = upload(chunked(5, 25), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["details"]["limit"], 100);
    let (status, _) = upload(chunked(1, 1000), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A user token has no cap here.
    let user = f.bearer(&claims());
    let request = Request::post("/upload")
        .header("authorization", &user)
        .body(chunked(10, 100))
        .unwrap();
    assert_eq!(
        send(f.app(""), request, "127.0.0.1").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn authenticate_works_outside_a_router() {
    let f = Fixture::new();
    let auth = TokendAuth::new(verifier(&[&f.key]));
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-api-key", f.key.sign(&claims()).parse().unwrap());
    let principal = auth.authenticate(&headers).await.unwrap();
    assert_eq!(principal.account_uuid(), claims().account_uuid);
    assert_eq!(
        auth.authenticate(&axum::http::HeaderMap::new()).await,
        Err(crate::AuthRejection::Missing)
    );
}

#[tokio::test]
async fn service_jwt_rate_limit_counts_down_then_answers_429() {
    let f = Fixture::new();
    let app = f.app("");
    let mut limited = service_claims(&[], None);
    limited.rate_limit = Some("3/minute".parse().unwrap());
    let auth = f.bearer(&limited);
    let header = |r: &axum::response::Response, name: &str| -> u64 {
        r.headers()[name].to_str().unwrap().parse().unwrap()
    };
    for expected in (0..3).rev() {
        let mut request = get_req("/read", &auth);
        request
            .extensions_mut()
            .insert(ConnectInfo("127.0.0.1:1".parse::<SocketAddr>().unwrap()));
        let r = app.clone().oneshot(request).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        for family in ["ratelimit", "x-ratelimit"] {
            assert_eq!(header(&r, &format!("{family}-limit")), 3);
            assert_eq!(header(&r, &format!("{family}-remaining")), expected);
        }
        assert!(header(&r, "ratelimit-reset") <= 60);
        assert!(header(&r, "x-ratelimit-reset") > 1_700_000_000);
    }
    let r = app.clone().oneshot(get_req("/read", &auth)).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after"), 20);
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["details"]["retry_after"], 20);

    // Another token has its own budget; tokens without a rate, and users, carry no headers.
    let mut other = limited.clone();
    other.sub = "service_token:0190a0b0-0000-7000-8000-0000000000s2".into();
    let r = app
        .clone()
        .oneshot(get_req("/read", &f.bearer(&other)))
        .await
        .unwrap();
    assert_eq!(header(&r, "ratelimit-remaining"), 2);
    let mut user = claims();
    user.rate_limit = Some("1/minute".parse().unwrap());
    for _ in 0..3 {
        let r = app
            .clone()
            .oneshot(get_req("/read", &f.bearer(&user)))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("ratelimit-limit").is_none());
    }
    let open = f.bearer(&service_claims(&[], None));
    let r = app.oneshot(get_req("/read", &open)).await.unwrap();
    assert!(r.headers().get("x-ratelimit-limit").is_none());
}

/// `authenticate` (for code outside a router) cannot see the method and URL a proof names, so it
/// refuses DPoP-bound tokens and the DPoP scheme, whatever the token; `authenticate_request`
/// checks the proof.
#[tokio::test]
async fn authenticate_refuses_what_it_cannot_check_and_authenticate_request_checks_it() {
    use crate::dpop::{Confirmation, DpopSigner};
    use crate::AuthRejection;
    let key = TestKey::ed25519("k");
    let auth = TokendAuth::new(verifier(&[&key])).with_public_url("https://api.example.test/");
    let signer = DpopSigner::generate_es256().unwrap();
    let bound = key.sign(&crate::AccessClaims {
        cnf: Some(Confirmation {
            jkt: signer.jkt().to_owned(),
        }),
        ..claims()
    });
    let bearer = key.sign(&claims());
    let headers = |scheme: &str, token: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "authorization",
            format!("{scheme} {token}").parse().unwrap(),
        );
        h
    };
    assert!(auth.authenticate(&headers("Bearer", &bearer)).await.is_ok());
    for (scheme, token) in [("Bearer", &bound), ("DPoP", &bound), ("DPoP", &bearer)] {
        assert_eq!(
            auth.authenticate(&headers(scheme, token))
                .await
                .unwrap_err(),
            AuthRejection::DpopScheme,
            "{scheme}"
        );
    }
    let now = crate::test_support::now();
    let proof = signer
        .proof(
            "GET",
            "https://api.example.test/me",
            Some(&bound),
            None,
            now,
        )
        .unwrap();
    let request = Request::get("/me")
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", &proof)
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let principal = auth.authenticate_request(&parts).await.unwrap();
    assert_eq!(principal.dpop_jkt(), Some(signer.jkt()));
    // The same proof again is a replay.
    assert!(matches!(
        auth.authenticate_request(&parts).await,
        Err(AuthRejection::Dpop(crate::dpop::DpopError::Replayed))
    ));
}
