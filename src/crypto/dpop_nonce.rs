//! Server nonces for DPoP proofs (RFC 9449 section 8), stateless so any node can check what
//! another issued: a nonce is `base64url(window ‖ HMAC-SHA256(key, "tokend dpop nonce v1" ‖
//! window))[..]` for the current time window. A nonce of the current or the previous window is
//! accepted, so each lives between one and two windows. The key is derived with HKDF from the
//! refresh-token secret that every node of a deployment already shares, so no new key file has to
//! be distributed.

use aws_lc_rs::{hkdf, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::keys::Secret32;

const CONTEXT: &[u8] = b"tokend dpop nonce v1";
/// Truncated tag length: 128 bits are ample for a value that lives minutes.
const TAG_LEN: usize = 16;

/// How long one nonce window lasts, in seconds.
pub const NONCE_WINDOW_SECS: i64 = 120;

/// Issues and checks DPoP nonces; `Debug` never prints the key.
pub struct DpopNonces {
    key: hmac::Key,
}

impl std::fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DpopNonces(***)")
    }
}

struct HmacKeyLen;

impl hkdf::KeyType for HmacKeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl DpopNonces {
    /// Derives the nonce key from the deployment's refresh secret.
    pub fn new(secret: &Secret32) -> anyhow::Result<Self> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, CONTEXT).extract(secret.bytes());
        let okm = prk
            .expand(&[CONTEXT], HmacKeyLen)
            .map_err(|_| anyhow::anyhow!("HKDF expand failed"))?;
        let mut key = [0u8; 32];
        okm.fill(&mut key)
            .map_err(|_| anyhow::anyhow!("HKDF fill failed"))?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    fn tag(&self, window: i64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(&window.to_be_bytes());
        ctx.sign()
    }

    /// The nonce to hand out at `now`.
    pub fn issue(&self, now: i64) -> String {
        let window = now.div_euclid(NONCE_WINDOW_SECS);
        let mut body = Vec::with_capacity(8 + TAG_LEN);
        body.extend_from_slice(&window.to_be_bytes());
        body.extend_from_slice(&self.tag(window).as_ref()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// Whether `nonce` was issued by a node of this deployment in the current or the previous
    /// window. The tag is compared in constant time.
    pub fn is_current(&self, nonce: &str, now: i64) -> bool {
        let Ok(body) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if body.len() != 8 + TAG_LEN {
            return false;
        }
        let (window_bytes, tag) = body.split_at(8);
        let Ok(window_bytes) = <[u8; 8]>::try_from(window_bytes) else {
            return false;
        };
        let window = i64::from_be_bytes(window_bytes);
        let current = now.div_euclid(NONCE_WINDOW_SECS);
        if window != current && window != current - 1 {
            return false;
        }
        let expected = self.tag(window);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_LEN], tag)
            .is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nonces(byte: u8) -> DpopNonces {
        DpopNonces::new(&Secret32::from_bytes([byte; 32])).unwrap()
    }

    #[test]
    fn a_nonce_lives_one_to_two_windows_on_every_node_with_the_key() {
        let (a, b) = (nonces(1), nonces(1));
        let t = 1_000_000;
        let n = a.issue(t);
        assert!(b.is_current(&n, t));
        assert!(b.is_current(&n, t + NONCE_WINDOW_SECS));
        assert!(!b.is_current(&n, t + 2 * NONCE_WINDOW_SECS + 1));
        assert!(!b.is_current(&n, t - NONCE_WINDOW_SECS - 1));
    }

    #[test]
    fn another_key_or_a_tampered_nonce_is_refused() {
        let t = 1_000_000;
        let n = nonces(1).issue(t);
        assert!(!nonces(2).is_current(&n, t));
        let mut raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        raw[10] ^= 1;
        assert!(!nonces(1).is_current(&URL_SAFE_NO_PAD.encode(raw), t));
        assert!(!nonces(1).is_current("", t));
        assert!(!nonces(1).is_current("not base64!", t));
    }
}
