//! The real binary: the CLI sets up a user, `serve` runs, `kill -9`, and after a restart the
//! refresh token, the session and the signing key are all still there.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

both_backends!(kill_dash_nine_then_restart_loses_nothing);

pub(crate) struct Binary {
    pub(crate) env: Vec<(String, String)>,
}

impl Binary {
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tokend"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "tokend {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) async fn serve(&self, base: &str) -> Child {
        let child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if reqwest::get(format!("{base}/readyz"))
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("tokend did not become ready");
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn kill_dash_nine_then_restart_loses_nothing(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(b, dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = base_settings(&db, dir.path()).into_iter().collect();
    env.push(("TOKEND_LISTEN".into(), format!("127.0.0.1:{port}")));
    let bin = Binary { env };

    let user = bin.run(
        &["user", "add", "ana@example.com", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        uuid::Uuid::parse_str(user.trim()).is_ok(),
        "uuid alone on a line: {user:?}"
    );
    let account = bin
        .run(&["account", "add", "Studio Ana"], None)
        .trim()
        .to_string();
    bin.run(
        &[
            "member",
            "add",
            "ana@example.com",
            &account,
            "--role",
            "owner",
        ],
        None,
    );
    let kid = bin.run(&["keys", "list"], None);

    let mut server = bin.serve(&base).await;
    let client = reqwest::Client::new();
    let signed: Value = client
        .post(format!("{base}/v1/auth/sign_in"))
        .json(
            &json!({"login": "ana@example.com", "password": PASSWORD, "device": {"name": "phone"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = |token: String| {
        let client = client.clone();
        let url = format!("{base}/v1/auth/token");
        let account = account.clone();
        async move {
            client
                .post(url)
                .json(&json!({"refresh_token": token, "account_uuid": account}))
                .send()
                .await
                .unwrap()
        }
    };
    let t1: Value = refresh(signed["refresh_token"].as_str().unwrap().to_string())
        .await
        .json()
        .await
        .unwrap();
    let jwks_before: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    server.kill().unwrap(); // SIGKILL: no graceful anything
    server.wait().unwrap();

    let mut server = bin.serve(&base).await;
    let jwks_after: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_before, jwks_after, "same keys after restart");
    // The access token issued before the crash still verifies; the refresh token still rotates.
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(t1["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let r = refresh(t1["refresh_token"].as_str().unwrap().to_string()).await;
    assert_eq!(r.status(), StatusCode::OK);
    // And the spent one is still known as spent (which revokes that session).
    let r = refresh(signed["refresh_token"].as_str().unwrap().to_string()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    assert!(
        bin.run(&["keys", "list"], None) == kid,
        "no key was added by the restart"
    );
    // `user disable` kills a live session at once; `user enable` lets the user sign in again.
    let sign_in = || {
        client
            .post(format!("{base}/v1/auth/sign_in"))
            .json(&json!({"login": "ana@example.com", "password": PASSWORD, "device": {"name": "tablet"}}))
            .send()
    };
    let fresh: Value = sign_in().await.unwrap().json().await.unwrap();
    let t3: Value = refresh(fresh["refresh_token"].as_str().unwrap().to_string())
        .await
        .json()
        .await
        .unwrap();
    let me = |token: String| {
        client
            .get(format!("{base}/v1/me"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        me(t3["access_token"].as_str().unwrap().to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    bin.run(&["user", "disable", "ana@example.com"], None);
    let r = me(t3["access_token"].as_str().unwrap().to_string())
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        sign_in().await.unwrap(),
        StatusCode::FORBIDDEN,
        "user_disabled",
    )
    .await;
    bin.run(&["user", "enable", "ana@example.com"], None);
    assert_eq!(sign_in().await.unwrap().status(), StatusCode::OK);
    // `member remove` ends access to the account at the next refresh.
    let fresh: Value = sign_in().await.unwrap().json().await.unwrap();
    bin.run(&["member", "remove", "ana@example.com", &account], None);
    let r = refresh(fresh["refresh_token"].as_str().unwrap().to_string()).await;
    assert_error(r, StatusCode::FORBIDDEN, "account_access_denied").await;
    // The password policy holds for `user add` too, and nothing is created.
    let out = bin
        .command(&["user", "add", "bob@example.com", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut out = out;
        out.stdin
            .take()
            .unwrap()
            .write_all(b"password123\n")
            .unwrap();
        out.wait_with_output().unwrap()
    };
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("common"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = client
        .post(format!("{base}/v1/auth/sign_in"))
        .json(&json!({"login": "bob@example.com", "password": "password123", "device": {"name": "x"}}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // Keys: generate adds an ES256 key that is listed (and not yet signing).
    let es_kid = bin.run(&["keys", "generate", "--alg", "es256"], None);
    let list = bin.run(&["keys", "list"], None);
    let es_line = list.lines().find(|l| l.starts_with(es_kid.trim())).unwrap();
    assert!(
        es_line.contains("es256") && !es_line.trim_end().ends_with("yes"),
        "{list}"
    );
    bin.run(&["migrate"], None);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn invalid_scopes_file_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let scopes = dir.path().join("scopes.toml");
    std::fs::write(
        &scopes,
        "scopes = [\"photos:read\"]\n[roles]\nviewer = [\"photos:reed\"]\n",
    )
    .unwrap();
    let db = fresh_database_url(Backend::Sqlite, dir.path()).await;
    let mut env: Vec<(String, String)> = base_settings(&db, dir.path()).into_iter().collect();
    env.push(("TOKEND_SCOPES_FILE".into(), scopes.display().to_string()));
    env.push(("TOKEND_LISTEN".into(), format!("127.0.0.1:{}", free_port())));
    let out = Binary { env }.command(&["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("photos:reed") && stderr.contains("viewer"),
        "{stderr}"
    );
}
