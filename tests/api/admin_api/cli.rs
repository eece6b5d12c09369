//! CLI parity with the admin API, through the real binary: `admin-key`, `user list`,
//! `account list`, `member list`, `resource-server list|remove`, `user reset-password` and
//! `audit list`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;
use crate::restart::{free_port, Binary};

both_backends!(list_and_support_commands);

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn list_and_support_commands(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(b, dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env: Vec<(String, String)> = base_settings(&db, dir.path()).into_iter().collect();
    env.push(("TOKEND_LISTEN".into(), format!("127.0.0.1:{port}")));
    let bin = Binary { env };
    let user = bin
        .run(
            &["user", "add", "cli.ana@example.com", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        )
        .trim()
        .to_string();
    let account = bin
        .run(&["account", "add", "Cli Studio"], None)
        .trim()
        .to_string();
    bin.run(
        &[
            "member",
            "add",
            "cli.ana@example.com",
            &account,
            "--role",
            "owner",
        ],
        None,
    );

    let users = json_lines(&bin.run(&["user", "list", "--json"], None));
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["uuid"], user.as_str());
    assert!(bin
        .run(&["user", "list"], None)
        .contains("cli.ana@example.com"));
    let accounts = json_lines(&bin.run(&["account", "list", "--json"], None));
    assert_eq!(accounts[0]["name"], "Cli Studio");
    let members = json_lines(&bin.run(&["member", "list", "--account", &account, "--json"], None));
    assert_eq!(members[0]["login"], "cli.ana@example.com");
    let memberships = json_lines(&bin.run(
        &["member", "list", "--user", "cli.ana@example.com", "--json"],
        None,
    ));
    assert_eq!(memberships[0]["account_uuid"], account.as_str());

    let rs = bin.run(&["resource-server", "add", "Photos"], None);
    let rs_id = rs
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .unwrap()
        .to_string();
    let listed = json_lines(&bin.run(&["resource-server", "list", "--json"], None));
    assert_eq!(listed[0]["client_id"], rs_id.as_str());
    assert!(
        !bin.run(&["resource-server", "list", "--json"], None)
            .contains("tkd_rs_"),
        "never the secret"
    );
    bin.run(&["resource-server", "remove", &rs_id], None);
    assert!(json_lines(&bin.run(&["resource-server", "list", "--json"], None)).is_empty());

    let key = bin.run(&["admin-key", "add", "backend"], None);
    let key = key.lines().last().unwrap().to_string();
    assert!(key.starts_with("tkd_admin_"));
    let keys = json_lines(&bin.run(&["admin-key", "list", "--json"], None));
    assert_eq!(keys[0]["name"], "backend");
    assert!(!bin
        .run(&["admin-key", "list", "--json"], None)
        .contains(&key));

    let ticket = bin.run(&["user", "reset-password", "cli.ana@example.com"], None);
    let ticket = ticket.lines().last().unwrap().to_string();
    assert!(ticket.starts_with("tkd_reset_"));

    let mut server = bin.serve(&base).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/v1/admin/users"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .post(format!("{base}/v1/auth/password_reset"))
        .json(&json!({"ticket": ticket, "new_password": "cli-reset-passphrase-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let _ = server.kill();
    let _ = server.wait();

    bin.run(&["admin-key", "remove", "backend"], None);
    assert!(json_lines(&bin.run(&["admin-key", "list", "--json"], None)).is_empty());
    let audit = json_lines(&bin.run(&["audit", "list", "--user", "cli.ana@example.com"], None));
    let kinds: Vec<&str> = audit.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"password.reset"), "{kinds:?}");
    assert!(kinds.contains(&"admin.password_reset_issued"), "{kinds:?}");
    let keys_audit = json_lines(&bin.run(&["audit", "list", "--kind", "admin.key_created"], None));
    assert_eq!(keys_audit.len(), 1);
    let kid = bin
        .run(&["keys", "generate", "--alg", "es256"], None)
        .trim()
        .to_string();
    let generated =
        json_lines(&bin.run(&["audit", "list", "--kind", "signing_key.generated"], None));
    assert_eq!(generated.len(), 1);
    assert_eq!(generated[0]["details"]["kid"], kid.as_str());
    let none = json_lines(&bin.run(&["audit", "list", "--since", "2999-01-01T00:00:00Z"], None));
    assert!(none.is_empty());
}
