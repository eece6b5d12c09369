//! The keys directory: JWT signing keys (PKCS#8 PEM, one file each) and the symmetric secrets
//! (refresh-token MAC key, MFA encryption key).
//!
//! A signing key's `kid` is its file stem, `<alg>-<created unix seconds>-<8 hex>`, so the creation
//! time survives copies and backups. The newest key signs once it has been published for
//! [`ACTIVATION_DELAY`] (so every JWKS cache has seen it before tokens carry its kid); until then
//! the key before it keeps signing, and when no key is that old yet (a fresh install), the oldest
//! signs. Keys are never removed by tokend: an operator
//! deletes a retired key's file after at least one access-token lifetime.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use aws_lc_rs::rand::SecureRandom;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::clock::UnixTime;

/// File in the keys directory holding the refresh-token MAC key.
pub const REFRESH_KEY_FILE: &str = "refresh.key";
/// File in the keys directory holding the key that encrypts TOTP secrets.
pub const MFA_KEY_FILE: &str = "mfa.key";

/// Seconds a new key is published before it signs.
pub const ACTIVATION_DELAY: i64 = 300;
/// How often every node re-reads the keys directory, in seconds.
pub const RELOAD_INTERVAL: i64 = 60;
/// JWKS `Cache-Control: max-age`: a cache filled just before a node loaded a new key still
/// expires before that key signs (reload interval + max-age <= activation delay).
pub const JWKS_MAX_AGE: i64 = ACTIVATION_DELAY - RELOAD_INTERVAL;

/// Signature algorithms tokend can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// Ed25519 (the default: fast and small).
    Ed25519,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// RSA-2048 PKCS#1 v1.5 with SHA-256 (for verifiers that know nothing else).
    Rs256,
}

impl KeyAlg {
    /// Name used in kids and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Es256 => "es256",
            Self::Rs256 => "rs256",
        }
    }

    /// Parses the command-line / kid form.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" | "eddsa" => Some(Self::Ed25519),
            "es256" => Some(Self::Es256),
            "rs256" => Some(Self::Rs256),
            _ => None,
        }
    }

    /// The JWS algorithm, fixed by the key and never taken from a token header.
    pub fn jws(self) -> Algorithm {
        match self {
            Self::Ed25519 => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
            Self::Rs256 => Algorithm::RS256,
        }
    }

    fn generate_pkcs8(self) -> anyhow::Result<Vec<u8>> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let unspecified = |_| anyhow!("key generation failed");
        Ok(match self {
            Self::Ed25519 => Ed25519KeyPair::generate()
                .map_err(unspecified)?
                .to_pkcs8v1()
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
            Self::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(unspecified)?
                .to_pkcs8v1()
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
            Self::Rs256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(unspecified)?
                .as_der()
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
        })
    }
}

/// One signing key, loaded.
pub struct SigningKey {
    /// Key id (file stem).
    pub kid: String,
    /// Algorithm.
    pub alg: KeyAlg,
    /// Creation time, from the kid.
    pub created_at: UnixTime,
    /// The private key, opaque to everything but jsonwebtoken.
    pub(crate) encoding: EncodingKey,
    /// The public JWK (with kid, alg and `use: sig`).
    pub jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

/// All signing keys of the directory, oldest first.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

fn parse_kid(kid: &str) -> Option<(KeyAlg, UnixTime)> {
    let mut parts = kid.splitn(3, '-');
    let alg = KeyAlg::parse(parts.next()?)?;
    let created = parts.next()?.parse().ok()?;
    let suffix = parts.next()?;
    (suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit())).then_some((alg, created))
}

fn load_key(path: &Path, kid: &str) -> anyhow::Result<SigningKey> {
    let (alg, created_at) = parse_kid(kid)
        .ok_or_else(|| anyhow!("{}: file name is not a tokend kid", path.display()))?;
    let pem = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let encoding = match alg {
        KeyAlg::Ed25519 => EncodingKey::from_ed_pem(&pem),
        KeyAlg::Es256 => EncodingKey::from_ec_pem(&pem),
        KeyAlg::Rs256 => EncodingKey::from_rsa_pem(&pem),
    }
    .with_context(|| format!("{}: not a valid {} private key", path.display(), alg.name()))?;
    let mut jwk = Jwk::from_encoding_key(&encoding, alg.jws())
        .with_context(|| format!("{}: cannot derive the public key", path.display()))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match alg {
        KeyAlg::Ed25519 => KeyAlgorithm::EdDSA,
        KeyAlg::Es256 => KeyAlgorithm::ES256,
        KeyAlg::Rs256 => KeyAlgorithm::RS256,
    });
    Ok(SigningKey {
        kid: kid.to_string(),
        alg,
        created_at,
        encoding,
        jwk,
    })
}

/// Writes `bytes` to a new file readable only by its owner; never overwrites.
pub(crate) fn write_secret_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Fills `buf` from the OS CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow!("no randomness"))?;
    Ok(buf)
}

/// Creates a new signing key file in `dir` and returns its kid.
pub fn generate_key(dir: &Path, alg: KeyAlg, now: UnixTime) -> anyhow::Result<String> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let suffix: [u8; 4] = random_bytes()?;
    let kid = format!(
        "{}-{now}-{}",
        alg.name(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let der = alg.generate_pkcs8()?;
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
    write_secret_file(&dir.join(format!("{kid}.pem")), text.as_bytes())?;
    Ok(kid)
}

impl KeyRing {
    /// Loads every `*.pem` in `dir`, generating an Ed25519 key first when there is none.
    pub fn load_or_init(dir: &Path, now: UnixTime) -> anyhow::Result<Self> {
        if Self::pem_files(dir)?.is_empty() {
            let kid = generate_key(dir, KeyAlg::Ed25519, now)?;
            tracing::info!(%kid, dir = %dir.display(), "no signing key found; generated one");
        }
        Self::load(dir)
    }

    /// Loads every `*.pem` in `dir`; fails if there is none or one is unreadable.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (kid, path) in Self::pem_files(dir)? {
            keys.push(load_key(&path, &kid)?);
        }
        if keys.is_empty() {
            bail!(
                "no signing key in {}; run `tokend keys generate`",
                dir.display()
            );
        }
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(Self { keys })
    }

    fn pem_files(dir: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
        let mut found = BTreeMap::new();
        if !dir.exists() {
            return Ok(found);
        }
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("pem") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    found.insert(stem.to_string(), path.clone());
                }
            }
        }
        Ok(found)
    }

    /// The key that signs at `now` (see the module docs for the rule).
    pub fn signer(&self, now: UnixTime) -> &SigningKey {
        // When no key is old enough (a fresh install that already got a second key), the oldest
        // signs: it has been published the longest.
        self.keys
            .iter()
            .rev()
            .find(|k| k.created_at + ACTIVATION_DELAY <= now)
            .unwrap_or(&self.keys[0])
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The public JWKS (RFC 7517).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}

/// A 256-bit symmetric secret kept in the keys directory, created on first start.
pub struct Secret32([u8; 32]);

impl std::fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret32(***)")
    }
}

impl Secret32 {
    /// Reads `dir/name` (base64), creating it with fresh random bytes when missing.
    pub fn load_or_init(dir: &Path, name: &str) -> anyhow::Result<Self> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let path = dir.join(name);
        if !path.exists() {
            fs::create_dir_all(dir)?;
            let bytes: [u8; 32] = random_bytes()?;
            write_secret_file(&path, format!("{}\n", engine.encode(bytes)).as_bytes())?;
            tracing::info!(file = %path.display(), "generated a new secret");
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let bytes = engine
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| anyhow!("{}: expected 32 bytes of base64", path.display()))?;
        Ok(Self(bytes))
    }

    /// The raw bytes, for the crypto module only.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A secret from fixed bytes (tests, benchmarks).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generates_loads_and_publishes_every_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [KeyAlg::Ed25519, KeyAlg::Es256, KeyAlg::Rs256] {
            generate_key(dir.path(), alg, 1_000).unwrap();
        }
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.keys().len(), 3);
        let jwks = serde_json::to_value(ring.jwks()).unwrap();
        for key in jwks["keys"].as_array().unwrap() {
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].is_string());
            assert!(key.get("d").is_none(), "private part leaked: {key}");
        }
    }

    #[test]
    fn newest_key_signs_only_after_activation_delay() {
        let dir = tempfile::tempdir().unwrap();
        let old = generate_key(dir.path(), KeyAlg::Ed25519, 1_000).unwrap();
        let new = generate_key(dir.path(), KeyAlg::Es256, 5_000).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.signer(5_000).kid, old);
        assert_eq!(ring.signer(5_000 + ACTIVATION_DELAY).kid, new);
    }

    #[test]
    fn second_key_on_a_fresh_install_waits_too() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate_key(dir.path(), KeyAlg::Ed25519, 1_000).unwrap();
        let second = generate_key(dir.path(), KeyAlg::Es256, 1_100).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.signer(1_100).kid, first);
        assert_eq!(ring.signer(1_100 + ACTIVATION_DELAY).kid, second);
    }

    #[test]
    fn init_creates_one_key_and_secrets_persist() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::load_or_init(dir.path(), 10).unwrap();
        assert_eq!(ring.signer(10).alg, KeyAlg::Ed25519);
        let a = Secret32::load_or_init(dir.path(), "refresh.key").unwrap();
        let b = Secret32::load_or_init(dir.path(), "refresh.key").unwrap();
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(format!("{a:?}"), "Secret32(***)");
    }
}
