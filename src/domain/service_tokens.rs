//! Service tokens (issue #4): long-lived API keys of an account.

use crate::app::Tokend;
use crate::config::Settings;

/// Service-token state built once at start (e.g. the coalesced `last_used` buffer).
#[derive(Debug)]
pub struct ServiceTokenState {}

impl ServiceTokenState {
    /// Builds the state from the settings.
    pub fn new(_settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {})
    }
}

impl Tokend {
    /// Writes buffered `last_used_at`/`last_used_ip` to the database (every minute and at
    /// shutdown).
    pub async fn flush_service_token_usage(&self) {}
}
