//! Password-reset tickets: one success per ticket (even racing itself from 8 threads), expiry,
//! voided by a newer ticket, one generic error, every session revoked, MFA untouched.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{admin, admin_key};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    reset_tickets_are_single_use_and_revoke_sessions,
    a_ticket_racing_itself_succeeds_once
);

const NEW_PASSWORD: &str = "a-brand-new-passphrase-77";

async fn ticket_for(app: &TestApp, key: &str, user: uuid::Uuid) -> String {
    let r = admin(
        app,
        key,
        Method::POST,
        &format!("/v1/admin/users/{user}/password_reset"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_at"].is_string());
    body["ticket"].as_str().unwrap().to_string()
}

async fn redeem(app: &TestApp, ticket: &str, password: &str) -> reqwest::Response {
    app.post(
        "/v1/auth/password_reset",
        json!({"ticket": ticket, "new_password": password}),
    )
    .await
}

async fn reset_tickets_are_single_use_and_revoke_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let key = admin_key(&app, "support").await;
    let seeded = app.seed_user("forgot@example.com", "owner").await;
    let live = app.first_refresh_token(&seeded).await;

    // A newer ticket voids the older.
    let older = ticket_for(&app, &key, seeded.user).await;
    let ticket = ticket_for(&app, &key, seeded.user).await;
    assert_error(
        redeem(&app, &older, NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_reset_ticket",
    )
    .await;
    // A weak password is refused before the ticket is spent.
    let r = redeem(&app, &ticket, "short").await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "new_password");
    // Garbage is the same generic error.
    assert_error(
        redeem(&app, "tkd_reset_garbage", NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_reset_ticket",
    )
    .await;
    assert_error(
        redeem(&app, "anything", NEW_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_reset_ticket",
    )
    .await;
    assert_eq!(
        app.sign_in("forgot@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "nothing changed yet"
    );

    let r = redeem(&app, &ticket, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.content_length(), Some(0), "no user data in the answer");
    app.assert_refresh_fails(&live, seeded.account, "invalid_refresh_token")
        .await;
    assert_error(
        app.sign_in("forgot@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.sign_in("forgot@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // Used twice.
    assert_error(
        redeem(&app, &ticket, "another-new-passphrase-88").await,
        StatusCode::BAD_REQUEST,
        "invalid_reset_ticket",
    )
    .await;

    // Expired.
    let expiring = ticket_for(&app, &key, seeded.user).await;
    app.clock.advance(1801);
    assert_error(
        redeem(&app, &expiring, "another-new-passphrase-88").await,
        StatusCode::BAD_REQUEST,
        "invalid_reset_ticket",
    )
    .await;
    assert_eq!(
        app.sign_in("forgot@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );

    // The CLI path issues the same kind of ticket.
    let cli_ticket = app
        .state
        .issue_reset_ticket(seeded.user, "system", None)
        .await
        .unwrap();
    assert!(cli_ticket.ticket.starts_with("tkd_reset_"));

    // Rate limited per address like sign-in.
    let strict = spawn_app_with(b, &[("TOKEND_PASSWORD_RESET_PER_IP_PER_MINUTE", "2")]).await;
    for _ in 0..2 {
        assert_error(
            redeem(&strict, "tkd_reset_x", NEW_PASSWORD).await,
            StatusCode::BAD_REQUEST,
            "invalid_reset_ticket",
        )
        .await;
    }
    let r = redeem(&strict, "tkd_reset_x", NEW_PASSWORD).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn a_ticket_racing_itself_succeeds_once(b: Backend) {
    let app = Arc::new(spawn_app(b).await);
    let key = admin_key(&app, "race").await;
    let seeded = app.seed_user("race@example.com", "owner").await;
    let ticket = ticket_for(&app, &key, seeded.user).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, ticket) = (app.clone(), ticket.clone());
        tasks.push(tokio::spawn(async move {
            redeem(&app, &ticket, &format!("racing-passphrase-number-{i}"))
                .await
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}
