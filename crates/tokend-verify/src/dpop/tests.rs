#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::test_support::{b64url, now};

const URL: &str = "https://auth.example.test/v1/auth/token";

fn ctx(now: i64) -> ProofContext<'static> {
    ProofContext::new("POST", URL, now)
}

fn signers() -> Vec<DpopSigner> {
    vec![
        DpopSigner::generate_es256().unwrap(),
        DpopSigner::generate_ed25519().unwrap(),
    ]
}

/// A token of three segments from raw header and claims JSON, signed by nobody.
fn unsigned(header: serde_json::Value, claims: serde_json::Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(signature)
    )
}

fn claims(t: i64) -> serde_json::Value {
    json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": t})
}

#[test]
fn a_fresh_proof_of_either_algorithm_passes_and_names_its_key() {
    let t = now();
    for signer in signers() {
        let proof = signer.proof("POST", URL, None, Some("n1"), t).unwrap();
        let checked = check_proof(&proof, &ctx(t)).unwrap();
        assert_eq!(checked.jkt, signer.jkt());
        assert_eq!(checked.iat, t);
        assert_eq!(checked.nonce.as_deref(), Some("n1"));
        assert!(!checked.jti.is_empty());
        // Two proofs never share a jti.
        let again = check_proof(&signer.proof("POST", URL, None, None, t).unwrap(), &ctx(t));
        assert_ne!(again.unwrap().jti, checked.jti);
    }
}

#[test]
fn a_kept_key_signs_proofs_for_the_same_thumbprint() {
    let t = now();
    for signer in signers() {
        let alg = jsonwebtoken::decode_header(signer.proof("GET", URL, None, None, t).unwrap())
            .unwrap()
            .alg;
        let again = DpopSigner::from_pkcs8(alg, signer.pkcs8_der()).unwrap();
        assert_eq!(again.jkt(), signer.jkt());
        let proof = again.proof("POST", URL, None, None, t).unwrap();
        assert_eq!(check_proof(&proof, &ctx(t)).unwrap().jkt, signer.jkt());
    }
}

#[test]
fn method_url_and_time_must_match_the_request() {
    let t = now();
    let s = DpopSigner::generate_es256().unwrap();
    let p = |m: &str, u: &str, iat: i64| s.proof(m, u, None, None, iat).unwrap();
    assert_eq!(
        check_proof(&p("GET", URL, t), &ctx(t)),
        Err(DpopError::Method)
    );
    assert_eq!(
        check_proof(&p("post", URL, t), &ctx(t)),
        Err(DpopError::Method)
    );
    let other = "https://auth.example.test/oauth2/token";
    assert_eq!(
        check_proof(&p("POST", other, t), &ctx(t)),
        Err(DpopError::Url)
    );
    let http = "http://auth.example.test/v1/auth/token";
    assert_eq!(
        check_proof(&p("POST", http, t), &ctx(t)),
        Err(DpopError::Url)
    );
    let old = t - DEFAULT_PROOF_MAX_AGE_SECS - 1;
    assert_eq!(
        check_proof(&p("POST", URL, old), &ctx(t)),
        Err(DpopError::Stale)
    );
    let ahead = t + DEFAULT_PROOF_MAX_SKEW_SECS + 1;
    assert_eq!(
        check_proof(&p("POST", URL, ahead), &ctx(t)),
        Err(DpopError::Stale)
    );
    // Normalisation: case of scheme and host, default port, query and fragment.
    for same in [
        "HTTPS://Auth.Example.TEST/v1/auth/token",
        "https://auth.example.test:443/v1/auth/token",
        "https://auth.example.test/v1/auth/token?x=1#f",
    ] {
        assert!(check_proof(&p("POST", same, t), &ctx(t)).is_ok(), "{same}");
    }
    // The path is compared exactly.
    let upper = "https://auth.example.test/V1/auth/token";
    assert_eq!(
        check_proof(&p("POST", upper, t), &ctx(t)),
        Err(DpopError::Url)
    );
}

#[test]
fn ath_must_be_the_hash_of_the_access_token_sent() {
    let t = now();
    let s = DpopSigner::generate_ed25519().unwrap();
    let with = ctx(t).with_access_token("the-token");
    let good = s.proof("POST", URL, Some("the-token"), None, t).unwrap();
    assert!(check_proof(&good, &with).is_ok());
    let other = s.proof("POST", URL, Some("another"), None, t).unwrap();
    assert_eq!(check_proof(&other, &with), Err(DpopError::AccessTokenHash));
    let none = s.proof("POST", URL, None, None, t).unwrap();
    assert_eq!(check_proof(&none, &with), Err(DpopError::AccessTokenHash));
}

#[test]
fn alg_none_hmac_and_mismatched_keys_are_refused() {
    let t = now();
    let s = DpopSigner::generate_es256().unwrap();
    let jwk = serde_json::to_value(s.public_jwk()).unwrap();
    let none = unsigned(
        json!({"alg": "none", "typ": "dpop+jwt", "jwk": jwk}),
        claims(t),
        b"",
    );
    assert!(check_proof(&none, &ctx(t)).is_err());

    // HMAC keyed with the public key's bytes: the classic algorithm confusion.
    let mut h = Header::new(Algorithm::HS256);
    h.typ = Some(DPOP_TYP.into());
    h.jwk = Some(s.public_jwk().clone());
    let hmac = jsonwebtoken::encode(&h, &claims(t), &EncodingKey::from_secret(b"x")).unwrap();
    assert_eq!(check_proof(&hmac, &ctx(t)), Err(DpopError::Algorithm));

    // A symmetric JWK is key material in the clear.
    let oct = unsigned(
        json!({"alg": "HS256", "typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        claims(t),
        b"sig",
    );
    assert_eq!(check_proof(&oct, &ctx(t)), Err(DpopError::PrivateKey));

    // An EdDSA header over a P-256 key.
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some(DPOP_TYP.into());
    h.jwk = Some(s.public_jwk().clone());
    let ed = DpopSigner::generate_ed25519().unwrap();
    let mixed = jsonwebtoken::encode(&h, &claims(t), &ed.encoding).unwrap();
    assert_eq!(check_proof(&mixed, &ctx(t)), Err(DpopError::Algorithm));
}

#[test]
fn a_proof_carrying_its_private_key_is_refused() {
    let t = now();
    let s = DpopSigner::generate_es256().unwrap();
    let good = s.proof("POST", URL, None, None, t).unwrap();
    let mut parts = good.split('.');
    let header_b64 = parts.next().unwrap();
    let rest: Vec<&str> = parts.collect();
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).unwrap()).unwrap();
    header["jwk"]["d"] = json!("bm90LWEtcmVhbC1wcml2YXRlLWtleQ");
    let leaked = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        rest.join(".")
    );
    assert_eq!(check_proof(&leaked, &ctx(t)), Err(DpopError::PrivateKey));
}

#[test]
fn header_shape_and_signature_are_checked() {
    let t = now();
    let s = DpopSigner::generate_es256().unwrap();
    // Wrong typ.
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("JWT".into());
    h.jwk = Some(s.public_jwk().clone());
    let jwt = jsonwebtoken::encode(&h, &claims(t), &s.encoding).unwrap();
    assert!(matches!(
        check_proof(&jwt, &ctx(t)),
        Err(DpopError::Malformed(_))
    ));
    // No jwk.
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some(DPOP_TYP.into());
    let bare = jsonwebtoken::encode(&h, &claims(t), &s.encoding).unwrap();
    assert!(matches!(
        check_proof(&bare, &ctx(t)),
        Err(DpopError::Malformed(_))
    ));
    // Signed by another key than the header names.
    let other = DpopSigner::generate_es256().unwrap();
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some(DPOP_TYP.into());
    h.jwk = Some(s.public_jwk().clone());
    let forged = jsonwebtoken::encode(&h, &claims(t), &other.encoding).unwrap();
    assert_eq!(check_proof(&forged, &ctx(t)), Err(DpopError::Signature));
    // Missing claims.
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some(DPOP_TYP.into());
    h.jwk = Some(s.public_jwk().clone());
    let thin = jsonwebtoken::encode(&h, &json!({"htm": "POST", "htu": URL}), &s.encoding).unwrap();
    assert!(matches!(
        check_proof(&thin, &ctx(t)),
        Err(DpopError::Malformed(_))
    ));
    assert!(matches!(
        check_proof("", &ctx(t)),
        Err(DpopError::Malformed(_))
    ));
    assert!(matches!(
        check_proof("a.b.c", &ctx(t)),
        Err(DpopError::Malformed(_))
    ));
}

#[test]
fn the_jti_cache_refuses_a_replay_until_its_horizon() {
    let t = now();
    let s = DpopSigner::generate_ed25519().unwrap();
    let c = ctx(t);
    let proof = check_proof(&s.proof("POST", URL, None, None, t).unwrap(), &c).unwrap();
    let cache = JtiCache::new(10);
    let horizon = proof.replay_horizon(&c);
    cache.check_and_record(&proof, horizon, t).unwrap();
    assert_eq!(
        cache.check_and_record(&proof, horizon, t + 1),
        Err(DpopError::Replayed)
    );
    // After the horizon the proof's iat refuses it anyway; the cache may forget it.
    assert!(cache
        .check_and_record(&proof, horizon + 100, horizon + 1)
        .is_ok());
}

#[test]
fn the_jti_cache_stays_bounded() {
    let t = now();
    let s = DpopSigner::generate_ed25519().unwrap();
    let cache = JtiCache::new(3);
    for _ in 0..10 {
        let p = check_proof(&s.proof("POST", URL, None, None, t).unwrap(), &ctx(t)).unwrap();
        cache.check_and_record(&p, t + 60, t).unwrap();
    }
    let entries = cache.inner.lock().unwrap();
    assert!(entries.seen.len() <= 3 && entries.order.len() <= 3);
}
