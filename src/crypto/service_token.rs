//! Service tokens (API keys), contract section 5: generating them, checking their shape before any
//! database read, and the SHA-256 hash that is all the database ever stores.
//!
//! Format: `<prefix>_` + 32 random base62 characters + a 6-character base62 checksum. The
//! checksum is the CRC32 (IEEE, `crc32fast`) of the 32 random characters, written big-endian in
//! base62 with the alphabet `0-9A-Za-z` (so `0` = 0, `A` = 10, `a` = 36) and left-padded with `0`
//! to 6 characters (62^6 > 2^32, so it always fits). The checksum lets us turn away typos and junk
//! without touching the database, and lets secret scanners recognise a real token.

use aws_lc_rs::digest;
use subtle::ConstantTimeEq;

/// Base62 digits in value order; shared by the checksum encoder and decoder.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 32 base62 characters carry about 190 bits, well above the contract's 128-bit floor.
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

/// A freshly minted token in clear, shown to its creator exactly once; wrapped so that `Debug`
/// and logging can never print it. Deliberately not `Clone`, so copies do not spread.
pub struct ServiceTokenSecret(String);

impl ServiceTokenSecret {
    /// The clear token, for the one response that hands it out and for hashing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ServiceTokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceTokenSecret(***)")
    }
}

/// Why a presented string cannot be one of our tokens; callers answer 401 `unauthorized` for all
/// of them, the variants only help logs and tests. None of them carries the candidate itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServiceTokenFormatError {
    /// The string does not start with `<prefix>_`, so it was minted elsewhere (or is a JWT).
    #[error("service token does not carry the expected prefix")]
    WrongPrefix,
    /// Truncated or padded tokens are refused before looking at their characters.
    #[error("service token has the wrong length")]
    WrongLength,
    /// Only base62 characters are ever generated.
    #[error("service token contains characters outside base62")]
    NotBase62,
    /// A typo or forgery: the checksum does not match the random part.
    #[error("service token checksum does not match")]
    BadChecksum,
}

/// Mints a new token from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
pub fn generate(prefix: &str) -> ServiceTokenSecret {
    use rand::{distr::Alphanumeric, Rng};
    let mut token = String::with_capacity(prefix.len() + 1 + RANDOM_LEN + CHECKSUM_LEN);
    token.push_str(prefix);
    token.push('_');
    token.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from),
    );
    let checksum = checksum_of(&token.as_bytes()[prefix.len() + 1..]);
    token.extend(checksum.iter().map(|&b| char::from(b)));
    ServiceTokenSecret(token)
}

/// Rejects anything that cannot be a token we minted, without allocating and before any database
/// read, so junk and typos cost nothing and never reach storage.
pub fn check_format(prefix: &str, candidate: &str) -> Result<(), ServiceTokenFormatError> {
    let body = candidate
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(ServiceTokenFormatError::WrongPrefix)?;
    let body = body.as_bytes();
    if body.len() != RANDOM_LEN + CHECKSUM_LEN {
        return Err(ServiceTokenFormatError::WrongLength);
    }
    if !body.iter().all(u8::is_ascii_alphanumeric) {
        return Err(ServiceTokenFormatError::NotBase62);
    }
    let (random, checksum) = body.split_at(RANDOM_LEN);
    if checksum_of(random) != checksum {
        return Err(ServiceTokenFormatError::BadChecksum);
    }
    Ok(())
}

/// Lets the authenticator tell a service token from a JWT by its prefix alone, so each goes to
/// the right validator without trying both.
pub fn looks_like_service_token(prefix: &str, candidate: &str) -> bool {
    candidate
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('_'))
}

/// CRC32 of the random part, big-endian base62, left-padded with `0`.
fn checksum_of(random: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(random);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// SHA-256 of the whole token string: the only form stored, so a database reader cannot use what
/// they read. A fast hash suffices because the token has ~190 bits of entropy.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceTokenHash([u8; 32]);

impl ServiceTokenHash {
    /// Hashes a presented or freshly generated token for lookup and storage.
    pub fn of(token: &str) -> Self {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// Lower-case hex, the form kept in the database column.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Reads the stored hex back; `None` for anything but exactly 64 hex digits, so a corrupt row
    /// never matches.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// Compares without an early exit, so response timing reveals nothing about how much of a
    /// stored hash a guess matched (CVE-2026-23996).
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl std::fmt::Debug for ServiceTokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not a secret, but a short form is enough to correlate log lines.
        let hex = self.to_hex();
        write!(f, "ServiceTokenHash({}…)", &hex[..8])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PREFIX: &str = "tkd_live";

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let token = generate(PREFIX);
        let text = token.expose();
        assert!(text.starts_with("tkd_live_"));
        assert_eq!(text.len(), "tkd_live_".len() + 38);
        assert!(text["tkd_live_".len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(check_format(PREFIX, text), Ok(()));
        assert_ne!(generate(PREFIX).expose(), text);
    }

    #[test]
    fn checksum_is_big_endian_base62_of_crc32() {
        let random = "0".repeat(32);
        let mut crc = crc32fast::hash(random.as_bytes());
        let mut expected = Vec::new();
        while crc > 0 {
            expected.push(BASE62[(crc % 62) as usize]);
            crc /= 62;
        }
        while expected.len() < 6 {
            expected.push(b'0');
        }
        expected.reverse();
        assert_eq!(checksum_of(random.as_bytes()).to_vec(), expected);
        assert_eq!(checksum_of(b""), *b"000000"); // CRC32 of nothing is 0: padding shows.
        let token = format!("{PREFIX}_{random}{}", String::from_utf8(expected).unwrap());
        assert_eq!(check_format(PREFIX, &token), Ok(()));
    }

    #[test]
    fn check_format_rejects_each_kind_of_junk() {
        let good = generate(PREFIX).expose().to_owned();
        assert_eq!(
            check_format("tkd_test", &good),
            Err(ServiceTokenFormatError::WrongPrefix)
        );
        assert_eq!(
            check_format(PREFIX, "tkd_liveX"),
            Err(ServiceTokenFormatError::WrongPrefix)
        );
        assert_eq!(
            check_format(PREFIX, &good[..good.len() - 1]),
            Err(ServiceTokenFormatError::WrongLength)
        );
        assert_eq!(
            check_format(PREFIX, &format!("{good}0")),
            Err(ServiceTokenFormatError::WrongLength)
        );
        let mut bad_char = good.clone();
        bad_char.replace_range(10..11, "-");
        assert_eq!(
            check_format(PREFIX, &bad_char),
            Err(ServiceTokenFormatError::NotBase62)
        );
        // Multi-byte characters of the right byte length are still not base62.
        let mut unicode = good[..good.len() - 2].to_owned();
        unicode.push('é');
        assert_eq!(
            check_format(PREFIX, &unicode),
            Err(ServiceTokenFormatError::NotBase62)
        );
        let mut flipped = good.clone().into_bytes();
        let i = "tkd_live_".len() + 3;
        flipped[i] = if flipped[i] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            check_format(PREFIX, &String::from_utf8(flipped).unwrap()),
            Err(ServiceTokenFormatError::BadChecksum)
        );
    }

    #[test]
    fn looks_like_service_token_needs_prefix_and_underscore() {
        assert!(looks_like_service_token(PREFIX, "tkd_live_abc"));
        assert!(!looks_like_service_token(PREFIX, "tkd_liveabc"));
        assert!(!looks_like_service_token(
            PREFIX,
            "eyJhbGciOiJFZERTQSJ9.e30.sig"
        ));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let token = generate(PREFIX);
        assert_eq!(format!("{token:?}"), "ServiceTokenSecret(***)");
    }

    #[test]
    fn hash_round_trips_through_hex_and_compares() {
        let h = ServiceTokenHash::of("abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ServiceTokenHash::from_hex(&h.to_hex()), Some(h.clone()));
        assert_eq!(
            ServiceTokenHash::from_hex(&h.to_hex().to_uppercase()),
            Some(h.clone())
        );
        assert!(h.ct_eq(&ServiceTokenHash::of("abc")));
        assert!(!h.ct_eq(&ServiceTokenHash::of("abd")));
        assert_eq!(ServiceTokenHash::from_hex("ba78"), None);
        assert_eq!(ServiceTokenHash::from_hex(&"g".repeat(64)), None);
        assert_eq!(format!("{h:?}"), "ServiceTokenHash(ba7816bf…)");
    }
}
