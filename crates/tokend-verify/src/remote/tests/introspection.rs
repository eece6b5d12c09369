//! `Introspector` against the stand-in: local refusal of malformed tokens, the cache and its
//! TTL, single flight, and failing closed.

use std::time::Duration;

use reqwest::StatusCode;

use super::mock::{Mock, CLIENT_ID, CLIENT_SECRET};
use crate::service_token::mint_for_tests;
use crate::test_support::{jwks, TestKey};
use crate::{IntrospectError, Introspection, Introspector, RemoteVerifier, TOKEN_TYPE_SERVICE};

const RANDOM: &str = "7HqXw2mB9cLpR4sTvY8nZ1aK3dF6gJ0e";

fn active(account: &str) -> Introspection {
    Introspection {
        active: true,
        token_type: Some(TOKEN_TYPE_SERVICE.into()),
        scope: Some("photos:read".into()),
        account_uuid: Some(account.into()),
        sub: Some("0193-token".into()),
        ..Introspection::default()
    }
}

async fn fixture(ttl: Duration) -> (std::sync::Arc<Mock>, Introspector, String) {
    let mock = Mock::start(jwks(&[&TestKey::ed25519("k")]), None).await;
    let keys = RemoteVerifier::connect(mock.base.clone(), "api")
        .await
        .unwrap();
    let introspector = keys
        .introspector(CLIENT_ID, CLIENT_SECRET)
        .unwrap()
        .with_ttl(ttl);
    let token = mint_for_tests("tkd_live", RANDOM);
    mock.answers
        .lock()
        .unwrap()
        .insert(token.clone(), active("acc-1"));
    (mock, introspector, token)
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_a_call() {
    let (mock, introspector, token) = fixture(Duration::from_secs(1)).await;
    let mut typo = token.clone();
    typo.replace_range(10..11, if &token[10..11] == "x" { "y" } else { "x" });
    for bad in [
        typo.as_str(),
        &token[..token.len() - 1],
        "tkd_live_short",
        "eyJ.a.b",
    ] {
        assert_eq!(
            introspector.check_service_token(bad).await,
            Err(IntrospectError::Malformed)
        );
    }
    assert_eq!(mock.introspect_hits(), 0);
    let other_prefix = introspector.clone().with_service_token_prefix("tkd_test");
    assert_eq!(
        other_prefix.check_service_token(&token).await,
        Err(IntrospectError::Malformed)
    );
    assert_eq!(mock.introspect_hits(), 0);
}

#[tokio::test]
async fn a_burst_with_one_token_makes_one_call() {
    let (mock, introspector, token) = fixture(Duration::from_secs(1)).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (introspector, token) = (introspector.clone(), token.clone());
        set.spawn(async move { introspector.check_service_token(&token).await });
    }
    while let Some(outcome) = set.join_next().await {
        assert_eq!(
            outcome.unwrap().unwrap().account_uuid.as_deref(),
            Some("acc-1")
        );
    }
    assert_eq!(mock.introspect_hits(), 1);
}

#[tokio::test]
async fn answers_live_for_the_ttl_and_zero_caches_nothing() {
    let (mock, introspector, token) = fixture(Duration::from_millis(500)).await;
    assert!(introspector.check_service_token(&token).await.is_ok());
    // Deleted at tokend: still accepted from the cache within the TTL, refused after it.
    mock.answers.lock().unwrap().clear();
    assert!(introspector.check_service_token(&token).await.is_ok());
    assert_eq!(mock.introspect_hits(), 1);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(
        introspector.check_service_token(&token).await,
        Err(IntrospectError::Inactive)
    );
    assert_eq!(mock.introspect_hits(), 2);

    let uncached = introspector.with_ttl(Duration::ZERO);
    for _ in 0..3 {
        assert!(uncached.check_service_token(&token).await.is_err());
    }
    assert_eq!(mock.introspect_hits(), 5);
}

#[tokio::test]
async fn answers_that_are_not_active_service_tokens_are_inactive() {
    let (mock, introspector, token) = fixture(Duration::ZERO).await;
    let mut user_token = active("acc-1");
    user_token.token_type = Some("access_token".into());
    let mut expired = active("acc-1");
    expired.exp = Some(1);
    let mut no_account = active("acc-1");
    no_account.account_uuid = None;
    for answer in [Introspection::inactive(), user_token, expired, no_account] {
        mock.answers.lock().unwrap().insert(token.clone(), answer);
        assert_eq!(
            introspector.check_service_token(&token).await,
            Err(IntrospectError::Inactive)
        );
    }
}

#[tokio::test]
async fn tokend_unable_to_answer_means_refusal() {
    let (mock, introspector, token) = fixture(Duration::from_secs(60)).await;
    *mock.introspection_status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    let err = introspector.check_service_token(&token).await.unwrap_err();
    assert!(matches!(err, IntrospectError::Unavailable(_)), "{err}");
    assert!(
        !err.to_string().contains(&token),
        "errors never quote the token"
    );
    // Failures are not cached: the next request asks again, and succeeds once tokend does.
    *mock.introspection_status.lock().unwrap() = StatusCode::OK;
    assert!(introspector.check_service_token(&token).await.is_ok());
    // Wrong credentials are a refusal too, not an open door.
    let wrong = Introspector::new(format!("{}/introspect", mock.base), CLIENT_ID, "nope");
    assert!(matches!(
        wrong.check_service_token(&token).await,
        Err(IntrospectError::Unavailable(_))
    ));
    // tokend gone: refused (the cached answer aside, which lives for its TTL only).
    mock.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = Introspector::new(
        format!("{}/introspect", mock.base),
        CLIENT_ID,
        CLIENT_SECRET,
    );
    assert!(matches!(
        fresh.check_service_token(&token).await,
        Err(IntrospectError::Unavailable(_))
    ));
}
