//! Resource APIs on `tokend-verify` (issue 10), end to end: tokend and the example photo API
//! (`examples/photos_api.rs`, compiled into this test binary as it is) both running on free
//! ports, spoken to over real HTTP. The snippets of docs/resource-apis.md run here too.

#[path = "../../examples/photos_api.rs"]
#[allow(dead_code)]
mod photos_api;

mod rate_limits;
mod resilience;
mod service_callers;
mod snippets;
mod users;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend_verify::TokendAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// The default audience, which the photo API accepts.
pub const AUDIENCE: &str = "tokend";

/// tokend (its issuer is its real address) and a photo API trusting it.
pub struct Stack {
    pub tokend: TestApp,
    pub api: PhotosApi,
    /// The settings the photo API was started with (issuer, audience, credentials).
    pub settings: photos_api::Settings,
}

/// tokend, resource-server credentials, and the example API connected to it.
pub async fn stack() -> Stack {
    stack_with(&[]).await
}

/// [`stack`] with extra tokend settings.
pub async fn stack_with(tokend_settings: &[(&str, &str)]) -> Stack {
    let tokend = spawn_app_live_issuer(Backend::Sqlite, tokend_settings).await;
    let rs = tokend
        .state
        .add_resource_server("Photos API", None)
        .await
        .unwrap();
    let settings = photos_api::Settings {
        listen: "127.0.0.1:0".into(),
        issuer: tokend.base.clone(),
        audience: AUDIENCE.into(),
        introspection: Some((rs.client_id, rs.client_secret.expose().to_string())),
        trusted_proxies: String::new(),
        redis_url: None,
    };
    let api = PhotosApi::start(&settings).await;
    Stack {
        tokend,
        api,
        settings,
    }
}

/// One running instance of the example API.
pub struct PhotosApi {
    pub base: String,
    pub client: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl PhotosApi {
    /// Connects to tokend as the example's `main` does, and serves on a free port.
    pub async fn start(settings: &photos_api::Settings) -> Self {
        let auth = photos_api::connect(settings).await.unwrap();
        Self::serve(&auth).await
    }

    /// Serves the example's router with `auth`.
    pub async fn serve(auth: &TokendAuth) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = photos_api::router(auth, photos_api::Store::default());
        let server = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            client: reqwest::Client::new(),
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `GET` with the token in `X-API-Key`, as service tokens are often sent.
    pub async fn get_with_key(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("x-api-key", token)
            .send()
            .await
            .unwrap()
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// The ids of the photos `token`'s account sees.
    pub async fn photo_ids(&self, token: &str) -> Vec<u64> {
        let r = self.get("/photos", token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_u64().unwrap())
            .collect()
    }

    /// A `PATCH` whose body is sent chunked (no `Content-Length`), over a raw connection so
    /// nothing on the way adds a length; returns the status and the body.
    pub async fn patch_chunked(&self, path: &str, token: &str, chunks: &[&[u8]]) -> (u16, Value) {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for chunk in chunks {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer and close before reading everything; that is the point.
        let _ = stream.write_all(&request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// How many requests tokend answered on `route` (all statuses), from its `/metrics`.
pub async fn served(tokend: &TestApp, route: &str) -> u64 {
    let text = tokend
        .client
        .get(tokend.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("tokend_http_requests_total{{route=\"{route}\",");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Asserts the contract's envelope and returns its body.
pub async fn refused(r: Response, status: StatusCode, code: &str) -> Value {
    assert_error(r, status, code).await
}

/// A user token narrowed to `scope`.
pub async fn scoped(app: &TestApp, seeded: &Seeded, scope: &str) -> String {
    crate::service_tokens::scoped_access_token(app, seeded, scope).await
}

/// Creates a service token with `body` (name added) for the owner's `access`; returns (id, token).
pub async fn service_token(app: &TestApp, access: &str, mut body: Value) -> (String, String) {
    body["name"] = json!("photos integration");
    let created = crate::service_tokens::create_token(app, access, body).await;
    (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    )
}
