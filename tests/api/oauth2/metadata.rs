//! RFC 8414 metadata lists exactly what works: every endpoint it names is routed, every grant
//! type it lists is accepted, every client authentication method it lists authenticates.

use reqwest::StatusCode;
use serde_json::Value;

use super::{EXCHANGE, SERVICE_TOKEN_TYPE};
use crate::both_backends;
use crate::helpers::*;
use crate::service_tokens::{owner, simple_token};

both_backends!(metadata_matches_the_router);

async fn metadata_matches_the_router(b: Backend) {
    let app = spawn_app_live_issuer(b, &[]).await;
    let m: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;

    // Every endpoint member, standard or `tokend_`, is a route of this server: a request to it
    // with no credentials is refused by the route, never answered 404 or 405.
    let endpoints: Vec<(&String, &str)> = m
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("_endpoint") || k.as_str() == "jwks_uri")
        .map(|(k, v)| (k, v.as_str().unwrap()))
        .collect();
    assert!(endpoints.len() >= 10, "{endpoints:?}");
    for (name, url) in endpoints {
        assert!(url.starts_with(&app.base), "{name}: {url}");
        let method = if matches!(
            name.as_str(),
            "jwks_uri"
                | "tokend_sessions_endpoint"
                | "tokend_userinfo_endpoint"
                | "tokend_service_tokens_endpoint"
        ) {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let r = app
            .client
            .request(method.clone(), url)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() != StatusCode::NOT_FOUND && r.status() != StatusCode::METHOD_NOT_ALLOWED,
            "{name} ({method} {url}) is not routed: {}",
            r.status()
        );
    }
    assert_eq!(m["resource_parameter_supported"], true);
    assert_eq!(
        m["tokend_subject_token_types_supported"][0],
        SERVICE_TOKEN_TYPE
    );

    // Every listed grant type is implemented (none answers unsupported_grant_type).
    let grants: Vec<String> = serde_json::from_value(m["grant_types_supported"].clone()).unwrap();
    assert_eq!(grants, ["refresh_token", EXCHANGE]);
    let seeded = app.seed_user("meta@example.com", "owner").await;
    let (confidential, secret) = app.register_client(true, &[], &[]).await;
    let secret = secret.unwrap();
    let (public, _) = app.register_client(false, &[], &[]).await;
    let (_, manager) = owner(&app, "meta-owner@example.com").await;
    let (_, service) = simple_token(&app, &manager, "meta").await;
    let account = seeded.account.to_string();
    for grant in &grants {
        let refresh = app.refresh_token_for_client(&seeded, &confidential).await;
        let form: Vec<(&str, &str)> = if grant == "refresh_token" {
            vec![
                ("grant_type", grant),
                ("refresh_token", &refresh),
                ("account_uuid", &account),
            ]
        } else {
            vec![
                ("grant_type", grant),
                ("subject_token", &service),
                ("subject_token_type", SERVICE_TOKEN_TYPE),
            ]
        };
        let r = app
            .post_form("/oauth2/token", Some((&confidential, &secret)), &form)
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "grant {grant}: {}",
            r.text().await.unwrap()
        );
    }

    // Every listed token-endpoint auth method authenticates.
    let methods: Vec<String> =
        serde_json::from_value(m["token_endpoint_auth_methods_supported"].clone()).unwrap();
    assert_eq!(
        methods,
        ["none", "client_secret_basic", "client_secret_post"]
    );
    for method in &methods {
        let (client, secret) = match method.as_str() {
            "none" => (public.as_str(), None),
            _ => (confidential.as_str(), Some(secret.as_str())),
        };
        let refresh = app.refresh_token_for_client(&seeded, client).await;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("account_uuid", account.as_str()),
        ];
        let basic = match method.as_str() {
            "client_secret_basic" => Some((client, secret.unwrap())),
            "client_secret_post" => {
                form.push(("client_id", client));
                form.push(("client_secret", secret.unwrap()));
                None
            }
            _ => {
                form.push(("client_id", client));
                None
            }
        };
        let r = app.post_form("/oauth2/token", basic, &form).await;
        assert_eq!(r.status(), StatusCode::OK, "auth method {method}");
        // The same methods at the revocation endpoint.
        let r = app
            .post_form(
                "/oauth2/revoke",
                basic,
                &[&form[3..], &[("token", "x")][..]].concat(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "revocation with {method}");
    }
    assert_eq!(
        m["revocation_endpoint_auth_methods_supported"],
        m["token_endpoint_auth_methods_supported"]
    );
}
