//! Loading key sets: which JWKs become verifying keys, and what makes a set unusable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::jwk::{
    AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, KeyOperations, OctetKeyParameters,
    OctetKeyType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::tests::refuse;
use super::Verifier;
use crate::test_support::{claims, jwks, verifier, TestKey, AUD, ISS};
use crate::VerifyError;

fn oct_jwk(kid: &str) -> Jwk {
    let mut jwk = Jwk {
        common: Default::default(),
        algorithm: AlgorithmParameters::OctetKey(OctetKeyParameters {
            key_type: OctetKeyType::Octet,
            value: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA".into(),
        }),
    };
    jwk.common.key_id = Some(kid.into());
    jwk.common.key_algorithm = Some(KeyAlgorithm::HS256);
    jwk
}

#[test]
fn symmetric_keys_in_a_jwks_are_ignored() {
    let ed = TestKey::ed25519("ed");
    let mut v = Verifier::new(ISS, AUD);
    let only_oct = JwkSet {
        keys: vec![oct_jwk("hs")],
    };
    assert!(matches!(
        v.set_jwks(&only_oct),
        Err(VerifyError::InvalidJwks(_))
    ));
    let mixed = JwkSet {
        keys: vec![oct_jwk("hs"), ed.jwk.clone()],
    };
    v.set_jwks(&mixed).unwrap();
    assert!(!v.knows_kid("hs"));
    assert!(v.knows_kid("ed"));
    let mut h = Header::new(Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    h.kid = Some("hs".into());
    let secret = b"secret-secret-secret-secret-secret";
    let forged = jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(secret)).unwrap();
    assert_eq!(refuse(&v, &forged), VerifyError::UnsupportedAlgorithm);
}

#[test]
fn keys_not_meant_for_verifying_our_tokens_are_skipped() {
    let good = TestKey::ed25519("good");
    let mut skipped = Vec::new();
    let mut enc = TestKey::ed25519("enc").jwk;
    enc.common.public_key_use = Some(PublicKeyUse::Encryption);
    skipped.push(enc);
    let mut other_use = TestKey::ed25519("other-use").jwk;
    other_use.common.public_key_use = Some(PublicKeyUse::Other("tls".into()));
    skipped.push(other_use);
    let mut sign_only = TestKey::ed25519("sign-only").jwk;
    sign_only.common.key_operations = Some(vec![KeyOperations::Sign]);
    skipped.push(sign_only);
    let mut no_kid = TestKey::ed25519("x").jwk;
    no_kid.common.key_id = None;
    skipped.push(no_kid);
    let mut okp_claims_es256 = TestKey::ed25519("okp-es256").jwk;
    okp_claims_es256.common.key_algorithm = Some(KeyAlgorithm::ES256);
    skipped.push(okp_claims_es256);
    let mut ec_claims_eddsa = TestKey::es256("ec-eddsa").jwk;
    ec_claims_eddsa.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
    skipped.push(ec_claims_eddsa);
    let mut rsa_oaep = TestKey::rs256("rsa-oaep").jwk;
    rsa_oaep.common.key_algorithm = Some(KeyAlgorithm::RSA_OAEP);
    skipped.push(rsa_oaep);
    let mut short_ed = TestKey::ed25519("short").jwk;
    if let AlgorithmParameters::OctetKeyPair(p) = &mut short_ed.algorithm {
        p.x.truncate(20);
    }
    skipped.push(short_ed);

    let mut v = Verifier::new(ISS, AUD);
    let set = JwkSet {
        keys: skipped.iter().cloned().chain([good.jwk.clone()]).collect(),
    };
    v.set_jwks(&set).unwrap();
    assert_eq!(v.key_count(), 1);
    assert!(v.knows_kid("good"));
    assert!(matches!(
        v.set_jwks(&JwkSet { keys: skipped }),
        Err(VerifyError::InvalidJwks(_))
    ));
    assert!(v.knows_kid("good"), "a failed load keeps the previous keys");
}

#[test]
fn rsa_key_without_alg_is_rs256_and_ec_key_without_alg_is_es256() {
    let (rs, es) = (TestKey::rs256("rs"), TestKey::es256("es"));
    let mut set = jwks(&[&rs, &es]);
    for jwk in &mut set.keys {
        jwk.common.key_algorithm = None;
        jwk.common.public_key_use = None;
    }
    let mut v = Verifier::new(ISS, AUD);
    v.set_jwks(&set).unwrap();
    assert!(v.verify(&rs.sign(&claims())).is_ok());
    assert!(v.verify(&es.sign(&claims())).is_ok());
}

#[test]
fn duplicate_kids_make_the_set_invalid() {
    let (a, b) = (TestKey::ed25519("same"), TestKey::es256("same"));
    let mut v = Verifier::new(ISS, AUD);
    assert!(matches!(
        v.set_jwks(&jwks(&[&a, &b])),
        Err(VerifyError::InvalidJwks(_))
    ));
}

#[test]
fn set_jwks_replaces_the_keys() {
    let (old, new) = (TestKey::ed25519("old"), TestKey::ed25519("new"));
    let mut v = verifier(&[&old]);
    let token = old.sign(&claims());
    assert!(v.verify(&token).is_ok());
    v.set_jwks(&jwks(&[&new])).unwrap();
    assert_eq!(refuse(&v, &token), VerifyError::UnknownKey);
    assert!(v.verify(&new.sign(&claims())).is_ok());
}

#[test]
fn from_jwks_json_parses_what_tokend_publishes() {
    let ed = TestKey::ed25519("k");
    let body = serde_json::to_string(&jwks(&[&ed])).unwrap();
    let v = Verifier::from_jwks_json(ISS, AUD, &body).unwrap();
    assert!(v.verify(&ed.sign(&claims())).is_ok());
    assert!(format!("{v:?}").contains("\"k\""));
    for bad in ["", "{}", "[]", r#"{"keys": 1}"#, r#"{"keys": []}"#] {
        let err = Verifier::from_jwks_json(ISS, AUD, bad).unwrap_err();
        assert!(matches!(err, VerifyError::InvalidJwks(_)), "{bad}: {err:?}");
    }
}
