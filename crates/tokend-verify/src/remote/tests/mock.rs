//! A stand-in for tokend on a free port: metadata, a JWKS whose answer tests control, and an
//! introspection endpoint that counts its calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use crate::{Introspection, JwkSet};

pub const CLIENT_ID: &str = "rs-id";
pub const CLIENT_SECRET: &str = "rs-secret";

/// What `GET /jwks` answers.
#[derive(Clone)]
pub enum JwksAnswer {
    Keys(JwkSet, Option<&'static str>),
    Status(StatusCode),
    Body(&'static str),
}

pub struct Mock {
    pub base: String,
    pub issuer_in_metadata: Mutex<Option<String>>,
    pub jwks: Mutex<JwksAnswer>,
    pub jwks_hits: AtomicUsize,
    pub answers: Mutex<HashMap<String, Introspection>>,
    pub introspection_status: Mutex<StatusCode>,
    pub introspect_hits: AtomicUsize,
    pub introspect_delay: Duration,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Mock {
    pub async fn start(jwks: JwkSet, cache_control: Option<&'static str>) -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mock = Arc::new(Self {
            base,
            issuer_in_metadata: Mutex::new(None),
            jwks: Mutex::new(JwksAnswer::Keys(jwks, cache_control)),
            jwks_hits: AtomicUsize::new(0),
            answers: Mutex::default(),
            introspection_status: Mutex::new(StatusCode::OK),
            introspect_hits: AtomicUsize::new(0),
            introspect_delay: Duration::from_millis(100),
            shutdown: Mutex::new(Some(tx)),
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks_answer))
            .route("/introspect", post(introspect))
            .with_state(Arc::clone(&mock));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        mock
    }

    pub fn set_jwks(&self, answer: JwksAnswer) {
        *self.jwks.lock().unwrap() = answer;
    }

    pub fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn introspect_hits(&self) -> usize {
        self.introspect_hits.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }
}

async fn metadata(State(mock): State<Arc<Mock>>) -> Json<serde_json::Value> {
    let issuer = mock
        .issuer_in_metadata
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| mock.base.clone());
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", mock.base),
        "introspection_endpoint": format!("{}/introspect", mock.base),
    }))
}

async fn jwks_answer(State(mock): State<Arc<Mock>>) -> Response {
    mock.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let answer = mock.jwks.lock().unwrap().clone();
    match answer {
        JwksAnswer::Keys(set, cache_control) => {
            let mut response = Json(set).into_response();
            if let Some(value) = cache_control {
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, value.parse().unwrap());
            }
            response
        }
        JwksAnswer::Status(status) => status.into_response(),
        JwksAnswer::Body(body) => body.into_response(),
    }
}

async fn introspect(
    State(mock): State<Arc<Mock>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    mock.introspect_hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(mock.introspect_delay).await;
    let expected = format!(
        "Basic {}",
        crate::test_support::b64std(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let status = *mock.introspection_status.lock().unwrap();
    if status != StatusCode::OK {
        return status.into_response();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let answer = mock.answers.lock().unwrap().get(&token).cloned();
    Json(answer.unwrap_or_else(Introspection::inactive)).into_response()
}
