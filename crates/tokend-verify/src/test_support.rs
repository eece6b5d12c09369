//! Real keys and hand-made tokens for the unit tests; compiled only under `cfg(test)`.
//!
//! Keys are generated fresh with aws-lc-rs on every run, so no test depends on a checked-in
//! secret and every forged token is checked against genuine key material.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::{AccessClaims, Verifier, ACCESS_TOKEN_TYP};

pub const ISS: &str = "https://auth.example.test";
pub const AUD: &str = "photos-api";

/// A generated key pair: what tokend would sign with, and the JWK it would publish.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
    /// PKCS#8 v1 DER of the private key, for signing outside jsonwebtoken.
    pub pkcs8: Vec<u8>,
}

impl TestKey {
    pub fn ed25519(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate()
            .unwrap()
            .to_pkcs8v1()
            .unwrap()
            .as_ref()
            .to_vec();
        Self::new(
            kid,
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&pkcs8),
            pkcs8,
        )
    }

    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap().as_ref().to_vec();
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(&pkcs8),
            pkcs8,
        )
    }

    pub fn rs256(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = pair.as_der().unwrap().as_ref().to_vec();
        let pkcs1 = rsa_pkcs1_from_pkcs8(&pkcs8);
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&pkcs1),
            pkcs8,
        )
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey, pkcs8: Vec<u8>) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
            pkcs8,
        }
    }

    /// The header tokend puts on access tokens.
    pub fn header(&self) -> Header {
        let mut h = Header::new(self.alg);
        h.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        h.kid = Some(self.kid.clone());
        h
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.sign_with(&self.header(), claims)
    }

    pub fn sign_with(&self, header: &Header, claims: &impl serde::Serialize) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    }
}

pub fn verifier(keys: &[&TestKey]) -> Verifier {
    let mut v = Verifier::new(ISS, AUD);
    v.set_jwks(&jwks(keys)).unwrap();
    v
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims exactly as tokend would issue them right now.
pub fn claims() -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: ISS.into(),
        sub: "0190a0b0-0000-7000-8000-000000000001".into(),
        aud: AUD.into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: "0190a0b0-0000-7000-8000-0000000000aa".into(),
        client_id: "tokend".into(),
        sid: Some("0190a0b0-0000-7000-8000-0000000000ss".into()),
        token_kind: None,
        allowed_ips: None,
        max_request_bytes: None,
        rate_limit: None,
        cnf: None,
        account_uuid: "0190a0b0-0000-7000-8000-0000000000ac".into(),
        scope: "photos:read photos:write".into(),
    }
}

/// Claims of a service token exchanged for a JWT (RFC 8693), with an allowlist and a size cap.
pub fn service_claims(allowed_ips: &[&str], max_request_bytes: Option<u64>) -> AccessClaims {
    AccessClaims {
        sub: "service_token:0190a0b0-0000-7000-8000-0000000000st".into(),
        sid: None,
        token_kind: Some(crate::TOKEN_KIND_SERVICE.into()),
        allowed_ips: Some(allowed_ips.iter().map(|s| s.to_string()).collect()),
        max_request_bytes,
        ..claims()
    }
}

/// base64url without padding (RFC 7515 section 2), for tokens jsonwebtoken refuses to build.
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 section 4), for HTTP Basic credentials.
pub fn b64std(bytes: &[u8]) -> String {
    let url = b64url(bytes);
    let mut out: String = url
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// A compact JWS from raw JSON parts, signed by `sign` over `header.payload`.
pub fn raw_token(
    header: &serde_json::Value,
    payload: &impl serde::Serialize,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(header).unwrap()),
        b64url(&serde_json::to_vec(payload).unwrap())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// Signs with an Ed25519 PKCS#8 key directly, whatever the header claims.
pub fn ed25519_sign(pkcs8: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |msg| {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .unwrap()
            .sign(msg)
            .as_ref()
            .to_vec()
    }
}

/// The `RSAPrivateKey` (PKCS#1) inside a PKCS#8 v1 document, which is what
/// `EncodingKey::from_rsa_der` wants and aws-lc-rs does not export directly.
fn rsa_pkcs1_from_pkcs8(der: &[u8]) -> Vec<u8> {
    // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey OCTET STRING }
    let (tag, body, _) = der_tlv(der);
    assert_eq!(tag, 0x30);
    let (tag, _, rest) = der_tlv(body);
    assert_eq!(tag, 0x02);
    let (tag, _, rest) = der_tlv(rest);
    assert_eq!(tag, 0x30);
    let (tag, key, _) = der_tlv(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

/// One DER tag-length-value: (tag, value, rest).
fn der_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let n = usize::from(long & 0x7f);
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

#[test]
fn b64url_matches_rfc4648_vectors() {
    assert_eq!(b64url(b""), "");
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foo"), "Zm9v");
    assert_eq!(b64url(b"foob"), "Zm9vYg");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(b64std(b"fo"), "Zm8=");
    assert_eq!(b64std(&[0xfb, 0xff]), "+/8=");
}
