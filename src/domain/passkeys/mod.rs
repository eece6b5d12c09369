//! Passkeys (WebAuthn, issue #13), on the API native apps use: registration by a signed-in user,
//! listing and removal. webauthn-rs does every check of the ceremony (origin, RP ID hash, user
//! verification, signature, attestation format); this module keeps the state around it in the
//! database (challenges any node can finish, once; the credentials and their counters).

mod assertion;
mod registration;
mod state;

use serde::Serialize;
use uuid::Uuid;

pub use assertion::{PasskeyOptions, PasskeySignInRequest};
pub use registration::{FinishRegistration, RegistrationStart, StartRegistration};
pub use state::PasskeyState;

use crate::clock::rfc3339;
use crate::storage::PasskeyRecord;

/// Most passkeys one user may hold.
pub const MAX_PASSKEYS_PER_USER: usize = 10;

/// How recent a sign-in must be to add a passkey without the password again (seconds).
pub const RECENT_SIGN_IN_SECS: i64 = 600;

/// Longest passkey name, in characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// A passkey as the API shows it.
#[derive(Debug, Serialize)]
pub struct PasskeyView {
    /// Its id (`DELETE /v1/me/passkeys/{id}`).
    pub id: Uuid,
    /// The name its owner gave it.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, or null before its first use.
    pub last_used_at: Option<String>,
    /// Whether the platform syncs it to the user's other devices (the backup-state flag).
    pub backed_up: bool,
}

impl From<&PasskeyRecord> for PasskeyView {
    fn from(p: &PasskeyRecord) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
            backed_up: p.backup_state,
        }
    }
}

/// `GET /v1/me/passkeys` body.
#[derive(Debug, Serialize)]
pub struct PasskeyList {
    /// Oldest first.
    pub passkeys: Vec<PasskeyView>,
}
