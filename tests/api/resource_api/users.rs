//! User tokens at the example API: scopes, down-scoping, accounts, audiences, forgeries, expiry.

use aws_lc_rs::signature::Ed25519KeyPair;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokend::clock::Clock;
use tokend::crypto::jwt::AccessGrant;

use super::{refused, scoped, stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tokens_get_what_their_scopes_and_account_allow() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("owner@example.com", "owner").await;
    let (owner_at, _) = app.access_token(&owner).await;

    // The owner's role grants every photo scope.
    let r = api.get("/me", &owner_at).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["account_uuid"], owner.account.to_string());
    assert_eq!(
        (me["subject"].as_str(), me["kind"].as_str()),
        (Some(&*owner.user.to_string()), Some("user"))
    );
    let ids = api.photo_ids(&owner_at).await;
    assert_eq!(ids.len(), 3);
    let photo = format!("/photos/{}", ids[0]);
    let r = api
        .send(
            "PATCH",
            &photo,
            &owner_at,
            Some(json!({"title": "Owner's secret"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .send(
            "POST",
            "/tags",
            &owner_at,
            Some(json!({"name": "owners-only"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = api
        .send("DELETE", &format!("/photos/{}", ids[2]), &owner_at, None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.photo_ids(&owner_at).await, ids[..2]);

    // A viewer of another account: reads, but may not delete or tag (403 with the scope).
    let viewer = app.seed_user("viewer@example.com", "viewer").await;
    let (viewer_at, _) = app.access_token(&viewer).await;
    assert_eq!(api.get("/tags", &viewer_at).await.status(), StatusCode::OK);
    let viewer_ids = api.photo_ids(&viewer_at).await;
    let r = api
        .send(
            "DELETE",
            &format!("/photos/{}", viewer_ids[0]),
            &viewer_at,
            None,
        )
        .await;
    let body = refused(r, StatusCode::FORBIDDEN, "scope_required").await;
    assert_eq!(body["error"]["details"]["scope"], "photos:delete");
    let r = api
        .send("POST", "/tags", &viewer_at, Some(json!({"name": "x"})))
        .await;
    let body = refused(r, StatusCode::FORBIDDEN, "scope_required").await;
    assert_eq!(body["error"]["details"]["scope"], "tags:write");

    // One account's data is never visible to another account's token.
    assert!(viewer_ids.iter().all(|id| !ids.contains(id)));
    let r = api.get(&photo, &viewer_at).await;
    refused(r, StatusCode::NOT_FOUND, "not_found").await;
    let tags: Value = api.get("/tags", &viewer_at).await.json().await.unwrap();
    assert!(!tags["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("owners-only")));
    let titles: Value = api.get("/photos", &viewer_at).await.json().await.unwrap();
    assert!(!titles.to_string().contains("Owner's secret"));

    // A down-scoped owner token keeps only what it asked for.
    let narrow = scoped(app, &owner, "photos:read").await;
    assert_eq!(api.get(&photo, &narrow).await.status(), StatusCode::OK);
    let body = refused(
        api.get("/me", &narrow).await,
        StatusCode::FORBIDDEN,
        "scope_required",
    )
    .await;
    assert_eq!(body["error"]["details"]["scope"], "customer:read");
    let r = api
        .send("PATCH", &photo, &narrow, Some(json!({"title": "nope"})))
        .await;
    let body = refused(r, StatusCode::FORBIDDEN, "scope_required").await;
    assert_eq!(body["error"]["details"]["scope"], "photos:write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_forged_and_expired_tokens_are_401() {
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("forger@example.com", "owner").await;
    let (good, refresh) = app.access_token(&owner).await;
    assert_eq!(api.get("/photos", &good).await.status(), StatusCode::OK);

    // No token at all.
    let r = api.client.get(api.url("/photos")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    refused(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A token tokend issued for another audience (RFC 8707).
    let billing = "https://billing.example.com";
    app.state
        .add_resource_server("Billing", Some(billing))
        .await
        .unwrap();
    let r = app
        .post(
            "/v1/auth/token",
            json!({"refresh_token": refresh, "account_uuid": owner.account, "resource": billing}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let other_audience = body["access_token"].as_str().unwrap();
    let r = api.get("/photos", other_audience).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    refused(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Forgeries: an altered signature, a stranger's key under tokend's kid, alg none.
    let (head_payload, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let altered = format!("{head_payload}.{flipped}{}", &signature[1..]);
    let claims = app
        .state
        .access_tokens
        .verify(&good, app.clock.now())
        .unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(app.state.access_tokens.signing_kid(app.clock.now()));
    let stranger = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
    let stranger = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ed_der(stranger.as_ref()),
    )
    .unwrap();
    let none_header = r#"{"alg":"none","typ":"at+jwt"}"#;
    let (_, payload) = head_payload.split_once('.').unwrap();
    let unsigned = format!("{}.{payload}.", b64url(none_header.as_bytes()));
    for forged in [altered.as_str(), &stranger, &unsigned, "not-a-jwt"] {
        refused(
            api.get("/photos", forged).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }

    // Expired: signed by tokend's own key, an hour ago.
    let grant = AccessGrant {
        user: owner.user,
        session: uuid::Uuid::parse_str(claims.sid.as_deref().unwrap()).unwrap(),
        account: owner.account,
        client_id: "tokend",
        scope: "photos:read",
        audience: None,
        dpop_jkt: None,
    };
    let (expired, _) = app
        .state
        .access_tokens
        .issue(&grant, app.clock.now() - 3_600)
        .unwrap();
    let r = api.get("/photos", &expired).await;
    refused(r, StatusCode::UNAUTHORIZED, "token_expired").await;
}

/// base64url without padding.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DPoP-bound user token (RFC 9449) at the example API, whose `TokendAuth` layer checks the
/// proof without any code of the API's own: accepted with a proof by the bound key over this
/// request, refused as `Bearer`, refused replayed, for another URL, or by another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_tokens_need_a_proof_at_the_resource_api() {
    use tokend_verify::dpop::DpopSigner;
    let s = stack().await;
    let (app, api) = (&s.tokend, &s.api);
    let owner = app.seed_user("owner@example.com", "owner").await;
    let key = DpopSigner::generate_es256().unwrap();
    let issuer = app.env_value("TOKEND_ISSUER");
    let now = || app.clock.now();
    let signed: Value = app
        .client
        .post(app.url("/v1/auth/sign_in"))
        .header(
            "DPoP",
            key.proof(
                "POST",
                &format!("{issuer}/v1/auth/sign_in"),
                None,
                None,
                now(),
            )
            .unwrap(),
        )
        .json(
            &json!({"login": owner.login, "password": owner.password, "device": {"name": "Phone"}}),
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
        .header(
            "DPoP",
            key.proof(
                "POST",
                &format!("{issuer}/v1/auth/token"),
                None,
                None,
                now(),
            )
            .unwrap(),
        )
        .json(&json!({"refresh_token": signed["refresh_token"], "account_uuid": owner.account}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "DPoP");
    let access = token["access_token"].as_str().unwrap();

    let send = |proof: Option<String>, scheme: &str| {
        let mut req = api
            .client
            .get(api.url("/me"))
            .header("Authorization", format!("{scheme} {access}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let me = api.url("/me");
    let good = key.proof("GET", &me, Some(access), None, now()).unwrap();
    let r = send(Some(good.clone()), "DPoP").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["account_uuid"], owner.account.to_string());

    let r = send(None, "Bearer").await.unwrap();
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP error=\"invalid_token\""));
    refused(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let other = DpopSigner::generate_es256().unwrap();
    for proof in [
        None,
        Some(good),
        Some(
            key.proof("GET", &api.url("/tags"), Some(access), None, now())
                .unwrap(),
        ),
        Some(key.proof("POST", &me, Some(access), None, now()).unwrap()),
        Some(other.proof("GET", &me, Some(access), None, now()).unwrap()),
        Some(key.proof("GET", &me, None, None, now()).unwrap()),
    ] {
        let r = send(proof, "DPoP").await.unwrap();
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP error=\"invalid_dpop_proof\""));
        refused(r, StatusCode::UNAUTHORIZED, "invalid_dpop_proof").await;
    }
}
