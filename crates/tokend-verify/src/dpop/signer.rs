//! [`DpopSigner`]: the client side of DPoP, for Rust apps and services that hold their own key
//! (and for tests). Apps on phones make the same proofs with their platform key store; see
//! `docs/dpop.md`.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::{access_token_hash, DPOP_TYP};

/// A DPoP key pair that signs proofs (RFC 9449 section 4.2). `Debug` never prints the key.
#[derive(Clone)]
pub struct DpopSigner {
    alg: Algorithm,
    pub(super) encoding: EncodingKey,
    pkcs8: Vec<u8>,
    jwk: Jwk,
    jkt: String,
}

impl fmt::Debug for DpopSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopSigner")
            .field("alg", &self.alg)
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    jti: String,
    htm: &'a str,
    htu: &'a str,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// Why a signer could not be made or could not sign.
#[derive(Debug, thiserror::Error)]
#[error("DPoP key error: {0}")]
pub struct SignerError(String);

impl DpopSigner {
    /// A fresh P-256 key (ES256), the algorithm Apple's Secure Enclave and Android Keystore use.
    ///
    /// # Errors
    /// If the system random generator fails.
    pub fn generate_es256() -> Result<Self, SignerError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|e| SignerError(e.to_string()))?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|e| SignerError(e.to_string()))?;
        Self::from_pkcs8(Algorithm::ES256, pkcs8.as_ref())
    }

    /// A fresh Ed25519 key (EdDSA).
    ///
    /// # Errors
    /// If the system random generator fails.
    pub fn generate_ed25519() -> Result<Self, SignerError> {
        let pkcs8 = Ed25519KeyPair::generate()
            .and_then(|pair| pair.to_pkcs8v1())
            .map_err(|e| SignerError(e.to_string()))?;
        Self::from_pkcs8(Algorithm::EdDSA, pkcs8.as_ref())
    }

    /// A signer for a PKCS#8 private key the caller kept (`ES256` or `EdDSA`).
    ///
    /// # Errors
    /// Another algorithm, or a key that does not parse.
    pub fn from_pkcs8(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, SignerError> {
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(pkcs8),
            Algorithm::EdDSA => EncodingKey::from_ed_der(pkcs8),
            other => return Err(SignerError(format!("{other:?} is not a DPoP algorithm"))),
        };
        let mut jwk =
            Jwk::from_encoding_key(&encoding, alg).map_err(|e| SignerError(e.to_string()))?;
        jwk.common.key_algorithm = None;
        let jkt = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| SignerError(e.to_string()))?;
        Ok(Self {
            alg,
            encoding,
            pkcs8: pkcs8.to_vec(),
            jwk,
            jkt,
        })
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` of tokens bound to it.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The private key as PKCS#8 DER, to keep it (encrypted, in the platform's key store) and
    /// bring it back with [`from_pkcs8`](Self::from_pkcs8): a session bound to a key that is
    /// lost can only be signed in again.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK (what each proof's header carries).
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// A proof for one request: `method` and `url` as sent (query and fragment are ignored by
    /// the checker), `access_token` when the request carries one (`ath`), the last `DPoP-Nonce`
    /// the server sent, if any, and `iat` in seconds since the Unix epoch.
    ///
    /// # Errors
    /// If signing or the random `jti` fails.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> Result<String, SignerError> {
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|e| SignerError(e.to_string()))?;
        let mut header = Header::new(self.alg);
        header.typ = Some(DPOP_TYP.to_owned());
        header.jwk = Some(self.jwk.clone());
        let claims = ProofClaims {
            jti: URL_SAFE_NO_PAD.encode(jti),
            htm: method,
            htu: url,
            iat,
            ath: access_token.map(access_token_hash),
            nonce,
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| SignerError(e.to_string()))
    }
}
