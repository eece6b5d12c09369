//! Service tokens (issue #4, contract sections 5 and 6): long-lived API keys of an account.
//!
//! - `manage`: the management API for signed-in users holding `tokens:manage`, with the rules
//!   that stop escalation (a token never gets more than its creator holds, never `tokens:manage`)
//!   and the audit trail written with every change.
//! - `validate`: checking a presented token on every request: shape and checksum before any
//!   database read, then the row (looked up by hash, compared in constant time), expiry,
//!   deactivation, deletion and the IP allowlist. No cache: the row is read every time, so a
//!   change takes effect on the very next request on every node.
//! - `usage`: `last_used_at`/`last_used_ip`, coalesced in memory to at most one write per token
//!   per minute and flushed every minute and at graceful shutdown.
//! - `rate`: per-token request budgets (the token's own, the account default copied at creation,
//!   or the server default), charged at tokend's own endpoints.
//! - `state`: the in-memory buffer of coalesced uses.

mod manage;
mod rate;
mod state;
mod usage;
mod validate;

use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::crypto::service_token::ServiceTokenSecret;
use crate::domain::Tokend;
use crate::storage::ServiceTokenRecord;

pub use manage::CreateServiceTokenRequest;
pub use state::{PendingUse, ServiceTokenState};

/// One token as the management API shows it: everything but the token itself.
#[derive(Debug, Serialize)]
pub struct ServiceTokenView {
    /// Token id.
    pub id: Uuid,
    /// Human label.
    pub name: String,
    /// Granted scopes, sorted.
    pub scopes: Vec<String>,
    /// RFC 3339 expiry, or null.
    pub expires_at: Option<String>,
    /// Canonical allowlist entries; empty means any address.
    pub allowed_ips: Vec<String>,
    /// Request-body cap in bytes, or null.
    pub max_request_bytes: Option<u64>,
    /// False once deactivated.
    pub active: bool,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last successful use, or null.
    pub last_used_at: Option<String>,
    /// Client address of that use, or null.
    pub last_used_ip: Option<String>,
    /// The rate that applies (the token's own, the account default copied at creation, or the
    /// server default), or null.
    pub rate_limit: Option<crate::limits::rate::RateLimit>,
}

/// `POST /v1/service_tokens` answer: the view plus the token, the only time it is ever shown.
#[derive(Debug, Serialize)]
pub struct CreatedServiceToken {
    /// The clear token; `Debug` prints it redacted.
    #[serde(serialize_with = "expose_secret")]
    pub token: ServiceTokenSecret,
    /// Everything else.
    #[serde(flatten)]
    pub view: ServiceTokenView,
}

fn expose_secret<S: Serializer>(secret: &ServiceTokenSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// `GET /v1/service_tokens` answer.
#[derive(Debug, Serialize)]
pub struct ServiceTokenList {
    /// The account's live tokens, oldest first.
    pub service_tokens: Vec<ServiceTokenView>,
}

/// Splits a stored space-separated column (scopes, allowlist) back into its entries.
pub(crate) fn split_column(column: &str) -> Vec<String> {
    column
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A stored byte cap as the wire's unsigned number (the column is signed; values are positive).
pub(crate) fn stored_cap(cap: Option<i64>) -> Option<u64> {
    cap.and_then(|c| u64::try_from(c).ok())
}

impl Tokend {
    /// The management view of a row, with a use still buffered in memory shown as well, so the
    /// list is not up to a minute behind on the node that saw the use.
    pub(crate) fn service_token_view(&self, row: &ServiceTokenRecord) -> ServiceTokenView {
        let (last_used_at, last_used_ip) = match self.service_tokens.pending(row.id) {
            Some(p) if row.last_used_at.is_none_or(|stored| p.at >= stored) => {
                (Some(p.at), Some(p.ip))
            }
            _ => (row.last_used_at, row.last_used_ip.clone()),
        };
        ServiceTokenView {
            id: row.id,
            name: row.name.clone(),
            scopes: split_column(&row.scopes),
            expires_at: row.expires_at.map(rfc3339),
            allowed_ips: split_column(&row.allowed_ips),
            max_request_bytes: stored_cap(row.max_request_bytes),
            active: row.active,
            created_at: rfc3339(row.created_at),
            last_used_at: last_used_at.map(rfc3339),
            last_used_ip,
            rate_limit: self.effective_rate(row.rate_limit.as_deref()),
        }
    }

    /// Writes buffered `last_used_at`/`last_used_ip` to the database (every minute and at
    /// shutdown).
    pub async fn flush_service_token_usage(&self) {
        self.flush_usage().await;
    }
}
