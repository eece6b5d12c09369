//! Refresh tokens that are never stored. The token for generation `n` of session `s` is
//! `rt_` + base64url(s ‖ n ‖ HMAC-SHA256(key, "tokend refresh v1" ‖ s ‖ n)). The database holds
//! only the session's live generation, so a database reader cannot use or forge a token, a retry
//! inside the grace window can be handed the very same successor (it is re-derived), and rotation
//! is a single-row compare-and-swap on the generation.

use aws_lc_rs::hmac;
use base64::Engine;
use uuid::Uuid;

use super::keys::Secret32;

const PREFIX: &str = "rt_";
const CONTEXT: &[u8] = b"tokend refresh v1";
const BODY_LEN: usize = 16 + 8 + 32;

/// A refresh token as sent to a client; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl RefreshToken {
    /// The token text, for the response body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What a structurally valid, authentic refresh token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshClaim {
    /// Session.
    pub session: Uuid,
    /// Generation this token stands for.
    pub generation: i64,
}

/// Derives and checks refresh tokens with the server's MAC key.
pub struct RefreshTokenCodec {
    key: hmac::Key,
}

impl std::fmt::Debug for RefreshTokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshTokenCodec(***)")
    }
}

impl RefreshTokenCodec {
    /// Uses the `refresh.key` secret of the keys directory.
    pub fn new(secret: &Secret32) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.bytes()),
        }
    }

    fn tag(&self, session: Uuid, generation: i64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(session.as_bytes());
        ctx.update(&generation.to_be_bytes());
        ctx.sign()
    }

    /// The token of `generation` of `session`.
    pub fn derive(&self, session: Uuid, generation: i64) -> RefreshToken {
        let mut body = Vec::with_capacity(BODY_LEN);
        body.extend_from_slice(session.as_bytes());
        body.extend_from_slice(&generation.to_be_bytes());
        body.extend_from_slice(self.tag(session, generation).as_ref());
        RefreshToken(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
        ))
    }

    /// Checks the MAC in constant time; `None` for anything not minted by this server.
    pub fn open(&self, token: &str) -> Option<RefreshClaim> {
        let encoded = token.strip_prefix(PREFIX)?;
        if encoded.len() > 100 {
            return None;
        }
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()?;
        if body.len() != BODY_LEN {
            return None;
        }
        let session = Uuid::from_slice(&body[..16]).ok()?;
        let generation = i64::from_be_bytes(body[16..24].try_into().ok()?);
        let mut message = Vec::with_capacity(CONTEXT.len() + 24);
        message.extend_from_slice(CONTEXT);
        message.extend_from_slice(&body[..24]);
        hmac::verify(&self.key, &message, &body[24..]).ok()?;
        Some(RefreshClaim {
            session,
            generation,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn codec(byte: u8) -> RefreshTokenCodec {
        RefreshTokenCodec::new(&Secret32::from_bytes([byte; 32]))
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let c = codec(1);
        let sid = Uuid::new_v4();
        let t = c.derive(sid, 7);
        assert_eq!(t, c.derive(sid, 7));
        assert_ne!(t, c.derive(sid, 8));
        assert_eq!(
            c.open(t.expose()),
            Some(RefreshClaim {
                session: sid,
                generation: 7
            })
        );
        assert_eq!(format!("{t:?}"), "RefreshToken(***)");
    }

    #[test]
    fn rejects_forgeries() {
        let c = codec(1);
        let t = c.derive(Uuid::new_v4(), 0);
        assert_eq!(codec(2).open(t.expose()), None, "another server's key");
        let mut tampered = t.expose().to_string();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(c.open(&tampered), None);
        assert_eq!(c.open("rt_"), None);
        assert_eq!(c.open("garbage"), None);
        assert_eq!(c.open(&t.expose().replace("rt_", "xx_")), None);
    }
}
