//! Recovery codes: single use, typed sloppily, replaced as a set.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::support::*;
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    recovery_code_works_once,
    regenerating_recovery_codes_kills_the_old_ones,
);

async fn recovery_code_works_once(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let code = &ana.recovery_codes[0];
    assert_eq!(code.len(), 19);
    // Typed sloppily: upper case, spaces instead of dashes.
    let typed = code.to_uppercase().replace('-', " ");
    let token = app.mfa_token(&ana.seeded).await;
    let r = app.mfa(&token, &typed).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["refresh_token"].is_string());

    let token = app.mfa_token(&ana.seeded).await;
    assert_wrong_code(app.mfa(&token, code).await, 4).await;
    assert_eq!(
        app.mfa(&token, &ana.recovery_codes[1]).await.status(),
        StatusCode::OK
    );
}

async fn regenerating_recovery_codes_kills_the_old_ones(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.enrolled("ana@example.com").await;
    let path = "/v1/me/mfa/recovery_codes";
    let r = app
        .post_bearer(
            path,
            &ana.access,
            json!({"password": PASSWORD, "code": ana.recovery_codes[0]}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let r = app
        .post_bearer(
            path,
            &ana.access,
            json!({"password": "not-the-password", "code": ana.code(&app, 0)}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // Neither failure touched the codes: an old one still signs in.
    let token = app.mfa_token(&ana.seeded).await;
    assert_eq!(
        app.mfa(&token, &ana.recovery_codes[2]).await.status(),
        StatusCode::OK
    );
    let r = app
        .post_bearer(
            path,
            &ana.access,
            json!({"password": PASSWORD, "code": ana.code(&app, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let fresh: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !ana.recovery_codes.contains(c)));

    let token = app.mfa_token(&ana.seeded).await;
    assert_wrong_code(app.mfa(&token, &ana.recovery_codes[1]).await, 4).await;
    assert_eq!(app.mfa(&token, &fresh[0]).await.status(), StatusCode::OK);
}
