//! Access tokens: RFC 9068 JWTs signed with the key ring's current signer and verified through
//! `tokend-verify`, the same code resource APIs run, so there is one definition of a valid token.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Header};
use tokend_verify::{AccessClaims, Verifier, VerifyError, ACCESS_TOKEN_TYP};
use uuid::Uuid;

use super::keys::KeyRing;
use crate::clock::UnixTime;

/// What an access token is issued for.
#[derive(Debug, Clone)]
pub struct AccessGrant<'a> {
    /// User (`sub`).
    pub user: Uuid,
    /// Session (`sid`).
    pub session: Uuid,
    /// Account (`account_uuid`).
    pub account: Uuid,
    /// `client_id` claim.
    pub client_id: &'a str,
    /// Space-separated scopes.
    pub scope: &'a str,
}

/// Issues and verifies access tokens.
pub struct AccessTokens {
    ring: KeyRing,
    jwks: JwkSet,
    jwks_json: String,
    verifier: Verifier,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Binds a key ring to the issuer, audience and lifetime of the tokens it signs.
    pub fn new(ring: KeyRing, issuer: &str, audience: &str, ttl_secs: i64) -> anyhow::Result<Self> {
        let jwks = ring.jwks();
        let jwks_json = serde_json::to_string(&jwks)?;
        let mut verifier = Verifier::new(issuer, audience);
        verifier
            .set_jwks(&jwks)
            .map_err(|e| anyhow::anyhow!("own JWKS rejected: {e}"))?;
        Ok(Self {
            ring,
            jwks,
            jwks_json,
            verifier,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        })
    }

    /// Signs a fresh token valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        grant: &AccessGrant<'_>,
        now: UnixTime,
    ) -> anyhow::Result<(String, AccessClaims)> {
        let key = self.ring.signer(now);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.user.to_string(),
            aud: self.audience.clone(),
            exp: now + self.ttl_secs,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            client_id: grant.client_id.to_string(),
            sid: grant.session.to_string(),
            account_uuid: grant.account.to_string(),
            scope: grant.scope.to_string(),
        };
        let mut header = Header::new(key.alg.jws());
        header.typ = Some(ACCESS_TOKEN_TYP.to_string());
        header.kid = Some(key.kid.clone());
        let token = encode(&header, &claims, &key.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature, `typ`, `iss`, `aud`, `exp` and `nbf` at `now`.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, VerifyError> {
        self.verifier.verify_at(token, now)
    }

    /// The published keys.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The published keys, serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// The key ring (for `keys list` and readiness).
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Lifetime of issued tokens in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::keys::{generate_key, KeyAlg};

    fn grant() -> AccessGrant<'static> {
        AccessGrant {
            user: Uuid::nil(),
            session: Uuid::nil(),
            account: Uuid::nil(),
            client_id: "tokend",
            scope: "photos:read",
        }
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_pins_its_alg() {
        for alg in [KeyAlg::Ed25519, KeyAlg::Es256, KeyAlg::Rs256] {
            let dir = tempfile::tempdir().unwrap();
            generate_key(dir.path(), alg, 1_000).unwrap();
            let tokens =
                AccessTokens::new(KeyRing::load(dir.path()).unwrap(), "http://i", "a", 900)
                    .unwrap();
            let (jwt, claims) = tokens.issue(&grant(), 2_000).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.alg, alg.jws());
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(tokens.verify(&jwt, 2_000).unwrap(), claims);
            assert_eq!(tokens.verify(&jwt, 2_900), Err(VerifyError::Expired));
            assert_eq!(tokens.verify(&jwt, 1_999), Err(VerifyError::NotYetValid));
        }
    }
}
