//! Each verification rule against genuine and forged tokens, with freshly generated keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{Verifier, MAX_LEEWAY_SECS};
use crate::test_support::{
    claims, ed25519_sign, jwks, now, raw_token, verifier, TestKey, AUD, ISS,
};
use crate::VerifyError;

/// Verifies and checks the error never echoes the token.
pub(super) fn refuse(v: &Verifier, token: &str) -> VerifyError {
    refuse_at(v, token, now())
}

fn refuse_at(v: &Verifier, token: &str, at: i64) -> VerifyError {
    let err = v.verify_at(token, at).expect_err("token must be refused");
    assert!(token.is_empty() || !err.to_string().contains(token));
    err
}

#[test]
fn genuine_tokens_of_every_published_key_type_verify() {
    let (ed, es, rs) = (
        TestKey::ed25519("ed"),
        TestKey::es256("es"),
        TestKey::rs256("rs"),
    );
    let v = verifier(&[&ed, &es, &rs]);
    assert_eq!(v.key_count(), 3);
    let c = claims();
    for key in [&ed, &es, &rs] {
        assert_eq!(v.verify(&key.sign(&c)).unwrap(), c, "{:?}", key.alg);
    }
}

#[test]
fn typ_is_compared_case_insensitively_with_optional_application_prefix() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        let mut h = ed.header();
        h.typ = Some(typ.into());
        assert!(v.verify(&ed.sign_with(&h, &claims())).is_ok(), "{typ}");
    }
    for typ in [
        Some("JWT"),
        Some("application/jwt"),
        Some("at+jwt "),
        Some(""),
        None,
    ] {
        let mut h = ed.header();
        h.typ = typ.map(Into::into);
        assert_eq!(
            refuse(&v, &ed.sign_with(&h, &claims())),
            VerifyError::WrongType,
            "{typ:?}"
        );
    }
}

#[test]
fn alg_none_is_refused() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "k"});
        let unsigned = raw_token(&header, &claims(), |_| Vec::new());
        // jsonwebtoken has no `none` algorithm, so the header itself does not parse.
        assert_eq!(refuse(&v, &unsigned), VerifyError::Malformed, "{alg}");
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let (ed, rs) = (TestKey::ed25519("ed"), TestKey::rs256("rs"));
    let v = verifier(&[&ed, &rs]);
    for key in [&ed, &rs] {
        let public_json = serde_json::to_vec(&key.jwk).unwrap();
        let mut h = key.header();
        h.alg = Algorithm::HS256;
        let forged =
            jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(&public_json)).unwrap();
        assert_eq!(refuse(&v, &forged), VerifyError::UnsupportedAlgorithm);
    }
    let AlgorithmParameters::OctetKeyPair(p) = &ed.jwk.algorithm else {
        panic!("not OKP")
    };
    let mut h = ed.header();
    h.alg = Algorithm::HS512;
    let forged =
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(p.x.as_bytes())).unwrap();
    assert_eq!(refuse(&v, &forged), VerifyError::UnsupportedAlgorithm);
}

#[test]
fn eddsa_token_whose_header_claims_es256_is_refused() {
    let (ed, es) = (TestKey::ed25519("ed"), TestKey::es256("es"));
    let v = verifier(&[&ed, &es]);
    let sign = ed25519_sign(&ed.pkcs8);
    // Pointing at the Ed25519 key: the header's alg is not the key's.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "ed"});
    assert_eq!(
        refuse(&v, &raw_token(&header, &claims(), &sign)),
        VerifyError::UnsupportedAlgorithm
    );
    // Pointing at the P-256 key: the alg fits the key, but the signature is not from it.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "es"});
    assert_eq!(
        refuse(&v, &raw_token(&header, &claims(), &sign)),
        VerifyError::BadSignature
    );
    // Control: the same hand-made path with an honest header verifies.
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed"});
    assert!(v.verify(&raw_token(&header, &claims(), &sign)).is_ok());
}

#[test]
fn a_key_is_never_used_with_another_algorithm_of_its_family() {
    let rs = TestKey::rs256("rs");
    let v = verifier(&[&rs]);
    let mut h = rs.header();
    h.alg = Algorithm::PS256;
    assert_eq!(
        refuse(&v, &rs.sign_with(&h, &claims())),
        VerifyError::UnsupportedAlgorithm
    );
}

#[test]
fn altered_payload_or_signature_is_refused() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let genuine = ed.sign(&claims());
    let mut escalated = claims();
    escalated.scope = "photos:read tokens:manage".into();
    let other = ed.sign(&escalated);
    let (g, o): (Vec<_>, Vec<_>) = (genuine.split('.').collect(), other.split('.').collect());
    let spliced = format!("{}.{}.{}", g[0], o[1], g[2]);
    assert_eq!(refuse(&v, &spliced), VerifyError::BadSignature);
    let wrong_sig = format!("{}.{}.{}", g[0], g[1], o[2]);
    assert_eq!(refuse(&v, &wrong_sig), VerifyError::BadSignature);
    let other_key = TestKey::ed25519("k");
    assert_eq!(
        refuse(&v, &other_key.sign(&claims())),
        VerifyError::BadSignature
    );
}

#[test]
fn expired_and_immature_tokens_are_refused() {
    let ed = TestKey::ed25519("k");
    let mut v = verifier(&[&ed]);
    let mut c = claims();
    c.exp = now() - 10;
    let expired = ed.sign(&c);
    assert_eq!(refuse(&v, &expired), VerifyError::Expired);

    let mut c = claims();
    c.nbf = now() + 10;
    let immature = ed.sign(&c);
    assert_eq!(refuse(&v, &immature), VerifyError::NotYetValid);

    v.set_leeway(30);
    assert!(v.verify(&expired).is_ok());
    assert!(v.verify(&immature).is_ok());
}

#[test]
fn verify_at_uses_the_given_clock_with_rfc7519_boundaries() {
    let ed = TestKey::ed25519("k");
    let mut v = verifier(&[&ed]);
    let c = claims();
    let token = ed.sign(&c);
    assert_eq!(v.verify_at(&token, c.nbf).unwrap(), c);
    assert!(v.verify_at(&token, c.exp - 1).is_ok());
    assert_eq!(refuse_at(&v, &token, c.exp), VerifyError::Expired);
    assert_eq!(refuse_at(&v, &token, c.nbf - 1), VerifyError::NotYetValid);
    v.set_leeway(5);
    assert!(v.verify_at(&token, c.exp + 4).is_ok());
    assert_eq!(refuse_at(&v, &token, c.exp + 5), VerifyError::Expired);
    assert!(v.verify_at(&token, c.nbf - 5).is_ok());
    assert_eq!(refuse_at(&v, &token, c.nbf - 6), VerifyError::NotYetValid);
    assert_eq!(refuse_at(&v, &token, i64::MAX), VerifyError::Expired);
    assert_eq!(refuse_at(&v, &token, i64::MIN), VerifyError::NotYetValid);
}

#[test]
fn leeway_is_clamped() {
    let ed = TestKey::ed25519("k");
    let mut v = verifier(&[&ed]);
    v.set_leeway(u64::MAX);
    let mut c = claims();
    c.exp = now() - MAX_LEEWAY_SECS as i64 - 60;
    assert_eq!(refuse(&v, &ed.sign(&c)), VerifyError::Expired);
}

#[test]
fn wrong_issuer_and_audience_are_refused() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let mut c = claims();
    c.iss = "https://evil.example".into();
    assert_eq!(refuse(&v, &ed.sign(&c)), VerifyError::WrongIssuer);
    let mut c = claims();
    c.aud = "billing-api".into();
    assert_eq!(refuse(&v, &ed.sign(&c)), VerifyError::WrongAudience);
    let other =
        Verifier::from_jwks_json(ISS, "other", &serde_json::to_string(&jwks(&[&ed])).unwrap())
            .unwrap();
    assert_eq!(
        refuse(&other, &ed.sign(&claims())),
        VerifyError::WrongAudience
    );
}

#[test]
fn kid_is_required_and_must_be_loaded() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let mut h = ed.header();
    h.kid = None;
    assert_eq!(
        refuse(&v, &ed.sign_with(&h, &claims())),
        VerifyError::Malformed
    );
    for kid in ["other", "../../etc/passwd", "", "k "] {
        h.kid = Some(kid.into());
        assert_eq!(
            refuse(&v, &ed.sign_with(&h, &claims())),
            VerifyError::UnknownKey,
            "{kid}"
        );
    }
    assert!(v.knows_kid("k"));
    assert!(!v.knows_kid("other"));
    let empty = Verifier::new(ISS, AUD);
    assert_eq!(empty.key_count(), 0);
    assert_eq!(refuse(&empty, &ed.sign(&claims())), VerifyError::UnknownKey);
}

#[test]
fn headers_that_bring_their_own_key_are_refused() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let cases: [fn(&mut Header, &TestKey); 5] = [
        |h, _| h.jku = Some("https://evil.example/jwks.json".into()),
        |h, k| h.jwk = Some(k.jwk.clone()),
        |h, _| h.x5u = Some("https://evil.example/cert.pem".into()),
        |h, _| h.x5c = Some(vec!["MIIB".into()]),
        |h, _| h.crit = Some(vec!["exp".into()]),
    ];
    for (i, edit) in cases.iter().enumerate() {
        let mut h = ed.header();
        edit(&mut h, &ed);
        // Genuinely signed by the trusted key, and still refused.
        assert_eq!(
            refuse(&v, &ed.sign_with(&h, &claims())),
            VerifyError::Malformed,
            "case {i}"
        );
    }
}

#[test]
fn missing_or_ill_typed_claims_are_refused() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let full = serde_json::to_value(claims()).unwrap();
    for field in [
        "exp",
        "nbf",
        "iat",
        "iss",
        "aud",
        "sub",
        "jti",
        "sid",
        "scope",
        "account_uuid",
    ] {
        let mut c = full.clone();
        c.as_object_mut().unwrap().remove(field);
        assert_eq!(
            refuse(&v, &ed.sign_with(&ed.header(), &c)),
            VerifyError::Malformed,
            "{field}"
        );
    }
    // CVE-2026-25537: an `exp` of the wrong JSON type must not skip the expiry check.
    let mut c = full.clone();
    c["exp"] = json!((now() - 10).to_string());
    assert_eq!(
        refuse(&v, &ed.sign_with(&ed.header(), &c)),
        VerifyError::Malformed
    );
    // Kinds: a service token has no sid, a user token has one, and no third kind exists.
    let mut service = full.clone();
    service.as_object_mut().unwrap().remove("sid");
    service["token_kind"] = json!("service");
    service["allowed_ips"] = json!(["10.0.0.0/8"]);
    service["max_request_bytes"] = json!(1024);
    let verified = v.verify(&ed.sign_with(&ed.header(), &service)).unwrap();
    assert!(verified.is_service());
    assert_eq!(verified.max_request_bytes, Some(1024));
    let mut both = service.clone();
    both["sid"] = full["sid"].clone();
    let mut other = full.clone();
    other["token_kind"] = json!("admin");
    for c in [both, other] {
        assert_eq!(
            refuse(&v, &ed.sign_with(&ed.header(), &c)),
            VerifyError::Malformed
        );
    }
    for field in ["sub", "jti"] {
        let mut c = full.clone();
        c[field] = json!("");
        assert_eq!(
            refuse(&v, &ed.sign_with(&ed.header(), &c)),
            VerifyError::Malformed,
            "{field}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let ed = TestKey::ed25519("k");
    let v = verifier(&[&ed]);
    let genuine = ed.sign(&claims());
    let huge = format!("{genuine}{}", "A".repeat(10_000));
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        &format!("{genuine}.x"),
        &huge,
    ] {
        assert_eq!(refuse(&v, token), VerifyError::Malformed, "{token:.20}");
    }
}
