//! [`MfaState`]: what the second factor needs beyond the store, built once at start (the key that
//! seals TOTP secrets, the issuer label authenticator apps show). It is a field of
//! [`crate::domain::Tokend`], so it imports nothing that imports `Tokend`.

use crate::config::Settings;
use crate::crypto::keys::{Secret32, MFA_KEY_FILE};
use crate::crypto::sealing::Sealer;

/// MFA keys and settings, built once at start.
#[derive(Debug)]
pub struct MfaState {
    /// Seals TOTP secrets at rest with the key in `keys/mfa.key`.
    pub(super) sealer: Sealer,
    /// Issuer shown by authenticator apps (see [`issuer_label`]).
    pub(super) issuer_label: String,
}

impl MfaState {
    /// Loads (or creates, on first start) the encryption key in the keys directory.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let key = Secret32::load_or_init(&settings.keys_dir, MFA_KEY_FILE)?;
        Ok(Self {
            sealer: Sealer::new(&key).map_err(|e| anyhow::anyhow!("MFA key: {e}"))?,
            issuer_label: issuer_label(&settings.issuer),
        })
    }
}

/// The issuer authenticator apps show above the code: the host of the configured issuer URL
/// (`https://auth.example.com` gives `auth.example.com`), so users of several tokend deployments
/// can tell them apart; `tokend` when the issuer has no usable host (e.g. an IPv6 literal, whose
/// colons the otpauth label cannot carry).
pub fn issuer_label(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = if host.starts_with('[') {
        ""
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        "tokend".to_string()
    } else {
        host.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_label_is_the_host() {
        assert_eq!(
            issuer_label("https://Auth.Example.com/"),
            "auth.example.com"
        );
        assert_eq!(issuer_label("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(issuer_label("http://[::1]:8080"), "tokend");
        assert_eq!(issuer_label(""), "tokend");
        assert_eq!(issuer_label("http://tokend.test"), "tokend.test");
    }
}
