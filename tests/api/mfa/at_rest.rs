//! What a database dump reveals: no TOTP secret (base32, hex or raw), no recovery code, no
//! mfa_token. SQLite is read as raw file bytes (main file and WAL); PostgreSQL row by row as JSON.

use reqwest::StatusCode;
use tokend::crypto::opaque::sha256_hex;

use crate::both_backends;
use crate::helpers::*;

both_backends!(database_holds_no_usable_secret);

async fn database_holds_no_usable_secret(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    let used = app.mfa_token(&ana.seeded).await;
    assert_eq!(
        app.mfa(&used, &ana.recovery_codes[0]).await.status(),
        StatusCode::OK
    );

    let mut needles: Vec<String> = vec![ana.secret.clone(), ana.secret.to_lowercase()];
    needles.push(ana.key.iter().map(|b| format!("{b:02x}")).collect());
    for code in &ana.recovery_codes {
        needles.push(code.clone());
        needles.push(code.replace('-', ""));
    }
    needles.push(token.clone());
    needles.push(token.trim_start_matches("mfa_").to_string());

    let dump: Vec<u8> = match b {
        Backend::Sqlite => {
            let mut bytes = Vec::new();
            for name in ["tokend.db", "tokend.db-wal"] {
                if let Ok(b) = std::fs::read(app.dir.path().join(name)) {
                    bytes.extend(b);
                }
            }
            assert!(bytes.len() > 4096, "the database file was found");
            bytes
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.state.settings.database_url.expose())
                .await
                .unwrap();
            let mut text = String::new();
            for table in [
                "totp_credentials",
                "recovery_codes",
                "mfa_tokens",
                "mfa_failures",
            ] {
                let rows: Vec<(String,)> =
                    sqlx::query_as(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                assert!(!rows.is_empty() || table == "mfa_failures", "{table} empty");
                for (row,) in rows {
                    text.push_str(&row);
                    text.push('\n');
                }
            }
            pool.close().await;
            text.into_bytes()
        }
    };
    let contains = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    // Positive control: this is the data we mean (the mfa_token's hash is stored).
    assert!(contains(sha256_hex(token.as_bytes()).as_bytes()));
    for needle in &needles {
        assert!(
            !contains(needle.as_bytes()),
            "the database holds {needle:?}"
        );
    }
    assert!(!contains(&ana.key), "the database holds the raw secret");
}
