//! Operating tokend for real (issue #9): sign-in limits shared by two nodes through Redis and
//! the fallback when Redis stops; header, body and idle timeouts; SIGTERM with slow clients
//! connected; a streamed body over a service token's cap; the operations listener, CORS and
//! request ids; unknown settings stopping the start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::restart::{free_port, Binary};
use crate::service_tokens::{create_token, owner};

both_backends!(limits_hold_across_two_nodes_sharing_redis);

/// A Redis server of the test's own on a free port, so tests never share budgets or stop the
/// machine's Redis.
pub(crate) struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start_on(port: u16) -> Self {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, child };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start");
    }

    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sign-in attempt with a wrong password from `ip` (through a trusted proxy).
async fn attempt(app: &TestApp, ip: &str, login: &str) -> StatusCode {
    app.client
        .post(app.url("/v1/auth/sign_in"))
        .header("x-forwarded-for", ip)
        .json(&json!({"login": login, "password": "wrong-password-123", "device": {"name": "x"}}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn limits_hold_across_two_nodes_sharing_redis(b: Backend) {
    let redis = OwnRedis::start();
    let url = redis.url();
    let a = spawn_app_with(
        b,
        &[
            ("TOKEND_REDIS_URL", url.as_str()),
            ("TOKEND_TRUSTED_PROXIES", "127.0.0.1"),
            ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "4"),
            ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "6"),
        ],
    )
    .await;
    let b2 = a.second_node().await;
    a.seed_user("shared@example.com", "owner").await;

    // Per login: a burst split between the nodes gets the budget (4) in all, no more.
    let mut passed = 0;
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b2 };
        let ip = format!("198.51.100.{i}");
        match attempt(node, &ip, "shared@example.com").await {
            StatusCode::UNAUTHORIZED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(passed, 4, "the per-login budget is shared by both nodes");

    // Per IP: distinct logins from one address, split between the nodes: 6 in all.
    let mut passed = 0;
    for i in 0..12 {
        let node = if i % 2 == 0 { &b2 } else { &a };
        match attempt(node, "203.0.113.77", &format!("user{i}@example.com")).await {
            StatusCode::UNAUTHORIZED => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(passed, 6, "the per-IP budget is shared by both nodes");
    let ready: Value = a.get_json("/readyz").await;
    assert_eq!(ready["details"]["rate_limits"], "redis");
}

/// Redis stopped mid-test: every node falls back to its own limiter (no 5xx, still limited),
/// says so in `/readyz` and `/metrics`, and uses Redis again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_falls_back_and_recovers() {
    let redis = OwnRedis::start();
    let url = redis.url();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("TOKEND_REDIS_URL", url.as_str()),
            ("TOKEND_TRUSTED_PROXIES", "127.0.0.1"),
            ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "3"),
        ],
    )
    .await;
    assert_eq!(
        attempt(&app, "192.0.2.1", "outage@example.com").await,
        StatusCode::UNAUTHORIZED
    );
    let port = redis.stop();

    // Down: answers keep coming, none is a 5xx, and the login's limit still bites (in process).
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(attempt(&app, &format!("192.0.2.{}", 10 + i), "outage@example.com").await);
    }
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "never unlimited: {statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED),
        "never locked out: {statuses:?}"
    );
    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["details"]["rate_limits"], "in_process_fallback");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("tokend_rate_limit_redis_fallback 1"),
        "{metrics}"
    );

    // Back: after the reconnect interval the next check goes to Redis again.
    let _redis = OwnRedis::start_on(port);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        attempt(&app, "192.0.2.99", "back@example.com").await,
        StatusCode::UNAUTHORIZED
    );
    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["details"]["rate_limits"], "redis");
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains("tokend_rate_limit_redis_fallback 0"));
}

/// Reads until the peer closes (or `limit` passes); returns what arrived and when it closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => {
                return (
                    String::from_utf8_lossy(&got).into(),
                    Some(started.elapsed()),
                )
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                return (
                    String::from_utf8_lossy(&got).into(),
                    Some(started.elapsed()),
                )
            }
        }
    }
    (String::from_utf8_lossy(&got).into(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_headers_slow_bodies_and_idle_connections_are_cut_off() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("TOKEND_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("TOKEND_BODY_READ_TIMEOUT_SECONDS", "1"),
            ("TOKEND_IDLE_TIMEOUT_SECONDS", "2"),
        ],
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let (slow_head, slow_body, idle) = tokio::task::spawn_blocking(move || {
        // Half the headers, then nothing.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: tokend\r\n").unwrap();
        let slow_head = read_until_closed(&mut s, Duration::from_secs(8));
        // A body that promises 100 bytes and sends 10.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"POST /v1/auth/sign_in HTTP/1.1\r\nHost: tokend\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"login\":").unwrap();
        let slow_body = read_until_closed(&mut s, Duration::from_secs(8));
        // A keep-alive connection that answers one request and then idles.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: tokend\r\n\r\n").unwrap();
        let idle = read_until_closed(&mut s, Duration::from_secs(10));
        (slow_head, slow_body, idle)
    })
    .await
    .unwrap();
    let closed = slow_head.1.expect("slow headers: connection closed");
    assert!(closed < Duration::from_secs(4), "{closed:?}");
    let closed = slow_body.1.expect("slow body: connection closed");
    assert!(closed < Duration::from_secs(4), "{closed:?}");
    assert!(!slow_body.0.contains("HTTP/1.1 200"), "{}", slow_body.0);
    assert!(idle.0.starts_with("HTTP/1.1 200"), "{}", idle.0);
    let closed = idle.1.expect("idle keep-alive: connection closed");
    assert!(closed < Duration::from_secs(6), "{closed:?}");
    // The server still serves everyone else.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// The real binary, SIGTERM with a slow-header and a slow-body client connected and a request
/// being answered: it exits 0 within the grace period; the access log names requests but never
/// their secrets; an unknown setting stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_slow_clients_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(Backend::Sqlite, dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = base_settings(&db, dir.path()).into_iter().collect();
    env.push(("TOKEND_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push(("TOKEND_SHUTDOWN_GRACE_SECONDS".into(), "2".into()));
    env.push(("TOKEND_HEADER_READ_TIMEOUT_SECONDS".into(), "60".into()));
    env.push(("TOKEND_BODY_READ_TIMEOUT_SECONDS".into(), "60".into()));
    let bin = Binary { env: env.clone() };

    // A misspelt setting: the start stops, naming it and the closest known one.
    let mut bad = Binary { env: env.clone() };
    bad.env.push(("TOKEND_ACCES_TOKEN_TTL".into(), "60".into()));
    let out = bad.command(&["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TOKEND_ACCES_TOKEN_TTL") && stderr.contains("TOKEND_ACCESS_TOKEN_TTL"),
        "{stderr}"
    );

    let logs = dir.path().join("stderr.log");
    let mut child = bin
        .command(&["serve"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&logs).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "tokend did not become ready");
    let secret = "refresh-token-that-must-not-be-logged";
    let r = http
        .post(format!("{base}/v1/auth/token"))
        .header("x-request-id", "req-123")
        .json(&json!({"refresh_token": secret, "account_uuid": uuid::Uuid::new_v4()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-123");

    let mut slow_head = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow_body = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow_body
        .write_all(b"POST /v1/auth/sign_in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop((slow_head, slow_body));

    let log = std::fs::read_to_string(&logs).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("req-123"))
        .unwrap_or_else(|| panic!("an access-log line with the request id: {log}"));
    assert!(
        line.contains("/v1/auth/token") && line.contains("401"),
        "{line}"
    );
    assert!(!log.contains(secret), "a secret reached the log");
}

/// Sends `GET /v1/me` with a chunked body of `n` bytes (in 50-byte chunks) on a raw socket, so
/// no client library decides how the body is framed; returns the status line.
fn chunked_me(addr: &str, token: &str, n: usize) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "GET /v1/me HTTP/1.1\r\nHost: tokend\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    for _ in 0..n / 50 {
        // The server may answer 413 and close before the last chunks; that is the point.
        if s.write_all(format!("32\r\n{}\r\n", "x".repeat(50)).as_bytes())
            .is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5));
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_body_over_a_service_token_cap_gets_413() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let app = spawn_app(b).await;
        let (_, access) = owner(&app, "cap@example.com").await;
        let created = create_token(
            &app,
            &access,
            json!({"name": "capped", "scopes": ["photos:read"], "max_request_bytes": 100}),
        )
        .await;
        let token = created["token"].as_str().unwrap().to_string();
        let addr = app.base.trim_start_matches("http://").to_string();
        let (over, under) = tokio::task::spawn_blocking(move || {
            (
                chunked_me(&addr, &token, 1000),
                chunked_me(&addr, &token, 50),
            )
        })
        .await
        .unwrap();
        assert!(over.starts_with("HTTP/1.1 413"), "{over}");
        assert!(under.starts_with("HTTP/1.1 200"), "{under}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ops_listener_cors_and_request_ids() {
    let ops_port = free_port();
    let ops = format!("127.0.0.1:{ops_port}");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("TOKEND_OPS_LISTEN", ops.as_str()),
            ("TOKEND_CORS_ORIGINS", "https://app.example.com"),
        ],
    )
    .await;
    // /metrics left the public port and lives on the operations listener, with histograms.
    assert_error(
        app.client.get(app.url("/metrics")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let text = app
        .client
        .get(format!("http://{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tokend_http_request_duration_seconds_bucket{route=\"/healthz\""),
        "{text}"
    );
    assert!(text.contains("tokend_db_pool_connections"));
    assert!(text.contains("tokend_password_hash_queue_depth 0"));

    // CORS: the configured origin gets a preflight answer, another origin gets nothing.
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/v1/auth/sign_in"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://app.example.com").await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example.com").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Request ids: echoed when well-formed, made up when absent or malformed.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let long = "x".repeat(500);
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", long.as_str())
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], long.as_str());

    // Without TOKEND_CORS_ORIGINS no CORS header is ever sent.
    let plain = spawn_app(Backend::Sqlite).await;
    let r = plain
        .client
        .get(plain.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
