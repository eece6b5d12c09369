//! DPoP proofs (RFC 9449): the checks both tokend and resource APIs run on a `DPoP` header.
//!
//! A proof is a JWT the client signs with a key it keeps (ideally one the OS will not export:
//! Secure Enclave, Android Keystore, a TPM) and sends with every request that uses a
//! sender-constrained token. [`check_proof`] applies RFC 9449 section 4.3 in full except the two
//! checks that need state: whether the `jti` was seen before (tokend keeps a table shared by its
//! nodes; a resource API can use [`JtiCache`]) and whether the `nonce` is one the server issued.
//!
//! The JWT itself is parsed and verified by jsonwebtoken; only the header's `jwk` member is read
//! raw as well, to refuse a proof that carries private key material (RFC 9449 section 4.3,
//! check 5), which jsonwebtoken's typed `Jwk` would silently drop.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The JOSE `typ` of a DPoP proof (RFC 9449 section 4.2).
pub const DPOP_TYP: &str = "dpop+jwt";

/// The proof algorithms accepted, as metadata lists them (`dpop_signing_alg_values_supported`)
/// and `WWW-Authenticate: DPoP algs=…` names them: the two that phone and desktop key stores
/// sign with. RSA is left out on purpose (large proofs, slow signing on devices).
pub const DPOP_ALGS: &[&str] = &["ES256", "EdDSA"];

/// How old a proof's `iat` may be, in seconds. A proof is made for one request, so a minute is
/// generous for slow networks while keeping the replay cache small.
pub const DEFAULT_PROOF_MAX_AGE_SECS: i64 = 60;

/// How far in the future a proof's `iat` may be, in seconds: clock skew between a phone and the
/// server, nothing more.
pub const DEFAULT_PROOF_MAX_SKEW_SECS: i64 = 5;

/// Proofs longer than this are refused before decoding: a proof is a few hundred bytes.
const MAX_PROOF_BYTES: usize = 4 * 1024;

/// Longest `jti` accepted; the replay cache stores it.
const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private (or symmetric) key has. A proof must carry the public key
/// alone; one that embeds the private key shows a broken client and is refused.
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The sender-constraint claim of a bound access token (RFC 9449 section 6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the proof key, base64url without padding.
    pub jkt: String,
}

/// Why a proof was refused. The message is safe to show the client: it names the check, never
/// the proof's contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// No `DPoP` header, or more than one (RFC 9449 section 4.3, check 1).
    #[error("a single DPoP proof header is required")]
    Missing,
    /// Not a JWT, or a JWT whose header or claims are not those of a proof.
    #[error("the DPoP proof is malformed: {0}")]
    Malformed(&'static str),
    /// `alg` is not one of [`DPOP_ALGS`] (so `none` and HMAC are refused), or the key is not of
    /// that algorithm.
    #[error("the DPoP proof must be signed with ES256 or EdDSA by the key in its header")]
    Algorithm,
    /// The `jwk` header carries private key material.
    #[error("the DPoP proof's jwk must be a public key")]
    PrivateKey,
    /// The signature does not verify with the key in the header.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request method")]
    Method,
    /// `htu` is not the request's URL.
    #[error("the DPoP proof's htu does not match the request URL")]
    Url,
    /// `iat` is too old or in the future.
    #[error("the DPoP proof's iat is outside the accepted window")]
    Stale,
    /// `ath` is missing or is not the hash of the access token sent with it.
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHash,
    /// The proof key is not the one the token is bound to.
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    KeyMismatch,
    /// The `jti` was used before within the window.
    #[error("the DPoP proof was already used")]
    Replayed,
}

/// What the request a proof came with looks like to the server checking it.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    /// The request method (`POST`), compared exactly (RFC 9110 methods are case-sensitive).
    pub method: &'a str,
    /// The request URL as the client addressed it (scheme, host, port and path; query and
    /// fragment are ignored). Behind a proxy this is the public URL, not the one the app sees.
    pub url: &'a str,
    /// The access token sent with the proof, whose hash `ath` must carry; `None` at a token
    /// endpoint, where no access token is sent.
    pub access_token: Option<&'a str>,
    /// Seconds since the Unix epoch, by the checking server's clock.
    pub now: i64,
    /// See [`DEFAULT_PROOF_MAX_AGE_SECS`].
    pub max_age_secs: i64,
    /// See [`DEFAULT_PROOF_MAX_SKEW_SECS`].
    pub max_skew_secs: i64,
}

impl<'a> ProofContext<'a> {
    /// A context with the default `iat` window.
    pub fn new(method: &'a str, url: &'a str, now: i64) -> Self {
        Self {
            method,
            url,
            access_token: None,
            now,
            max_age_secs: DEFAULT_PROOF_MAX_AGE_SECS,
            max_skew_secs: DEFAULT_PROOF_MAX_SKEW_SECS,
        }
    }

    /// The same context for a request that also carries `access_token` (`ath` is then required).
    pub fn with_access_token(mut self, access_token: &'a str) -> Self {
        self.access_token = Some(access_token);
        self
    }
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof key: what a bound token's `cnf.jkt` holds.
    pub jkt: String,
    /// The proof's unique id; the caller must refuse it if seen before within the window.
    pub jti: String,
    /// The proof's issue time.
    pub iat: i64,
    /// The server nonce the proof carries, if any; the caller checks it is one it issued.
    pub nonce: Option<String>,
}

impl VerifiedProof {
    /// Until when the `jti` must be remembered: after that, `iat` alone refuses the proof.
    pub fn replay_horizon(&self, ctx: &ProofContext<'_>) -> i64 {
        self.iat.saturating_add(ctx.max_age_secs)
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Checks a proof against the request it came with (RFC 9449 section 4.3, checks 2 to 11 except
/// the nonce's and `jti`'s, which need the caller's state).
///
/// # Errors
/// The first check that fails, as a [`DpopError`].
pub fn check_proof(proof: &str, ctx: &ProofContext<'_>) -> Result<VerifiedProof, DpopError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_BYTES {
        return Err(DpopError::Malformed("not a JWT of a plausible size"));
    }
    refuse_private_key(proof)?;
    let header = jsonwebtoken::decode_header(proof)
        .map_err(|_| DpopError::Malformed("the header is not a JWS header"))?;
    if header.typ.as_deref() != Some(DPOP_TYP) {
        return Err(DpopError::Malformed("typ must be dpop+jwt"));
    }
    if header.crit.is_some() || header.jku.is_some() || header.x5u.is_some() {
        return Err(DpopError::Malformed("jku, x5u and crit are not accepted"));
    }
    let jwk = header
        .jwk
        .as_ref()
        .ok_or(DpopError::Malformed("the header carries no jwk"))?;
    check_key_alg(header.alg, jwk)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| DpopError::Algorithm)?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::Signature,
            jsonwebtoken::errors::ErrorKind::Json(_) => {
                DpopError::Malformed("jti, htm, htu and iat are required")
            }
            _ => DpopError::Signature,
        })?
        .claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
        return Err(DpopError::Malformed("jti must be 1 to 256 bytes"));
    }
    if claims.htm != ctx.method {
        return Err(DpopError::Method);
    }
    if !same_url(&claims.htu, ctx.url) {
        return Err(DpopError::Url);
    }
    if claims.iat < ctx.now.saturating_sub(ctx.max_age_secs)
        || claims.iat > ctx.now.saturating_add(ctx.max_skew_secs)
    {
        return Err(DpopError::Stale);
    }
    match (ctx.access_token, claims.ath.as_deref()) {
        (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
        (Some(_), _) => return Err(DpopError::AccessTokenHash),
        (None, _) => {}
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| DpopError::Algorithm)?;
    Ok(VerifiedProof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

/// The `ath` of an access token: base64url(SHA-256(token)) (RFC 9449 section 4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        access_token.as_bytes(),
    ))
}

/// The key must be of the family `alg` names, and the curve must be the one it signs on, so a
/// proof cannot pick an algorithm its key was never meant for.
fn check_key_alg(alg: Algorithm, jwk: &Jwk) -> Result<(), DpopError> {
    match (alg, &jwk.algorithm) {
        (Algorithm::ES256, AlgorithmParameters::EllipticCurve(p))
            if p.curve == EllipticCurve::P256 =>
        {
            Ok(())
        }
        (Algorithm::EdDSA, AlgorithmParameters::OctetKeyPair(p))
            if p.curve == EllipticCurve::Ed25519 =>
        {
            Ok(())
        }
        _ => Err(DpopError::Algorithm),
    }
}

/// Refuses a proof whose `jwk` header member holds private or symmetric key material.
fn refuse_private_key(proof: &str) -> Result<(), DpopError> {
    let encoded = proof
        .split('.')
        .next()
        .ok_or(DpopError::Malformed("not a JWT"))?;
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| DpopError::Malformed("the header is not base64url"))?;
    let header: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| DpopError::Malformed("the header is not JSON"))?;
    match header.get("jwk").and_then(|jwk| jwk.as_object()) {
        Some(jwk) if PRIVATE_JWK_MEMBERS.iter().any(|m| jwk.contains_key(*m)) => {
            Err(DpopError::PrivateKey)
        }
        _ => Ok(()),
    }
}

/// Whether two URLs name the same resource for `htu`: query and fragment ignored, scheme and
/// host compared case-insensitively, a default port (`:443`, `:80`) the same as none, and a
/// trailing slash on the path significant (RFC 9449 section 4.3, check 9, with RFC 3986 section
/// 6.2.2 and 6.2.3 normalisation).
pub fn same_url(a: &str, b: &str) -> bool {
    match (normalise_url(a), normalise_url(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn normalise_url(url: &str) -> Option<String> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let without_query = without_fragment.split('?').next().unwrap_or_default();
    let (scheme, rest) = without_query.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority
        .strip_suffix(default_port)
        .unwrap_or(&authority)
        .to_string();
    Some(format!("{scheme}://{authority}{path}"))
}

mod cache;
mod signer;

pub use cache::JtiCache;
pub use signer::DpopSigner;

#[cfg(test)]
mod tests;
