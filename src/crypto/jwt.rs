//! Access tokens: RFC 9068 JWTs signed with the key ring's current signer and verified through
//! `tokend-verify`, the same code resource APIs run, so there is one definition of a valid token.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Header};
use tokend_verify::{AccessClaims, Verifier, VerifyError, ACCESS_TOKEN_TYP, TOKEN_KIND_SERVICE};
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
    /// `aud`: a registered resource server's identifier (RFC 8707), or `None` for the configured
    /// default audience.
    pub audience: Option<&'a str>,
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`), or `None` for a bearer
    /// token.
    pub dpop_jkt: Option<&'a str>,
}

/// What a JWT for an exchanged service token (RFC 8693) is issued for.
#[derive(Debug, Clone)]
pub struct ServiceGrant<'a> {
    /// The service token's id (`sub` is `service_token:<id>`).
    pub token_id: Uuid,
    /// Account (`account_uuid`).
    pub account: Uuid,
    /// The client that exchanged (`client_id`).
    pub client_id: &'a str,
    /// Space-separated scopes.
    pub scope: &'a str,
    /// `aud`, as for [`AccessGrant::audience`].
    pub audience: Option<&'a str>,
    /// The service token's allowlist as created, when it has one.
    pub allowed_ips: Option<Vec<String>>,
    /// The service token's request-body cap, when it has one.
    pub max_request_bytes: Option<u64>,
    /// The service token's effective rate (`rate_limit` claim), when one applies.
    pub rate_limit: Option<tokend_verify::RateLimit>,
    /// Lifetime in seconds (already capped at the service token's own expiry).
    pub ttl_secs: i64,
}

/// One consistent generation of keys: the ring, its published JWKS and a verifier for it.
struct Loaded {
    ring: KeyRing,
    kids: Vec<String>,
    jwks_json: Arc<str>,
    verifier: Verifier,
    /// Same keys, any audience: for introspection and revocation, which see tokens tokend issued
    /// for every resource server.
    issuer_verifier: Verifier,
    /// Tokens this key set verified, so an app calling tokend's API with the same token for
    /// fifteen minutes pays for the signature once. Part of the key set: a reload that changes
    /// the keys starts an empty one, so a removed key's tokens are checked again (and refused).
    verified: VerifiedTokens,
}

/// Most tokens kept in [`VerifiedTokens`]: about 2 MiB at tokend's token size.
const VERIFIED_CAPACITY: usize = 4096;

/// Access tokens that passed [`Verifier::verify_at`], by their exact text. A hit is served only
/// while the claims' own `nbf`/`exp` window (leeway 0, as the verifier has) includes `now`, so
/// the cache never stretches a token's life; the session and user are still read on every
/// request by the caller.
#[derive(Default)]
struct VerifiedTokens(Mutex<HashMap<Box<str>, AccessClaims>>);

impl VerifiedTokens {
    fn get(&self, token: &str, now: UnixTime) -> Option<AccessClaims> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(token)
            .filter(|c| now >= c.nbf && now < c.exp)
            .cloned()
    }

    fn put(&self, token: &str, claims: &AccessClaims, now: UnixTime) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= VERIFIED_CAPACITY {
            map.retain(|_, c| now < c.exp);
            if map.len() >= VERIFIED_CAPACITY {
                map.clear();
            }
        }
        map.insert(token.into(), claims.clone());
    }
}

/// Issues and verifies access tokens. The key set can be swapped at run time ([`Self::reload`]),
/// so a key added with `tokend keys generate` is published by every node within a minute, long
/// before it starts signing.
pub struct AccessTokens {
    loaded: RwLock<Arc<Loaded>>,
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
        let loaded = Self::prepare(ring, issuer, audience)?;
        Ok(Self {
            loaded: RwLock::new(Arc::new(loaded)),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        })
    }

    fn prepare(ring: KeyRing, issuer: &str, audience: &str) -> anyhow::Result<Loaded> {
        let jwks: JwkSet = ring.jwks();
        let jwks_json = serde_json::to_string(&jwks)?.into();
        let mut verifier = Verifier::new(issuer, audience);
        verifier
            .set_jwks(&jwks)
            .map_err(|e| anyhow::anyhow!("own JWKS rejected: {e}"))?;
        let mut issuer_verifier = verifier.clone();
        issuer_verifier.accept_any_audience_as_issuer();
        let kids = ring.keys().iter().map(|k| k.kid.clone()).collect();
        Ok(Loaded {
            ring,
            kids,
            jwks_json,
            verifier,
            issuer_verifier,
            verified: VerifiedTokens::default(),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the keys directory; swaps the key set when its kids changed. Returns whether it
    /// did. A directory that fails to load keeps the current keys (and the error is returned).
    pub fn reload(&self, dir: &Path) -> anyhow::Result<bool> {
        let ring = KeyRing::load(dir)?;
        let kids: Vec<String> = ring.keys().iter().map(|k| k.kid.clone()).collect();
        if kids == self.current().kids {
            return Ok(false);
        }
        let loaded = Arc::new(Self::prepare(ring, &self.issuer, &self.audience)?);
        match self.loaded.write() {
            Ok(mut guard) => *guard = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        Ok(true)
    }

    /// Signs a fresh user token valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        grant: &AccessGrant<'_>,
        now: UnixTime,
    ) -> anyhow::Result<(String, AccessClaims)> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.user.to_string(),
            aud: grant.audience.unwrap_or(&self.audience).to_string(),
            exp: now + self.ttl_secs,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            client_id: grant.client_id.to_string(),
            sid: Some(grant.session.to_string()),
            account_uuid: grant.account.to_string(),
            scope: grant.scope.to_string(),
            token_kind: None,
            allowed_ips: None,
            max_request_bytes: None,
            rate_limit: None,
            cnf: grant.dpop_jkt.map(|jkt| tokend_verify::dpop::Confirmation {
                jkt: jkt.to_string(),
            }),
        };
        self.sign(claims, now)
    }

    /// Signs a JWT standing for a service token (RFC 8693 token exchange), so resource APIs can
    /// check service callers offline; it carries the token's policy as claims.
    pub fn issue_service(
        &self,
        grant: &ServiceGrant<'_>,
        now: UnixTime,
    ) -> anyhow::Result<(String, AccessClaims)> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: format!("service_token:{}", grant.token_id),
            aud: grant.audience.unwrap_or(&self.audience).to_string(),
            exp: now + grant.ttl_secs,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            client_id: grant.client_id.to_string(),
            sid: None,
            account_uuid: grant.account.to_string(),
            scope: grant.scope.to_string(),
            token_kind: Some(TOKEN_KIND_SERVICE.to_string()),
            allowed_ips: grant.allowed_ips.clone(),
            max_request_bytes: grant.max_request_bytes,
            rate_limit: grant.rate_limit,
            cnf: None,
        };
        self.sign(claims, now)
    }

    fn sign(&self, claims: AccessClaims, now: UnixTime) -> anyhow::Result<(String, AccessClaims)> {
        let loaded = self.current();
        let key = loaded.ring.signer(now);
        let mut header = Header::new(key.alg.jws());
        header.typ = Some(ACCESS_TOKEN_TYP.to_string());
        header.kid = Some(key.kid.clone());
        let token = encode(&header, &claims, &key.encoding)?;
        Ok((token, claims))
    }

    /// Verifies signature, `typ`, `iss`, `aud`, `exp` and `nbf` at `now`.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, VerifyError> {
        let loaded = self.current();
        if let Some(claims) = loaded.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = loaded.verifier.verify_at(token, now)?;
        loaded.verified.put(token, &claims, now);
        Ok(claims)
    }

    /// Like [`Self::verify`] but for any audience tokend issues for (the default and every
    /// resource server): introspection and revocation describe tokens meant for other APIs.
    pub fn verify_issued(&self, token: &str, now: UnixTime) -> Result<AccessClaims, VerifyError> {
        self.current().issuer_verifier.verify_at(token, now)
    }

    /// The configured default audience (`TOKEND_AUDIENCE`).
    pub fn default_audience(&self) -> &str {
        &self.audience
    }

    /// The published keys, serialised once per key set.
    pub fn jwks_json(&self) -> Arc<str> {
        self.current().jwks_json.clone()
    }

    /// The kid that signs at `now` (readiness, `keys list`).
    pub fn signing_kid(&self, now: UnixTime) -> String {
        self.current().ring.signer(now).kid.clone()
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
    use crate::crypto::keys::{generate_key, KeyAlg, ACTIVATION_DELAY};

    fn grant() -> AccessGrant<'static> {
        AccessGrant {
            user: Uuid::nil(),
            session: Uuid::nil(),
            account: Uuid::nil(),
            client_id: "tokend",
            scope: "photos:read",
            audience: None,
            dpop_jkt: None,
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

    #[test]
    fn reload_publishes_new_keys_and_keeps_old_tokens_valid() {
        let dir = tempfile::tempdir().unwrap();
        generate_key(dir.path(), KeyAlg::Ed25519, 1_000).unwrap();
        let tokens =
            AccessTokens::new(KeyRing::load(dir.path()).unwrap(), "http://i", "a", 900).unwrap();
        let (old_jwt, _) = tokens.issue(&grant(), 2_000).unwrap();
        assert!(!tokens.reload(dir.path()).unwrap(), "nothing changed");
        let new_kid = generate_key(dir.path(), KeyAlg::Es256, 2_000).unwrap();
        assert!(tokens.reload(dir.path()).unwrap());
        assert!(tokens.jwks_json().contains(&new_kid), "published at once");
        assert_ne!(tokens.signing_kid(2_000), new_kid, "but not signing yet");
        assert_eq!(tokens.signing_kid(2_000 + ACTIVATION_DELAY), new_kid);
        assert!(
            tokens.verify(&old_jwt, 2_100).is_ok(),
            "old key still verifies"
        );
    }

    /// A token verified once is served from the key set's cache, but never past its `exp`, and
    /// a reload that removes its key starts a new cache, so the token is refused at once.
    #[test]
    fn verified_tokens_are_cached_per_key_set_and_never_past_exp() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate_key(dir.path(), KeyAlg::Ed25519, 1_000).unwrap();
        let tokens =
            AccessTokens::new(KeyRing::load(dir.path()).unwrap(), "http://i", "a", 900).unwrap();
        let (jwt, claims) = tokens.issue(&grant(), 2_000).unwrap();
        assert_eq!(tokens.verify(&jwt, 2_000).unwrap(), claims);
        assert_eq!(tokens.current().verified.0.lock().unwrap().len(), 1);
        assert_eq!(tokens.verify(&jwt, 2_899).unwrap(), claims, "a hit");
        assert_eq!(tokens.verify(&jwt, 2_900), Err(VerifyError::Expired));
        // A tampered copy is not the cached text: it is verified, and refused.
        let mut forged = jwt.clone();
        forged.pop();
        assert!(tokens.verify(&forged, 2_000).is_err());
        // The signing key is removed from the directory: the cached token goes with it.
        generate_key(dir.path(), KeyAlg::Ed25519, 1_500).unwrap();
        std::fs::remove_file(dir.path().join(format!("{old}.pem"))).unwrap();
        assert!(tokens.reload(dir.path()).unwrap());
        assert!(tokens.verify(&jwt, 2_000).is_err());
    }
}
