//! The management API (contract section 5): create, list, get, rename/(de)activate, delete.
//!
//! Only a signed-in user whose access token carries `tokens:manage` and whose current role in the
//! token's account still grants it may manage that account's tokens. A new token gets only scopes
//! its creator holds right now (in the access token, after down-scoping, and in the current role)
//! and never `tokens:manage` (Elasticsearch CVE-2020-7009, Gokapi CVE-2026-29060). Scopes,
//! allowlist, expiry and byte cap are fixed at creation: changing what a deployed key may do is
//! done by creating a new one and deleting the old (rotation), so a key never silently gains power.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{CreatedServiceToken, ServiceTokenList, ServiceTokenView};
use crate::crypto::service_token::{self, ServiceTokenHash};
use crate::domain::admin::audit::AuditEvent;
use crate::domain::allowlist;
use crate::domain::principal::UserPrincipal;
use crate::domain::scopes::TOKENS_MANAGE;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::limits::rate::RateLimit;
use crate::storage::{AuditContext, CreateOutcome, ServiceTokenPatch, ServiceTokenRecord};

/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Fields a PATCH may not touch: they define what the token can do.
const IMMUTABLE_FIELDS: [&str; 5] = [
    "scopes",
    "allowed_ips",
    "max_request_bytes",
    "expires_at",
    "rate_limit",
];

/// `POST /v1/service_tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceTokenRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// Non-empty; each must be held by the caller and may not be `tokens:manage`.
    pub scopes: Vec<String>,
    /// Optional RFC 3339 time in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Optional IPv4/IPv6 addresses and CIDRs; absent or empty means any address.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Optional positive cap on request bodies, in bytes.
    #[serde(default)]
    pub max_request_bytes: Option<u64>,
    /// Optional request budget; without one, the account default in force now is copied.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// Trims and checks a token name.
fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::field(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::field(
            "name",
            "name must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Parses a PATCH body: only `name` and `active`; naming an immutable field is a 400 that says
/// how to get what was wanted instead.
pub fn parse_patch(body: &Map<String, Value>) -> Result<ServiceTokenPatch> {
    for key in body.keys() {
        if IMMUTABLE_FIELDS.contains(&key.as_str()) {
            return Err(Error::field(
                key,
                format!(
                    "{key} cannot be changed after creation; create a new token with the \
                     settings you need and delete this one"
                ),
            ));
        }
        if key != "name" && key != "active" {
            return Err(Error::field(key, format!("{key} is not a known field")));
        }
    }
    let name = match body.get("name") {
        None => None,
        Some(Value::String(s)) => Some(valid_name(s)?),
        Some(_) => return Err(Error::field("name", "name must be a string")),
    };
    let active = match body.get("active") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(Error::field("active", "active must be true or false")),
    };
    Ok(ServiceTokenPatch { name, active })
}

impl Tokend {
    /// Checks the caller may manage its account's tokens; returns the scopes it may delegate
    /// (held by its access token and by its current role, minus `tokens:manage`).
    async fn token_manager(&self, user: &UserPrincipal) -> Result<BTreeSet<String>> {
        user.require_scope(TOKENS_MANAGE)?;
        let role = self
            .store
            .membership_role(user.user, user.account)
            .await?
            .ok_or(Error::AccountAccessDenied)?;
        let role_scopes = self.vocabulary.role(&role).cloned().unwrap_or_default();
        if !role_scopes.contains(TOKENS_MANAGE) {
            return Err(Error::ScopeRequired {
                scope: TOKENS_MANAGE.to_string(),
            });
        }
        Ok(user
            .claims
            .scopes()
            .filter(|s| *s != TOKENS_MANAGE && role_scopes.contains(*s))
            .map(str::to_string)
            .collect())
    }

    /// The requested scopes if every one is a valid, known scope the caller may delegate.
    fn grantable_scopes(
        &self,
        requested: &[String],
        delegable: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>> {
        if requested.is_empty() {
            return Err(Error::field("scopes", "at least one scope is required"));
        }
        // `delegable` never holds `tokens:manage`, so it can never be granted.
        self.vocabulary
            .narrow(requested.iter().cloned(), delegable)
            .map_err(|scope| Error::InvalidScope { scope })
    }

    /// The service-token trail's context plus the security-trail row of `kind`, both written
    /// in the change's transaction.
    fn audit_context(
        &self,
        user: &UserPrincipal,
        ip: IpAddr,
        user_agent: Option<&str>,
        kind: &str,
        details: serde_json::Value,
    ) -> AuditContext {
        let now = self.clock.now();
        AuditContext {
            actor: user.user,
            client_ip: ip.to_string(),
            at: now,
            events: vec![AuditEvent::new(kind, format!("user:{}", user.user))
                .user(user.user)
                .account(user.account)
                .from(ip, user_agent)
                .details(details)
                .at(now)],
        }
    }

    /// `POST /v1/service_tokens`: creates a token; the clear token is in this answer only.
    pub async fn create_service_token(
        &self,
        user: &UserPrincipal,
        req: CreateServiceTokenRequest,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<CreatedServiceToken> {
        let delegable = self.token_manager(user).await?;
        let name = valid_name(&req.name)?;
        let scopes = self.grantable_scopes(&req.scopes, &delegable)?;
        let now = self.clock.now();
        let expires_at = match req.expires_at.as_deref() {
            None => None,
            Some(text) => {
                let t = chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        Error::field(
                            "expires_at",
                            "expires_at must be an RFC 3339 time such as 2027-01-01T00:00:00Z",
                        )
                    })?
                    .timestamp();
                if t <= now {
                    return Err(Error::field(
                        "expires_at",
                        "expires_at must be in the future",
                    ));
                }
                Some(t)
            }
        };
        let allowlist = allowlist::parse(req.allowed_ips.as_deref().unwrap_or_default())
            .map_err(|e| Error::field("allowed_ips", e.to_string()))?;
        let max_request_bytes = match req.max_request_bytes {
            None => None,
            Some(0) => {
                return Err(Error::field(
                    "max_request_bytes",
                    "max_request_bytes must be a positive number of bytes",
                ))
            }
            // No token may allow more than the server accepts at all.
            Some(n) => Some(n.min(u64::try_from(self.settings.max_body_bytes).unwrap_or(u64::MAX))),
        };

        let rate_limit = self
            .rate_for_new_token(user.account, req.rate_limit)
            .await?;

        let secret = service_token::generate(&self.settings.service_token_prefix);
        let allowed_ips = allowlist.to_strings();
        let record = ServiceTokenRecord {
            id: Uuid::now_v7(),
            account_id: user.account,
            token_hash: ServiceTokenHash::of(secret.expose()).to_hex(),
            name,
            scopes: scopes.iter().cloned().collect::<Vec<_>>().join(" "),
            expires_at,
            allowed_ips: allowed_ips.join(" "),
            max_request_bytes: max_request_bytes.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            active: true,
            created_at: now,
            created_by: user.user,
            last_used_at: None,
            last_used_ip: None,
            deleted_at: None,
            rate_limit: rate_limit.map(|r| r.to_string()),
        };
        let detail = json!({
            "name": record.name,
            "scopes": scopes,
            "expires_at": record.expires_at,
            "allowed_ips": allowed_ips,
            "max_request_bytes": max_request_bytes,
            "rate_limit": rate_limit,
        })
        .to_string();
        let limit = self.settings.max_service_tokens;
        let audit = self.audit_context(
            user,
            ip,
            user_agent,
            "service_token.created",
            serde_json::json!({"service_token": record.id, "scopes": record.scopes}),
        );
        match self
            .store
            .create_service_token(&record, limit, &audit, &detail)
            .await?
        {
            CreateOutcome::Created => {}
            CreateOutcome::LimitReached => return Err(Error::TokenLimitReached { limit }),
        }
        tracing::info!(token = %record.id, account = %record.account_id, actor = %user.user,
            "service token created");
        Ok(CreatedServiceToken {
            token: secret,
            view: self.service_token_view(&record),
        })
    }

    /// `GET /v1/service_tokens`: the caller's account's live tokens.
    pub async fn list_service_tokens(&self, user: &UserPrincipal) -> Result<ServiceTokenList> {
        self.token_manager(user).await?;
        let rows = self.store.service_tokens_of(user.account).await?;
        Ok(ServiceTokenList {
            service_tokens: rows.iter().map(|r| self.service_token_view(r)).collect(),
        })
    }

    /// `GET /v1/service_tokens/{id}`; another account's token is not found.
    pub async fn get_service_token(
        &self,
        user: &UserPrincipal,
        id: Uuid,
    ) -> Result<ServiceTokenView> {
        self.token_manager(user).await?;
        let row = self
            .store
            .service_token_by_id(user.account, id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(self.service_token_view(&row))
    }

    /// `PATCH /v1/service_tokens/{id}`: rename and/or (de)activate, audited.
    pub async fn update_service_token(
        &self,
        user: &UserPrincipal,
        id: Uuid,
        body: &Map<String, Value>,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<ServiceTokenView> {
        self.token_manager(user).await?;
        let patch = parse_patch(body)?;
        let row = self
            .store
            .update_service_token(
                user.account,
                id,
                &patch,
                &self.audit_context(
                    user,
                    ip,
                    user_agent,
                    "service_token.changed",
                    serde_json::json!({"service_token": id, "name": patch.name, "active": patch.active}),
                ),
            )
            .await?
            .ok_or(Error::NotFound)?;
        tracing::info!(token = %id, actor = %user.user, active = row.active,
            "service token updated");
        Ok(self.service_token_view(&row))
    }

    /// `DELETE /v1/service_tokens/{id}`: effective on the very next request, audited.
    pub async fn delete_service_token(
        &self,
        user: &UserPrincipal,
        id: Uuid,
        ip: IpAddr,
        user_agent: Option<&str>,
    ) -> Result<()> {
        self.token_manager(user).await?;
        if !self
            .store
            .delete_service_token(
                user.account,
                id,
                &self.audit_context(
                    user,
                    ip,
                    user_agent,
                    "service_token.deleted",
                    serde_json::json!({"service_token": id}),
                ),
            )
            .await?
        {
            return Err(Error::NotFound);
        }
        tracing::info!(token = %id, actor = %user.user, "service token deleted");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn field_of(e: Error) -> Option<String> {
        match e {
            Error::InvalidRequest { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn patch_accepts_name_and_active_only() {
        let p = parse_patch(&body(json!({"name": " Backup ", "active": false}))).unwrap();
        assert_eq!(p.name.as_deref(), Some("Backup"));
        assert_eq!(p.active, Some(false));
        for field in IMMUTABLE_FIELDS {
            let e = parse_patch(&body(json!({ field: null, "name": "x" }))).unwrap_err();
            assert_eq!(field_of(e).as_deref(), Some(field));
        }
        let e = parse_patch(&body(json!({"token": "x"}))).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("token"));
        let e = parse_patch(&body(json!({"active": "no"}))).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("active"));
        let e = parse_patch(&body(json!({"name": ""}))).unwrap_err();
        assert_eq!(field_of(e).as_deref(), Some("name"));
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(valid_name("  CI  ").unwrap(), "CI");
        assert!(valid_name(&"é".repeat(100)).is_ok());
        assert!(valid_name(&"é".repeat(101)).is_err());
        assert!(valid_name("a\nb").is_err());
        assert!(valid_name("   ").is_err());
    }
}
