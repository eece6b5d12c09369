//! Registered OAuth 2.0 clients (RFC 6749 section 2). A public client (a mobile or desktop app,
//! which cannot keep a secret) is identified by its `client_id` alone; a confidential one (a
//! server) proves itself with a secret, shown once and stored as SHA-256 hex, compared in
//! constant time. A public client that sends a secret, or a confidential one that sends none, is
//! refused (RFC 6749 section 2.3).

use uuid::Uuid;

use super::{GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE, GRANT_TYPES};
use crate::crypto::opaque::{ct_eq, sha256_hex, OpaqueSecret};
use crate::domain::sign_in::Device;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::ClientRecord;

/// Prefix of client secrets, so secret scanners and people can tell what leaked.
pub const CLIENT_SECRET_PREFIX: &str = "tkd_cs_";

/// Longest client name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// What `tokend client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Human label.
    pub name: String,
    /// Whether it gets a secret.
    pub confidential: bool,
    /// RFC 6749 grant type strings; empty means the defaults for its kind.
    pub grants: Vec<String>,
    /// Audiences it may request with `resource`; empty means any.
    pub audiences: Vec<String>,
}

/// What `tokend client add` prints, once.
#[derive(Debug)]
pub struct ClientCredentials {
    /// The public identifier.
    pub client_id: String,
    /// The secret of a confidential client; only its hash is stored.
    pub client_secret: Option<OpaqueSecret>,
}

/// How a request to a standard endpoint identified its client. `Debug` is redacted: it holds a
/// secret.
#[derive(Clone, Default)]
pub struct ClientAuth {
    /// From `Authorization: Basic` or the `client_id` form parameter.
    pub client_id: Option<String>,
    /// From `Authorization: Basic` or the `client_secret` form parameter.
    pub client_secret: Option<String>,
}

crate::redacted_debug!(ClientAuth);

impl ClientRecord {
    /// Whether the client is registered for `grant`.
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.split(' ').any(|g| g == grant)
    }
}

impl Tokend {
    /// Registers a client and returns its credentials; a secret is not kept.
    pub async fn add_client(&self, new: NewClient) -> Result<ClientCredentials> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::field(
                "name",
                format!("client name must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let mut grants = new.grants;
        if grants.is_empty() {
            grants.push(GRANT_REFRESH_TOKEN.to_string());
            if new.confidential {
                grants.push(GRANT_TOKEN_EXCHANGE.to_string());
            }
        }
        if let Some(bad) = grants.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
            return Err(Error::field(
                "grant",
                format!(
                    "unknown grant type {bad:?}; known: {}",
                    GRANT_TYPES.join(", ")
                ),
            ));
        }
        if let Some(bad) = new
            .audiences
            .iter()
            .find(|a| a.is_empty() || a.contains(char::is_whitespace))
        {
            return Err(Error::field(
                "audience",
                format!("audience {bad:?} must be a URI without spaces"),
            ));
        }
        let client_secret = new
            .confidential
            .then(|| OpaqueSecret::generate(CLIENT_SECRET_PREFIX));
        let record = ClientRecord {
            client_id: Uuid::new_v4().to_string(),
            name: name.to_string(),
            confidential: new.confidential,
            secret_hash: client_secret.as_ref().map(OpaqueSecret::hash),
            grant_types: grants.join(" "),
            audiences: new.audiences.join(" "),
            created_at: self.clock.now(),
        };
        self.store.create_client(&record).await?;
        tracing::info!(client_id = %record.client_id, name = %record.name,
            confidential = record.confidential, "client registered");
        Ok(ClientCredentials {
            client_id: record.client_id,
            client_secret,
        })
    }

    /// Every registered client, oldest first.
    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>> {
        Ok(self.store.clients().await?)
    }

    /// Removes a client; `NotFound` if there is none. Its sessions keep working on
    /// `/v1/auth/token`; at the standard endpoint it can no longer authenticate.
    pub async fn remove_client(&self, client_id: &str) -> Result<()> {
        if self.store.remove_client(client_id).await? {
            tracing::info!(%client_id, "client removed");
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// RFC 6749 section 2.3: identifies the client of a standard-endpoint request. Public
    /// clients present their id only, confidential ones id and secret; every other combination,
    /// and every unknown id, is `invalid_client`.
    pub async fn authenticate_client(&self, auth: &ClientAuth) -> Result<ClientRecord> {
        let client_id = auth.client_id.as_deref().ok_or(Error::InvalidClient)?;
        if Uuid::parse_str(client_id).is_err() {
            return Err(Error::InvalidClient);
        }
        let client = self.store.client(client_id).await?;
        let presented = auth
            .client_secret
            .as_deref()
            .map(|s| sha256_hex(s.as_bytes()));
        // Compare against something even for an unknown or public client, so timing says
        // little about which client ids exist or what kind they are.
        let stored = client
            .as_ref()
            .and_then(|c| c.secret_hash.clone())
            .unwrap_or_else(|| "0".repeat(64));
        let secret_ok = ct_eq(&stored, presented.as_deref().unwrap_or(""));
        match client {
            Some(c) if c.confidential && presented.is_some() && secret_ok => Ok(c),
            Some(c) if !c.confidential && presented.is_none() => Ok(c),
            _ => Err(Error::InvalidClient),
        }
    }

    /// With `TOKEND_REQUIRE_REGISTERED_CLIENTS`, a sign-in must name a registered client in
    /// `device.client_id`; without it any (or no) client id is accepted, as before.
    pub async fn check_device_client(&self, device: &Device) -> Result<()> {
        if !self.settings.require_registered_clients {
            return Ok(());
        }
        let refuse = || {
            Error::field(
                "device.client_id",
                "device.client_id must name a registered client",
            )
        };
        let id = device.client_id.as_deref().ok_or_else(refuse)?;
        if Uuid::parse_str(id).is_err() || self.store.client(id).await?.is_none() {
            return Err(refuse());
        }
        Ok(())
    }
}
