//! Throughput benchmarks for the hot paths, printed as a Markdown table for BENCHMARKS.md.
//!
//! `cargo bench --bench throughput` (add `-- --postgres` to run the HTTP paths on the local
//! PostgreSQL too). Each measurement runs for a bounded number of iterations and stops by itself;
//! the server is in-process on 127.0.0.1 with production argon2 parameters.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokend::app;
use tokend::clock::SystemClock;
use tokend::config::Settings;
use tokend::crypto::jwt::{AccessGrant, AccessTokens};
use tokend::crypto::keys::{generate_key, KeyAlg, KeyRing};
use tokend::crypto::password::Password;
use uuid::Uuid;

struct Row {
    what: String,
    n: usize,
    elapsed: Duration,
}

impl Row {
    fn print(&self) {
        let per = self.elapsed / self.n as u32;
        let rate = self.n as f64 / self.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {:.1} µs | {:.0}/s |",
            self.what,
            self.n,
            per.as_secs_f64() * 1e6,
            rate
        );
    }
}

fn time<F: FnMut()>(what: &str, n: usize, mut f: F) -> Row {
    f(); // warm-up
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    Row {
        what: what.to_string(),
        n,
        elapsed: start.elapsed(),
    }
}

async fn time_async<F, Fut>(what: &str, n: usize, mut f: F) -> Row
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await;
    let start = Instant::now();
    for _ in 0..n {
        f().await;
    }
    Row {
        what: what.to_string(),
        n,
        elapsed: start.elapsed(),
    }
}

/// `n` requests from `concurrency` tasks at once; returns the wall time.
async fn time_concurrent<F, Fut>(what: &str, n: usize, concurrency: usize, f: F) -> Row
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..n).step_by(concurrency) {
                f(i).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Row {
        what: what.to_string(),
        n,
        elapsed: start.elapsed(),
    }
}

fn signing_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for alg in [KeyAlg::Ed25519, KeyAlg::Es256, KeyAlg::Rs256] {
        let dir = tempfile::tempdir().unwrap();
        generate_key(dir.path(), alg, 0).unwrap();
        let tokens = AccessTokens::new(
            KeyRing::load(dir.path()).unwrap(),
            "http://b",
            "tokend",
            900,
        )
        .unwrap();
        let grant = AccessGrant {
            user: Uuid::new_v4(),
            session: Uuid::new_v4(),
            account: Uuid::new_v4(),
            client_id: "tokend",
            scope: "photos:read tags:read",
            audience: None,
            dpop_jkt: None,
        };
        let now = chrono::Utc::now().timestamp();
        rows.push(time(
            &format!("sign access token ({})", alg.name()),
            2_000,
            || {
                tokens.issue(&grant, now).unwrap();
            },
        ));
        let (jwt, _) = tokens.issue(&grant, now).unwrap();
        rows.push(time(
            &format!("verify access token ({})", alg.name()),
            2_000,
            || {
                tokens.verify(&jwt, now).unwrap();
            },
        ));
    }
    rows
}

async fn http_rows(label: &str, db_url: String) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = [
        (
            "TOKEND_CONFIG",
            dir.path().join("none.toml").display().to_string(),
        ),
        ("TOKEND_DATABASE_URL", db_url),
        (
            "TOKEND_KEYS_DIR",
            dir.path().join("keys").display().to_string(),
        ),
        ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "0".into()),
        ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let state = app::build(Settings::from_map(&env).unwrap(), Arc::new(SystemClock))
        .await
        .unwrap();
    state
        .add_user("bench@example.com", &Password::new("benchmark password 1"))
        .await
        .unwrap();
    let account = state.add_account("Bench").await.unwrap();
    state
        .add_member("bench@example.com", account, "owner")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tokend::http::serve(state.clone(), listener, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let sign_in_body = json!({"login": "bench@example.com", "password": "benchmark password 1", "device": {"name": "bench"}});

    let mut rows = Vec::new();
    {
        let (client, base, body) = (client.clone(), base.clone(), sign_in_body.clone());
        rows.push(
            time_async(
                &format!("POST /v1/auth/sign_in, sequential ({label})"),
                20,
                || {
                    let (client, base, body) = (client.clone(), base.clone(), body.clone());
                    async move {
                        let r = client
                            .post(format!("{base}/v1/auth/sign_in"))
                            .json(&body)
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success());
                    }
                },
            )
            .await,
        );
    }
    // Refresh: each task owns a session and rotates it.
    let sessions = 8;
    let mut tokens = Vec::new();
    for _ in 0..sessions {
        let v: Value = client
            .post(format!("{base}/v1/auth/sign_in"))
            .json(&sign_in_body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(Arc::new(tokio::sync::Mutex::new(
            v["refresh_token"].as_str().unwrap().to_string(),
        )));
    }
    let access = Arc::new(tokio::sync::Mutex::new(String::new()));
    {
        let (client, base, tokens, access) =
            (client.clone(), base.clone(), tokens.clone(), access.clone());
        rows.push(
            time_concurrent(
                &format!("POST /v1/auth/token (refresh), 8 concurrent ({label})"),
                2_000,
                sessions,
                move |i| {
                    let (client, base, tokens, access) =
                        (client.clone(), base.clone(), tokens.clone(), access.clone());
                    async move {
                        let mut rt = tokens[i % sessions].lock().await;
                        let r = client
                            .post(format!("{base}/v1/auth/token"))
                            .json(&json!({"refresh_token": *rt, "account_uuid": account}))
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success(), "{}", r.status());
                        let v: Value = r.json().await.unwrap();
                        *rt = v["refresh_token"].as_str().unwrap().to_string();
                        *access.lock().await = v["access_token"].as_str().unwrap().to_string();
                    }
                },
            )
            .await,
        );
    }
    let at = access.lock().await.clone();
    {
        let (client, base) = (client.clone(), base.clone());
        rows.push(
            time_concurrent(
                &format!("GET /v1/me (access token + session check), 8 concurrent ({label})"),
                4_000,
                8,
                move |_| {
                    let (client, base, at) = (client.clone(), base.clone(), at.clone());
                    async move {
                        let r = client
                            .get(format!("{base}/v1/me"))
                            .bearer_auth(at)
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success());
                    }
                },
            )
            .await,
        );
    }
    rows.extend(
        service_token_rows(label, &client, &base, &access.lock().await.clone(), &state).await,
    );
    let _ = tx.send(());
    server.await.unwrap().unwrap();
    rows
}

async fn service_token_rows(
    label: &str,
    client: &reqwest::Client,
    base: &str,
    at: &str,
    state: &tokend::app::AppState,
) -> Vec<Row> {
    let created: Value = client
        .post(format!("{base}/v1/service_tokens"))
        .bearer_auth(at)
        .json(&json!({"name": "bench", "scopes": ["photos:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut rows = Vec::new();
    rows.push(
        time_async(
            &format!("service-token check: checksum, hash, lookup, compare ({label})"),
            4_000,
            || {
                let (state, token) = (state.clone(), token.clone());
                async move {
                    state.authenticate_service_token(&token, ip).await.unwrap();
                }
            },
        )
        .await,
    );
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    rows.push(
        time_async(
            &format!("service-token with a bad checksum, refused without a DB read ({label})"),
            100_000,
            || {
                let (state, tampered) = (state.clone(), tampered.clone());
                async move {
                    assert!(state
                        .authenticate_service_token(&tampered, ip)
                        .await
                        .is_err());
                }
            },
        )
        .await,
    );
    let (client, base) = (client.clone(), base.to_string());
    rows.push(
        time_concurrent(
            &format!("GET /v1/me with a service token, 8 concurrent ({label})"),
            4_000,
            8,
            move |_| {
                let (client, base, token) = (client.clone(), base.clone(), token.clone());
                async move {
                    let r = client
                        .get(format!("{base}/v1/me"))
                        .header("x-api-key", token)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                }
            },
        )
        .await,
    );
    rows
}

#[tokio::main]
async fn main() {
    let postgres = std::env::args().any(|a| a == "--postgres");
    println!("| what | iterations | mean | throughput |");
    println!("|---|---|---|---|");
    for row in signing_rows() {
        row.print();
    }
    let dir = tempfile::tempdir().unwrap();
    for row in http_rows(
        "SQLite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )
    .await
    {
        row.print();
    }
    if postgres {
        let admin = std::env::var("TOKEND_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        let schema = format!("bench_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        for row in http_rows(
            "PostgreSQL",
            format!("{admin}?options=-c%20search_path%3D{schema}"),
        )
        .await
        {
            row.print();
        }
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
    }
}
