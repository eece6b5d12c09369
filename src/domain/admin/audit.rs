//! The security audit trail: one row per security event (sign-ins, MFA, refresh-token reuse,
//! revocations, password changes and resets, service-token changes, admin actions), with time,
//! user, account, address, user agent and actor, and never a secret or a login. Changes made by
//! one storage transaction write their row in it; events that change nothing (a refused
//! sign-in) are appended on their own. Rows older than `TOKEND_AUDIT_RETENTION_DAYS` are pruned
//! in bounded batches by the hourly upkeep.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{page_of, Page, PageRequest};
use crate::clock::{rfc3339, UnixTime};
use crate::domain::Tokend;
use crate::error::Result;
use crate::storage::{AuditFilter, AuditRecord};

/// Longest `User-Agent` kept.
const MAX_USER_AGENT: usize = 256;
/// Rows deleted per pruning statement, so pruning never holds a long lock.
const PRUNE_BATCH: u32 = 1_000;

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    kind: String,
    user: Option<Uuid>,
    account: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    actor: String,
    details: Value,
}

impl AuditEvent {
    /// An event of `kind` by `actor` (`user:<uuid>`, `admin_key:<name>` or `system`).
    pub fn new(kind: impl Into<String>, actor: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            user: None,
            account: None,
            ip: None,
            user_agent: None,
            actor: actor.into(),
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// Replaces the kind (an admin's action recorded under a domain event kind such as
    /// `session.revoked`, with the admin key as actor).
    pub fn rekind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// The user concerned.
    pub fn user(mut self, user: Uuid) -> Self {
        self.user = Some(user);
        self
    }

    /// The account concerned.
    pub fn account(mut self, account: Uuid) -> Self {
        self.account = Some(account);
        self
    }

    /// Where the request came from.
    pub fn from(mut self, ip: impl ToString, user_agent: Option<&str>) -> Self {
        self.ip = Some(ip.to_string());
        self.user_agent = user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        self
    }

    /// Machine-readable details (never a secret, never a login).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The row, stamped with `now`.
    pub(crate) fn at(self, now: UnixTime) -> AuditRecord {
        AuditRecord {
            id: Uuid::now_v7().to_string(),
            at: now,
            kind: self.kind,
            user_id: self.user.map(|u| u.to_string()),
            account_id: self.account.map(|a| a.to_string()),
            ip: self.ip,
            user_agent: self.user_agent,
            actor: self.actor,
            details: self.details.to_string(),
        }
    }
}

/// One row as `GET /v1/admin/audit` shows it.
#[derive(Debug, Serialize)]
pub struct AuditView {
    /// Row id.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// Event kind.
    pub kind: String,
    /// User uuid.
    pub user_uuid: Option<String>,
    /// Account uuid.
    pub account_uuid: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Who acted.
    pub actor: String,
    /// Event details.
    pub details: Value,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        Self {
            details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
            id: r.id,
            at: rfc3339(r.at),
            kind: r.kind,
            user_uuid: r.user_id,
            account_uuid: r.account_id,
            ip: r.ip,
            user_agent: r.user_agent,
            actor: r.actor,
        }
    }
}

impl Tokend {
    /// Appends an event that no storage transaction carries (a refusal, a read). A failed write
    /// is logged, not returned: the request it describes has already been decided.
    pub async fn audit(&self, event: AuditEvent) {
        let record = event.at(self.clock.now());
        if let Err(e) = self.store.append_audit(&record).await {
            tracing::warn!(kind = %record.kind, error = %e, "could not write an audit row");
        }
    }

    /// Like [`Self::audit`], but at most once per `key` per `window` seconds on this node: a
    /// flood of rate-limited requests costs no hash, so it must not cost a row each either.
    pub async fn audit_throttled(&self, key: &str, window: i64, event: AuditEvent) {
        let now = self.clock.now();
        if self.audit_throttle.admit(key, now, window) {
            self.audit(event).await;
        }
    }

    /// `GET /v1/admin/audit`: one page, oldest first.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditView>> {
        let (limit, cursor) = page.parse()?;
        let rows = self
            .store
            .list_audit(filter, cursor.as_ref(), limit + 1)
            .await?;
        Ok(page_of(
            rows,
            limit,
            |r| (r.at, r.id.clone()),
            AuditView::from,
        ))
    }

    /// Deletes rows past the retention period, a batch at a time.
    pub async fn prune_audit(&self) {
        let days = i64::from(self.settings.audit_retention_days);
        let before = self.clock.now() - days * 86_400;
        let mut total = 0;
        loop {
            match self.store.prune_audit(before, PRUNE_BATCH).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not prune the audit trail");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(rows = total, "pruned old audit rows");
        }
        self.audit_throttle.forget_before(self.clock.now() - 3_600);
    }
}
