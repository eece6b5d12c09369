//! [`PasskeyState`]: the WebAuthn relying party built once at start from the settings, or none
//! while `TOKEND_WEBAUTHN_RP_ID` is unset. It is a field of [`crate::domain::Tokend`], so it
//! imports nothing that imports `Tokend`.

use std::time::Duration;

use anyhow::{bail, Context};
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::config::Settings;

/// The relying party, checked at start so a misconfiguration stops the server with a clear
/// message instead of failing ceremonies later (webauthn-rs's builder names no detail).
pub struct PasskeyState {
    pub(super) webauthn: Option<Webauthn>,
    pub(super) challenge_ttl: Duration,
}

impl std::fmt::Debug for PasskeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyState")
            .field("enabled", &self.webauthn.is_some())
            .finish_non_exhaustive()
    }
}

/// The prefix of an Android app's origin: the base64url SHA-256 of its signing certificate.
const ANDROID_ORIGIN: &str = "android:apk-key-hash:";

impl PasskeyState {
    /// Builds the relying party from `TOKEND_WEBAUTHN_*`, or an empty state when passkeys are off.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let challenge_ttl = settings.webauthn_challenge_ttl;
        let Some(rp_id) = settings.webauthn_rp_id.as_deref() else {
            return Ok(Self {
                webauthn: None,
                challenge_ttl,
            });
        };
        check_rp_id(rp_id)?;
        let mut web = Vec::new();
        let mut apps = Vec::new();
        for origin in &settings.webauthn_origins {
            match origin.strip_prefix(ANDROID_ORIGIN) {
                Some(hash) => {
                    let valid = hash.len() == 43
                        && hash
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !valid {
                        bail!(
                            "TOKEND_WEBAUTHN_ORIGINS: {origin:?} is not an Android origin: after \
                             {ANDROID_ORIGIN} comes the unpadded base64url SHA-256 of the app's \
                             signing certificate (43 characters)"
                        );
                    }
                    apps.push(Url::parse(origin).context("TOKEND_WEBAUTHN_ORIGINS")?);
                }
                None => web.push(web_origin(origin, rp_id)?),
            }
        }
        let Some(first) = web.first() else {
            bail!(
                "TOKEND_WEBAUTHN_ORIGINS needs at least one web origin on {rp_id} \
                 (https://{rp_id}), besides any Android app origins"
            );
        };
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|e| anyhow::anyhow!("TOKEND_WEBAUTHN_RP_ID {rp_id:?}: {e}"))?
            .rp_name(&settings.webauthn_rp_name)
            .timeout(challenge_ttl);
        for origin in web.iter().skip(1).chain(apps.iter()) {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| anyhow::anyhow!("TOKEND_WEBAUTHN_*: {e}"))?;
        Ok(Self {
            webauthn: Some(webauthn),
            challenge_ttl,
        })
    }
}

/// A registrable domain name, lowercase, without scheme, port or path.
fn check_rp_id(rp_id: &str) -> anyhow::Result<()> {
    // A name with a dot whose last label is not all digits (no IP address, no bare TLD), or
    // `localhost` for development.
    let labels: Vec<&str> = rp_id.split('.').collect();
    let shaped = rp_id == "localhost"
        || (labels.len() >= 2
            && labels
                .last()
                .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit())));
    let valid = shaped
        && rp_id.len() <= 253
        && rp_id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !valid {
        bail!(
            "TOKEND_WEBAUTHN_RP_ID {rp_id:?} must be a lowercase domain name such as \
             example.com: no scheme, port or path"
        );
    }
    Ok(())
}

/// `https://host[:port]` with the host the RP ID or a subdomain of it (`http://localhost` for
/// development), nothing after the authority.
fn web_origin(origin: &str, rp_id: &str) -> anyhow::Result<Url> {
    let url = Url::parse(origin)
        .with_context(|| format!("TOKEND_WEBAUTHN_ORIGINS: {origin:?} is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    let on_rp = host == rp_id || host.ends_with(&format!(".{rp_id}"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !scheme_ok || !on_rp || !bare {
        bail!(
            "TOKEND_WEBAUTHN_ORIGINS: {origin:?} must be https://{rp_id} or https://<sub>.{rp_id} \
             (an optional port, nothing after it), or {ANDROID_ORIGIN}<hash>"
        );
    }
    Ok(url)
}
