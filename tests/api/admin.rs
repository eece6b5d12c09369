//! What the admin commands do to live users: disable, memberships and roles.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    admin_commands_name_what_is_missing,
    non_member_and_removed_membership_get_403,
    disabled_user_gets_403_only_after_correct_password_and_loses_sessions,
);

async fn admin_commands_name_what_is_missing(b: Backend) {
    use tokend::error::Error;
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "viewer").await;
    let field_of = |r: Result<(), Error>| match r {
        Err(Error::InvalidRequest { field, message, .. }) => (field.unwrap(), message),
        other => panic!("unexpected {other:?}"),
    };
    let (field, message) = field_of(
        app.state
            .add_member("nobody@example.com", ana.account, "owner")
            .await,
    );
    assert_eq!(field, "login");
    assert!(message.contains("nobody@example.com"));
    let (field, _) = field_of(
        app.state
            .add_member("ana@example.com", uuid::Uuid::new_v4(), "owner")
            .await,
    );
    assert_eq!(field, "account_uuid");
    let (field, message) = field_of(
        app.state
            .add_member("ana@example.com", ana.account, "boss")
            .await,
    );
    assert_eq!(field, "role");
    assert!(message.contains("viewer"));
    let other = app.state.add_account("Elsewhere").await.unwrap();
    let (field, _) = field_of(app.state.remove_member("ana@example.com", other).await);
    assert_eq!(field, "account_uuid");
    // A role change applies from the next refresh.
    let rt = app.first_refresh_token(&ana).await;
    app.state
        .add_member("ana@example.com", ana.account, "admin")
        .await
        .unwrap();
    let t: Value = app.refresh(&rt, ana.account).await.json().await.unwrap();
    assert!(
        t["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "photos:delete"),
        "{t}"
    );
    // Duplicate logins are refused whatever their case, and the original user is untouched.
    let dup = app
        .state
        .add_user(
            "ANA@example.com",
            &tokend::crypto::password::Password::new("another passphrase 7"),
        )
        .await;
    assert!(
        matches!(
            dup,
            Err(Error::InvalidRequest {
                reason: Some("conflict"),
                ..
            })
        ),
        "{dup:?}"
    );
    assert_eq!(
        app.sign_in("ana@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn non_member_and_removed_membership_get_403(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let bob = app.seed_user("bob@example.com", "viewer").await;
    let body = app.signed_in(&ana).await;
    let rt = body["refresh_token"].as_str().unwrap();
    app.assert_refresh_fails(rt, bob.account, "account_access_denied")
        .await;
    // The 403 did not spend the token.
    let r = app.refresh(rt, ana.account).await;
    assert_eq!(r.status(), StatusCode::OK);
    let next: Value = r.json().await.unwrap();

    app.state
        .remove_member("ana@example.com", ana.account)
        .await
        .unwrap();
    app.assert_refresh_fails(
        next["refresh_token"].as_str().unwrap(),
        ana.account,
        "account_access_denied",
    )
    .await;
}

async fn disabled_user_gets_403_only_after_correct_password_and_loses_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, refresh) = app.access_token(&ana).await;
    app.state
        .set_user_disabled("ana@example.com", true)
        .await
        .unwrap();

    assert_error(
        app.sign_in("ana@example.com", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        app.sign_in("ana@example.com", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "user_disabled",
    )
    .await;
    app.assert_refresh_fails(&refresh, ana.account, "invalid_refresh_token")
        .await;
    assert_error(
        app.get_bearer("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Enabling again does not resurrect the old sessions, but allows signing in.
    app.state
        .set_user_disabled("ana@example.com", false)
        .await
        .unwrap();
    app.assert_refresh_fails(&refresh, ana.account, "invalid_refresh_token")
        .await;
    app.signed_in(&ana).await;
}
