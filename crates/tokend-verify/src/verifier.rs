//! Offline verification of access tokens against the keys tokend publishes as a JWKS.
//!
//! The rules themselves are listed on [`Verifier`], where users of the crate can see them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, Header};

use crate::claims::{AccessClaims, ACCESS_TOKEN_TYP};
use crate::error::VerifyError;

/// Clock-skew allowance applied to `exp` and `nbf` unless [`Verifier::set_leeway`] says otherwise.
///
/// Zero, because tokend itself verifies with the clock that signed. Resource APIs on other hosts
/// may raise it a little (tokend sets `nbf` to the issue time, so a host whose clock runs behind
/// would otherwise refuse brand-new tokens).
pub const DEFAULT_LEEWAY_SECS: u64 = 0;

/// The largest leeway [`Verifier::set_leeway`] accepts; larger values are clamped.
///
/// A leeway of hours would quietly turn 15-minute tokens into long-lived ones.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// Longer inputs are refused before any decoding, so a hostile header cannot make us
/// base64-decode and parse megabytes. tokend's tokens are well under 1 KiB.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// RSA moduli below this many bytes (2048 bits) are too weak to trust.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A public key together with the one algorithm it may verify.
#[derive(Clone)]
struct VerifyingKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies access tokens against a set of public keys.
///
/// Cheap to clone (the key map is shared), so a service can hand copies to every request, and
/// swap in a new `Verifier` (or call [`set_jwks`](Self::set_jwks) on a fresh clone) when tokend
/// rotates keys. It does no I/O: `RemoteVerifier` (feature `remote`) fetches and refreshes the
/// JWKS around it, or the caller does.
///
/// # Rules
/// In the order they are applied (each a defence against a known JWT attack):
/// 1. The header must parse, must not carry `jku`, `jwk`, `x5u`, `x5c` (CVE-2018-0114: a token
///    must never bring its own key) or `crit` (we understand no extensions, RFC 7515 section 4.1.11).
/// 2. `typ` must be `at+jwt` (or `application/at+jwt`), compared case-insensitively (RFC 9068
///    section 4), so an ID token or other JWT signed by the same key is not an access token.
/// 3. `alg` must be an asymmetric algorithm: HMAC and `none` are never accepted.
/// 4. `kid` is required and only looked up in the in-memory map; it is never a path or a URL.
/// 5. The key's own algorithm (from its JWK, never from the token) must equal the header's
///    `alg`, which stops algorithm confusion (CVE-2015-9235, CVE-2022-29217).
/// 6. The signature, checked by jsonwebtoken with the key's algorithm; then the presence and
///    type of every [`AccessClaims`] field (integers for times: a string `exp` is refused, the
///    CVE-2026-25537 pattern), `iss` and `aud`, compared exactly.
/// 7. `sub` and `jti` must not be empty; a user token must carry `sid`, an exchanged service
///    token (`token_kind` `service`) must not, and no other `token_kind` exists; then `exp` and
///    `nbf` against the caller's clock.
#[derive(Clone)]
pub struct Verifier {
    issuer: String,
    audience: String,
    check_audience: bool,
    leeway: u64,
    keys: Arc<HashMap<String, VerifyingKey>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("kids", &kids)
            .finish()
    }
}

impl Verifier {
    /// A verifier that trusts `issuer` and serves `audience` but holds no keys yet.
    ///
    /// Until [`set_jwks`](Self::set_jwks) succeeds every token fails with
    /// [`VerifyError::UnknownKey`], so a service can start before tokend answers.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            check_audience: true,
            leeway: DEFAULT_LEEWAY_SECS,
            keys: Arc::new(HashMap::new()),
        }
    }

    /// A verifier loaded from the body of tokend's `GET /.well-known/jwks.json`.
    ///
    /// # Errors
    /// [`VerifyError::InvalidJwks`] when the body is not a JWK set or holds no usable key
    /// (see [`set_jwks`](Self::set_jwks)).
    pub fn from_jwks_json(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_json: &str,
    ) -> Result<Self, VerifyError> {
        let jwks: JwkSet = serde_json::from_str(jwks_json)
            .map_err(|e| VerifyError::InvalidJwks(format!("not a JWK set ({e}).")))?;
        let mut verifier = Self::new(issuer, audience);
        verifier.set_jwks(&jwks)?;
        Ok(verifier)
    }

    /// Replaces every key with the signing keys of `jwks`, or changes nothing on error.
    ///
    /// Keys that cannot verify tokend's tokens are skipped rather than fatal, so one odd entry
    /// does not take a service down: keys without a `kid`, with `use` other than `sig`, with
    /// `key_ops` lacking `verify`, symmetric (`oct`) keys, curves other than Ed25519, P-256 and
    /// P-384, RSA moduli under 2048 bits, and keys whose `alg` does not fit their type. An RSA
    /// key without `alg` is taken as RS256.
    ///
    /// # Errors
    /// [`VerifyError::InvalidJwks`] when no usable key remains (so a bad fetch cannot wipe the
    /// keys a service already has) or when two usable keys share a `kid` (which one a token
    /// meant would be ambiguous).
    pub fn set_jwks(&mut self, jwks: &JwkSet) -> Result<(), VerifyError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let Some((kid, key)) = usable_key(jwk) else {
                continue;
            };
            if keys.insert(kid.to_owned(), key).is_some() {
                return Err(VerifyError::InvalidJwks(
                    "two signing keys share one kid.".into(),
                ));
            }
        }
        if keys.is_empty() {
            return Err(VerifyError::InvalidJwks(
                "it holds no usable signing key.".into(),
            ));
        }
        self.keys = Arc::new(keys);
        Ok(())
    }

    /// Sets the clock-skew allowance for `exp` and `nbf`, clamped to [`MAX_LEEWAY_SECS`].
    ///
    /// The default is [`DEFAULT_LEEWAY_SECS`] (0), which is what tokend uses; a resource API on
    /// another host may want a few seconds so fresh tokens are not refused as not yet valid.
    pub fn set_leeway(&mut self, seconds: u64) {
        self.leeway = seconds.min(MAX_LEEWAY_SECS);
    }

    /// Whether a key with this `kid` is loaded, so a service can decide to refetch the JWKS
    /// (through a [`JwksRefreshGate`](crate::JwksRefreshGate)) before giving up on a token.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// How many keys are loaded, for start-up logs and health checks.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Checks `token` (the compact JWS, without any `Bearer ` prefix) against the system clock
    /// and returns its claims.
    ///
    /// # Errors
    /// The first rule (listed on [`Verifier`]) the token breaks; see [`VerifyError`].
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_at(token, unix_now())
    }

    /// Like [`verify`](Self::verify), with the current time given in seconds since the Unix
    /// epoch, so callers with an injectable clock (tokend) can test expiry without sleeping.
    ///
    /// A token is expired once `now >= exp + leeway` and not yet valid while
    /// `now + leeway < nbf` (RFC 7519 sections 4.1.4 and 4.1.5).
    ///
    /// # Errors
    /// As for [`verify`](Self::verify).
    pub fn verify_at(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        check_header(&header)?;
        let kid = header.kid.as_deref().ok_or(VerifyError::Malformed)?;
        let key = self.keys.get(kid).ok_or(VerifyError::UnknownKey)?;
        if key.alg != header.alg {
            return Err(VerifyError::UnsupportedAlgorithm);
        }
        // The header is parsed once and the claims once, straight into `AccessClaims`: the
        // signature is all that is left to jsonwebtoken, with the key's own algorithm.
        let signed = &token[..token.len() - signature.len() - 1];
        let genuine = jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key.key, key.alg)
            .map_err(|_| VerifyError::Malformed)?;
        if !genuine {
            return Err(VerifyError::BadSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| VerifyError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if self.check_audience && claims.aud != self.audience {
            return Err(VerifyError::WrongAudience);
        }
        if claims.sub.is_empty() || claims.jti.is_empty() {
            return Err(VerifyError::Malformed);
        }
        // A user token belongs to a session; an exchanged service token has none. Any other
        // `token_kind` was not minted by tokend.
        let kind_ok = match claims.token_kind.as_deref() {
            None => claims.sid.as_deref().is_some_and(|s| !s.is_empty()),
            Some(crate::TOKEN_KIND_SERVICE) => claims.sid.is_none(),
            Some(_) => false,
        };
        if !kind_ok {
            return Err(VerifyError::Malformed);
        }
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        if now >= claims.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if now.saturating_add(leeway) < claims.nbf {
            return Err(VerifyError::NotYetValid);
        }
        Ok(claims)
    }

    /// Accepts every `aud` (one must still be present). Only for the issuer itself, which
    /// introspects and revokes tokens it issued for any of its resource servers; a resource API
    /// must never call this, or it accepts tokens meant for other APIs (RFC 8707, RFC 9068
    /// section 4).
    pub fn accept_any_audience_as_issuer(&mut self) {
        self.check_audience = false;
    }
}

/// Seconds since the Unix epoch; a clock before 1970 reads as 0, which fails closed (every
/// token looks not yet valid) rather than open.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Header rules that need no key: no embedded or remote keys, no `crit`, the right `typ`, and
/// an asymmetric `alg`.
fn check_header(header: &Header) -> Result<(), VerifyError> {
    if header.jku.is_some()
        || header.jwk.is_some()
        || header.x5u.is_some()
        || header.x5c.is_some()
        || header.crit.is_some()
    {
        return Err(VerifyError::Malformed);
    }
    if !header.typ.as_deref().is_some_and(is_access_token_typ) {
        return Err(VerifyError::WrongType);
    }
    if !is_asymmetric(header.alg) {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    Ok(())
}

/// RFC 9068 section 4: `at+jwt`, optionally with the `application/` prefix, any case.
fn is_access_token_typ(typ: &str) -> bool {
    const PREFIX: &str = "application/";
    let media_type = match typ.split_at_checked(PREFIX.len()) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case(PREFIX) => rest,
        _ => typ,
    };
    media_type.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

/// Algorithms verified with a public key; HMAC would let anyone holding the JWKS forge tokens.
fn is_asymmetric(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::EdDSA
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
    )
}

/// The `kid` and key of a JWK fit to verify access tokens, or `None` to skip it.
fn usable_key(jwk: &Jwk) -> Option<(&str, VerifyingKey)> {
    let kid = jwk.common.key_id.as_deref().filter(|k| !k.is_empty())?;
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) {
        return None;
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return None;
        }
    }
    let alg = key_algorithm(jwk)?;
    let key = DecodingKey::from_jwk(jwk).ok()?;
    key_material_fits(alg, &key).then_some((kid, VerifyingKey { alg, key }))
}

/// The one algorithm a key may verify: its JWK `alg` when present, which must fit its type and
/// curve, or else the algorithm its type and curve imply.
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let declared = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) => match (&p.curve, declared) {
            (EllipticCurve::Ed25519, None | Some(KeyAlgorithm::EdDSA)) => Some(Algorithm::EdDSA),
            _ => None,
        },
        AlgorithmParameters::EllipticCurve(p) => match (&p.curve, declared) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => Some(Algorithm::ES256),
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::RSA(_) => match declared {
            None | Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
            Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
            Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
            Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
            Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
            _ => None,
        },
        // `oct` keys are shared secrets: a JWKS is public, so they could only help a forger.
        _ => None,
    }
}

/// Catches truncated or padded key material at load time, where the error is visible, instead
/// of as a baffling signature failure on every token.
fn key_material_fits(alg: Algorithm, key: &DecodingKey) -> bool {
    match (alg, key.kind()) {
        (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(x)) => x.len() == 32,
        (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => point.len() == 65,
        (Algorithm::ES384, DecodingKeyKind::SecretOrDer(point)) => point.len() == 97,
        (_, DecodingKeyKind::RsaModulusExponent { n, .. }) => {
            let significant = n.iter().skip_while(|b| **b == 0).count();
            significant >= MIN_RSA_MODULUS_BYTES
        }
        _ => false,
    }
}

#[cfg(test)]
mod jwks_tests;
#[cfg(test)]
mod tests;
