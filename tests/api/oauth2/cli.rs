//! The real binary: `tokend client add|list|remove` and `resource-server add --audience`, then a
//! standard refresh with the client the CLI printed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::restart::{free_port, Binary};

both_backends!(client_commands_register_list_and_remove);

fn field(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {output:?}"))
        .to_string()
}

async fn client_commands_register_list_and_remove(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(b, dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = base_settings(&db, dir.path()).into_iter().collect();
    env.push(("TOKEND_LISTEN".into(), format!("127.0.0.1:{port}")));
    let bin = Binary { env };
    bin.run(
        &["user", "add", "cli@example.com", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let account = bin.run(&["account", "add", "CLI"], None).trim().to_string();
    bin.run(
        &[
            "member",
            "add",
            "cli@example.com",
            &account,
            "--role",
            "owner",
        ],
        None,
    );

    let public = bin.run(&["client", "add", "iOS app"], None);
    let public_id = field(&public, "client_id");
    assert!(
        !public.contains("client_secret"),
        "public clients get no secret"
    );
    let server = bin.run(
        &[
            "client",
            "add",
            "Backend",
            "--confidential",
            "--audience",
            "https://photos.example.com",
        ],
        None,
    );
    let server_id = field(&server, "client_id");
    let secret = field(&server, "client_secret");
    assert!(secret.starts_with("tkd_cs_"));
    let rs = bin.run(
        &[
            "resource-server",
            "add",
            "Photos",
            "--audience",
            "https://photos.example.com",
        ],
        None,
    );
    assert!(field(&rs, "client_secret").starts_with("tkd_rs_"));

    let listed: Vec<Value> = bin
        .run(&["client", "list", "--json"], None)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    let backend = listed
        .iter()
        .find(|c| c["client_id"] == server_id.as_str())
        .unwrap();
    assert_eq!(backend["confidential"], true);
    assert_eq!(backend["audiences"], json!(["https://photos.example.com"]));
    assert_eq!(
        backend["grant_types"],
        json!(["refresh_token", super::EXCHANGE])
    );
    assert!(
        !bin.run(&["client", "list", "--json"], None)
            .contains(&secret),
        "never the secret"
    );
    assert!(bin.run(&["client", "list"], None).contains(&public_id));

    let mut child = bin.serve(&base).await;
    let http = reqwest::Client::new();
    let signed: Value = http
        .post(format!("{base}/v1/auth/sign_in"))
        .json(&json!({"login": "cli@example.com", "password": PASSWORD,
                      "device": {"name": "server", "client_id": server_id}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = signed["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("account_uuid", account.as_str()),
        ("resource", "https://photos.example.com"),
    ];
    let r = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&server_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let next = body["refresh_token"].as_str().unwrap().to_string();

    bin.run(&["client", "remove", &server_id], None);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", next.as_str()),
        ("account_uuid", account.as_str()),
    ];
    let r = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&server_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let out = bin
        .command(&["client", "remove", &server_id])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "removing twice names the missing client"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&server_id));
    let _ = child.kill();
    let _ = child.wait();
}
