//! TOTP code math (RFC 6238 with the RFC 4226 truncation), as authenticator apps expect it:
//! HMAC-SHA-1, 6 digits, 30-second steps, 160-bit secrets (RFC 4226 section 4, R6). The only
//! place that touches a TOTP secret's bytes; enrolment and the rules live in `domain::mfa`.

use totp_rs::{Algorithm, TOTP};

use super::keys::random_bytes;
use super::opaque::ct_eq;
use crate::clock::UnixTime;

/// Seconds per time step (RFC 6238 `X`).
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a new secret: 160 bits, the HMAC-SHA-1 output size RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A fresh secret from the OS CSPRNG.
pub fn new_secret() -> anyhow::Result<[u8; SECRET_BYTES]> {
    random_bytes()
}

/// What an authenticator app scans: the base32 secret and the `otpauth://` URI with issuer and
/// account label. totp-rs leaves out parameters equal to the defaults; some apps guess otherwise,
/// so they are spelled out.
pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<(String, String)> {
    let totp = totp(secret, Some(issuer.to_string()), account.to_string())?;
    Ok((
        totp.get_secret_base32(),
        format!("{}&algorithm=SHA1&digits=6&period=30", totp.get_url()),
    ))
}

fn totp(secret: &[u8], issuer: Option<String>, account: String) -> anyhow::Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS as u64,
        secret.to_vec(),
        issuer,
        account,
    )
    .map_err(|e| anyhow::anyhow!("TOTP parameters: {e}"))
}

/// The step among t-1, t, t+1 (after `after`, if given) whose code is `digits`. Every candidate
/// is computed and compared in constant time, whichever matches.
pub fn matching_step(
    secret: &[u8],
    digits: &str,
    now: UnixTime,
    after: Option<i64>,
) -> anyhow::Result<Option<i64>> {
    let totp = totp(secret, None, String::new())?;
    let current = now.div_euclid(STEP_SECS);
    let mut found = None;
    for step in current - 1..=current + 1 {
        let Ok(time) = u64::try_from(step * STEP_SECS) else {
            continue;
        };
        let matches = ct_eq(&totp.generate(time), digits);
        if matches && found.is_none() && after.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 seed, last six of the eight digits.
    #[test]
    fn rfc6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(
                matching_step(seed, code, time, None).unwrap(),
                Some(time / STEP_SECS)
            );
        }
    }

    #[test]
    fn skew_is_one_step_and_steps_only_move_forward() {
        let seed = b"12345678901234567890";
        let t = 1_111_111_109;
        let code = "081804";
        assert!(matching_step(seed, code, t - 30, None).unwrap().is_some());
        assert!(matching_step(seed, code, t + 30, None).unwrap().is_some());
        assert!(matching_step(seed, code, t + 60, None).unwrap().is_none());
        assert!(matching_step(seed, code, t - 60, None).unwrap().is_none());
        let step = t / STEP_SECS;
        assert!(matching_step(seed, code, t, Some(step)).unwrap().is_none());
        assert!(matching_step(seed, code, t, Some(step - 1))
            .unwrap()
            .is_some());
    }

    #[test]
    fn enrolment_uri_names_issuer_account_and_parameters() {
        let (secret, uri) = enrolment(
            b"12345678901234567890",
            "auth.example.com",
            "ana@example.com",
        )
        .unwrap();
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(
            uri.starts_with("otpauth://totp/auth.example.com:ana%40example.com?"),
            "{uri}"
        );
        for part in [
            "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "issuer=auth.example.com",
            "algorithm=SHA1",
            "digits=6",
            "period=30",
        ] {
            assert!(uri.contains(part), "{uri} lacks {part}");
        }
    }
}
