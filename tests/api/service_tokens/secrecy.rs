//! What never touches or reaches the database: tampered tokens are refused without a read, the
//! clear token is never stored; and `last_used` is coalesced yet survives a graceful stop.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;
use tokend::clock::{rfc3339, Clock};
use tokend::crypto::service_token::ServiceTokenHash;
use uuid::Uuid;

use super::*;
use crate::both_backends;

both_backends!(
    tampered_checksum_is_refused_without_a_database_read,
    the_clear_token_is_nowhere_in_the_database,
    last_use_is_coalesced_and_flushed_at_shutdown,
);

async fn tampered_checksum_is_refused_without_a_database_read(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (_, token) = simple_token(&app, &access, "Real").await;
    let bad = tampered(&token);
    let r = app.get_bearer("/v1/me", &bad).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // With the database gone, anything that needs a read fails with 503 -- and a token with a
    // wrong checksum still gets its 401, so it never needed one.
    app.state.store.close().await;
    let r = app.get_bearer("/v1/me", &token).await;
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let unknown = tokend::crypto::service_token::generate("tkd_live");
    let r = app.get_bearer("/v1/me", unknown.expose()).await;
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    for junk in [
        bad.clone(),
        format!("{}x", token),                                // too long
        token[..token.len() - 1].to_string(),                 // too short
        format!("{}-{}", PREFIX, &token[PREFIX.len() + 1..]), // not base62
    ] {
        let r = me_with_api_key(&app, &junk).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

/// Every text value of every row of `table`, concatenated.
async fn table_text(app: &TestApp, b: Backend, table: &str) -> String {
    let url = app.state.settings.database_url.expose();
    let sql = format!("SELECT * FROM {table}");
    let mut out = String::new();
    match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            for row in sqlx::query(&sql).fetch_all(&pool).await.unwrap() {
                for i in 0..row.columns().len() {
                    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        out.push_str(&s);
                        out.push('\n');
                    }
                }
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for row in sqlx::query(&sql).fetch_all(&pool).await.unwrap() {
                for i in 0..row.columns().len() {
                    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        out.push_str(&s);
                        out.push('\n');
                    }
                }
            }
            pool.close().await;
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn the_clear_token_is_nowhere_in_the_database(b: Backend) {
    let app = spawn_app(b).await;
    let (_, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Secret").await;
    // Use it, rename and deactivate it, so every write path has run.
    assert_eq!(
        app.get_bearer("/v1/me", &token).await.status(),
        StatusCode::OK
    );
    let r = patch_token(
        &app,
        &access,
        &id,
        json!({"name": "Renamed", "active": false}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let random = &token[PREFIX.len()..];
    let hash = ServiceTokenHash::of(&token).to_hex();

    let mut everything = String::new();
    for table in ["service_tokens", "service_token_audit"] {
        everything.push_str(&table_text(&app, b, table).await);
    }
    assert!(everything.contains(&hash), "the hash is what is stored");
    assert!(!everything.contains(&token) && !everything.contains(random));

    if b == Backend::Sqlite {
        // The raw files, write-ahead log included, hold the hash but not the token.
        let db = app.dir.path().join("tokend.db");
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", db.display());
            if let Ok(b) = std::fs::read(&path) {
                bytes.extend(b);
            }
        }
        assert!(contains(&bytes, hash.as_bytes()), "read the right files");
        assert!(!contains(&bytes, token.as_bytes()));
        assert!(!contains(&bytes, random.as_bytes()));
        assert!(!contains(&bytes, &random.as_bytes()[..16]));
    }
}

async fn stored_use(app_store: &tokend::storage::DynStore, account: Uuid, id: Uuid) -> Value {
    let row = app_store
        .service_token_by_id(account, id)
        .await
        .unwrap()
        .unwrap();
    json!([row.last_used_at.map(rfc3339), row.last_used_ip])
}

async fn last_use_is_coalesced_and_flushed_at_shutdown(b: Backend) {
    // Keep the SQLite file past the app's own temporary directory, to read it after the stop.
    let kept = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", kept.path().join("kept.db").display());
    let mut extra = vec![("TOKEND_TRUSTED_PROXIES", "127.0.0.1/32")];
    if b == Backend::Sqlite {
        extra.push(("TOKEND_DATABASE_URL", sqlite_url.as_str()));
    }
    let app = spawn_app_with(b, &extra).await;
    let (ana, access) = owner(&app, "ana@example.com").await;
    let (id, token) = simple_token(&app, &access, "Busy").await;
    let id = Uuid::parse_str(&id).unwrap();
    let store = app.state.store.clone();
    let t0 = app.clock.now();

    // First use: nothing stored yet, so it is written at once.
    assert_eq!(
        me_from(&app, &token, "198.51.100.1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_use(&store, ana.account, id).await,
        json!([rfc3339(t0), "198.51.100.1"])
    );
    // Uses within the minute are buffered, not written...
    for ip in ["198.51.100.2", "198.51.100.3"] {
        app.clock.advance(10);
        assert_eq!(me_from(&app, &token, ip).await.status(), StatusCode::OK);
    }
    assert_eq!(
        stored_use(&store, ana.account, id).await,
        json!([rfc3339(t0), "198.51.100.1"])
    );
    // ...though the management API already shows the newest one.
    let view: Value = app
        .get_bearer(&format!("/v1/service_tokens/{id}"), &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["last_used_at"], rfc3339(t0 + 20));
    assert_eq!(view["last_used_ip"], "198.51.100.3");
    // The minute's upkeep writes the buffer.
    app.state.flush_service_token_usage().await;
    assert_eq!(
        stored_use(&store, ana.account, id).await,
        json!([rfc3339(t0 + 20), "198.51.100.3"])
    );
    // Once the stored time is a minute old, a use is written at once again.
    app.clock.advance(60);
    assert_eq!(
        me_from(&app, &token, "198.51.100.4").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_use(&store, ana.account, id).await,
        json!([rfc3339(t0 + 80), "198.51.100.4"])
    );
    // A use buffered right before a graceful stop is not lost.
    app.clock.advance(5);
    assert_eq!(
        me_from(&app, &token, "198.51.100.5").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_use(&store, ana.account, id).await,
        json!([rfc3339(t0 + 80), "198.51.100.4"])
    );
    let url = app.state.settings.database_url.expose().to_string();
    drop(store);
    app.stop().await;
    let reopened = tokend::storage::connect(&url, 1).await.unwrap();
    assert_eq!(
        stored_use(&reopened, ana.account, id).await,
        json!([rfc3339(t0 + 85), "198.51.100.5"])
    );
    reopened.close().await;
}
