//! Guessing and replay bounds of the mfa_token step: attempts per mfa_token, the per-user window
//! across mfa_tokens, time steps used once, the skew, and races on one code or one token.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::support::*;
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    five_wrong_codes_kill_the_mfa_token,
    accepted_code_is_not_accepted_again,
    skew_is_one_step_each_way,
    concurrent_uses_of_one_recovery_code_yield_one_session,
    parallel_guesses_on_one_token_get_five_tries,
    per_user_limit_spans_mfa_tokens,
);

async fn five_wrong_codes_kill_the_mfa_token(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    let right = ana.code(&app, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in [4, 3, 2] {
        assert_wrong_code(app.mfa(&token, wrong).await, left).await;
    }
    assert_wrong_code(app.mfa(&token, "zzzz-zzzz-zzzz-zzzz").await, 1).await;
    assert_wrong_code(app.mfa(&token, wrong).await, 0).await;
    assert_error(
        app.mfa(&token, &right).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    // The code itself was not spent: a fresh mfa_token takes it.
    let token = app.mfa_token(&ana.seeded).await;
    assert_eq!(app.mfa(&token, &right).await.status(), StatusCode::OK);
}

async fn accepted_code_is_not_accepted_again(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let first = app.mfa_token(&ana.seeded).await;
    let second = app.mfa_token(&ana.seeded).await;
    let code = ana.code(&app, 0);
    assert_eq!(app.mfa(&first, &code).await.status(), StatusCode::OK);
    assert_wrong_code(app.mfa(&second, &code).await, 4).await;
    // Nor an earlier step, though it is inside the skew.
    assert_wrong_code(app.mfa(&second, &ana.code(&app, -30)).await, 3).await;
    // The next step is fine.
    app.clock.advance(30);
    assert_eq!(
        app.mfa(&second, &ana.code(&app, 0)).await.status(),
        StatusCode::OK
    );
}

async fn skew_is_one_step_each_way(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    // Put every step used below after the one that confirmed the enrolment.
    app.clock.advance(120);
    let token = app.mfa_token(&ana.seeded).await;
    assert_wrong_code(app.mfa(&token, &ana.code(&app, -60)).await, 4).await;
    assert_wrong_code(app.mfa(&token, &ana.code(&app, 60)).await, 3).await;
    assert_eq!(
        app.mfa(&token, &ana.code(&app, -30)).await.status(),
        StatusCode::OK
    );
    let token = app.mfa_token(&ana.seeded).await;
    assert_eq!(
        app.mfa(&token, &ana.code(&app, 30)).await.status(),
        StatusCode::OK
    );
}

async fn concurrent_uses_of_one_recovery_code_yield_one_session(b: Backend) {
    // 14 wrong codes in all, more than the default per-user window allows.
    let app = spawn_app_with(
        b,
        &[
            ("TOKEND_SIGN_IN_PER_LOGIN_PER_MINUTE", "100"),
            ("TOKEND_MFA_FAILURES_PER_USER", "50"),
        ],
    )
    .await;
    let ana = app.enrolled("ana@example.com").await;
    // The same holds for one TOTP code: its step is burnt once, whoever is first.
    for code in [ana.recovery_codes[0].clone(), ana.code(&app, 0)] {
        let mut tokens = Vec::new();
        for _ in 0..8 {
            tokens.push(app.mfa_token(&ana.seeded).await);
        }
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|token| race_mfa(&app, token, code.clone()))
            .collect();
        let mut ok = 0;
        for task in tasks {
            let r = task.await.unwrap();
            if r.status() == StatusCode::OK {
                ok += 1;
            } else {
                assert_wrong_code(r, 4).await;
            }
        }
        assert_eq!(ok, 1, "exactly one request may spend {code:?}");
    }
}

async fn parallel_guesses_on_one_token_get_five_tries(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let token = app.mfa_token(&ana.seeded).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| race_mfa(&app, token.clone(), format!("zzzz-zzzz-zzzz-{i:04}")))
        .collect();
    let mut left_seen = Vec::new();
    let mut dead = 0;
    for task in tasks {
        let r = task.await.unwrap();
        let body: Value = r.json().await.unwrap();
        match body["error"]["code"].as_str().unwrap() {
            "invalid_mfa_code" => {
                left_seen.push(body["error"]["details"]["attempts_left"].as_u64().unwrap())
            }
            "invalid_mfa_token" => dead += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // Attempts are charged before the code is checked: a burst gets five tries, not ten.
    left_seen.sort_unstable();
    assert_eq!(left_seen, vec![0, 1, 2, 3, 4]);
    assert_eq!(dead, 5);
}

async fn per_user_limit_spans_mfa_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let wrong = "zzzz-zzzz-zzzz-zzzz";
    // Default: 10 wrong codes per 15 minutes, whichever mfa_tokens they came through.
    for _ in 0..2 {
        let token = app.mfa_token(&ana.seeded).await;
        for left in (0..5).rev() {
            assert_wrong_code(app.mfa(&token, wrong).await, left).await;
        }
    }
    let token = app.mfa_token(&ana.seeded).await;
    for code in [wrong.to_string(), ana.code(&app, 0)] {
        let r = app.mfa(&token, &code).await;
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "retry-after {retry}");
        let e = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        assert_eq!(e["error"]["details"]["retry_after"], retry);
    }
    // Once the window is over, the right code works again.
    app.clock.advance(15 * 60);
    let token = app.mfa_token(&ana.seeded).await;
    assert_eq!(
        app.mfa(&token, &ana.code(&app, 0)).await.status(),
        StatusCode::OK
    );
}

/// Sends one `POST /v1/auth/mfa` on its own task, to race others.
fn race_mfa(
    app: &TestApp,
    token: String,
    code: String,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let client = app.client.clone();
    let url = app.url("/v1/auth/mfa");
    tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"mfa_token": token, "code": code}))
            .send()
            .await
            .unwrap()
    })
}
