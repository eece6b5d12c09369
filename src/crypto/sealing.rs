//! Encryption at rest for secrets tokend must be able to read back (TOTP secrets, issue #3).
//!
//! AES-256-GCM from aws-lc-rs with a fresh random 96-bit nonce per seal. With random nonces the
//! key is good for about 2^32 seals before a nonce collision becomes a real risk (NIST SP 800-38D
//! section 8.3); one seal per TOTP enrolment is many orders of magnitude below that. The caller's
//! associated data (for TOTP: the user id) is authenticated but not stored, so a sealed value
//! copied into another user's row no longer opens. The stored form is
//! `base64(nonce || ciphertext || tag)`. The key is a [`Secret32`] in the keys directory.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;

use super::keys::{random_bytes, Secret32};

/// Length of the GCM authentication tag appended to every ciphertext.
const TAG_LEN: usize = 16;

/// Why a value could not be sealed or opened; says nothing about the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The stored value is malformed, was tampered with, belongs to other associated data, or
    /// was sealed with another key.
    #[error("the sealed value could not be opened")]
    Open,
    /// The system could not provide randomness or the cipher failed.
    #[error("the value could not be sealed")]
    Seal,
}

/// Plaintext that came out of [`Sealer::open`]; `Debug` never prints it.
pub struct SecretBytes(Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

impl SecretBytes {
    /// The plaintext, for the code that needs it (e.g. TOTP computation) and nothing else.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Seals and opens values with the key from the keys directory.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(AES-256-GCM, ***)")
    }
}

impl Sealer {
    /// Builds a sealer over a 256-bit key.
    pub fn new(key: &Secret32) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key.bytes()).map_err(|_| SealError::Seal)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts `plaintext` bound to `aad`; returns the text to store.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, SealError> {
        let nonce: [u8; NONCE_LEN] = random_bytes().map_err(|_| SealError::Seal)?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| SealError::Seal)?;
        let mut stored = Vec::with_capacity(NONCE_LEN + in_out.len());
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&in_out);
        Ok(base64::engine::general_purpose::STANDARD.encode(stored))
    }

    /// Decrypts what [`Sealer::seal`] stored, checking it was sealed with this key and `aad`.
    pub fn open(&self, stored: &str, aad: &[u8]) -> Result<SecretBytes, SealError> {
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Open);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SealError::Open)?;
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| SealError::Open)?
            .len();
        in_out.truncate(plain_len);
        Ok(SecretBytes(in_out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&Secret32::from_bytes([byte; 32])).unwrap()
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let s = sealer(7);
        let a = s.seal(b"twenty bytes secret!", b"user-1").unwrap();
        let b = s.seal(b"twenty bytes secret!", b"user-1").unwrap();
        assert_ne!(a, b, "each seal must use its own nonce");
        assert_eq!(
            s.open(&a, b"user-1").unwrap().expose(),
            b"twenty bytes secret!"
        );
        assert_eq!(
            s.open(&b, b"user-1").unwrap().expose(),
            b"twenty bytes secret!"
        );
        assert!(!a.contains("twenty"));
        assert_eq!(
            format!("{:?}", s.open(&a, b"user-1").unwrap()),
            "SecretBytes(***)"
        );
    }

    #[test]
    fn other_associated_data_does_not_open() {
        let s = sealer(7);
        let sealed = s.seal(b"secret", b"user-1").unwrap();
        assert_eq!(s.open(&sealed, b"user-2").unwrap_err(), SealError::Open);
    }

    #[test]
    fn tampering_or_another_key_does_not_open() {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let s = sealer(7);
        let sealed = s.seal(b"secret", b"user-1").unwrap();
        let raw = engine.decode(&sealed).unwrap();
        for i in 0..raw.len() {
            let mut flipped = raw.clone();
            flipped[i] ^= 0x01;
            assert_eq!(
                s.open(&engine.encode(&flipped), b"user-1").unwrap_err(),
                SealError::Open,
                "byte {i} flipped"
            );
        }
        assert_eq!(
            s.open(&engine.encode(&raw[..raw.len() - 1]), b"user-1")
                .unwrap_err(),
            SealError::Open
        );
        assert_eq!(
            s.open("not base64!", b"user-1").unwrap_err(),
            SealError::Open
        );
        assert_eq!(s.open("", b"user-1").unwrap_err(), SealError::Open);
        assert_eq!(
            sealer(8).open(&sealed, b"user-1").unwrap_err(),
            SealError::Open
        );
    }
}
