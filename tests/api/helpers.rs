//! Test harness: `spawn_app(backend)` runs the real server on a free port with its own fresh
//! database (a temporary SQLite file, or a new PostgreSQL schema), its own keys directory and a
//! manual clock, and speaks HTTP to it.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend::app::{self, AppState};
use tokend::clock::ManualClock;
use tokend::config::Settings;
use tokend::crypto::password::Password;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their schemas in.
pub fn postgres_admin_url() -> String {
    std::env::var("TOKEND_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A database URL no other test shares.
pub async fn fresh_database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("tokend.db").display()),
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let schema = format!("t_{}", Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("PostgreSQL must be reachable for the PostgreSQL tests (see README)");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let sep = if admin.contains('?') { '&' } else { '?' };
            format!("{admin}{sep}options=-c%20search_path%3D{schema}")
        }
    }
}

/// The settings every test server starts from: cheap argon2, temporary keys, its own database.
pub fn base_settings(db_url: &str, dir: &std::path::Path) -> HashMap<String, String> {
    [
        ("TOKEND_CONFIG", dir.join("none.toml").display().to_string()),
        ("TOKEND_DATABASE_URL", db_url.to_string()),
        ("TOKEND_KEYS_DIR", dir.join("keys").display().to_string()),
        ("TOKEND_ISSUER", "http://tokend.test".to_string()),
        ("TOKEND_ARGON2_M_COST", "256".to_string()),
        ("TOKEND_ARGON2_T_COST", "1".to_string()),
        ("TOKEND_DB_MAX_CONNECTIONS", "8".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A running server.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    env: HashMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts a server with extra settings, e.g. `&[("TOKEND_REFRESH_GRACE_SECONDS", "0")]`.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(backend, dir.path()).await;
    let mut env = base_settings(&db_url, dir.path());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    start_node(env, ManualClock::starting_now(), dir).await
}

/// Like [`spawn_app_with`], with `TOKEND_ISSUER` set to the address the server really listens
/// on, so clients driven by the discovery metadata reach it.
pub async fn spawn_app_live_issuer(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(backend, dir.path()).await;
    let mut env = base_settings(&db_url, dir.path());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    env.insert("TOKEND_ISSUER".into(), format!("http://{addr}"));
    start_node_on(env, ManualClock::starting_now(), dir, listener).await
}

async fn start_node(
    env: HashMap<String, String>,
    clock: ManualClock,
    dir: tempfile::TempDir,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_node_on(env, clock, dir, listener).await
}

async fn start_node_on(
    env: HashMap<String, String>,
    clock: ManualClock,
    dir: tempfile::TempDir,
    listener: tokio::net::TcpListener,
) -> TestApp {
    let settings = Settings::from_map(&env).unwrap();
    let state = app::build(settings, Arc::new(clock.clone())).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(tokend::http::serve(state.clone(), listener, async {
        let _ = rx.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().build().unwrap(),
        clock,
        state,
        dir,
        env,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// A user with a password, a member of one account.
pub struct Seeded {
    pub login: String,
    pub password: String,
    pub user: Uuid,
    pub account: Uuid,
}

pub const PASSWORD: &str = "purple-monkey-dishwasher-42";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_bearer(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET` a JSON body (readiness, metadata), asserting nothing about the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET` a text body (`/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One of the settings this server was started with.
    pub fn env_value(&self, key: &str) -> String {
        self.env[key].clone()
    }

    /// `POST` of a form body, optionally with HTTP Basic client credentials.
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Response {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.unwrap()
    }

    /// Registers a client; returns (client_id, secret for a confidential one).
    pub async fn register_client(
        &self,
        confidential: bool,
        grants: &[&str],
        audiences: &[&str],
    ) -> (String, Option<String>) {
        let creds = self
            .state
            .add_client(tokend::domain::oauth2::clients::NewClient {
                name: "Test client".into(),
                confidential,
                grants: grants.iter().map(|g| g.to_string()).collect(),
                audiences: audiences.iter().map(|a| a.to_string()).collect(),
            })
            .await
            .unwrap();
        (
            creds.client_id,
            creds.client_secret.map(|s| s.expose().to_string()),
        )
    }

    /// Signs in on a device of `client_id`; returns the session's first refresh token.
    pub async fn refresh_token_for_client(&self, seeded: &Seeded, client_id: &str) -> String {
        let r = self
            .post(
                "/v1/auth/sign_in",
                json!({"login": seeded.login, "password": seeded.password,
                       "device": {"name": "Phone", "client_id": client_id}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["refresh_token"].as_str().unwrap().to_string()
    }

    /// Creates `login` with [`PASSWORD`] as `role` of a new account.
    pub async fn seed_user(&self, login: &str, role: &str) -> Seeded {
        let user = self
            .state
            .add_user(login, &Password::new(PASSWORD))
            .await
            .unwrap();
        let account = self
            .state
            .add_account(&format!("Account of {login}"))
            .await
            .unwrap();
        self.state.add_member(login, account, role).await.unwrap();
        Seeded {
            login: login.to_string(),
            password: PASSWORD.to_string(),
            user,
            account,
        }
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/sign_in",
            json!({"login": login, "password": password, "device": {"name": "Test phone", "platform": "ios"}}),
        )
        .await
    }

    /// Signs in and returns the body, asserting success.
    pub async fn signed_in(&self, seeded: &Seeded) -> Value {
        let r = self.sign_in(&seeded.login, &seeded.password).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str, account: Uuid) -> Response {
        self.post(
            "/v1/auth/token",
            json!({"refresh_token": refresh_token, "account_uuid": account}),
        )
        .await
    }

    /// Signs in and returns the session's first refresh token.
    pub async fn first_refresh_token(&self, seeded: &Seeded) -> String {
        self.signed_in(seeded).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Asserts that refreshing `token` for `account` fails with the contract's `code`.
    pub async fn assert_refresh_fails(&self, token: &str, account: Uuid, code: &str) {
        let status = if code == "account_access_denied" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_error(self.refresh(token, account).await, status, code).await;
    }

    /// Signs in and exchanges for an access token; returns (access, refresh).
    pub async fn access_token(&self, seeded: &Seeded) -> (String, String) {
        let body = self.signed_in(seeded).await;
        let r = self
            .refresh(body["refresh_token"].as_str().unwrap(), seeded.account)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let t: Value = r.json().await.unwrap();
        (
            t["access_token"].as_str().unwrap().to_string(),
            t["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    /// Another tokend node on the same database and keys directory, as in a cluster behind a
    /// load balancer; it shares this node's clock.
    pub async fn second_node(&self) -> TestApp {
        start_node(
            self.env.clone(),
            self.clock.clone(),
            tempfile::tempdir().unwrap(),
        )
        .await
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Asserts the contract's error envelope and code; returns the body.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "unexpected status");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "error bodies are JSON"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    body
}

/// Asserts an RFC 6749 section 5.2 error body with `error`; returns the body.
pub async fn assert_oauth_error(r: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(r.status(), status, "unexpected status");
    assert_eq!(
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "body: {body}");
    assert!(body["error_description"].is_string(), "body: {body}");
    body
}

/// Runs an async test body once per backend, as `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}
