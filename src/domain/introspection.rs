//! RFC 7662 token introspection for resource servers (issue #4, contract section 6).
//!
//! Resource APIs authenticate with credentials made by `tokend resource-server add NAME` (a
//! client_id and a secret stored as SHA-256 hex, compared in constant time). They may introspect
//! either kind of token. The answer is `{"active": false}` for anything unknown, malformed,
//! expired, revoked or deactivated, with nothing to tell those apart (RFC 7662 section 2.2).
//!
//! Introspection describes a token; it does not use it. So it neither applies the token's IP
//! allowlist (the caller is the resource server, not the token's holder; `allowed_ips` is returned
//! for the resource server to enforce against its own client) nor records `last_used`, nor
//! spends the token's rate budget (`rate_limit` is returned for the resource server to count).

use tokend_verify::{Introspection, TOKEN_TYPE_SERVICE};
use uuid::Uuid;

use crate::crypto::opaque::{ct_eq, sha256_hex, OpaqueSecret};
use crate::crypto::service_token::looks_like_service_token;
use crate::domain::Tokend;
use crate::error::{Error, Result};
use crate::storage::{ResourceServerRecord, ServiceTokenRecord};

use super::service_tokens::{split_column, stored_cap};

/// Prefix of resource-server secrets, so secret scanners and people can tell what leaked.
pub const RESOURCE_SERVER_SECRET_PREFIX: &str = "tkd_rs_";

/// Longest resource-server name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// What `tokend resource-server add` prints, once.
#[derive(Debug)]
pub struct ResourceServerCredentials {
    /// The HTTP Basic user name.
    pub client_id: String,
    /// The HTTP Basic password; only its hash is stored.
    pub client_secret: OpaqueSecret,
}

impl Tokend {
    /// Registers a resource server and returns its credentials; the secret is not kept.
    /// `audience`, when given, is the identifier clients name in `resource` (RFC 8707) and the
    /// `aud` of tokens issued for it; it must be unique.
    pub async fn add_resource_server(
        &self,
        name: &str,
        audience: Option<&str>,
    ) -> Result<ResourceServerCredentials> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::field(
                "name",
                format!("resource-server name must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let audience = audience.map(str::trim);
        if let Some(bad) = audience.filter(|a| a.is_empty() || a.contains(char::is_whitespace)) {
            return Err(Error::field(
                "audience",
                format!("audience {bad:?} must be a URI without spaces"),
            ));
        }
        if audience == Some(self.access_tokens.default_audience()) {
            return Err(Error::field(
                "audience",
                "that audience is TOKEND_AUDIENCE, tokend's own",
            ));
        }
        let client_secret = OpaqueSecret::generate(RESOURCE_SERVER_SECRET_PREFIX);
        let record = ResourceServerRecord {
            client_id: Uuid::new_v4().to_string(),
            name: name.to_string(),
            secret_hash: client_secret.hash(),
            created_at: self.clock.now(),
            audience: audience.map(str::to_string),
        };
        self.store.create_resource_server(&record).await?;
        tracing::info!(client_id = %record.client_id, name = %record.name,
            "resource server registered");
        Ok(ResourceServerCredentials {
            client_id: record.client_id,
            client_secret,
        })
    }

    /// Every resource server (their secrets exist only as hashes and are never shown).
    pub async fn list_resource_servers(&self) -> Result<Vec<ResourceServerRecord>> {
        Ok(self.store.resource_servers().await?)
    }

    /// Removes a resource server: its credentials stop working at once on every node.
    pub async fn remove_resource_server(&self, client_id: &str) -> Result<()> {
        if self.store.remove_resource_server(client_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Checks HTTP Basic credentials of a resource server; `unauthorized` for anything wrong.
    pub async fn authenticate_resource_server(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<ResourceServerRecord> {
        let presented = sha256_hex(secret.as_bytes());
        let server = self.store.resource_server(client_id).await?;
        // Compare against something even for an unknown client, so timing says little about
        // which client_ids exist.
        let stored = server
            .as_ref()
            .map_or_else(|| "0".repeat(64), |s| s.secret_hash.clone());
        match server {
            Some(server) if ct_eq(&stored, &presented) => Ok(server),
            _ => Err(Error::Unauthorized {
                token_presented: true,
            }),
        }
    }

    /// `POST /v1/introspect`: describes a token for a resource server. Only database trouble is
    /// an error (so a resource API can retry rather than reject a good token); every problem with
    /// the token itself is `{"active": false}`.
    pub async fn introspect(&self, token: &str) -> Result<Introspection> {
        let answer = if looks_like_service_token(&self.settings.service_token_prefix, token) {
            self.validate_service_token(token)
                .await
                .map(|row| self.service_token_introspection(&row))
        } else {
            match self.access_tokens.verify_issued(token, self.clock.now()) {
                Ok(claims) if claims.is_service() => {
                    self.exchanged_token_introspection(claims).await
                }
                _ => self
                    .describe_access_token(token)
                    .await
                    .map(|user| Introspection::from(&user.claims)),
            }
        };
        match answer {
            Ok(active) => Ok(active),
            Err(e @ (Error::Unavailable | Error::Internal(_))) => Err(e),
            Err(_) => Ok(Introspection::inactive()),
        }
    }

    /// A service token exchanged for a JWT is active while the JWT is valid and its service token
    /// is still live (not deleted, expired or deactivated), so introspection never outlives a
    /// deletion the way an offline check may until `exp`.
    async fn exchanged_token_introspection(
        &self,
        claims: tokend_verify::AccessClaims,
    ) -> Result<Introspection> {
        let inactive = || Error::Unauthorized {
            token_presented: true,
        };
        let id = claims
            .sub
            .strip_prefix("service_token:")
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(inactive)?;
        let account = Uuid::parse_str(&claims.account_uuid).map_err(|_| inactive())?;
        let row = self
            .store
            .service_token_by_id(account, id)
            .await?
            .ok_or_else(inactive)?;
        let now = self.clock.now();
        if !row.active || row.expires_at.is_some_and(|e| now >= e) {
            return Err(inactive());
        }
        let mut answer = Introspection::from(&claims);
        answer.token_type = Some(TOKEN_TYPE_SERVICE.to_owned());
        answer.allowed_ips = claims.allowed_ips.clone();
        answer.max_request_bytes = claims.max_request_bytes;
        answer.rate_limit = claims.rate_limit;
        Ok(answer)
    }

    fn service_token_introspection(&self, row: &ServiceTokenRecord) -> Introspection {
        Introspection {
            active: true,
            token_type: Some(TOKEN_TYPE_SERVICE.to_owned()),
            scope: Some(row.scopes.clone()),
            account_uuid: Some(row.account_id.to_string()),
            sub: Some(row.id.to_string()),
            exp: row.expires_at,
            iat: Some(row.created_at),
            jti: Some(row.id.to_string()),
            allowed_ips: Some(split_column(&row.allowed_ips)),
            max_request_bytes: stored_cap(row.max_request_bytes),
            // Described, not spent: the resource API that asked does the counting.
            rate_limit: self.effective_rate(row.rate_limit.as_deref()),
            cnf: None,
            client_id: None,
            iss: Some(self.settings.issuer.clone()),
            aud: None,
        }
    }
}
