//! The pieces of tokend's hot paths, each timed beside the raw primitive it wraps, so the cost of
//! tokend's own code is the difference between two lines of the same run (issue 12):
//!
//! | piece | raw primitive |
//! |---|---|
//! | access-token signing (`AccessTokens::issue`, Ed25519) | one Ed25519 signature over a message of the same length |
//! | access-token verification (`AccessTokens::verify`) | one Ed25519 verification of the same signature |
//! | refresh-token derive / open | one HMAC-SHA256 over the same bytes |
//! | service-token check: format and checksum, then SHA-256 | one SHA-256 of the token |
//! | a rate-limit check (`KeyedLimiter::check`, sign-in's per-address budget) | governor's keyed `check_key` |
//! | a per-token rate charge (`TokenRateLimiter::charge`, in process) | governor's keyed `check_key` |
//!
//! `cargo bench --bench pieces`. The whole-request numbers come from the load generator
//! (`cargo run --release -p tokend-bench -- all`), which runs in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use aws_lc_rs::{digest, hmac};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use governor::{Quota, RateLimiter};
use tokend::crypto::jwt::{AccessGrant, AccessTokens};
use tokend::crypto::keys::{generate_key, KeyAlg, KeyRing, Secret32};
use tokend::crypto::refresh::RefreshTokenCodec;
use tokend::crypto::service_token::{self, ServiceTokenHash};
use tokend::limits::rate::{RateLimit, TokenRateLimiter};
use tokend::limits::KeyedLimiter;
use uuid::Uuid;

fn access_tokens() -> (AccessTokens, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    generate_key(dir.path(), KeyAlg::Ed25519, 0).unwrap();
    let tokens = AccessTokens::new(
        KeyRing::load(dir.path()).unwrap(),
        "https://auth.example.com",
        "tokend",
        900,
    )
    .unwrap();
    (tokens, dir)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn signing(c: &mut Criterion) {
    let (tokens, _dir) = access_tokens();
    let grant = AccessGrant {
        user: Uuid::new_v4(),
        session: Uuid::new_v4(),
        account: Uuid::new_v4(),
        client_id: "tokend",
        scope: "photos:read photos:write tags:read",
        audience: None,
        dpop_jkt: None,
    };
    let t = now();
    let (jwt, _) = tokens.issue(&grant, t).unwrap();
    let signing_input = jwt.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let pkcs8 = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let signature = pair.sign(&signing_input);
    let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());

    let mut g = c.benchmark_group("access token sign (Ed25519)");
    g.bench_function("tokend AccessTokens::issue", |b| {
        b.iter(|| tokens.issue(black_box(&grant), t).unwrap())
    });
    g.bench_function("raw Ed25519 sign", |b| {
        b.iter(|| pair.sign(black_box(&signing_input)))
    });
    g.finish();

    let mut g = c.benchmark_group("access token verify (Ed25519)");
    g.bench_function("tokend AccessTokens::verify", |b| {
        b.iter(|| tokens.verify(black_box(&jwt), t).unwrap())
    });
    g.bench_function("raw Ed25519 verify", |b| {
        b.iter(|| {
            public
                .verify(black_box(&signing_input), signature.as_ref())
                .unwrap()
        })
    });
    g.finish();
}

fn refresh_tokens(c: &mut Criterion) {
    let secret = Secret32::from_bytes([7; 32]);
    let codec = RefreshTokenCodec::new(&secret);
    let session = Uuid::new_v4();
    let token = codec.derive(session, 41);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
    let mut message = Vec::new();
    message.extend_from_slice(b"tokend refresh v1");
    message.extend_from_slice(session.as_bytes());
    message.extend_from_slice(&41i64.to_be_bytes());
    let tag = hmac::sign(&key, &message);

    let mut g = c.benchmark_group("refresh token");
    g.bench_function("tokend derive", |b| {
        b.iter(|| codec.derive(black_box(session), 41))
    });
    g.bench_function("tokend open", |b| {
        b.iter(|| codec.open(black_box(token.expose())).unwrap())
    });
    g.bench_function("raw HMAC-SHA256 sign", |b| {
        b.iter(|| hmac::sign(&key, black_box(&message)))
    });
    g.bench_function("raw HMAC-SHA256 verify", |b| {
        b.iter(|| hmac::verify(&key, black_box(&message), tag.as_ref()).unwrap())
    });
    g.finish();
}

fn service_tokens(c: &mut Criterion) {
    let token = service_token::generate("tokend_");
    let text = token.expose().to_string();
    let mut g = c.benchmark_group("service token check");
    g.bench_function("tokend format + checksum + SHA-256", |b| {
        b.iter(|| {
            service_token::check_format("tokend_", black_box(&text)).unwrap();
            ServiceTokenHash::of(black_box(&text))
        })
    });
    g.bench_function("raw SHA-256", |b| {
        b.iter(|| digest::digest(&digest::SHA256, black_box(text.as_bytes())))
    });
    g.finish();
}

fn rate_limits(c: &mut Criterion) {
    // Large budgets, so every check in the measurement is an admitted one, the common case.
    let limiter: KeyedLimiter<IpAddr> = KeyedLimiter::per_minute(u32::MAX / 2);
    let raw = RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(u32::MAX / 2).unwrap()));
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let mut g = c.benchmark_group("rate-limit check");
    g.bench_function("tokend KeyedLimiter::check", |b| {
        b.iter(|| limiter.check(black_box(&ip)).unwrap())
    });
    g.bench_function("raw governor check_key", |b| {
        b.iter(|| raw.check_key(black_box(&ip)).unwrap())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tokens = TokenRateLimiter::new(None);
    let id = Uuid::new_v4();
    let rate: RateLimit = "1000000000/second".parse().unwrap();
    let raw_tokens = RateLimiter::keyed(Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap()));
    g.bench_function("tokend TokenRateLimiter::charge", |b| {
        b.iter(|| runtime.block_on(tokens.charge(black_box(id), rate)))
    });
    g.bench_function("raw governor check_key (Uuid)", |b| {
        b.iter(|| raw_tokens.check_key(black_box(&id)).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    signing,
    refresh_tokens,
    service_tokens,
    rate_limits
);
criterion_main!(benches);
