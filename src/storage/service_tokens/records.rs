//! The rows and inputs of service-token storage, and which audit entries a change produces.

use serde_json::json;
use uuid::Uuid;

use crate::clock::UnixTime;

/// Service-token columns in the order of [`ServiceTokenRecord`].
pub(crate) const SERVICE_TOKEN_COLUMNS: &str = "id, account_id, token_hash, name, scopes, \
    expires_at, allowed_ips, max_request_bytes, active, created_at, created_by, last_used_at, \
    last_used_ip, deleted_at, rate_limit";

/// A service token as stored: never the token itself, only its SHA-256 hex.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceTokenRecord {
    /// Token uuid (the public handle used in URLs and introspection `jti`).
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// The account it acts for.
    #[sqlx(try_from = "String")]
    pub account_id: Uuid,
    /// Lower-case SHA-256 hex of the whole token: the lookup key.
    pub token_hash: String,
    /// Human label.
    pub name: String,
    /// Space-separated scope names, sorted.
    pub scopes: String,
    /// Expiry, if any.
    pub expires_at: Option<UnixTime>,
    /// Space-separated canonical allowlist entries; empty means any address.
    pub allowed_ips: String,
    /// Request-body cap in bytes, if any.
    pub max_request_bytes: Option<i64>,
    /// False once deactivated (reversible).
    pub active: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// The user who created it.
    #[sqlx(try_from = "String")]
    pub created_by: Uuid,
    /// Last successful use as last written (uses are coalesced in memory between writes).
    pub last_used_at: Option<UnixTime>,
    /// Client address of that use.
    pub last_used_ip: Option<String>,
    /// Set once deleted; the row stays so the token answers `token_revoked`.
    pub deleted_at: Option<UnixTime>,
    /// `N/period`, or none (the server default, if any, applies).
    pub rate_limit: Option<String>,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceTokenAuditRecord {
    /// Insertion order.
    pub id: i64,
    /// The token concerned.
    #[sqlx(try_from = "String")]
    pub token_id: Uuid,
    /// Its account.
    #[sqlx(try_from = "String")]
    pub account_id: Uuid,
    /// The user who acted.
    #[sqlx(try_from = "String")]
    pub actor_user_id: Uuid,
    /// `created`, `renamed`, `deactivated`, `activated` or `deleted`.
    pub action: String,
    /// JSON saying what changed (never a secret).
    pub detail: Option<String>,
    /// The actor's client address.
    pub client_ip: String,
    /// When.
    pub at: UnixTime,
}

/// Who is changing a token, from where and when: stamped on every audit row.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The acting user.
    pub actor: Uuid,
    /// The actor's client address.
    pub client_ip: String,
    /// When.
    pub at: UnixTime,
    /// Rows for the security audit trail, written in the same transaction as the change.
    pub events: Vec<crate::storage::AuditRecord>,
}

/// The only fields of a token that may change after creation.
#[derive(Debug, Clone, Default)]
pub struct ServiceTokenPatch {
    /// New name.
    pub name: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// Result of an attempt to create a token under the per-account cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Inserted, with its audit row.
    Created,
    /// The account already has `limit` live tokens; nothing was written.
    LimitReached,
}

/// Credentials of a resource API allowed to call `POST /v1/introspect`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResourceServerRecord {
    /// Public identifier (the HTTP Basic user name).
    pub client_id: String,
    /// Human label.
    pub name: String,
    /// SHA-256 hex of the secret.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Its identifier for `resource` requests and the `aud` claim (RFC 8707), when it has one.
    pub audience: Option<String>,
}

/// The audit rows a patch produces against the current state: one per field that really changes,
/// so a repeated "deactivate" does not pretend something happened twice.
pub(crate) fn patch_audit_entries(
    before: &ServiceTokenRecord,
    patch: &ServiceTokenPatch,
) -> Vec<(&'static str, String)> {
    let mut entries = Vec::new();
    if let Some(name) = patch.name.as_deref().filter(|n| *n != before.name) {
        entries.push((
            "renamed",
            json!({"from": before.name, "to": name}).to_string(),
        ));
    }
    match patch.active {
        Some(false) if before.active => entries.push(("deactivated", "{}".to_string())),
        Some(true) if !before.active => entries.push(("activated", "{}".to_string())),
        _ => {}
    }
    entries
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(name: &str, active: bool) -> ServiceTokenRecord {
        ServiceTokenRecord {
            id: Uuid::nil(),
            account_id: Uuid::nil(),
            token_hash: String::new(),
            name: name.into(),
            scopes: "photos:read".into(),
            expires_at: None,
            allowed_ips: String::new(),
            max_request_bytes: None,
            active,
            created_at: 0,
            created_by: Uuid::nil(),
            last_used_at: None,
            last_used_ip: None,
            deleted_at: None,
            rate_limit: None,
        }
    }

    #[test]
    fn patch_audits_only_real_changes() {
        let t = token("CI", true);
        let none = ServiceTokenPatch::default();
        assert!(patch_audit_entries(&t, &none).is_empty());
        let same = ServiceTokenPatch {
            name: Some("CI".into()),
            active: Some(true),
        };
        assert!(patch_audit_entries(&t, &same).is_empty());
        let both = ServiceTokenPatch {
            name: Some("Backup".into()),
            active: Some(false),
        };
        let entries = patch_audit_entries(&t, &both);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "renamed");
        let detail: serde_json::Value = serde_json::from_str(&entries[0].1).unwrap();
        assert_eq!(detail, json!({"from": "CI", "to": "Backup"}));
        assert_eq!(entries[1].0, "deactivated");
        let reactivate = ServiceTokenPatch {
            name: None,
            active: Some(true),
        };
        assert_eq!(
            patch_audit_entries(&token("CI", false), &reactivate)[0].0,
            "activated"
        );
    }
}
