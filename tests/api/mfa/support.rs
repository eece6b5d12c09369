//! Test-side MFA helpers: an RFC 6238 implementation independent of the server's (aws-lc-rs HMAC
//! and hand-written truncation and base32, checked against the RFC's own vectors), and the
//! enrolment and sign-in steps most tests start from.

use aws_lc_rs::hmac;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tokend::clock::Clock;

use crate::helpers::*;

/// RFC 4226 section 5.3: HMAC-SHA-1 of the counter, dynamic truncation, `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let binary = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// RFC 6238 section 4.2: HOTP over `T = floor(time / 30)`.
pub fn totp_at(key: &[u8], time: i64, digits: u32) -> String {
    hotp(key, u64::try_from(time / 30).unwrap(), digits)
}

/// RFC 4648 base32 without padding, decoded.
pub fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .expect("base32 character");
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn independent_totp_matches_rfc6238_appendix_b() {
    let seed = b"12345678901234567890";
    for (time, code) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp_at(seed, time, 8), code, "T = {time}");
        assert_eq!(totp_at(seed, time, 6), code[2..], "T = {time}, 6 digits");
    }
    // RFC 4648 section 10 vector.
    assert_eq!(base32_decode("MZXW6YTBOI"), b"foobar");
}

/// A user with MFA on.
pub struct Enrolled {
    pub seeded: Seeded,
    pub access: String,
    pub secret: String,
    pub key: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The six-digit code at the server's current time plus `offset` seconds.
    pub fn code(&self, app: &TestApp, offset: i64) -> String {
        totp_at(&self.key, app.clock.now() + offset, 6)
    }
}

impl TestApp {
    /// `DELETE` with a bearer and a JSON body.
    pub async fn delete_bearer(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/me/mfa/totp`, asserting success.
    pub async fn enrol_totp(&self, access: &str) -> Value {
        let r = self
            .post_bearer("/v1/me/mfa/totp", access, json!({"password": PASSWORD}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Seeds `login`, enrols and confirms TOTP (driven by the independent TOTP), then moves the
    /// clock one step on so the confirming code's step is behind us.
    pub async fn enrolled(&self, login: &str) -> Enrolled {
        let seeded = self.seed_user(login, "owner").await;
        let (access, _) = self.access_token(&seeded).await;
        let body = self.enrol_totp(&access).await;
        let secret = body["secret"].as_str().unwrap().to_string();
        let key = base32_decode(&secret);
        let code = totp_at(&key, self.clock.now(), 6);
        let r = self
            .post_bearer("/v1/me/mfa/totp/confirm", &access, json!({"code": code}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let confirmed: Value = r.json().await.unwrap();
        let recovery_codes = confirmed["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        self.clock.advance(30);
        Enrolled {
            seeded,
            access,
            secret,
            key,
            recovery_codes,
        }
    }

    /// Signs in with the password and returns the mfa_token, checking the challenge's shape.
    pub async fn mfa_token(&self, seeded: &Seeded) -> String {
        let body = self.signed_in(seeded).await;
        assert_eq!(body["mfa_required"], true, "body: {body}");
        assert_eq!(body["mfa_methods"], json!(["totp", "recovery_code"]));
        assert_eq!(body["expires_in"], 300);
        assert!(body.get("refresh_token").is_none(), "body: {body}");
        let token = body["mfa_token"].as_str().unwrap();
        assert!(token.starts_with("mfa_"));
        token.to_string()
    }

    /// `POST /v1/auth/mfa`.
    pub async fn mfa(&self, mfa_token: &str, code: &str) -> Response {
        self.post(
            "/v1/auth/mfa",
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await
    }
}

/// Asserts a wrong-code answer with the given attempts left.
pub async fn assert_wrong_code(r: Response, attempts_left: u32) {
    let body = assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    assert_eq!(body["error"]["details"]["attempts_left"], attempts_left);
}
