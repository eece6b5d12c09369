//! Admin keys: `tkd_admin_` plus the service-token body (random part and CRC32 checksum, so a
//! leaked key is recognisable to secret scanners and junk is refused without a database read),
//! stored as SHA-256 hex and compared in constant time.

use serde_json::json;

use super::audit::AuditEvent;
use super::AdminCaller;
use crate::crypto::service_token::{check_format, generate, ServiceTokenHash, ServiceTokenSecret};
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::AdminKeyRecord;

/// The prefix of admin keys, before the `_`.
pub const ADMIN_KEY_PREFIX: &str = "tkd_admin";

/// Longest key name.
const MAX_NAME_CHARS: usize = 100;

fn unauthorized() -> Error {
    Error::Unauthorized {
        token_presented: true,
    }
}

/// Whether a presented bearer token is an admin key by its shape (not yet by its validity).
pub fn looks_like_admin_key(token: &str) -> bool {
    token.starts_with("tkd_admin_")
}

impl Tokend {
    /// Creates an admin key named `name`; returns it, the only time it is shown.
    pub async fn add_admin_key(&self, name: &str) -> Result<ServiceTokenSecret> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(Error::field(
                "name",
                format!("admin key name must be 1 to {MAX_NAME_CHARS} printable characters"),
            ));
        }
        let key = generate(ADMIN_KEY_PREFIX);
        let record = AdminKeyRecord {
            name: name.to_string(),
            key_hash: ServiceTokenHash::of(key.expose()).to_hex(),
            created_at: self.clock.now(),
        };
        let audit = AuditEvent::new("admin.key_created", "system")
            .details(json!({"name": name}))
            .at(self.clock.now());
        self.store.create_admin_key(&record, &audit).await?;
        Ok(key)
    }

    /// Every admin key's name and creation time (never the key).
    pub async fn list_admin_keys(&self) -> Result<Vec<AdminKeyRecord>> {
        Ok(self.store.admin_keys().await?)
    }

    /// Removes a key: it stops working at once on every node (there is no cache).
    pub async fn remove_admin_key(&self, name: &str) -> Result<()> {
        let audit = AuditEvent::new("admin.key_removed", "system")
            .details(json!({"name": name}))
            .at(self.clock.now());
        if self.store.remove_admin_key(name, &audit).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// The caller behind an admin key, or 401 for anything that is not a live admin key.
    pub async fn authenticate_admin_key(
        &self,
        key: &str,
        ip: impl ToString,
        user_agent: Option<&str>,
    ) -> Result<AdminCaller> {
        check_format(ADMIN_KEY_PREFIX, key).map_err(|_| unauthorized())?;
        let presented = ServiceTokenHash::of(key);
        let row = self
            .store
            .admin_key_by_hash(&presented.to_hex())
            .await?
            .ok_or_else(unauthorized)?;
        let stored = ServiceTokenHash::from_hex(&row.key_hash).ok_or_else(unauthorized)?;
        if !stored.ct_eq(&presented) {
            return Err(unauthorized());
        }
        Ok(AdminCaller {
            key_name: row.name,
            ip: ip.to_string(),
            user_agent: user_agent.map(str::to_string),
        })
    }
}

impl AdminCaller {
    /// An audit event of `admin.<action>` by this caller.
    pub fn event(&self, action: &str) -> AuditEvent {
        AuditEvent::new(
            format!("admin.{action}"),
            format!("admin_key:{}", self.key_name),
        )
        .from(&self.ip, self.user_agent.as_deref())
    }
}
