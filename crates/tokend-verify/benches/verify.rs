//! JWT verifications per second through `Verifier::verify`, next to the raw signature-verify rate
//! of the same algorithm (aws-lc-rs over the same signing input and signature), one core.
//!
//! `cargo bench -p tokend-verify --bench verify`; criterion reports each as time per iteration
//! and elements per second. Each is timed in alternation with the other (see `interleaved`). The difference is the price of everything but the signature: header
//! and payload decoding, the header rules, the key lookup and the claim checks.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey, VerificationAlgorithm,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokend_verify::{AccessClaims, Verifier, ACCESS_TOKEN_TYP};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "photos-api";

/// A token as tokend issues it, the verifier holding its key, and the raw material to check
/// the same signature without any JWT code.
struct Case {
    name: &'static str,
    token: String,
    verifier: Verifier,
    raw_alg: &'static dyn VerificationAlgorithm,
    public_key: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

fn claims() -> AccessClaims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    AccessClaims {
        iss: ISS.into(),
        sub: "0190a0b0-0000-7000-8000-000000000001".into(),
        aud: AUD.into(),
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: "0190a0b0-0000-7000-8000-0000000000aa".into(),
        client_id: "tokend".into(),
        sid: Some("0190a0b0-0000-7000-8000-0000000000ss".into()),
        account_uuid: "0190a0b0-0000-7000-8000-0000000000ac".into(),
        scope: "customer:read photos:read photos:write tags:read tags:write".into(),
        token_kind: None,
        allowed_ips: None,
        max_request_bytes: None,
        rate_limit: None,
        cnf: None,
    }
}

fn case(
    name: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
    public_key: Vec<u8>,
    raw_alg: &'static dyn VerificationAlgorithm,
) -> Case {
    let kid = format!("{name}-bench");
    let mut header = Header::new(alg);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(kid.clone());
    let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
    jwk.common.key_id = Some(kid);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let mut verifier = Verifier::new(ISS, AUD);
    verifier.set_jwks(&JwkSet { keys: vec![jwk] }).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    Case {
        name,
        signing_input: signing_input.as_bytes().to_vec(),
        token,
        verifier,
        raw_alg,
        public_key,
        signature,
    }
}

fn cases() -> Vec<Case> {
    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_pkcs8 = ed.to_pkcs8v1().unwrap();
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ec_pkcs8 = ec.to_pkcs8v1().unwrap();
    vec![
        case(
            "EdDSA",
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(ed_pkcs8.as_ref()),
            ed.public_key().as_ref().to_vec(),
            &signature::ED25519,
        ),
        case(
            "ES256",
            Algorithm::ES256,
            EncodingKey::from_ec_der(ec_pkcs8.as_ref()),
            ec.public_key().as_ref().to_vec(),
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
    ]
}

fn verify(c: &mut Criterion) {
    for case in cases() {
        assert!(case.verifier.verify(&case.token).is_ok());
        let raw = UnparsedPublicKey::new(case.raw_alg, &case.public_key);
        assert!(raw.verify(&case.signing_input, &case.signature).is_ok());

        let jwt = || case.verifier.verify(black_box(&case.token)).is_ok();
        let sig = || {
            raw.verify(black_box(&case.signing_input), black_box(&case.signature))
                .is_ok()
        };
        let mut group = c.benchmark_group(case.name);
        group.throughput(Throughput::Elements(1));
        // Each side is timed while the other runs, untimed, between its iterations: the two
        // see the same share of a shared machine, so their ratio holds even when the load
        // does not.
        group.bench_function("tokend_verify::Verifier::verify", |b| {
            b.iter_custom(|iters| interleaved(iters, jwt, sig))
        });
        group.bench_function("raw signature verify (aws-lc-rs)", |b| {
            b.iter_custom(|iters| interleaved(iters, sig, jwt))
        });
        group.finish();
    }
}

/// Times `iters` runs of `timed`, each followed by an untimed run of `other`.
fn interleaved(iters: u64, timed: impl Fn() -> bool, other: impl Fn() -> bool) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let ok = timed();
        total += start.elapsed();
        assert!(ok && other());
    }
    total
}

criterion_group!(benches, verify);
criterion_main!(benches);
