//! Recognising tokend's opaque service tokens locally (feature `remote`), so junk and typos are
//! refused without a call to tokend.
//!
//! Format (tokend's `src/crypto/service_token.rs`, contract section 5): `<prefix>_` + 32 random
//! base62 characters + a 6-character checksum, the CRC32 (IEEE) of the random part written
//! big-endian in base62 (`0-9A-Za-z`, so `0` = 0, `A` = 10, `a` = 36), left-padded with `0`.

/// tokend's default service-token prefix (`TOKEND_SERVICE_TOKEN_PREFIX`), without the `_`.
pub const DEFAULT_SERVICE_TOKEN_PREFIX: &str = "tkd_live";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

/// Whether `candidate` claims to be a service token (starts with `<prefix>_`), so it goes to
/// introspection rather than to the JWT verifier. Says nothing about whether it is well formed.
pub fn looks_like_service_token(prefix: &str, candidate: &str) -> bool {
    candidate
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('_'))
}

/// Whether `candidate` is shaped like a token tokend minted with `prefix`: the right length,
/// base62 only, and a matching checksum. A `false` means tokend would refuse it too, so there is
/// no need to ask.
pub fn is_well_formed_service_token(prefix: &str, candidate: &str) -> bool {
    let Some(body) = candidate
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
    else {
        return false;
    };
    let body = body.as_bytes();
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, checksum) = body.split_at(RANDOM_LEN);
    checksum_of(random) == checksum
}

/// A well-formed token with this random part (32 base62 characters), for tests.
#[cfg(test)]
pub(crate) fn mint_for_tests(prefix: &str, random: &str) -> String {
    let sum = checksum_of(random.as_bytes());
    format!("{prefix}_{random}{}", String::from_utf8_lossy(&sum))
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn minted(random: &str) -> String {
        mint_for_tests("tkd_live", random)
    }

    #[test]
    fn checksum_is_crc32_in_padded_base62() {
        // crc32("") == 0 and crc32("a") == 0xe8b7be43 == 3904355907.
        assert_eq!(&checksum_of(b""), b"000000");
        let mut v: u64 = 3_904_355_907;
        let mut want = [b'0'; 6];
        for slot in want.iter_mut().rev() {
            *slot = BASE62[(v % 62) as usize];
            v /= 62;
        }
        assert_eq!(checksum_of(b"a"), want);
    }

    #[test]
    fn accepts_minted_tokens_and_refuses_altered_ones() {
        let random = "7HqXw2mB9cLpR4sTvY8nZ1aK3dF6gJ0e";
        let token = minted(random);
        assert!(is_well_formed_service_token("tkd_live", &token));
        assert!(looks_like_service_token("tkd_live", &token));
        let mut typo = token.clone().into_bytes();
        typo[12] = if typo[12] == b'x' { b'y' } else { b'x' };
        assert!(!is_well_formed_service_token(
            "tkd_live",
            std::str::from_utf8(&typo).unwrap()
        ));
        assert!(!is_well_formed_service_token("tkd_test", &token));
        assert!(!is_well_formed_service_token(
            "tkd_live",
            &token[..token.len() - 1]
        ));
        assert!(!is_well_formed_service_token(
            "tkd_live",
            &format!("{token}0")
        ));
        let not_base62 = minted("7HqXw2mB9cLpR4sTvY8nZ1aK3dF6gJ0-");
        assert!(!is_well_formed_service_token("tkd_live", &not_base62));
        assert!(!looks_like_service_token("tkd_live", "eyJhbGciOi.x.y"));
        assert!(!looks_like_service_token("tkd_live", "tkd_liveX"));
    }
}
