//! Refresh-token rotation: single use, the retry window, reuse detection, races.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    rotation_spends_each_token_once,
    reuse_after_window_revokes_whole_session,
    retry_inside_window_gets_same_successor,
    grandparent_token_is_reuse_even_inside_window,
    strict_mode_concurrent_refreshes_yield_exactly_one_success,
    grace_mode_concurrent_refreshes_all_get_the_same_successor,
    idle_session_expires,
    absolute_session_lifetime_ends_even_an_active_session,
    forged_and_garbage_refresh_tokens_are_rejected,
    many_chains_rotating_at_once_stay_intact,
);

async fn token_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn rotation_spends_each_token_once(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_REFRESH_GRACE_SECONDS", "0")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let t1 = token_of(app.refresh(&rt0, ana.account).await).await;
    let rt1 = t1["refresh_token"].as_str().unwrap();
    let t2 = token_of(app.refresh(rt1, ana.account).await).await;
    assert_ne!(t2["refresh_token"], t1["refresh_token"]);
    assert_ne!(t2["access_token"], t1["access_token"]);
    // Each token worked exactly once: presenting a spent one now is reuse.
    app.assert_refresh_fails(rt1, ana.account, "refresh_token_reused")
        .await;
}

async fn reuse_after_window_revokes_whole_session(b: Backend) {
    let app = spawn_app(b).await; // default window: 10 s
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let t1 = token_of(app.refresh(&rt0, ana.account).await).await;
    let rt1 = t1["refresh_token"].as_str().unwrap().to_string();
    let access = t1["access_token"].as_str().unwrap().to_string();
    app.clock.advance(11);
    app.assert_refresh_fails(&rt0, ana.account, "refresh_token_reused")
        .await;
    // The newest token and the session's access tokens die with it.
    app.assert_refresh_fails(&rt1, ana.account, "invalid_refresh_token")
        .await;
    assert_error(
        app.get_bearer("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

async fn retry_inside_window_gets_same_successor(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let first = token_of(app.refresh(&rt0, ana.account).await).await;
    app.clock.advance(9);
    let retry = token_of(app.refresh(&rt0, ana.account).await).await;
    assert_eq!(
        retry["refresh_token"], first["refresh_token"],
        "same successor, no fork"
    );
    assert_ne!(
        retry["access_token"], first["access_token"],
        "a fresh access token"
    );
    // The successor is live and works once.
    let next = token_of(
        app.refresh(first["refresh_token"].as_str().unwrap(), ana.account)
            .await,
    )
    .await;
    assert_ne!(next["refresh_token"], first["refresh_token"]);
}

async fn grandparent_token_is_reuse_even_inside_window(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let t1 = token_of(app.refresh(&rt0, ana.account).await).await;
    let t2 = token_of(
        app.refresh(t1["refresh_token"].as_str().unwrap(), ana.account)
            .await,
    )
    .await;
    // rt0's successor is no longer the live token: presenting rt0 is reuse.
    app.assert_refresh_fails(&rt0, ana.account, "refresh_token_reused")
        .await;
    app.assert_refresh_fails(
        t2["refresh_token"].as_str().unwrap(),
        ana.account,
        "invalid_refresh_token",
    )
    .await;
}

async fn concurrent(
    app: &TestApp,
    token: &str,
    account: uuid::Uuid,
    n: usize,
) -> Vec<(StatusCode, Value)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url("/v1/auth/token");
        let body = serde_json::json!({"refresh_token": token, "account_uuid": account});
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = client.post(url).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn strict_mode_concurrent_refreshes_yield_exactly_one_success(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_REFRESH_GRACE_SECONDS", "0")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let results = concurrent(&app, &rt0, ana.account, 16).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one success: {results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(
            *status,
            StatusCode::UNAUTHORIZED,
            "no 500s under the race: {body}"
        );
        let code = body["error"]["code"].as_str().unwrap();
        assert!(
            code == "refresh_token_reused" || code == "invalid_refresh_token",
            "{body}"
        );
    }
}

async fn grace_mode_concurrent_refreshes_all_get_the_same_successor(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let results = concurrent(&app, &rt0, ana.account, 16).await;
    assert!(
        results.iter().all(|(s, _)| *s == StatusCode::OK),
        "{results:?}"
    );
    let successors: HashSet<&str> = results
        .iter()
        .map(|(_, b)| b["refresh_token"].as_str().unwrap())
        .collect();
    assert_eq!(successors.len(), 1, "the chain never forks");
    let successor = successors.into_iter().next().unwrap().to_string();
    assert_eq!(
        app.refresh(&successor, ana.account).await.status(),
        StatusCode::OK
    );
}

async fn idle_session_expires(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_SESSION_IDLE_SECONDS", "100")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    app.clock.advance(90);
    let t1 = token_of(app.refresh(&rt0, ana.account).await).await;
    app.clock.advance(101);
    app.assert_refresh_fails(
        t1["refresh_token"].as_str().unwrap(),
        ana.account,
        "invalid_refresh_token",
    )
    .await;
}

async fn forged_and_garbage_refresh_tokens_are_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let rt0 = app.first_refresh_token(&ana).await;
    let mut tampered = rt0.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [tampered.as_str(), "rt_", "", "eyJhbGciOiJFZERTQSJ9.e30.x"] {
        app.assert_refresh_fails(bad, ana.account, "invalid_refresh_token")
            .await;
    }
    // None of that touched the real session.
    assert_eq!(
        app.refresh(&rt0, ana.account).await.status(),
        StatusCode::OK
    );
}

async fn absolute_session_lifetime_ends_even_an_active_session(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_SESSION_ABSOLUTE_SECONDS", "100")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let mut rt = app.first_refresh_token(&ana).await;
    for _ in 0..3 {
        app.clock.advance(30);
        let t = token_of(app.refresh(&rt, ana.account).await).await;
        rt = t["refresh_token"].as_str().unwrap().to_string();
    }
    app.clock.advance(11); // 101 s after sign-in, used 11 s ago
    app.assert_refresh_fails(&rt, ana.account, "invalid_refresh_token")
        .await;
}

/// Many sessions rotating at once (on SQLite they share write transactions: group commit), with
/// a revoked session and a spent token mixed in: every live chain advances exactly one step per
/// refresh, and the failures stay theirs.
async fn many_chains_rotating_at_once_stay_intact(b: Backend) {
    let app = spawn_app_with(
        b,
        &[
            ("TOKEND_REFRESH_GRACE_SECONDS", "0"),
            ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "100"),
            ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "100"),
        ],
    )
    .await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let mut chains = Vec::new();
    for _ in 0..12 {
        chains.push(app.first_refresh_token(&ana).await);
    }
    let revoked = app.first_refresh_token(&ana).await;
    let r = app
        .post(
            "/v1/auth/sign_out",
            serde_json::json!({"refresh_token": revoked}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let spent = app.first_refresh_token(&ana).await;
    token_of(app.refresh(&spent, ana.account).await).await;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(chains.len() + 2));
    let mut tasks = Vec::new();
    for start in chains.iter().cloned() {
        let (client, url, barrier) = (
            app.client.clone(),
            app.url("/v1/auth/token"),
            barrier.clone(),
        );
        let account = ana.account;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut token = start;
            let mut seen = Vec::new();
            for _ in 0..5 {
                let body = serde_json::json!({"refresh_token": token, "account_uuid": account});
                let r = client.post(&url).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let v: Value = r.json().await.unwrap();
                token = v["refresh_token"].as_str().unwrap().to_string();
                seen.push(token.clone());
            }
            seen
        }));
    }
    let failing = |token: String, barrier: std::sync::Arc<tokio::sync::Barrier>| {
        let (client, url) = (app.client.clone(), app.url("/v1/auth/token"));
        let account = ana.account;
        tokio::spawn(async move {
            barrier.wait().await;
            let body = serde_json::json!({"refresh_token": token, "account_uuid": account});
            let r = client.post(&url).json(&body).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (
                status,
                v["error"]["code"].as_str().unwrap_or_default().to_string(),
            )
        })
    };
    let revoked_task = failing(revoked, barrier.clone());
    let spent_task = failing(spent, barrier.clone());
    let mut all = HashSet::new();
    for t in tasks {
        let seen = t.await.unwrap();
        assert_eq!(seen.len(), 5);
        all.extend(seen);
    }
    assert_eq!(
        all.len(),
        12 * 5,
        "every rotation produced its own successor"
    );
    assert_eq!(
        revoked_task.await.unwrap(),
        (
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token".to_string()
        )
    );
    assert_eq!(
        spent_task.await.unwrap(),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused".to_string())
    );
}
