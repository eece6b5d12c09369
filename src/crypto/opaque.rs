//! Opaque random secrets (mfa_tokens, recovery codes, resource-server secrets) and the one-way
//! hashes they are stored as. All of them carry at least 128 bits of entropy, so a fast hash
//! (SHA-256) is enough: there is nothing to brute-force.

use base64::Engine;
use rand::Rng;
use subtle::ConstantTimeEq;

/// A secret shown once to a client; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueSecret(String);

impl std::fmt::Debug for OpaqueSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueSecret(***)")
    }
}

impl OpaqueSecret {
    /// `prefix` + 256 random bits, base64url.
    pub fn generate(prefix: &str) -> Self {
        let bytes: [u8; 32] = rand::rng().random();
        Self(format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// A recovery code: 16 characters of Crockford base32 (80 bits) in four groups, easy to type.
    pub fn recovery_code() -> Self {
        const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let mut rng = rand::rng();
        let chars: Vec<char> = (0..16)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
        Self(groups.join("-"))
    }

    /// The secret itself, to put in a response body once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored.
    pub fn hash(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

/// Normalises a typed recovery code (case, spaces, dashes) before hashing, so `ABCD EFGH…` works.
pub fn normalise_recovery_code(code: &str) -> String {
    let compact: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let chars: Vec<char> = compact.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(input: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets or hashes without an early exit.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_redacted() {
        let a = OpaqueSecret::generate("mfa_");
        let b = OpaqueSecret::generate("mfa_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("mfa_") && a.expose().len() == 4 + 43);
        assert_eq!(format!("{a:?}"), "OpaqueSecret(***)");
    }

    #[test]
    fn recovery_codes_survive_sloppy_typing() {
        let code = OpaqueSecret::recovery_code();
        assert_eq!(code.expose().len(), 19);
        let typed = code.expose().to_uppercase().replace('-', " ");
        assert_eq!(normalise_recovery_code(&typed), code.expose());
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
