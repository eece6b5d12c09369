//! `RemoteVerifier` against a stand-in tokend: discovery, refresh schedule, failures that keep
//! the keys, and the gated refetch on unknown `kid`s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod introspection;
mod mock;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL};

use self::mock::{JwksAnswer, Mock};
use super::keys::max_age;
use super::{metadata_url, RemoteError, RemoteVerifier};
use crate::test_support::{claims, jwks, TestKey, AUD};
use crate::{AccessClaims, VerifyError};

/// Claims for the stand-in's issuer.
fn claims_for(mock: &Mock) -> AccessClaims {
    AccessClaims {
        iss: mock.base.clone(),
        ..claims()
    }
}

async fn connect(mock: &Mock, floor_ms: u64, ceiling_ms: u64, gate_ms: u64) -> RemoteVerifier {
    RemoteVerifier::builder(mock.base.clone(), AUD)
        .refresh_bounds(
            Duration::from_millis(floor_ms),
            Duration::from_millis(ceiling_ms),
        )
        .unknown_kid_interval(Duration::from_millis(gate_ms))
        .connect()
        .await
        .unwrap()
}

#[test]
fn metadata_url_follows_rfc_8414() {
    assert_eq!(
        metadata_url("https://auth.example.com").unwrap(),
        "https://auth.example.com/.well-known/oauth-authorization-server"
    );
    assert_eq!(
        metadata_url("https://example.com/tenant/a/").unwrap(),
        "https://example.com/.well-known/oauth-authorization-server/tenant/a"
    );
    assert!(metadata_url("not a url").is_err());
    assert!(metadata_url("ftp://example.com").is_err());
}

#[test]
fn max_age_reads_cache_control() {
    let of = |values: &[&str]| {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        max_age(&h)
    };
    assert_eq!(of(&["public, max-age=240"]), Some(Duration::from_secs(240)));
    assert_eq!(of(&["Max-Age = \"60\""]), Some(Duration::from_secs(60)));
    assert_eq!(of(&["public", "max-age=5"]), Some(Duration::from_secs(5)));
    assert_eq!(of(&["max-age=60, no-store"]), Some(Duration::ZERO));
    assert_eq!(of(&["no-cache"]), Some(Duration::ZERO));
    assert_eq!(of(&["public"]), None);
    assert_eq!(of(&["max-age=soon"]), None);
    assert_eq!(of(&[]), None);
}

#[tokio::test]
async fn connect_discovers_fetches_and_checks_the_issuer() {
    let key = TestKey::ed25519("k1");
    let mock = Mock::start(jwks(&[&key]), Some("public, max-age=240")).await;
    let verifier = RemoteVerifier::connect(mock.base.clone(), AUD)
        .await
        .unwrap();
    assert_eq!(verifier.metadata().jwks_uri, format!("{}/jwks", mock.base));
    let verified = verifier
        .verify(&key.sign(&claims_for(&mock)))
        .await
        .unwrap();
    assert_eq!(verified.account_uuid, claims_for(&mock).account_uuid);
    // A token for another issuer is refused even though the key is known.
    assert_eq!(
        verifier.verify(&key.sign(&claims())).await,
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(mock.jwks_hits(), 1);

    *mock.issuer_in_metadata.lock().unwrap() = Some("https://evil.example".into());
    let err = RemoteVerifier::connect(mock.base.clone(), AUD)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::IssuerMismatch { .. }), "{err}");
    let err = RemoteVerifier::connect("http://127.0.0.1:9", AUD)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn background_refresh_honours_max_age_within_floor_and_ceiling() {
    let key = TestKey::ed25519("k1");
    // max-age=0 is raised to the 300 ms floor: about 3 refreshes a second, never a busy loop.
    let mock = Mock::start(jwks(&[&key]), Some("max-age=0")).await;
    let _verifier = connect(&mock, 300, 10_000, 60_000).await;
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let hits = mock.jwks_hits();
    assert!(
        (2..=5).contains(&hits),
        "{hits} fetches in ~1 s with a 300 ms floor"
    );

    // A day-long max-age is cut to the 300 ms ceiling.
    let mock = Mock::start(jwks(&[&key]), Some("public, max-age=86400")).await;
    let _verifier = connect(&mock, 100, 300, 60_000).await;
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    let hits = mock.jwks_hits();
    assert!(
        (2..=5).contains(&hits),
        "{hits} fetches in ~1 s with a 300 ms ceiling"
    );

    // In between, max-age itself decides; dropping the verifier ends the task.
    let mock = Mock::start(jwks(&[&key]), Some("max-age=1")).await;
    let verifier = connect(&mock, 100, 10_000, 60_000).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(mock.jwks_hits(), 2);
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(mock.jwks_hits(), 2, "no refresh after the verifier is gone");
}

#[tokio::test]
async fn a_failed_refresh_never_empties_the_key_set() {
    let key = TestKey::ed25519("k1");
    let mock = Mock::start(jwks(&[&key]), None).await;
    let verifier = connect(&mock, 60_000, 60_000, 60_000).await;
    let token = key.sign(&claims_for(&mock));
    let failures = [
        JwksAnswer::Status(reqwest::StatusCode::INTERNAL_SERVER_ERROR),
        JwksAnswer::Body("<html>maintenance</html>"),
        JwksAnswer::Keys(jwks(&[]), None),
    ];
    for failure in failures {
        mock.set_jwks(failure);
        assert!(verifier.refresh().await.is_err());
        assert!(verifier.last_refresh_error().is_some());
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(verifier.current().key_count(), 1);
    }
    mock.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = verifier.refresh().await.unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err}");
    assert!(verifier.verify(&token).await.is_ok(), "keys outlive tokend");
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let (old, new) = (TestKey::ed25519("old"), TestKey::es256("new"));
    let mock = Mock::start(jwks(&[&old]), None).await;
    let verifier = connect(&mock, 60_000, 60_000, 1_000).await;
    assert_eq!(mock.jwks_hits(), 1);

    // tokend publishes a new key: the first token signed with it triggers one refetch.
    mock.set_jwks(JwksAnswer::Keys(jwks(&[&old, &new]), None));
    let fresh = new.sign(&claims_for(&mock));
    assert!(verifier.verify(&fresh).await.is_ok());
    assert_eq!(mock.jwks_hits(), 2);
    assert!(verifier.verify(&old.sign(&claims_for(&mock))).await.is_ok());

    // Made-up kids, many at once and one after another: no more fetches within the interval.
    let stranger = TestKey::ed25519("made-up");
    let bogus = stranger.sign(&claims_for(&mock));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (verifier, bogus) = (verifier.clone(), bogus.clone());
        set.spawn(async move { verifier.verify(&bogus).await });
    }
    while let Some(outcome) = set.join_next().await {
        assert_eq!(outcome.unwrap(), Err(VerifyError::UnknownKey));
    }
    assert_eq!(
        mock.jwks_hits(),
        2,
        "the gate was claimed by the genuine refetch"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..20 {
        assert_eq!(verifier.verify(&bogus).await, Err(VerifyError::UnknownKey));
    }
    assert_eq!(mock.jwks_hits(), 3, "one more once the interval passed");
    // Garbage never reaches the network at all.
    assert_eq!(verifier.verify("a.b.c").await, Err(VerifyError::Malformed));
    assert_eq!(mock.jwks_hits(), 3);
}
