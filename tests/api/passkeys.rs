//! Passkeys (issue 13), registration part, over real HTTP with webauthn-rs's software
//! authenticator (`SoftToken`): register, list, delete; the same credential twice; challenges
//! used twice, expired, another user's, or finished on another node; wrong origin, wrong RP ID,
//! no user verification; the recent-sign-in rule, names and the limit; passkeys off; bad
//! settings. SQLite and PostgreSQL.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend::clock::Clock;
use tokend::config::Settings;
use tokend::domain::passkeys::PasskeyState;
use tokend::storage::AuditFilter;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, Url};
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::UserVerificationPolicy;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    register_list_and_delete,
    the_same_credential_twice_and_the_challenge_rules,
    refused_ceremonies_store_nothing,
    presence_names_and_the_limit,
    passkeys_off_and_bad_settings,
);

const ANDROID: &str = "android:apk-key-hash:HqCb-IMIZJ3DJYjdCo9EKL0IClSg4klFi_saNrBtWPM";

async fn passkey_app(b: Backend) -> TestApp {
    spawn_app_with(
        b,
        &[
            ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
            ("TOKEND_WEBAUTHN_RP_NAME", "Example"),
            (
                "TOKEND_WEBAUTHN_ORIGINS",
                &format!("https://example.com,https://login.example.com,{ANDROID}"),
            ),
        ],
    )
    .await
}

fn origin(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// A software authenticator that sets the user-verified flag when asked to verify.
fn authenticator() -> WebauthnAuthenticator<SoftToken> {
    WebauthnAuthenticator::new(SoftToken::new(true).unwrap().0)
}

async fn start(app: &TestApp, access: &str, body: Value) -> Response {
    app.post_bearer("/v1/me/passkeys/registration", access, body)
        .await
}

/// Starts a registration; returns (registration_id, options).
async fn started(app: &TestApp, access: &str) -> (String, CreationChallengeResponse) {
    let r = start(app, access, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(body["options"].clone()).unwrap();
    (
        body["registration_id"].as_str().unwrap().to_string(),
        options,
    )
}

async fn finish(app: &TestApp, access: &str, id: &str, name: &str, credential: &Value) -> Response {
    app.post_bearer(
        "/v1/me/passkeys",
        access,
        json!({"registration_id": id, "name": name, "credential": credential}),
    )
    .await
}

/// Registers one passkey with `auth` from `https://example.com`; returns the credential JSON.
async fn register(
    app: &TestApp,
    access: &str,
    auth: &mut WebauthnAuthenticator<SoftToken>,
    name: &str,
) -> Value {
    let (id, options) = started(app, access).await;
    let credential = auth
        .do_registration(origin("https://example.com"), options)
        .unwrap();
    let credential = serde_json::to_value(&credential).unwrap();
    let r = finish(app, access, &id, name, &credential).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    credential
}

async fn list(app: &TestApp, access: &str) -> Vec<Value> {
    let r = app.get_bearer("/v1/me/passkeys", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["passkeys"].as_array().unwrap().clone()
}

async fn register_list_and_delete(b: Backend) {
    let app = passkey_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    let mut auth = authenticator();
    let (id, options) = started(&app, &access).await;
    // The options are what browsers and platform APIs take.
    let json_options = serde_json::to_value(&options).unwrap();
    assert_eq!(json_options["publicKey"]["rp"]["id"], "example.com");
    assert_eq!(json_options["publicKey"]["rp"]["name"], "Example");
    assert_eq!(
        json_options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(id.starts_with("wrg_"));
    let credential = auth
        .do_registration(origin("https://example.com"), options)
        .unwrap();
    let r = finish(
        &app,
        &access,
        &id,
        "  Ana's phone  ",
        &serde_json::to_value(&credential).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Ana's phone");
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(created["backed_up"], false);
    let listed = list(&app, &access).await;
    assert_eq!(listed, vec![created.clone()]);

    // A second one, then the first goes.
    register(&app, &access, &mut authenticator(), "Laptop").await;
    assert_eq!(list(&app, &access).await.len(), 2);
    let path = format!("/v1/me/passkeys/{}", created["id"].as_str().unwrap());
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let left = list(&app, &access).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "Laptop");
    let r = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // Another user can neither see nor delete Ana's passkeys.
    let bo = app.seed_user("bo@example.com", "owner").await;
    let (bo_access, _) = app.access_token(&bo).await;
    assert!(list(&app, &bo_access).await.is_empty());
    let laptop = format!("/v1/me/passkeys/{}", left[0]["id"].as_str().unwrap());
    let r = app
        .client
        .delete(app.url(&laptop))
        .bearer_auth(&bo_access)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(list(&app, &access).await.len(), 1);

    // Both changes are in the audit trail.
    for kind in ["passkey.added", "passkey.removed"] {
        let filter = AuditFilter {
            user_id: Some(ana.user),
            account_id: None,
            kind: Some(kind.into()),
            since: None,
        };
        let rows = app.state.store.list_audit(&filter, None, 10).await.unwrap();
        assert!(!rows.is_empty(), "no {kind} row");
    }
}

async fn the_same_credential_twice_and_the_challenge_rules(b: Backend) {
    let app = passkey_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    let mut auth = authenticator();
    let (id, options) = started(&app, &access).await;
    let credential = serde_json::to_value(
        auth.do_registration(origin("https://example.com"), options)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        finish(&app, &access, &id, "Phone", &credential)
            .await
            .status(),
        StatusCode::CREATED
    );
    // The registration id was spent.
    let r = finish(&app, &access, &id, "Phone", &credential).await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["field"], "registration_id");
    // The same credential under a new registration.
    let (again, _) = started(&app, &access).await;
    let r = finish(&app, &access, &again, "Phone again", &credential).await;
    assert_error(r, StatusCode::CONFLICT, "passkey_already_registered").await;
    assert_eq!(list(&app, &access).await.len(), 1);

    // Expired (and purged by the minute's upkeep once past).
    let (id, options) = started(&app, &access).await;
    let credential = serde_json::to_value(
        authenticator()
            .do_registration(origin("https://example.com"), options)
            .unwrap(),
    )
    .unwrap();
    app.clock.advance(301);
    let r = finish(&app, &access, &id, "Late", &credential).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    app.state.upkeep().await;
    assert_eq!(
        app.state
            .store
            .purge_challenges(app.clock.now())
            .await
            .unwrap(),
        0,
        "the upkeep purged it"
    );

    // Another user's registration id is not theirs to finish.
    let bo = app.seed_user("bo@example.com", "owner").await;
    let (bo_access, _) = app.access_token(&bo).await;
    let (ana_id, options) = started(&app, &access).await;
    let credential = serde_json::to_value(
        authenticator()
            .do_registration(origin("https://example.com"), options)
            .unwrap(),
    )
    .unwrap();
    let r = finish(&app, &bo_access, &ana_id, "Not mine", &credential).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(list(&app, &bo_access).await.is_empty());

    // Started on one node, finished on another of the same database.
    let other = app.second_node().await;
    let (id, options) = started(&app, &access).await;
    let credential = serde_json::to_value(
        authenticator()
            .do_registration(origin("https://example.com"), options)
            .unwrap(),
    )
    .unwrap();
    let r = finish(&other, &access, &id, "Tablet", &credential).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(list(&app, &access).await.len(), 2);
}

async fn refused_ceremonies_store_nothing(b: Backend) {
    let app = passkey_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    let refused = |r: Response| async move {
        let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(
            body["error"]["details"]["reason"], "invalid_passkey",
            "{body}"
        );
    };
    // From an origin under the RP ID that is not configured.
    let (id, options) = started(&app, &access).await;
    let credential = authenticator()
        .do_registration(origin("https://other.example.com"), options)
        .unwrap();
    refused(
        finish(
            &app,
            &access,
            &id,
            "Phish",
            &serde_json::to_value(&credential).unwrap(),
        )
        .await,
    )
    .await;
    // For another RP ID (from an origin that is configured).
    let (id, mut options) = started(&app, &access).await;
    options.public_key.rp.id = "login.example.com".into();
    let credential = authenticator()
        .do_registration(origin("https://login.example.com"), options)
        .unwrap();
    refused(
        finish(
            &app,
            &access,
            &id,
            "Wrong RP",
            &serde_json::to_value(&credential).unwrap(),
        )
        .await,
    )
    .await;
    // Without user verification.
    let (id, mut options) = started(&app, &access).await;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.user_verification = UserVerificationPolicy::Preferred;
    }
    let mut no_uv = WebauthnAuthenticator::new(SoftToken::new(false).unwrap().0);
    let credential = no_uv
        .do_registration(origin("https://example.com"), options)
        .unwrap();
    refused(
        finish(
            &app,
            &access,
            &id,
            "No UV",
            &serde_json::to_value(&credential).unwrap(),
        )
        .await,
    )
    .await;
    assert!(list(&app, &access).await.is_empty());
    // A body that is not a credential at all.
    let (id, _) = started(&app, &access).await;
    let r = finish(&app, &access, &id, "Junk", &json!({"id": "x"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(list(&app, &access).await.is_empty());
}

async fn presence_names_and_the_limit(b: Backend) {
    let app = passkey_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, refresh) = app.access_token(&ana).await;
    // Names: 1 to 64 characters.
    for name in ["", "   ", &"x".repeat(65)] {
        let (id, options) = started(&app, &access).await;
        let credential = authenticator()
            .do_registration(origin("https://example.com"), options)
            .unwrap();
        let r = finish(
            &app,
            &access,
            &id,
            name,
            &serde_json::to_value(&credential).unwrap(),
        )
        .await;
        let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["details"]["field"], "name");
    }
    // Ten passkeys, then no more.
    for i in 0..10 {
        register(&app, &access, &mut authenticator(), &format!("Key {i}")).await;
    }
    let r = start(&app, &access, json!({})).await;
    let body = assert_error(r, StatusCode::CONFLICT, "passkey_limit_reached").await;
    assert_eq!(body["error"]["details"]["limit"], 10);

    // Eleven minutes after the sign-in, the password is needed again.
    app.clock.advance(660);
    let r = app.refresh(&refresh, ana.account).await;
    let fresh: Value = r.json().await.unwrap();
    let later = fresh["access_token"].as_str().unwrap();
    let bo = app.seed_user("bo@example.com", "owner").await;
    let (bo_access, _) = app.access_token(&bo).await;
    app.clock.advance(660);
    let r = start(&app, &bo_access, json!({})).await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["details"]["reason"], "password_required");
    let r = start(
        &app,
        &bo_access,
        json!({"password": "not the password at all"}),
    )
    .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = start(&app, &bo_access, json!({"password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Ana's old session needs it too (and still hits her limit once it is given).
    let r = start(&app, later, json!({})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn passkeys_off_and_bad_settings(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    assert_error(
        start(&app, &access, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get_bearer("/v1/me/passkeys", &access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let settings = |pairs: &[(&str, &str)]| {
        let mut env = base_settings("sqlite::memory:", app.dir.path());
        for (k, v) in pairs {
            env.insert(k.to_string(), v.to_string());
        }
        Settings::from_map(&env).and_then(|s| PasskeyState::new(&s))
    };
    assert!(settings(&[]).is_ok());
    for (pairs, needle) in [
        (
            vec![("TOKEND_WEBAUTHN_ORIGINS", "https://example.com")],
            "TOKEND_WEBAUTHN_RP_ID",
        ),
        (
            vec![("TOKEND_WEBAUTHN_RP_ID", "example.com")],
            "TOKEND_WEBAUTHN_ORIGINS",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "https://example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://example.com"),
            ],
            "TOKEND_WEBAUTHN_RP_ID",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "http://example.com"),
            ],
            "TOKEND_WEBAUTHN_ORIGINS",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://evil.test"),
            ],
            "TOKEND_WEBAUTHN_ORIGINS",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "android:apk-key-hash:short"),
            ],
            "TOKEND_WEBAUTHN_ORIGINS",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://example.com"),
                ("TOKEND_WEBAUTHN_CHALLENGE_TTL", "5"),
            ],
            "TOKEND_WEBAUTHN_CHALLENGE_TTL",
        ),
    ] {
        let e = settings(&pairs).unwrap_err().to_string();
        assert!(e.contains(needle), "{pairs:?}: {e}");
    }
    assert!(settings(&[
        ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
        (
            "TOKEND_WEBAUTHN_ORIGINS",
            &format!("https://example.com, https://login.example.com:8443,{ANDROID}"),
        ),
    ])
    .is_ok());
}
