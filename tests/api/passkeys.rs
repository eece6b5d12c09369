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
    admins_list_and_remove_passkeys,
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
                ("TOKEND_WEBAUTHN_RP_ID", "com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://com"),
            ],
            "TOKEND_WEBAUTHN_RP_ID",
        ),
        (
            vec![
                ("TOKEND_WEBAUTHN_RP_ID", "192.0.2.1"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://192.0.2.1"),
            ],
            "TOKEND_WEBAUTHN_RP_ID",
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

async fn admins_list_and_remove_passkeys(b: Backend) {
    use crate::admin_api::{admin, admin_key};
    use reqwest::Method;
    let app = passkey_app(b).await;
    let key = admin_key(&app, "support").await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    register(&app, &access, &mut authenticator(), "Phone").await;
    register(&app, &access, &mut authenticator(), "Laptop").await;
    let base = format!("/v1/admin/users/{}", ana.user);
    let r = admin(&app, &key, Method::GET, &format!("{base}/passkeys"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let user: Value = admin(&app, &key, Method::GET, &base, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["mfa_enabled"], true, "a passkey is a second factor");
    // One goes.
    let phone = format!("{base}/passkeys/{}", items[0]["id"].as_str().unwrap());
    let r = admin(&app, &key, Method::DELETE, &phone, None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = admin(&app, &key, Method::DELETE, &phone, None).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(list(&app, &access).await.len(), 1);
    // Removing the user's MFA removes the passkeys too: the password alone signs in again.
    let r = admin(&app, &key, Method::DELETE, &format!("{base}/mfa"), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(list(&app, &access).await.is_empty());
    let user: Value = admin(&app, &key, Method::GET, &base, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["mfa_enabled"], false);
    let body = app.signed_in(&ana).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

mod sign_in {
    //! Passkeys at sign-in: the second factor after the password, and passwordless.

    use reqwest::{Response, StatusCode};
    use serde_json::{json, Value};
    use tokend::clock::Clock;
    use tokend::storage::AuditFilter;
    use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, Url};
    use webauthn_authenticator_rs::softtoken::SoftToken;
    use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
    use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

    use super::{authenticator, passkey_app, register};

    use crate::both_backends;
    use crate::helpers::*;
    use crate::mfa::support::totp_at;

    both_backends!(
        a_passkey_is_the_second_factor,
        refused_second_factors_count_as_wrong_codes,
        passwordless_sign_in,
        refused_passwordless_sign_ins,
        a_deleted_passkey_signs_nobody_in,
        passkey_sign_in_binds_to_a_dpop_key,
    );

    fn example() -> Url {
        Url::parse("https://example.com").unwrap()
    }

    /// A user with one passkey (registered with `auth`); returns its credential JSON.
    async fn with_passkey(
        app: &TestApp,
        seeded: &Seeded,
        auth: &mut WebauthnAuthenticator<SoftToken>,
    ) -> Value {
        let (access, _) = app.access_token(seeded).await;
        register(app, &access, auth, "Phone").await
    }

    /// Signs in with the password; returns the MFA challenge.
    async fn challenge(app: &TestApp, seeded: &Seeded) -> Value {
        let body = app.signed_in(seeded).await;
        assert_eq!(body["mfa_required"], true, "{body}");
        body
    }

    fn options(challenge: &Value) -> RequestChallengeResponse {
        serde_json::from_value(challenge["passkey_options"].clone()).unwrap()
    }

    async fn mfa_with(app: &TestApp, challenge: &Value, credential: Value) -> Response {
        app.post(
            "/v1/auth/mfa",
            json!({"mfa_token": challenge["mfa_token"], "passkey": credential}),
        )
        .await
    }

    async fn a_passkey_is_the_second_factor(b: Backend) {
        let app = passkey_app(b).await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let mut auth = authenticator();
        with_passkey(&app, &ana, &mut auth).await;
        // A passkey without TOTP is MFA on its own.
        let c = challenge(&app, &ana).await;
        assert_eq!(c["mfa_methods"], json!(["passkey"]));
        assert!(c["passkey_options"]["publicKey"]["challenge"].is_string());
        let assertion = auth.do_authentication(example(), options(&c)).unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&assertion).unwrap()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let signed: Value = r.json().await.unwrap();
        let refresh = signed["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.refresh(refresh, ana.account).await.status(),
            StatusCode::OK
        );
        // Its use is recorded.
        let (access, _) = {
            let r = app.refresh(refresh, ana.account).await;
            assert_eq!(r.status(), StatusCode::OK);
            let t: Value = r.json().await.unwrap();
            (t["access_token"].as_str().unwrap().to_string(), ())
        };
        let listed = super::list(&app, &access).await;
        assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");

        // With TOTP as well, every method is offered, and TOTP still works.
        let bo = app.enrolled("bo@example.com").await;
        let mut bo_auth = authenticator();
        register(&app, &bo.access, &mut bo_auth, "Key").await;
        let c = challenge(&app, &bo.seeded).await;
        assert_eq!(
            c["mfa_methods"],
            json!(["totp", "passkey", "recovery_code"])
        );
        let code = totp_at(&bo.key, app.clock.now(), 6);
        let r = app
            .post(
                "/v1/auth/mfa",
                json!({"mfa_token": c["mfa_token"], "code": code}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        // Both, or neither, is a bad request that spends nothing.
        let c = challenge(&app, &bo.seeded).await;
        for body in [
            json!({"mfa_token": c["mfa_token"]}),
            json!({"mfa_token": c["mfa_token"], "code": "123456", "passkey": {}}),
        ] {
            let r = app.post("/v1/auth/mfa", body).await;
            assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let assertion = bo_auth.do_authentication(example(), options(&c)).unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&assertion).unwrap()).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn refused_second_factors_count_as_wrong_codes(b: Backend) {
        let app = passkey_app(b).await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let (ana_access, _) = app.access_token(&ana).await;
        let mut auth = authenticator();
        register(&app, &ana_access, &mut auth, "Phone").await;
        let bo = app.seed_user("bo@example.com", "owner").await;
        let mut bo_auth = authenticator();
        with_passkey(&app, &bo, &mut bo_auth).await;

        // Another user's passkey (signing that user's own challenge) does not finish Ana's.
        let c = challenge(&app, &ana).await;
        let bo_c = challenge(&app, &bo).await;
        let foreign = bo_auth
            .do_authentication(example(), options(&bo_c))
            .unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&foreign).unwrap()).await;
        let body = assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        assert_eq!(body["error"]["details"]["attempts_left"], 4);

        // From an origin that is not configured.
        let wrong = auth
            .do_authentication(
                Url::parse("https://other.example.com").unwrap(),
                options(&c),
            )
            .unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&wrong).unwrap()).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

        // Without user verification.
        let mut lax = options(&c);
        lax.public_key.user_verification = UserVerificationPolicy::Preferred;
        let unverified = auth.do_authentication(example(), lax).unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&unverified).unwrap()).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

        // A cloned authenticator: its counter goes backwards. Refused and audited.
        let cy = app.seed_user("cy@example.com", "owner").await;
        let (cy_access, _) = app.access_token(&cy).await;
        let mut token = SoftToken::new(true).unwrap().0;
        let (id, creation) = super::started(&app, &cy_access).await;
        let credential = token
            .perform_register(example(), creation.public_key, 60_000)
            .unwrap();
        let r = super::finish(
            &app,
            &cy_access,
            &id,
            "Key",
            &serde_json::to_value(&credential).unwrap(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let mut clone = SoftToken::from_cbor(&token.to_cbor().unwrap()).unwrap();
        let c = challenge(&app, &cy).await;
        // A second challenge issued before the genuine use: its snapshot of the counter is
        // older than the database's by the time the clone answers it.
        let early = challenge(&app, &cy).await;
        let genuine = token
            .perform_auth(example(), options(&c).public_key, 60_000)
            .unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&genuine).unwrap()).await;
        assert_eq!(r.status(), StatusCode::OK, "the genuine one works");
        let stale = clone
            .perform_auth(example(), options(&early).public_key, 60_000)
            .unwrap();
        let r = mfa_with(&app, &early, serde_json::to_value(&stale).unwrap()).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        // Against a challenge issued after the genuine use, webauthn-rs itself refuses a clone's
        // counter that is not past the snapshot's.
        let mut clone = SoftToken::from_cbor(&token.to_cbor().unwrap()).unwrap();
        let c = challenge(&app, &cy).await;
        let genuine = token
            .perform_auth(example(), options(&c).public_key, 60_000)
            .unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&genuine).unwrap()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let c = challenge(&app, &cy).await;
        let stale = clone
            .perform_auth(example(), options(&c).public_key, 60_000)
            .unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&stale).unwrap()).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let filter = AuditFilter {
            user_id: Some(cy.user),
            account_id: None,
            kind: Some("passkey.refused".into()),
            since: None,
        };
        let rows = app.state.store.list_audit(&filter, None, 10).await.unwrap();
        assert_eq!(rows.len(), 2, "both refusals are audited: {rows:?}");

        // A passkey deleted after the challenge was issued is refused.
        let c = challenge(&app, &ana).await;
        let listed = super::list(&app, &ana_access).await;
        let path = format!("/v1/me/passkeys/{}", listed[0]["id"].as_str().unwrap());
        let r = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&ana_access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let assertion = auth.do_authentication(example(), options(&c)).unwrap();
        let r = mfa_with(&app, &c, serde_json::to_value(&assertion).unwrap()).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        // With no passkey and no TOTP left, the password alone signs in again.
        let body = app.signed_in(&ana).await;
        assert!(body["refresh_token"].is_string(), "{body}");
    }

    /// Options with the test's credential put in `allowCredentials`: the software authenticator
    /// keeps no discoverable credentials, so the test does the discovery a platform would do.
    async fn passwordless_options(
        app: &TestApp,
        credential: &Value,
    ) -> (String, RequestChallengeResponse) {
        let r = app.post("/v1/auth/passkey/options", json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        let mut options: RequestChallengeResponse =
            serde_json::from_value(body["options"].clone()).unwrap();
        assert!(options.public_key.allow_credentials.is_empty());
        assert_eq!(
            options.public_key.user_verification,
            UserVerificationPolicy::Required
        );
        options.public_key.allow_credentials.push(AllowCredentials {
            type_: "public-key".into(),
            id: serde_json::from_value(credential["rawId"].clone()).unwrap(),
            transports: None,
        });
        (body["challenge_id"].as_str().unwrap().to_string(), options)
    }

    /// An assertion as a platform authenticator sends it for a discoverable credential: with the
    /// user handle (the user's UUID).
    fn discoverable(
        auth: &mut WebauthnAuthenticator<SoftToken>,
        origin: Url,
        options: RequestChallengeResponse,
        user: uuid::Uuid,
    ) -> Value {
        let mut assertion = auth.do_authentication(origin, options).unwrap();
        assertion.response.user_handle = Some(user.as_bytes().to_vec().into());
        serde_json::to_value(&assertion).unwrap()
    }

    async fn passkey_sign_in(app: &TestApp, challenge_id: &str, credential: Value) -> Response {
        app.post(
            "/v1/auth/passkey/sign_in",
            json!({"challenge_id": challenge_id, "credential": credential,
                   "device": {"name": "Phone", "platform": "ios"}}),
        )
        .await
    }

    async fn passwordless_sign_in(b: Backend) {
        let app = passkey_app(b).await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let mut auth = authenticator();
        let credential = with_passkey(&app, &ana, &mut auth).await;
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        let r = passkey_sign_in(&app, &id, assertion.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
        let signed: Value = r.json().await.unwrap();
        // Exactly what a password sign-in answers.
        assert_eq!(signed["user"]["uuid"], ana.user.to_string());
        assert_eq!(signed["accounts"][0]["uuid"], ana.account.to_string());
        let refresh = signed["refresh_token"].as_str().unwrap();
        assert_eq!(
            app.refresh(refresh, ana.account).await.status(),
            StatusCode::OK
        );
        // The challenge was single use.
        let r = passkey_sign_in(&app, &id, assertion).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        // Started on one node, finished on another.
        let other = app.second_node().await;
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        assert_eq!(
            passkey_sign_in(&other, &id, assertion).await.status(),
            StatusCode::OK
        );
        // The audit row names the method.
        let filter = AuditFilter {
            user_id: Some(ana.user),
            account_id: None,
            kind: Some("sign_in.succeeded".into()),
            since: None,
        };
        let rows = app.state.store.list_audit(&filter, None, 20).await.unwrap();
        assert!(
            rows.iter().any(|r| r.details.contains("\"passkey\"")),
            "{rows:?}"
        );
    }

    async fn refused_passwordless_sign_ins(b: Backend) {
        let app = passkey_app(b).await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let mut auth = authenticator();
        let credential = with_passkey(&app, &ana, &mut auth).await;
        let bo = app.seed_user("bo@example.com", "owner").await;
        let refused = |r: Response| async move {
            assert_error(r, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        };
        // Expired.
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        app.clock.advance(301);
        refused(passkey_sign_in(&app, &id, assertion).await).await;
        // Claiming to be another user (the user handle names Bo).
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, bo.user);
        refused(passkey_sign_in(&app, &id, assertion).await).await;
        // From an origin that is not configured.
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(
            &mut auth,
            Url::parse("https://other.example.com").unwrap(),
            options,
            ana.user,
        );
        refused(passkey_sign_in(&app, &id, assertion).await).await;
        // For another RP ID, from an origin that is configured.
        let (id, mut options) = passwordless_options(&app, &credential).await;
        options.public_key.rp_id = "login.example.com".into();
        let assertion = discoverable(
            &mut auth,
            Url::parse("https://login.example.com").unwrap(),
            options,
            ana.user,
        );
        refused(passkey_sign_in(&app, &id, assertion).await).await;
        // Without user verification.
        let (id, mut options) = passwordless_options(&app, &credential).await;
        options.public_key.user_verification = UserVerificationPolicy::Preferred;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        refused(passkey_sign_in(&app, &id, assertion).await).await;
        // A disabled user is refused, after the assertion (no user enumeration).
        app.state
            .set_user_disabled("ana@example.com", true)
            .await
            .unwrap();
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        let r = passkey_sign_in(&app, &id, assertion).await;
        assert_error(r, StatusCode::FORBIDDEN, "user_disabled").await;

        // Options and sign-ins are limited per address, like sign-in.
        let limited = spawn_app_with(
            b,
            &[
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://example.com"),
                ("TOKEND_SIGN_IN_PER_IP_PER_MINUTE", "3"),
            ],
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(
                limited
                    .post("/v1/auth/passkey/options", json!({}))
                    .await
                    .status(),
            );
        }
        assert_eq!(statuses[..3], [StatusCode::OK; 3]);
        assert_error(
            limited.post("/v1/auth/passkey/options", json!({})).await,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        )
        .await;
    }

    async fn a_deleted_passkey_signs_nobody_in(b: Backend) {
        let app = passkey_app(b).await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let (access, _) = app.access_token(&ana).await;
        let mut auth = authenticator();
        let credential = register(&app, &access, &mut auth, "Phone").await;
        let (id, options) = passwordless_options(&app, &credential).await;
        let listed = super::list(&app, &access).await;
        let path = format!("/v1/me/passkeys/{}", listed[0]["id"].as_str().unwrap());
        let r = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        let r = passkey_sign_in(&app, &id, assertion).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
    }

    async fn passkey_sign_in_binds_to_a_dpop_key(b: Backend) {
        use tokend_verify::dpop::DpopSigner;
        let app = spawn_app_with(
            b,
            &[
                ("TOKEND_WEBAUTHN_RP_ID", "example.com"),
                ("TOKEND_WEBAUTHN_ORIGINS", "https://example.com"),
                ("TOKEND_DPOP_REQUIRED", "true"),
            ],
        )
        .await;
        let ana = app.seed_user("ana@example.com", "owner").await;
        let key = DpopSigner::generate_es256().unwrap();
        let issuer = app.env_value("TOKEND_ISSUER");
        let proof = |path: &str| {
            key.proof(
                "POST",
                &format!("{issuer}{path}"),
                None,
                None,
                app.clock.now(),
            )
            .unwrap()
        };
        // The passkey is registered from a session signed in with a proof.
        let signed: Value = app
            .client
            .post(app.url("/v1/auth/sign_in"))
            .header("DPoP", proof("/v1/auth/sign_in"))
            .json(
                &json!({"login": ana.login, "password": ana.password, "device": {"name": "Phone"}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token: Value = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("DPoP", proof("/v1/auth/token"))
            .json(&json!({"refresh_token": signed["refresh_token"], "account_uuid": ana.account}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = token["access_token"].as_str().unwrap();
        let registration = |method: &str, path: &str| {
            key.proof(
                method,
                &format!("{issuer}{path}"),
                Some(access),
                None,
                app.clock.now(),
            )
            .unwrap()
        };
        let r = app
            .client
            .post(app.url("/v1/me/passkeys/registration"))
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", registration("POST", "/v1/me/passkeys/registration"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let started: Value = r.json().await.unwrap();
        let mut auth = authenticator();
        let credential = auth
            .do_registration(
                example(),
                serde_json::from_value(started["options"].clone()).unwrap(),
            )
            .unwrap();
        let credential = serde_json::to_value(&credential).unwrap();
        let r = app
            .client
            .post(app.url("/v1/me/passkeys"))
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", registration("POST", "/v1/me/passkeys"))
            .json(&json!({"registration_id": started["registration_id"], "name": "Phone", "credential": credential}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);

        // Without a proof, TOKEND_DPOP_REQUIRED refuses the passkey sign-in.
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        let r = passkey_sign_in(&app, &id, assertion).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
        // With one, the session is bound: its refresh needs the key.
        let (id, options) = passwordless_options(&app, &credential).await;
        let assertion = discoverable(&mut auth, example(), options, ana.user);
        let r = app
            .client
            .post(app.url("/v1/auth/passkey/sign_in"))
            .header("DPoP", proof("/v1/auth/passkey/sign_in"))
            .json(&json!({"challenge_id": id, "credential": assertion,
                   "device": {"name": "Phone"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let signed: Value = r.json().await.unwrap();
        let r = app
            .refresh(signed["refresh_token"].as_str().unwrap(), ana.account)
            .await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
        let r = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("DPoP", proof("/v1/auth/token"))
            .json(&json!({"refresh_token": signed["refresh_token"], "account_uuid": ana.account}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");
    }
}
