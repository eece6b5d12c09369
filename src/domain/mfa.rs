//! Two-factor sign-in (issue #3): TOTP enrolment, the mfa_token step, recovery codes.

use crate::app::Tokend;
use crate::config::Settings;
use crate::error::Result;
use crate::storage::UserRecord;

use super::sign_in::{Device, MfaChallenge};

/// MFA keys and limiters, built once at start.
#[derive(Debug)]
pub struct MfaState {}

impl MfaState {
    /// Loads or creates what MFA needs from the settings (e.g. the encryption key in keys/).
    pub fn new(_settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {})
    }
}

impl Tokend {
    /// The seam used by sign-in: `None` while the user has no confirmed second factor.
    pub(crate) async fn mfa_challenge_for(
        &self,
        _user: &UserRecord,
        _device: &Device,
    ) -> Result<Option<MfaChallenge>> {
        Ok(None)
    }

    /// Periodic upkeep (bounded limiter memory).
    pub(crate) fn mfa_upkeep(&self) {}
}
