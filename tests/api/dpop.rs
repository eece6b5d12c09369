//! DPoP (RFC 9449, issue 14) over real HTTP: sessions bound at sign-in, refresh chains that need
//! the key, bound access tokens at tokend's own endpoints, the stolen-token case, nonces, replay
//! across nodes, and every malformed proof the issue names. Keys are generated in the tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend::clock::Clock;
use tokend::storage::AuditFilter;
use tokend_verify::dpop::DpopSigner;

use crate::both_backends;
use crate::helpers::*;
use crate::mfa::support::totp_at;

both_backends!(
    a_bound_session_refreshes_and_calls_only_with_its_key,
    bad_proofs_at_refresh_change_nothing,
    a_stolen_old_refresh_token_without_the_key_leaves_the_session_alive,
    a_bound_access_token_is_refused_as_bearer,
    required_proofs_and_unbound_sessions,
    nonces_round_trip,
    a_proof_replayed_on_another_node_is_refused,
    the_mfa_step_must_prove_the_sign_in_key,
    the_standard_token_endpoint_needs_the_key_too,
    spent_proof_ids_are_purged_once_their_window_passed,
    ending_a_bound_session_needs_its_key,
);

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.env_value("TOKEND_ISSUER"))
}

/// A proof for `method` `path` at the server's current time.
fn proof(app: &TestApp, key: &DpopSigner, method: &str, path: &str) -> String {
    key.proof(method, &url(app, path), None, None, app.clock.now())
        .unwrap()
}

async fn post_with(app: &TestApp, path: &str, body: Value, proof: Option<&str>) -> Response {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

fn sign_in_body(seeded: &Seeded) -> Value {
    json!({"login": seeded.login, "password": seeded.password, "device": {"name": "Phone"}})
}

/// Signs in with a proof by `key`; returns the first refresh token.
async fn bound_sign_in(app: &TestApp, seeded: &Seeded, key: &DpopSigner) -> String {
    let p = proof(app, key, "POST", "/v1/auth/sign_in");
    let r = post_with(app, "/v1/auth/sign_in", sign_in_body(seeded), Some(&p)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_string()
}

async fn refresh_with(
    app: &TestApp,
    token: &str,
    account: uuid::Uuid,
    p: Option<&str>,
) -> Response {
    post_with(
        app,
        "/v1/auth/token",
        json!({"refresh_token": token, "account_uuid": account}),
        p,
    )
    .await
}

/// Refreshes a bound session with a fresh proof; returns (access, refresh).
async fn bound_refresh(
    app: &TestApp,
    token: &str,
    account: uuid::Uuid,
    key: &DpopSigner,
) -> (String, String) {
    let p = proof(app, key, "POST", "/v1/auth/token");
    let r = refresh_with(app, token, account, Some(&p)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// `GET path` with `Authorization: DPoP` and a proof over the token.
async fn get_dpop(app: &TestApp, path: &str, access: &str, key: &DpopSigner) -> Response {
    let p = key
        .proof("GET", &url(app, path), Some(access), None, app.clock.now())
        .unwrap();
    app.client
        .get(app.url(path))
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", p)
        .send()
        .await
        .unwrap()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn assert_bad_proof(r: Response) {
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
}

async fn a_bound_session_refreshes_and_calls_only_with_its_key(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    for key in [
        DpopSigner::generate_es256().unwrap(),
        DpopSigner::generate_ed25519().unwrap(),
    ] {
        let mut refresh = bound_sign_in(&app, &ana, &key).await;
        let mut access = String::new();
        for _ in 0..3 {
            (access, refresh) = bound_refresh(&app, &refresh, ana.account, &key).await;
            assert_eq!(claims_of(&access)["cnf"], json!({"jkt": key.jkt()}));
        }
        let r = get_dpop(&app, "/v1/me", &access, &key).await;
        assert_eq!(r.status(), StatusCode::OK);
        let me: Value = r.json().await.unwrap();
        assert_eq!(me["kind"], "user");
        // The sessions list says which session is key-bound, and to which key.
        let r = get_dpop(&app, "/v1/auth/sessions", &access, &key).await;
        assert_eq!(r.status(), StatusCode::OK);
        let list: Value = r.json().await.unwrap();
        let current = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap();
        assert_eq!(current["dpop_jkt"], key.jkt());
    }
    // A bearer session lists null.
    let (access, _) = app.access_token(&ana).await;
    let list: Value = app
        .get_bearer("/v1/auth/sessions", &access)
        .await
        .json()
        .await
        .unwrap();
    let current = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["dpop_jkt"], Value::Null);
    assert!(claims_of(&access).get("cnf").is_none());

    // Introspection reports the binding to resource servers.
    let rs = app
        .state
        .add_resource_server("Photos API", None)
        .await
        .unwrap();
    let key = DpopSigner::generate_es256().unwrap();
    let refresh = bound_sign_in(&app, &ana, &key).await;
    let (access, _) = bound_refresh(&app, &refresh, ana.account, &key).await;
    let r = app
        .client
        .post(app.url("/v1/introspect"))
        .basic_auth(&rs.client_id, Some(rs.client_secret.expose()))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["cnf"], json!({"jkt": key.jkt()}));

    // Metadata names the proof algorithms.
    let meta = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
}

/// A proof made by hand: header and claims as given, signed by `encoding` with `alg`.
fn crafted(header: &Header, claims: &Value, encoding: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, encoding).unwrap()
}

async fn bad_proofs_at_refresh_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let other = DpopSigner::generate_es256().unwrap();
    let refresh = bound_sign_in(&app, &ana, &key).await;
    let now = app.clock.now();
    let htu = url(&app, "/v1/auth/token");
    let claims = json!({"jti": "hand-made-1", "htm": "POST", "htu": htu, "iat": now});
    let public = serde_json::to_value(key.public_jwk()).unwrap();

    // alg none: no signature at all.
    let none_header = json!({"alg": "none", "typ": "dpop+jwt", "jwk": public});
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(none_header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // HMAC keyed with the public key's coordinates.
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.typ = Some("dpop+jwt".into());
    hmac_header.jwk = Some(key.public_jwk().clone());
    let hmac = crafted(
        &hmac_header,
        &claims,
        &EncodingKey::from_secret(public["x"].as_str().unwrap().as_bytes()),
    );
    // The private key embedded in the header next to the public one.
    let good = key.proof("POST", &htu, None, None, now).unwrap();
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["jwk"]["d"] = json!("c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFs");
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    let private_embedded = parts.join(".");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no proof", None),
        (
            "another key",
            Some(proof(&app, &other, "POST", "/v1/auth/token")),
        ),
        (
            "wrong htm",
            Some(proof(&app, &key, "PUT", "/v1/auth/token")),
        ),
        (
            "wrong htu",
            Some(proof(&app, &key, "POST", "/oauth2/token")),
        ),
        (
            "old iat",
            Some(key.proof("POST", &htu, None, None, now - 600).unwrap()),
        ),
        ("alg none", Some(alg_none)),
        ("hmac", Some(hmac)),
        ("private key embedded", Some(private_embedded)),
        ("not a jwt", Some("not-a-proof".into())),
    ];
    for (what, p) in &cases {
        let r = refresh_with(&app, &refresh, ana.account, p.as_deref()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "invalid_dpop_proof",
            "{what}: {body}"
        );
    }
    // Two DPoP headers are refused too.
    let r = app
        .client
        .post(app.url("/v1/auth/token"))
        .header("DPoP", proof(&app, &key, "POST", "/v1/auth/token"))
        .header("DPoP", proof(&app, &key, "POST", "/v1/auth/token"))
        .json(&json!({"refresh_token": refresh, "account_uuid": ana.account}))
        .send()
        .await
        .unwrap();
    assert_bad_proof(r).await;

    // A replayed proof: the first use works, the second is refused.
    let once = proof(&app, &key, "POST", "/v1/auth/token");
    let r = refresh_with(&app, &refresh, ana.account, Some(&once)).await;
    assert_eq!(r.status(), StatusCode::OK, "nothing above spent the token");
    let next: Value = r.json().await.unwrap();
    let next = next["refresh_token"].as_str().unwrap();
    assert_bad_proof(refresh_with(&app, next, ana.account, Some(&once)).await).await;
    // And the chain goes on with a fresh proof.
    bound_refresh(&app, next, ana.account, &key).await;
}

async fn a_stolen_old_refresh_token_without_the_key_leaves_the_session_alive(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_REFRESH_GRACE_SECONDS", "0")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_ed25519().unwrap();
    let stolen = bound_sign_in(&app, &ana, &key).await;
    let (_, current) = bound_refresh(&app, &stolen, ana.account, &key).await;
    // The thief replays the spent token, without the key and with a key of their own.
    let thief = DpopSigner::generate_ed25519().unwrap();
    assert_bad_proof(refresh_with(&app, &stolen, ana.account, None).await).await;
    let p = proof(&app, &thief, "POST", "/v1/auth/token");
    assert_bad_proof(refresh_with(&app, &stolen, ana.account, Some(&p)).await).await;
    // No reuse was detected: the app's session lives on.
    bound_refresh(&app, &current, ana.account, &key).await;
    // The refusal is in the audit trail (once: a thief retrying does not fill it).
    let filter = AuditFilter {
        user_id: Some(ana.user),
        account_id: None,
        kind: Some("dpop.proof_rejected".into()),
        since: None,
    };
    let rows = app.state.store.list_audit(&filter, None, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let reused = AuditFilter {
        kind: Some("refresh_token.reused".into()),
        ..filter
    };
    assert!(app
        .state
        .store
        .list_audit(&reused, None, 10)
        .await
        .unwrap()
        .is_empty());
    // With the key, the same replay is reuse, as for any session.
    let p = proof(&app, &key, "POST", "/v1/auth/token");
    assert_error(
        refresh_with(&app, &stolen, ana.account, Some(&p)).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
}

async fn a_bound_access_token_is_refused_as_bearer(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let refresh = bound_sign_in(&app, &ana, &key).await;
    let (access, _) = bound_refresh(&app, &refresh, ana.account, &key).await;

    let r = app.get_bearer("/v1/me", &access).await;
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(challenge.contains("algs=\"ES256 EdDSA\""), "{challenge}");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // The DPoP scheme without a proof, with a proof without ath, by another key, for another
    // URL, or replayed: 401 invalid_dpop_proof with the DPoP challenge.
    let send = |p: Option<String>| {
        let mut req = app
            .client
            .get(app.url("/v1/me"))
            .header("Authorization", format!("DPoP {access}"));
        if let Some(p) = p {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let now = app.clock.now();
    let me = url(&app, "/v1/me");
    let other = DpopSigner::generate_es256().unwrap();
    let replayed = key.proof("GET", &me, Some(&access), None, now).unwrap();
    assert_eq!(
        send(Some(replayed.clone())).await.unwrap().status(),
        StatusCode::OK
    );
    for p in [
        None,
        Some(key.proof("GET", &me, None, None, now).unwrap()),
        Some(other.proof("GET", &me, Some(&access), None, now).unwrap()),
        Some(
            key.proof(
                "GET",
                &url(&app, "/v1/auth/sessions"),
                Some(&access),
                None,
                now,
            )
            .unwrap(),
        ),
        Some(replayed),
    ] {
        let r = send(p).await.unwrap();
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{challenge}"
        );
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_dpop_proof").await;
    }
    // A bearer token sent with the DPoP scheme is refused as well.
    let (bearer, _) = app.access_token(&ana).await;
    let r = get_dpop(&app, "/v1/me", &bearer, &key).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn required_proofs_and_unbound_sessions(b: Backend) {
    // Off by default: a session without a proof refreshes as a bearer session.
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let refresh = app.first_refresh_token(&ana).await;
    let r = app.refresh(&refresh, ana.account).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    // A proof sent with a bearer session's refresh binds that access token alone.
    let key = DpopSigner::generate_es256().unwrap();
    let p = proof(&app, &key, "POST", "/v1/auth/token");
    let next = body["refresh_token"].as_str().unwrap();
    let r = refresh_with(&app, next, ana.account, Some(&p)).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );
    let next = body["refresh_token"].as_str().unwrap();
    let r = app.refresh(next, ana.account).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the session itself stays unbound"
    );

    let app = spawn_app_with(b, &[("TOKEND_DPOP_REQUIRED", "true")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let r = app.sign_in(&ana.login, &ana.password).await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("DPoP"));
    let refresh = bound_sign_in(&app, &ana, &key).await;
    bound_refresh(&app, &refresh, ana.account, &key).await;
}

async fn nonces_round_trip(b: Backend) {
    let app = spawn_app_with(b, &[("TOKEND_DPOP_NONCE", "true")]).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let htu = url(&app, "/v1/auth/sign_in");
    let p = proof(&app, &key, "POST", "/v1/auth/sign_in");
    let r = post_with(&app, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await;
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    assert_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    // A nonce the server never issued is refused the same way.
    let forged = key
        .proof("POST", &htu, None, Some("bm9uY2U"), app.clock.now())
        .unwrap();
    let r = post_with(&app, "/v1/auth/sign_in", sign_in_body(&ana), Some(&forged)).await;
    assert_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let p = key
        .proof("POST", &htu, None, Some(&nonce), app.clock.now())
        .unwrap();
    let r = post_with(&app, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("dpop-nonce"),
        "a fresh nonce each time"
    );
    let body: Value = r.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    // The refresh needs a nonce too, and the error carries one.
    let p = proof(&app, &key, "POST", "/v1/auth/token");
    let r = refresh_with(&app, refresh, ana.account, Some(&p)).await;
    assert!(r.headers().contains_key("dpop-nonce"));
    assert_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    // An expired nonce: asked for a new one.
    app.clock.advance(600);
    let stale = key
        .proof(
            "POST",
            &url(&app, "/v1/auth/token"),
            None,
            Some(&nonce),
            app.clock.now(),
        )
        .unwrap();
    let r = refresh_with(&app, refresh, ana.account, Some(&stale)).await;
    let fresh = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    assert_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let p = key
        .proof(
            "POST",
            &url(&app, "/v1/auth/token"),
            None,
            Some(&fresh),
            app.clock.now(),
        )
        .unwrap();
    let r = refresh_with(&app, refresh, ana.account, Some(&p)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn a_proof_replayed_on_another_node_is_refused(b: Backend) {
    let one = spawn_app(b).await;
    let two = one.second_node().await;
    let ana = one.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_ed25519().unwrap();
    let p = proof(&one, &key, "POST", "/v1/auth/sign_in");
    let r = post_with(&one, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post_with(&two, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await;
    assert_bad_proof(r).await;
    // A fresh proof works on the other node, for the session the first one started.
    let body: Value = post_with(
        &two,
        "/v1/auth/sign_in",
        sign_in_body(&ana),
        Some(&proof(&two, &key, "POST", "/v1/auth/sign_in")),
    )
    .await
    .json()
    .await
    .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    bound_refresh(&one, refresh, ana.account, &key).await;
}

async fn the_mfa_step_must_prove_the_sign_in_key(b: Backend) {
    let app = spawn_app(b).await;
    let enrolled = app.enrolled("mfa@example.com").await;
    let key = DpopSigner::generate_es256().unwrap();
    let p = proof(&app, &key, "POST", "/v1/auth/sign_in");
    let r = post_with(
        &app,
        "/v1/auth/sign_in",
        sign_in_body(&enrolled.seeded),
        Some(&p),
    )
    .await;
    let body: Value = r.json().await.unwrap();
    let mfa_token = body["mfa_token"].as_str().unwrap().to_string();
    let code = totp_at(&enrolled.key, app.clock.now(), 6);
    let app = &app;
    let step = |p: Option<String>| {
        let body = json!({"mfa_token": mfa_token, "code": code});
        async move { post_with(app, "/v1/auth/mfa", body, p.as_deref()).await }
    };
    assert_bad_proof(step(None).await).await;
    let other = DpopSigner::generate_es256().unwrap();
    assert_bad_proof(step(Some(proof(app, &other, "POST", "/v1/auth/mfa"))).await).await;
    // Refused proofs cost no attempt: the right key and code still finish the sign-in.
    let r = step(Some(proof(app, &key, "POST", "/v1/auth/mfa"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_bad_proof(refresh_with(app, refresh, enrolled.seeded.account, None).await).await;
    bound_refresh(app, refresh, enrolled.seeded.account, &key).await;
}

async fn the_standard_token_endpoint_needs_the_key_too(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (client, _) = app.register_client(false, &["refresh_token"], &[]).await;
    let key = DpopSigner::generate_es256().unwrap();
    let p = proof(&app, &key, "POST", "/v1/auth/sign_in");
    let body = json!({"login": ana.login, "password": ana.password,
        "device": {"name": "Phone", "client_id": client}});
    let r = post_with(&app, "/v1/auth/sign_in", body, Some(&p)).await;
    let signed: Value = r.json().await.unwrap();
    let refresh = signed["refresh_token"].as_str().unwrap().to_string();
    let account = ana.account.to_string();
    let form = |refresh: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh.to_string()),
            ("account_uuid", account.clone()),
            ("client_id", client.clone()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>, p: Option<String>| {
        let mut req = app.client.post(app.url("/oauth2/token")).form(&form);
        if let Some(p) = p {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let r = send(form(&refresh), None).await.unwrap();
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let r = send(
        form(&refresh),
        Some(proof(&app, &key, "POST", "/oauth2/token")),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );
}

async fn spent_proof_ids_are_purged_once_their_window_passed(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let p = proof(&app, &key, "POST", "/v1/auth/sign_in");
    let r = post_with(&app, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await;
    let body: Value = r.json().await.unwrap();
    bound_refresh(
        &app,
        body["refresh_token"].as_str().unwrap(),
        ana.account,
        &key,
    )
    .await;
    // Inside the window nothing may go: the ids still refuse replays after the upkeep.
    app.state.upkeep().await;
    assert_bad_proof(post_with(&app, "/v1/auth/sign_in", sign_in_body(&ana), Some(&p)).await).await;
    // After it, the minute's upkeep deletes both rows (sign-in and refresh).
    app.clock.advance(120);
    app.state.upkeep().await;
    let left = app
        .state
        .store
        .purge_dpop_proofs(app.clock.now())
        .await
        .unwrap();
    assert_eq!(left, 0, "upkeep left {left} rows");
    // And the store's purge does count what it deletes.
    bound_sign_in(&app, &ana, &key).await;
    app.clock.advance(120);
    assert_eq!(
        app.state
            .store
            .purge_dpop_proofs(app.clock.now())
            .await
            .unwrap(),
        1
    );
}

async fn ending_a_bound_session_needs_its_key(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let refresh = bound_sign_in(&app, &ana, &key).await;
    let (access, refresh) = bound_refresh(&app, &refresh, ana.account, &key).await;
    // Without the key, neither the refresh token nor the access token ends the session, on
    // any of the three revocation routes.
    let body = json!({"refresh_token": refresh});
    assert_bad_proof(post_with(&app, "/v1/auth/sign_out", body.clone(), None).await).await;
    for token in [&refresh, &access] {
        let r = post_with(&app, "/v1/revoke", json!({"token": token}), None).await;
        assert_bad_proof(r).await;
    }
    let (client, _) = app.register_client(false, &["refresh_token"], &[]).await;
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", access.as_str()), ("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let (access, refresh) = bound_refresh(&app, &refresh, ana.account, &key).await;
    assert_eq!(
        get_dpop(&app, "/v1/me", &access, &key).await.status(),
        StatusCode::OK
    );
    // With it, sign-out works and the session is over.
    let p = proof(&app, &key, "POST", "/v1/auth/sign_out");
    let r = post_with(
        &app,
        "/v1/auth/sign_out",
        json!({"refresh_token": refresh}),
        Some(&p),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = proof(&app, &key, "POST", "/v1/auth/token");
    let r = refresh_with(&app, &refresh, ana.account, Some(&p)).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}
