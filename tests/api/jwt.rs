//! Access tokens as a resource API sees them: verified with the published JWKS by code that
//! shares nothing with tokend, and forgeries refused by tokend itself.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    es256_and_rs256_keys_sign_after_reload_and_verify_independently,
    independent_verifier_accepts_issued_tokens,
    forged_tokens_are_refused,
    discovery_metadata
);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn jwks(app: &TestApp) -> JwkSet {
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// The private key tokend signs with, read from its keys directory as an operator could.
fn signing_key(app: &TestApp) -> (String, EncodingKey) {
    let dir = app.dir.path().join("keys");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .unwrap();
    let kid = entry.file_stem().unwrap().to_str().unwrap().to_string();
    (
        kid,
        EncodingKey::from_ed_pem(&std::fs::read(entry).unwrap()).unwrap(),
    )
}

async fn independent_verifier_accepts_issued_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    // An app that names its OAuth client id gets it in the `client_id` claim.
    let r = app
        .post(
            "/v1/auth/sign_in",
            json!({"login": ana.login, "password": ana.password, "device": {"name": "phone", "client_id": "photos-ios"}}),
        )
        .await;
    let signed_in: Value = r.json().await.unwrap();
    let t: Value = app
        .refresh(signed_in["refresh_token"].as_str().unwrap(), ana.account)
        .await
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap().to_string();
    let header = decode_header(&access).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let keys = jwks(&app).await;
    let jwk = keys
        .find(header.kid.as_deref().unwrap())
        .expect("kid published");
    assert_eq!(
        jwk.common.public_key_use,
        Some(jsonwebtoken::jwk::PublicKeyUse::Signature)
    );
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["tokend"]);
    validation.set_issuer(&["http://tokend.test"]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    let data = decode::<Value>(&access, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    let c = data.claims;
    assert_eq!(c["sub"], ana.user.to_string());
    assert_eq!(c["account_uuid"], ana.account.to_string());
    assert_eq!(c["client_id"], "photos-ios");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert_eq!(c["nbf"], c["iat"]);
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(c["sid"].as_str().is_some());
    assert_eq!(
        c["sid"], signed_in["session_id"],
        "the access token is bound to its own session"
    );
    assert!(c["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .any(|s| s == "tokens:manage"));
    // Two tokens never share a jti.
    let (other, _) = app.access_token(&ana).await;
    let other = decode::<Value>(&other, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_ne!(other.claims["jti"], c["jti"]);
}

async fn forged_tokens_are_refused(b: Backend) {
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let (access, _) = app.access_token(&ana).await;
    assert_eq!(
        app.get_bearer("/v1/me", &access).await.status(),
        StatusCode::OK
    );
    let parts: Vec<&str> = access.split('.').collect();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let (kid, key) = signing_key(&app);

    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "at+jwt", "kid": kid})
            .to_string()
            .as_bytes()),
        parts[1]
    );

    let keys = jwks(&app).await;
    let public_x = match &keys.keys[0].algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
        other => panic!("unexpected key {other:?}"),
    };
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = Some(kid.clone());
    let hs256 = encode(&hs, &claims, &EncodingKey::from_secret(public_x.as_bytes())).unwrap();

    let mut escalated = claims.clone();
    escalated["account_uuid"] = json!(uuid::Uuid::new_v4().to_string());
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        b64(escalated.to_string().as_bytes()),
        parts[2]
    );

    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.clone());
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("someone-else");
    let wrong_aud = encode(&header, &wrong_aud, &key).unwrap();
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!("http://evil.test");
    let wrong_iss = encode(&header, &wrong_iss, &key).unwrap();
    let mut plain_jwt = header.clone();
    plain_jwt.typ = Some("JWT".into());
    let wrong_typ = encode(&plain_jwt, &claims, &key).unwrap();
    let mut embedded = header.clone();
    embedded.jku = Some("http://evil.test/jwks.json".into());
    let with_jku = encode(&embedded, &claims, &key).unwrap();

    for (what, token) in [
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("altered payload", altered),
        ("wrong audience", wrong_aud),
        ("wrong issuer", wrong_iss),
        ("wrong typ", wrong_typ),
        ("jku header", with_jku),
    ] {
        let r = app.get_bearer("/v1/me", &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // The real key with correct claims is accepted (the checks above are not vacuous).
    let resigned = encode(&header, &claims, &key).unwrap();
    assert_eq!(
        app.get_bearer("/v1/me", &resigned).await.status(),
        StatusCode::OK
    );

    // Without a client id in the device, the claim is "tokend".
    assert_eq!(claims["client_id"], "tokend");

    app.clock.advance(901);
    let r = app.get_bearer("/v1/me", &access).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "token_expired").await;
}

async fn discovery_metadata(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], "http://tokend.test");
    assert_eq!(m["token_endpoint"], "http://tokend.test/oauth2/token");
    assert_eq!(
        m["tokend_token_endpoint"],
        "http://tokend.test/v1/auth/token"
    );
    assert_eq!(m["jwks_uri"], "http://tokend.test/.well-known/jwks.json");
    assert_eq!(
        m["introspection_endpoint"],
        "http://tokend.test/v1/introspect"
    );
    assert_eq!(m["revocation_endpoint"], "http://tokend.test/oauth2/revoke");
    assert!(m["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("photos:read")));
    assert!(m["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("refresh_token")));
    let keys = jwks(&app).await;
    assert_eq!(keys.keys.len(), 1);
    let raw: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(raw["keys"][0].get("d").is_none(), "no private material");
    assert_eq!(raw["keys"][0]["alg"], "EdDSA");
}

async fn es256_and_rs256_keys_sign_after_reload_and_verify_independently(b: Backend) {
    use tokend::crypto::keys::{generate_key, KeyAlg, ACTIVATION_DELAY};
    let app = spawn_app(b).await;
    let ana = app.seed_user("ana@example.com", "owner").await;
    let keys_dir = app.dir.path().join("keys");
    for (alg, jws) in [
        (KeyAlg::Es256, Algorithm::ES256),
        (KeyAlg::Rs256, Algorithm::RS256),
    ] {
        // A key generated on another node a while ago: published, and old enough to sign.
        let created = tokend::clock::Clock::now(&app.clock) - ACTIVATION_DELAY;
        let kid = generate_key(&keys_dir, alg, created).unwrap();
        assert!(app.state.access_tokens.reload(&keys_dir).unwrap());
        let (access, _) = app.access_token(&ana).await;
        let header = decode_header(&access).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (jws, Some(kid.as_str()))
        );
        let keys = jwks(&app).await;
        let jwk = keys.find(&kid).expect("published");
        let mut validation = Validation::new(jws);
        validation.set_audience(&["tokend"]);
        validation.set_issuer(&["http://tokend.test"]);
        let data =
            decode::<Value>(&access, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
        assert_eq!(data.claims["sub"], ana.user.to_string());
        assert_eq!(
            app.get_bearer("/v1/me", &access).await.status(),
            StatusCode::OK
        );
        // A second later, so the next key is strictly newer than this one.
        app.clock.advance(1);
    }
}
